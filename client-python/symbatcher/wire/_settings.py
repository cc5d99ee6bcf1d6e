"""The wire's settings from the environment, read once at import: the
message size limit and HTTP/2 keepalive. The server's flags of the same
names read the same variables, so both sides agree by default."""

from __future__ import annotations

import os


def env_int(name: str, default: int, low: int, high: int) -> int:
    """An integer setting from the environment, `default` when unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}, got {value}")
    return value


#: Largest gRPC message either side sends or receives (item and result
#: chunks). The server's `--max-message-bytes` reads the same variable.
MAX_MESSAGE_BYTES = env_int("SYMBATCHER_MAX_MESSAGE_BYTES", 64 * 1024 * 1024, 16 * 1024, 2**31 - 1)
#: HTTP/2 keepalive: a PING after this many ms, and the connection is dead
#: when its ack does not come within the timeout, so a frozen server is
#: noticed (ServerUnavailableError) within interval + timeout. The server's
#: `--keepalive-interval-ms` and `--keepalive-timeout-ms` read the same variables.
KEEPALIVE_INTERVAL_MS = env_int("SYMBATCHER_KEEPALIVE_INTERVAL_MS", 5_000, 10, 3_600_000)
KEEPALIVE_TIMEOUT_MS = env_int("SYMBATCHER_KEEPALIVE_TIMEOUT_MS", 10_000, 10, 3_600_000)
