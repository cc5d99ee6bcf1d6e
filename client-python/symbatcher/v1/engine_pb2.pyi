from symbatcher.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EngineCommand(_message.Message):
    __slots__ = ("registered", "batch")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    registered: EngineRegistered
    batch: EngineBatch
    def __init__(self, registered: _Optional[_Union[EngineRegistered, _Mapping]] = ..., batch: _Optional[_Union[EngineBatch, _Mapping]] = ...) -> None: ...

class EngineRegistered(_message.Message):
    __slots__ = ("name", "replies_ahead")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLIES_AHEAD_FIELD_NUMBER: _ClassVar[int]
    name: str
    replies_ahead: bool
    def __init__(self, name: _Optional[str] = ..., replies_ahead: _Optional[bool] = ...) -> None: ...

class EngineWorkerMessage(_message.Message):
    __slots__ = ("register", "result", "results")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    register: RegisterEngine
    result: EngineBatchResult
    results: EngineResults
    def __init__(self, register: _Optional[_Union[RegisterEngine, _Mapping]] = ..., result: _Optional[_Union[EngineBatchResult, _Mapping]] = ..., results: _Optional[_Union[EngineResults, _Mapping]] = ...) -> None: ...

class EngineResults(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EngineBatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EngineBatchResult, _Mapping]]] = ...) -> None: ...

class RegisterEngine(_message.Message):
    __slots__ = ("name", "max_concurrency", "cache_by_default", "call_kind", "answers_per_call")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    CACHE_BY_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CALL_KIND_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_PER_CALL_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_concurrency: int
    cache_by_default: bool
    call_kind: _common_pb2.CallKind
    answers_per_call: bool
    def __init__(self, name: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., cache_by_default: _Optional[bool] = ..., call_kind: _Optional[_Union[_common_pb2.CallKind, str]] = ..., answers_per_call: _Optional[bool] = ...) -> None: ...

class EngineBatch(_message.Message):
    __slots__ = ("batch_id", "calls")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    calls: _containers.RepeatedCompositeFieldContainer[_common_pb2.EngineCall]
    def __init__(self, batch_id: _Optional[int] = ..., calls: _Optional[_Iterable[_Union[_common_pb2.EngineCall, _Mapping]]] = ...) -> None: ...

class EngineBatchResult(_message.Message):
    __slots__ = ("batch_id", "replies", "batch_error", "partial")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    BATCH_ERROR_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    replies: _containers.RepeatedCompositeFieldContainer[_common_pb2.EngineReply]
    batch_error: _common_pb2.ItemError
    partial: bool
    def __init__(self, batch_id: _Optional[int] = ..., replies: _Optional[_Iterable[_Union[_common_pb2.EngineReply, _Mapping]]] = ..., batch_error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., partial: _Optional[bool] = ...) -> None: ...
