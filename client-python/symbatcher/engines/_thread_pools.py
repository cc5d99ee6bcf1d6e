"""Thread pools sized by a limit the user sets, or by the work they get.

An engine served from this process runs each batch (and `SymaiEngine` each
call) on a thread of its own, because `forward()` may block on anything. With
no limit set, the pool must never hold back work that the slots calling the
engine have made: a `ThreadPoolExecutor` starts a new thread for a task only
when none of its threads is idle, so with no ceiling it grows to the most
tasks that ever ran at once (at most the slots calling the engine) and reuses
those threads afterwards, until it is shut down.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor


def thread_pool(limit: int | None, prefix: str) -> ThreadPoolExecutor:
    """A pool of at most `limit` threads; None: one thread per task running
    at once, however many that is."""
    return ThreadPoolExecutor(sys.maxsize if limit is None else limit, thread_name_prefix=prefix)


def check_limit(name: str, value: object) -> int | None:
    """`value` as an optional limit: None, or an integer (its range is the
    server's to check, or the caller's)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an integer or None (no limit), got {type(value).__name__}")
    return value
