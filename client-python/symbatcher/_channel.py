"""gRPC channel settings shared by every connection the package opens."""

from __future__ import annotations

#: Large messages (item and result chunks); no HTTP proxy for the scheduler.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.enable_http_proxy", 0),
]
