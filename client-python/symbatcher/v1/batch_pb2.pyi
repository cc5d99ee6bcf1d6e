from symbatcher.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchRequest(_message.Message):
    __slots__ = ("spec", "items", "end")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    items: ItemChunk
    end: EndOfInput
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., items: _Optional[_Union[ItemChunk, _Mapping]] = ..., end: _Optional[_Union[EndOfInput, _Mapping]] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("expression", "batch_size", "max_queue_delay_ms", "kwargs_json", "codec", "engine", "window", "max_attempts", "worker_wait_ms", "item_timeout_ms", "process_token", "cache", "max_cost_usd", "replay", "embedding_engine", "deadline_unix_ms")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    KWARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    WORKER_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    ITEM_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    expression: str
    batch_size: int
    max_queue_delay_ms: int
    kwargs_json: str
    codec: _common_pb2.Codec
    engine: str
    window: int
    max_attempts: int
    worker_wait_ms: int
    item_timeout_ms: int
    process_token: str
    cache: _common_pb2.CacheMode
    max_cost_usd: float
    replay: bool
    embedding_engine: str
    deadline_unix_ms: int
    def __init__(self, expression: _Optional[str] = ..., batch_size: _Optional[int] = ..., max_queue_delay_ms: _Optional[int] = ..., kwargs_json: _Optional[str] = ..., codec: _Optional[_Union[_common_pb2.Codec, str]] = ..., engine: _Optional[str] = ..., window: _Optional[int] = ..., max_attempts: _Optional[int] = ..., worker_wait_ms: _Optional[int] = ..., item_timeout_ms: _Optional[int] = ..., process_token: _Optional[str] = ..., cache: _Optional[_Union[_common_pb2.CacheMode, str]] = ..., max_cost_usd: _Optional[float] = ..., replay: _Optional[bool] = ..., embedding_engine: _Optional[str] = ..., deadline_unix_ms: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("index", "payload", "local_only")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    index: int
    payload: bytes
    local_only: bool
    def __init__(self, index: _Optional[int] = ..., payload: _Optional[bytes] = ..., local_only: _Optional[bool] = ...) -> None: ...

class ItemChunk(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class EndOfInput(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("accepted", "results", "summary")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    accepted: JobAccepted
    results: ResultChunk
    summary: JobSummary
    def __init__(self, accepted: _Optional[_Union[JobAccepted, _Mapping]] = ..., results: _Optional[_Union[ResultChunk, _Mapping]] = ..., summary: _Optional[_Union[JobSummary, _Mapping]] = ...) -> None: ...

class JobAccepted(_message.Message):
    __slots__ = ("job_id", "window", "engine", "embedding_engine")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    window: int
    engine: str
    embedding_engine: str
    def __init__(self, job_id: _Optional[int] = ..., window: _Optional[int] = ..., engine: _Optional[str] = ..., embedding_engine: _Optional[str] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("index", "outcome", "usage")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    outcome: _common_pb2.Outcome
    usage: _common_pb2.Usage
    def __init__(self, index: _Optional[int] = ..., outcome: _Optional[_Union[_common_pb2.Outcome, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...

class ResultChunk(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ...) -> None: ...

class JobSummary(_message.Message):
    __slots__ = ("items", "succeeded", "failed", "engine_calls", "engine_batches", "mean_batch_size", "requeued", "wall_seconds", "engine_seconds", "mean_queue_wait_ms", "retries", "rate_limited", "prompt_tokens", "completion_tokens", "failed_engine_calls", "engine_latency", "engine", "cost_usd", "saved", "unpriced_calls", "budget_exceeded", "embedding_engine", "steps", "embedding_calls", "billed_twice_usd")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ENGINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_BATCHES_FIELD_NUMBER: _ClassVar[int]
    MEAN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FAILED_ENGINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_ENGINE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_CALLS_FIELD_NUMBER: _ClassVar[int]
    BILLED_TWICE_USD_FIELD_NUMBER: _ClassVar[int]
    items: int
    succeeded: int
    failed: int
    engine_calls: int
    engine_batches: int
    mean_batch_size: float
    requeued: int
    wall_seconds: float
    engine_seconds: float
    mean_queue_wait_ms: float
    retries: int
    rate_limited: int
    prompt_tokens: int
    completion_tokens: int
    failed_engine_calls: int
    engine_latency: _common_pb2.LatencyPercentiles
    engine: str
    cost_usd: float
    saved: _common_pb2.Usage
    unpriced_calls: int
    budget_exceeded: int
    embedding_engine: str
    steps: _containers.RepeatedCompositeFieldContainer[StepRoutes]
    embedding_calls: int
    billed_twice_usd: float
    def __init__(self, items: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., engine_calls: _Optional[int] = ..., engine_batches: _Optional[int] = ..., mean_batch_size: _Optional[float] = ..., requeued: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., engine_seconds: _Optional[float] = ..., mean_queue_wait_ms: _Optional[float] = ..., retries: _Optional[int] = ..., rate_limited: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., failed_engine_calls: _Optional[int] = ..., engine_latency: _Optional[_Union[_common_pb2.LatencyPercentiles, _Mapping]] = ..., engine: _Optional[str] = ..., cost_usd: _Optional[float] = ..., saved: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., unpriced_calls: _Optional[int] = ..., budget_exceeded: _Optional[int] = ..., embedding_engine: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[StepRoutes, _Mapping]]] = ..., embedding_calls: _Optional[int] = ..., billed_twice_usd: _Optional[float] = ...) -> None: ...

class StepRoutes(_message.Message):
    __slots__ = ("step", "batch_calls", "online_calls", "cost_usd", "online_cost_usd")
    STEP_FIELD_NUMBER: _ClassVar[int]
    BATCH_CALLS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_CALLS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    ONLINE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    step: int
    batch_calls: int
    online_calls: int
    cost_usd: float
    online_cost_usd: float
    def __init__(self, step: _Optional[int] = ..., batch_calls: _Optional[int] = ..., online_calls: _Optional[int] = ..., cost_usd: _Optional[float] = ..., online_cost_usd: _Optional[float] = ...) -> None: ...
