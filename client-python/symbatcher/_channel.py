"""gRPC channel settings shared by every connection the package opens."""

from __future__ import annotations

from symbatcher._limits import env_int

#: Largest gRPC message either side sends or receives (item and result
#: chunks). The server's `--max-message-bytes` reads the same variable.
MAX_MESSAGE_BYTES = env_int("SYMBATCHER_MAX_MESSAGE_BYTES", 64 * 1024 * 1024, 16 * 1024, 2**31 - 1)
#: HTTP/2 keepalive: a PING after this many ms, and the connection is dead
#: when its ack does not come within the timeout, so a frozen server is
#: noticed (ServerUnavailableError) within interval + timeout. The server's
#: `--keepalive-interval-ms` and `--keepalive-timeout-ms` read the same variables.
KEEPALIVE_INTERVAL_MS = env_int("SYMBATCHER_KEEPALIVE_INTERVAL_MS", 5_000, 10, 3_600_000)
KEEPALIVE_TIMEOUT_MS = env_int("SYMBATCHER_KEEPALIVE_TIMEOUT_MS", 10_000, 10, 3_600_000)

#: Large messages (item and result chunks); keepalive pings, also on idle
#: connections (the server, tonic, accepts any ping rate); no HTTP proxy for
#: the scheduler.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_INTERVAL_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    # grpcio >= 1.6x times every ping out with this one (default 60 s).
    ("grpc.http2.ping_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_http_proxy", 0),
]
