"""Payload encoding: items, results, exceptions and kwargs travel as JSON (or
pickle, opt-in) so that any language can be a client or worker. Objects that
never leave this process skip encoding (see `_handoff`)."""

from __future__ import annotations

import json
import pickle
from typing import Any

from symbatcher._errors import EncodingError
from symbatcher.v1 import common_pb2

JSON = common_pb2.CODEC_JSON
PICKLE = common_pb2.CODEC_PICKLE
_CODECS: dict[str, common_pb2.Codec] = {"json": JSON, "pickle": PICKLE}


def codec_from_name(name: str) -> common_pb2.Codec:
    try:
        return _CODECS[name]
    except KeyError:
        raise ValueError(f"codec: must be one of {sorted(_CODECS)}, got {name!r}") from None


def encode(value: object, codec: int) -> bytes:
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
    except RecursionError:
        raise EncodingError(
            f"{type(value).__name__} is nested too deeply to encode as JSON"
        ) from None


def json_default(value: object) -> object:
    """JSON for the one non-JSON type that results commonly are: a symai
    `Symbol` travels as its `.value`. Anything else is not JSON."""
    symbol = _symbol_type()
    if symbol is not None and isinstance(value, symbol):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _symbol_type() -> Any:  # symai's Symbol class (symai is untyped)
    try:
        from symai import Symbol
    except ImportError:  # pragma: no cover - symai is a dependency
        return None
    return Symbol


def is_json_value(value: object) -> bool:
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


def decode(
    payload: bytes, codec: int, *, allow_pickle: bool = False, refused: str = PICKLE_REFUSED
) -> object:
    """Decodes a payload; a pickled one only with `allow_pickle` (else an
    EncodingError saying `refused`)."""
    if codec == PICKLE:
        if not allow_pickle:
            raise EncodingError(refused)
        return pickle.loads(payload)
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise EncodingError(f"payload is not valid JSON: {exc}") from exc
