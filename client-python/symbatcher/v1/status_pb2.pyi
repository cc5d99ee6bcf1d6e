from symbatcher.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_FINISHED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_FINISHED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("jobs", "workers", "queues", "engines", "uptime_seconds", "default_engine", "default_engine_source", "cache", "provider_batches", "default_embedding_engine", "finished_jobs")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ENGINE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ENGINE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStatus]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStatus]
    engines: _containers.RepeatedCompositeFieldContainer[EngineStatus]
    uptime_seconds: float
    default_engine: str
    default_engine_source: str
    cache: CacheStatus
    provider_batches: _containers.RepeatedCompositeFieldContainer[ProviderBatchStatus]
    default_embedding_engine: str
    finished_jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ..., workers: _Optional[_Iterable[_Union[WorkerStatus, _Mapping]]] = ..., queues: _Optional[_Iterable[_Union[QueueStatus, _Mapping]]] = ..., engines: _Optional[_Iterable[_Union[EngineStatus, _Mapping]]] = ..., uptime_seconds: _Optional[float] = ..., default_engine: _Optional[str] = ..., default_engine_source: _Optional[str] = ..., cache: _Optional[_Union[CacheStatus, _Mapping]] = ..., provider_batches: _Optional[_Iterable[_Union[ProviderBatchStatus, _Mapping]]] = ..., default_embedding_engine: _Optional[str] = ..., finished_jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ...) -> None: ...

class CacheStatus(_message.Message):
    __slots__ = ("dir", "entries", "bytes", "max_bytes", "hits", "coalesced")
    DIR_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    COALESCED_FIELD_NUMBER: _ClassVar[int]
    dir: str
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    coalesced: int
    def __init__(self, dir: _Optional[str] = ..., entries: _Optional[int] = ..., bytes: _Optional[int] = ..., max_bytes: _Optional[int] = ..., hits: _Optional[int] = ..., coalesced: _Optional[int] = ...) -> None: ...

class ProviderBatchStatus(_message.Message):
    __slots__ = ("engine", "batch_id", "state", "total", "completed", "failed")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    engine: str
    batch_id: str
    state: str
    total: int
    completed: int
    failed: int
    def __init__(self, engine: _Optional[str] = ..., batch_id: _Optional[str] = ..., state: _Optional[str] = ..., total: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "expression", "engine", "received", "queued", "running", "completed", "failed", "input_closed", "cost_usd", "max_cost_usd", "saved", "parked", "embedding_engine", "state", "ended_unix_ms", "wall_seconds", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    INPUT_CLOSED_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENDED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    expression: str
    engine: str
    received: int
    queued: int
    running: int
    completed: int
    failed: int
    input_closed: bool
    cost_usd: float
    max_cost_usd: float
    saved: _common_pb2.Usage
    parked: int
    embedding_engine: str
    state: JobState
    ended_unix_ms: int
    wall_seconds: float
    error: str
    def __init__(self, job_id: _Optional[int] = ..., expression: _Optional[str] = ..., engine: _Optional[str] = ..., received: _Optional[int] = ..., queued: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ..., input_closed: _Optional[bool] = ..., cost_usd: _Optional[float] = ..., max_cost_usd: _Optional[float] = ..., saved: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., parked: _Optional[int] = ..., embedding_engine: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., ended_unix_ms: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("worker_id", "name", "expressions", "concurrency", "running", "draining", "started", "cancelling", "prefetch", "engine_calls", "buffered")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    CANCELLING_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_FIELD_NUMBER: _ClassVar[int]
    ENGINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_FIELD_NUMBER: _ClassVar[int]
    worker_id: int
    name: str
    expressions: _containers.RepeatedScalarFieldContainer[str]
    concurrency: int
    running: int
    draining: bool
    started: int
    cancelling: int
    prefetch: int
    engine_calls: int
    buffered: int
    def __init__(self, worker_id: _Optional[int] = ..., name: _Optional[str] = ..., expressions: _Optional[_Iterable[str]] = ..., concurrency: _Optional[int] = ..., running: _Optional[int] = ..., draining: _Optional[bool] = ..., started: _Optional[int] = ..., cancelling: _Optional[int] = ..., prefetch: _Optional[int] = ..., engine_calls: _Optional[int] = ..., buffered: _Optional[int] = ...) -> None: ...

class QueueStatus(_message.Message):
    __slots__ = ("engine", "model", "waiting")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    engine: str
    model: str
    waiting: int
    def __init__(self, engine: _Optional[str] = ..., model: _Optional[str] = ..., waiting: _Optional[int] = ...) -> None: ...

class EngineStatus(_message.Message):
    __slots__ = ("name", "kind", "max_concurrency", "in_flight", "batches", "calls", "failed_batches", "retries", "rate_limited", "prompt_tokens", "completion_tokens", "failed_calls", "latency", "max_batch_size", "model", "rpm", "tpm", "concurrency_limit", "requests_in_flight", "requests_waiting", "reconnecting", "call_kind", "billed_twice_usd")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    FAILED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FAILED_CALLS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_WAITING_FIELD_NUMBER: _ClassVar[int]
    RECONNECTING_FIELD_NUMBER: _ClassVar[int]
    CALL_KIND_FIELD_NUMBER: _ClassVar[int]
    BILLED_TWICE_USD_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    max_concurrency: int
    in_flight: int
    batches: int
    calls: int
    failed_batches: int
    retries: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    failed_calls: int
    latency: _common_pb2.LatencyPercentiles
    max_batch_size: int
    model: str
    rpm: int
    tpm: int
    concurrency_limit: int
    requests_in_flight: int
    requests_waiting: int
    reconnecting: bool
    call_kind: str
    billed_twice_usd: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., max_concurrency: _Optional[int] = ..., in_flight: _Optional[int] = ..., batches: _Optional[int] = ..., calls: _Optional[int] = ..., failed_batches: _Optional[int] = ..., retries: _Optional[int] = ..., rate_limited: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., failed_calls: _Optional[int] = ..., latency: _Optional[_Union[_common_pb2.LatencyPercentiles, _Mapping]] = ..., max_batch_size: _Optional[int] = ..., model: _Optional[str] = ..., rpm: _Optional[int] = ..., tpm: _Optional[int] = ..., concurrency_limit: _Optional[int] = ..., requests_in_flight: _Optional[int] = ..., requests_waiting: _Optional[int] = ..., reconnecting: _Optional[bool] = ..., call_kind: _Optional[str] = ..., billed_twice_usd: _Optional[float] = ...) -> None: ...
