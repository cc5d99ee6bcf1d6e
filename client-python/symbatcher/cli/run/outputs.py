"""The result records of `symbatcher run` and the JSONL output.

A record is what one output line holds:
  {"index": 7, "id": "a1", "result": ..., "usage": {...}, "cost": 0.000009}
  {"index": 9, "error": {"type": "ValueError", "message": "..."}}
`JsonlOutput` appends records as lines; `symbatcher.cli.run.tables` writes
them as CSV or Parquet rows.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

from symbatcher.wire._codec import json_default
from symbatcher._errors import RemoteError
from symbatcher.client._summary import ItemUsage

#: Output lines are written in one write() per this many lines, or once the
#: flush interval has passed since the last write (checked every half of
#: it, so a finished line reaches the file within 1 s), always whole lines.
FLUSH_LINES = 512
FLUSH_INTERVAL_S = 0.5


class Output(Protocol):
    """Where the run's records go."""

    @property
    def written(self) -> int:
        """Records written (whole) so far."""
        ...

    def add(self, record: dict[str, Any]) -> None: ...

    def flush_due(self) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def encode_record(record: dict[str, Any]) -> bytes:
    """`record` as a UTF-8 JSON line (without its newline). A result that
    cannot be written as UTF-8 JSON (a set, a string with a lone surrogate,
    ...) becomes an EncodingError in `record` itself: a result never stops
    the run."""
    try:
        return utf8_json(record)
    except (TypeError, ValueError, RecursionError):
        if "result" in record:
            try:
                utf8_json(record["result"])
            except (TypeError, ValueError, RecursionError) as exc:
                value = record.pop("result")
                record["error"] = {
                    "type": "EncodingError",
                    "message": f"result ({type(value).__name__}) cannot be written as JSON: {exc}",
                }
        # ASCII escapes: what else the record holds (an id read from the
        # input, an error message, with a lone surrogate) cannot fail.
        return json.dumps(record, default=json_default).encode()


def utf8_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=json_default).encode()


def error_record(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, RemoteError):
        return {"type": exc.type_name, "message": exc.message}
    return {"type": type(exc).__name__, "message": str(exc)}


def usage_record(usage: ItemUsage) -> dict[str, int]:
    record = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls": usage.calls,
    }
    for name in ("cache_hits", "coalesced", "unpriced_calls"):
        if getattr(usage, name):
            record[name] = getattr(usage, name)
    return record


class JsonlOutput:
    """Appends whole lines to the output file, a few hundred per write().
    The file is opened (created) at the first write, so a job the server
    refuses (an unknown engine, say) leaves no output file behind;
    `on_open` runs just before."""

    def __init__(self, path: str, on_open: Callable[[], None] = lambda: None) -> None:
        self._path = path
        self._on_open = on_open
        self._file: BinaryIO | None = None
        self._lines: list[bytes] = []
        self._last_flush = time.monotonic()
        self.written = 0

    def add(self, record: dict[str, Any]) -> None:
        """Queues `record` as a line (see `encode_record`)."""
        self._lines.append(encode_record(record) + b"\n")
        if len(self._lines) >= FLUSH_LINES or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush_due(self) -> None:
        """Writes the queued lines if the oldest has waited FLUSH_INTERVAL_S."""
        if self._lines and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            data = b"".join(self._lines)
            self._lines.clear()
            if self._file is None:
                self._on_open()
                self._file = open(self._path, "ab")
            view = memoryview(data)
            while view:
                view = view[os.write(self._file.fileno(), view):]
            self.written += data.count(b"\n")
        self._last_flush = time.monotonic()

    @property
    def opened(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
