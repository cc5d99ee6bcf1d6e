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
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"{type(value).__name__} is not JSON-serializable: {exc}") from exc


def decode(payload: bytes, codec: int) -> Any:
    if codec == PICKLE:
        return pickle.loads(payload)
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise EncodingError(f"payload is not valid JSON: {exc}") from exc


class Handoff:
    """Process-wide table of objects passed between a job's client and the
    local workers that run it. Entries live from the client's send to the
    client's receipt of the item's result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, dict[str, Any]] = {}

    def open_job(self, job_id: int, kwargs: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id] = {"kwargs": kwargs, "items": {}, "results": {}}

    def close_job(self, job_id: int) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def is_local(self, job_id: int) -> bool:
        return job_id in self._jobs

    def kwargs(self, job_id: int) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        return None if job is None else job["kwargs"]

    def put_item(self, job_id: int, index: int, item: Any) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job["items"][index] = item

    def item(self, job_id: int, index: int) -> tuple[bool, Any]:
        job = self._jobs.get(job_id)
        if job is None or index not in job["items"]:
            return False, None
        return True, job["items"][index]

    def put_result(self, job_id: int, index: int, value: Any) -> bool:
        job = self._jobs.get(job_id)
        if job is None:
            return False
        job["results"][index] = value
        return True

    def take_result(self, job_id: int, index: int) -> tuple[bool, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            return False, None
        job["items"].pop(index, None)
        if index not in job["results"]:
            return False, None
        return True, job["results"].pop(index)


HANDOFF = Handoff()
