from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Codec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODEC_UNSPECIFIED: _ClassVar[Codec]
    CODEC_JSON: _ClassVar[Codec]
    CODEC_PICKLE: _ClassVar[Codec]

class ErrorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_KIND_UNSPECIFIED: _ClassVar[ErrorKind]
    ERROR_KIND_USER: _ClassVar[ErrorKind]
    ERROR_KIND_ENGINE: _ClassVar[ErrorKind]
    ERROR_KIND_WORKER_LOST: _ClassVar[ErrorKind]
    ERROR_KIND_ENCODING: _ClassVar[ErrorKind]
    ERROR_KIND_CANCELLED: _ClassVar[ErrorKind]
    ERROR_KIND_NO_WORKER: _ClassVar[ErrorKind]
    ERROR_KIND_TIMEOUT: _ClassVar[ErrorKind]
    ERROR_KIND_BUDGET_EXCEEDED: _ClassVar[ErrorKind]
    ERROR_KIND_PARKED: _ClassVar[ErrorKind]

class CallKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_KIND_UNSPECIFIED: _ClassVar[CallKind]
    CALL_KIND_NEUROSYMBOLIC: _ClassVar[CallKind]
    CALL_KIND_EMBEDDING: _ClassVar[CallKind]

class CacheMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_MODE_UNSPECIFIED: _ClassVar[CacheMode]
    CACHE_MODE_USE: _ClassVar[CacheMode]
    CACHE_MODE_REFRESH: _ClassVar[CacheMode]
    CACHE_MODE_OFF: _ClassVar[CacheMode]
CODEC_UNSPECIFIED: Codec
CODEC_JSON: Codec
CODEC_PICKLE: Codec
ERROR_KIND_UNSPECIFIED: ErrorKind
ERROR_KIND_USER: ErrorKind
ERROR_KIND_ENGINE: ErrorKind
ERROR_KIND_WORKER_LOST: ErrorKind
ERROR_KIND_ENCODING: ErrorKind
ERROR_KIND_CANCELLED: ErrorKind
ERROR_KIND_NO_WORKER: ErrorKind
ERROR_KIND_TIMEOUT: ErrorKind
ERROR_KIND_BUDGET_EXCEEDED: ErrorKind
ERROR_KIND_PARKED: ErrorKind
CALL_KIND_UNSPECIFIED: CallKind
CALL_KIND_NEUROSYMBOLIC: CallKind
CALL_KIND_EMBEDDING: CallKind
CACHE_MODE_UNSPECIFIED: CacheMode
CACHE_MODE_USE: CacheMode
CACHE_MODE_REFRESH: CacheMode
CACHE_MODE_OFF: CacheMode

class ItemError(_message.Message):
    __slots__ = ("kind", "type", "message", "traceback")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    kind: ErrorKind
    type: str
    message: str
    traceback: str
    def __init__(self, kind: _Optional[_Union[ErrorKind, str]] = ..., type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("payload", "error", "local_only")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    error: ItemError
    local_only: bool
    def __init__(self, payload: _Optional[bytes] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., local_only: _Optional[bool] = ...) -> None: ...

class EngineCall(_message.Message):
    __slots__ = ("call_id", "prompt", "messages_json", "kwargs_json", "local_ref", "kind", "inputs", "deadline_unix_ms")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_JSON_FIELD_NUMBER: _ClassVar[int]
    KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    LOCAL_REF_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    prompt: str
    messages_json: str
    kwargs_json: str
    local_ref: str
    kind: CallKind
    inputs: _containers.RepeatedScalarFieldContainer[str]
    deadline_unix_ms: int
    def __init__(self, call_id: _Optional[int] = ..., prompt: _Optional[str] = ..., messages_json: _Optional[str] = ..., kwargs_json: _Optional[str] = ..., local_ref: _Optional[str] = ..., kind: _Optional[_Union[CallKind, str]] = ..., inputs: _Optional[_Iterable[str]] = ..., deadline_unix_ms: _Optional[int] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Embeddings(_message.Message):
    __slots__ = ("vectors",)
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    def __init__(self, vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ...) -> None: ...

class EngineReply(_message.Message):
    __slots__ = ("call_id", "text", "error", "embeddings", "metadata_json")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    text: str
    error: ItemError
    embeddings: Embeddings
    metadata_json: str
    def __init__(self, call_id: _Optional[int] = ..., text: _Optional[str] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., embeddings: _Optional[_Union[Embeddings, _Mapping]] = ..., metadata_json: _Optional[str] = ...) -> None: ...

class LatencyPercentiles(_message.Message):
    __slots__ = ("count", "p50_ms", "p90_ms", "p99_ms", "max_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    def __init__(self, count: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., max_ms: _Optional[float] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cost_usd", "calls", "cache_hits", "coalesced", "unpriced_calls")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    COALESCED_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    calls: int
    cache_hits: int
    coalesced: int
    unpriced_calls: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., calls: _Optional[int] = ..., cache_hits: _Optional[int] = ..., coalesced: _Optional[int] = ..., unpriced_calls: _Optional[int] = ...) -> None: ...
