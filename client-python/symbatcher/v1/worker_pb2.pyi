from symbatcher.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerMessage(_message.Message):
    __slots__ = ("register", "results", "engine_calls", "drain", "started", "update", "heartbeat")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    register: RegisterWorker
    results: WorkResultChunk
    engine_calls: WorkerEngineCallChunk
    drain: DrainWorker
    started: RunsStarted
    update: WorkerUpdate
    heartbeat: Heartbeat
    def __init__(self, register: _Optional[_Union[RegisterWorker, _Mapping]] = ..., results: _Optional[_Union[WorkResultChunk, _Mapping]] = ..., engine_calls: _Optional[_Union[WorkerEngineCallChunk, _Mapping]] = ..., drain: _Optional[_Union[DrainWorker, _Mapping]] = ..., started: _Optional[_Union[RunsStarted, _Mapping]] = ..., update: _Optional[_Union[WorkerUpdate, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerUpdate(_message.Message):
    __slots__ = ("started_task_ids", "calls", "results", "started_ms_ago")
    STARTED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_AGO_FIELD_NUMBER: _ClassVar[int]
    started_task_ids: _containers.RepeatedScalarFieldContainer[int]
    calls: _containers.RepeatedCompositeFieldContainer[WorkerEngineCall]
    results: _containers.RepeatedCompositeFieldContainer[WorkResult]
    started_ms_ago: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, started_task_ids: _Optional[_Iterable[int]] = ..., calls: _Optional[_Iterable[_Union[WorkerEngineCall, _Mapping]]] = ..., results: _Optional[_Iterable[_Union[WorkResult, _Mapping]]] = ..., started_ms_ago: _Optional[_Iterable[int]] = ...) -> None: ...

class RunsStarted(_message.Message):
    __slots__ = ("task_ids",)
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class RegisterWorker(_message.Message):
    __slots__ = ("name", "expressions", "concurrency", "prefetch", "process_token", "replays", "heartbeat_interval_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_FIELD_NUMBER: _ClassVar[int]
    PROCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REPLAYS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    expressions: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    prefetch: int
    process_token: str
    replays: bool
    heartbeat_interval_ms: int
    def __init__(self, name: _Optional[str] = ..., expressions: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., prefetch: _Optional[int] = ..., process_token: _Optional[str] = ..., replays: _Optional[bool] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class WorkResult(_message.Message):
    __slots__ = ("task_id", "outcome")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    outcome: _common_pb2.Outcome
    def __init__(self, task_id: _Optional[int] = ..., outcome: _Optional[_Union[_common_pb2.Outcome, _Mapping]] = ...) -> None: ...

class WorkResultChunk(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[WorkResult]
    def __init__(self, results: _Optional[_Iterable[_Union[WorkResult, _Mapping]]] = ...) -> None: ...

class WorkerEngineCall(_message.Message):
    __slots__ = ("task_id", "call")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    call: _common_pb2.EngineCall
    def __init__(self, task_id: _Optional[int] = ..., call: _Optional[_Union[_common_pb2.EngineCall, _Mapping]] = ...) -> None: ...

class WorkerEngineCallChunk(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[WorkerEngineCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[WorkerEngineCall, _Mapping]]] = ...) -> None: ...

class DrainWorker(_message.Message):
    __slots__ = ("unstarted_task_ids",)
    UNSTARTED_TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    unstarted_task_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, unstarted_task_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class WorkerCommand(_message.Message):
    __slots__ = ("registered", "job", "assignments", "replies", "cancel", "job_finished")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    JOB_FINISHED_FIELD_NUMBER: _ClassVar[int]
    registered: WorkerRegistered
    job: JobInfo
    assignments: AssignmentChunk
    replies: EngineReplyChunk
    cancel: CancelTasks
    job_finished: JobFinished
    def __init__(self, registered: _Optional[_Union[WorkerRegistered, _Mapping]] = ..., job: _Optional[_Union[JobInfo, _Mapping]] = ..., assignments: _Optional[_Union[AssignmentChunk, _Mapping]] = ..., replies: _Optional[_Union[EngineReplyChunk, _Mapping]] = ..., cancel: _Optional[_Union[CancelTasks, _Mapping]] = ..., job_finished: _Optional[_Union[JobFinished, _Mapping]] = ...) -> None: ...

class WorkerRegistered(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: int
    def __init__(self, worker_id: _Optional[int] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "expression", "kwargs_json", "codec", "engine_wants_messages", "call_batch_size", "max_queue_delay_ms", "replay_calls", "has_embedding_engine")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    ENGINE_WANTS_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CALL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_CALLS_FIELD_NUMBER: _ClassVar[int]
    HAS_EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    expression: str
    kwargs_json: str
    codec: _common_pb2.Codec
    engine_wants_messages: bool
    call_batch_size: int
    max_queue_delay_ms: int
    replay_calls: bool
    has_embedding_engine: bool
    def __init__(self, job_id: _Optional[int] = ..., expression: _Optional[str] = ..., kwargs_json: _Optional[str] = ..., codec: _Optional[_Union[_common_pb2.Codec, str]] = ..., engine_wants_messages: _Optional[bool] = ..., call_batch_size: _Optional[int] = ..., max_queue_delay_ms: _Optional[int] = ..., replay_calls: _Optional[bool] = ..., has_embedding_engine: _Optional[bool] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("task_id", "job_id", "index", "payload", "local_only")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    task_id: int
    job_id: int
    index: int
    payload: bytes
    local_only: bool
    def __init__(self, task_id: _Optional[int] = ..., job_id: _Optional[int] = ..., index: _Optional[int] = ..., payload: _Optional[bytes] = ..., local_only: _Optional[bool] = ...) -> None: ...

class AssignmentChunk(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class EngineReplyChunk(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[_common_pb2.EngineReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[_common_pb2.EngineReply, _Mapping]]] = ...) -> None: ...

class CancelTasks(_message.Message):
    __slots__ = ("task_ids",)
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, task_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class JobFinished(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...
