"""symbatcher: run a symai Expression over a dataset, with every engine call
of every running item batched by a Rust gRPC scheduler."""

from symbatcher._channel import Connection, make_aio_channel, make_channel
from symbatcher._batch_engine import BatchEngine, EngineCall
from symbatcher._engine_connection import serve_engine
from symbatcher._server_engines import EchoEngine, OpenAIBatchEngine, OpenAIEngine
from symbatcher._anthropic_engine import AnthropicEngine
from symbatcher._symai_engine import SymaiEngine
from symbatcher._errors import (
    AuthenticationError,
    BudgetExceeded,
    EncodingError,
    EngineError,
    InvalidArgumentError,
    ItemTimeoutError,
    JobError,
    NoWorkerError,
    RemoteError,
    RunCancelledError,
    SchedulerClosedError,
    ServerStartError,
    ServerUnavailableError,
    SymbatcherError,
    WorkerLostError,
)
from symbatcher._interceptor import sleep
from symbatcher._scheduler import BatchScheduler
from symbatcher._types import ItemUsage, JobSummary

__all__ = [
    "AnthropicEngine",
    "AuthenticationError",
    "BatchEngine",
    "BatchScheduler",
    "BudgetExceeded",
    "Connection",
    "EchoEngine",
    "EncodingError",
    "EngineCall",
    "EngineError",
    "ItemTimeoutError",
    "ItemUsage",
    "InvalidArgumentError",
    "JobError",
    "JobSummary",
    "NoWorkerError",
    "OpenAIBatchEngine",
    "OpenAIBatchEngine",
    "OpenAIEngine",
    "RemoteError",
    "RunCancelledError",
    "SchedulerClosedError",
    "ServerStartError",
    "ServerUnavailableError",
    "SymaiEngine",
    "SymbatcherError",
    "WorkerLostError",
    "make_aio_channel",
    "make_channel",
    "serve_engine",
    "sleep",
]
