"""Checks and conversions of the arguments of a BatchScheduler and its
calls, made in this process before anything is sent (the server checks
values; these check types, and what only this process can know)."""

from __future__ import annotations

import json
from collections.abc import Sized
from symbatcher.wire._codec import is_json_value


def timeout_ms(item_timeout_s: object) -> int | None:
    """`item_timeout_s` in whole milliseconds (at least 1); None stays None."""
    if item_timeout_s is None:
        return None
    if isinstance(item_timeout_s, bool) or not isinstance(item_timeout_s, (int, float)) or not item_timeout_s > 0:
        raise ValueError(
            f"item_timeout_s: must be a number of seconds > 0 (or None for the server's "
            f"default), got {item_timeout_s!r}"
        )
    return max(1, round(item_timeout_s * 1000))


def check_call(num_workers: object, batch_size: object) -> None:
    # num_workers is this process's own count of slots; batch_size is
    # checked by the server (its error names the field).
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: must be an integer >= 0, got {num_workers!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size: must be an integer, got {type(batch_size).__name__}")


def length(dataset: object) -> int | None:
    return len(dataset) if isinstance(dataset, Sized) else None


def kwargs_json(kwargs: dict[str, object]) -> str:
    """Job kwargs as JSON for workers in other processes. A job with kwargs
    that are not JSON never reaches them (`local_only_kwargs`): its local
    slots get the original objects, and the JSON ones are sent for the record."""
    return json.dumps(
        {k: v for k, v in kwargs.items() if is_json_value(v)}, ensure_ascii=False
    )


def local_only_kwargs(kwargs: dict[str, object], num_workers: int) -> bool:
    """True when the job's kwargs include values that are not JSON: only
    this process's slots can receive them, so its items run there alone.
    With no local slot (num_workers=0) no one could run it: ValueError
    naming the kwargs."""
    names = [name for name, value in kwargs.items() if not is_json_value(value)]
    if not names:
        return False
    if num_workers == 0:
        listed = ", ".join(f"{name}={type(kwargs[name]).__name__}" for name in names)
        raise ValueError(
            f"kwargs: {listed} not JSON, so no remote worker can receive "
            f"{'it' if len(names) == 1 else 'them'}: pass JSON values (str, number, bool, "
            f"None, list, dict), or run the job with local workers (num_workers > 0), "
            f"whose slots alone then run its items"
        )
    return True
