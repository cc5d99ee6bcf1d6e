"""Payload encoding, and the in-process handoff that lets a client and a worker
in the same process pass Python objects without encoding them.

Items, results, exceptions and kwargs travel as JSON (or pickle, opt-in) so that
any language can be a client or worker. When the job's client lives in the
worker's process, the worker takes the original objects from the handoff, so a
local job behaves exactly like a thread pool: arbitrary items in, arbitrary
results and the raised exception objects out.
"""

from __future__ import annotations

import json
import pickle
import threading
import uuid
from typing import Any

from symbatcher._errors import EncodingError
from symbatcher.v1 import common_pb2

JSON = common_pb2.CODEC_JSON
PICKLE = common_pb2.CODEC_PICKLE
_CODECS = {"json": JSON, "pickle": PICKLE}


def codec_from_name(name: str) -> int:
    try:
        return _CODECS[name]
    except KeyError:
        raise ValueError(f"codec: must be one of {sorted(_CODECS)}, got {name!r}") from None


def encode(value: Any, codec: int) -> bytes:
    """Encodes a value; raises EncodingError naming the type that failed."""
    if codec == PICKLE:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise EncodingError(f"cannot pickle {type(value).__name__}: {exc}") from exc
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=json_default
        ).encode()
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"{type(value).__name__} is not JSON-serializable: {exc}") from exc


def json_default(value: Any) -> Any:
    """JSON for the one non-JSON type that results commonly are: a symai
    `Symbol` travels as its `.value`. Anything else is not JSON."""
    symbol = _symbol_type()
    if symbol is not None and isinstance(value, symbol):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _symbol_type() -> type | None:
    try:
        from symai import Symbol
    except ImportError:  # pragma: no cover - symai is a dependency
        return None
    return Symbol


def is_json_value(value: Any) -> bool:
    """True if `value` can be encoded as JSON."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


#: Why a worker refuses a pickled payload by default.
PICKLE_REFUSED = (
    "the job uses the pickle codec, which this worker refuses: unpickling runs code; "
    "start the worker with --allow-pickle (WorkerRuntime(allow_pickle=True)) only where "
    "it trusts every client of the server"
)


def decode(payload: bytes, codec: int, *, allow_pickle: bool = True) -> Any:
    """Decodes a payload; a pickled one only with `allow_pickle`."""
    if codec == PICKLE:
        if not allow_pickle:
            raise EncodingError(PICKLE_REFUSED)
        return pickle.loads(payload)
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise EncodingError(f"payload is not valid JSON: {exc}") from exc


#: A job as seen from one process: (server address, job id).
JobKey = tuple[str, int]


class LocalJob:
    """Objects of one job whose client runs in this process. Items live from
    the client's send to the client's receipt of their result; results from
    the worker's finish to that receipt."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs
        self._items: dict[int, Any] = {}
        self._results: dict[int, Any] = {}

    def put_item(self, index: int, item: Any) -> None:
        self._items[index] = item

    def item(self, index: int) -> tuple[bool, Any]:
        if index in self._items:
            return True, self._items[index]
        return False, None

    def put_result(self, index: int, value: Any) -> None:
        self._results[index] = value

    def take_result(self, index: int) -> tuple[bool, Any]:
        self._items.pop(index, None)
        if index in self._results:
            return True, self._results.pop(index)
        return False, None


class Handoff:
    """Process-wide table of the jobs whose clients run in this process, so
    that workers in the same process can find their objects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[JobKey, LocalJob] = {}

    def open(self, key: JobKey, kwargs: dict[str, Any]) -> LocalJob:
        job = LocalJob(kwargs)
        with self._lock:
            self._jobs[key] = job
        return job

    def close(self, key: JobKey) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def get(self, key: JobKey) -> LocalJob | None:
        return self._jobs.get(key)


HANDOFF = Handoff()

#: This process, as its workers register it and its jobs name it: items only
#: this process can read (`local_only`) go only to workers with this token.
PROCESS_TOKEN = uuid.uuid4().hex
