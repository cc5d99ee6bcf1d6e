"""symbatcher: run a symai Expression over a dataset, with every engine call
of every running item batched by a Rust gRPC scheduler.

Everything public is importable from here. The package is laid out by role
(the modules in each are private):

- `client/`: `BatchScheduler` and what it drives: a job's stream, the local
  worker slots that serve it, the dataset's reading, the embedded server;
- `worker/`: a worker connection and its slots, which run forward() and send
  its engine calls to the server;
- `engines/`: engines served from Python (`BatchEngine`, `SymaiEngine`,
  `SymaiEmbeddingEngine`) and
  the settings of the embedded server's own engines;
- `wire/`: what travels and how: channels, codec, message limits, and the
  mapping of gRPC errors to the exceptions below;
- `cli/`: the `symbatcher` command; `v1/`: the generated protocol stubs.
"""

from symbatcher.client._failure_streak import RepeatedFailureWarning
from symbatcher.engines._default_engine import EchoFallbackWarning
from symbatcher._errors import (
    AuthenticationError,
    BudgetExceeded,
    EncodingError,
    EngineError,
    EngineUnavailableError,
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
from symbatcher.client._scheduler import BatchScheduler
from symbatcher.client._estimate import Estimate, ModeEstimate, SampleMeasures
from symbatcher.client._summary import ItemUsage, JobSummary, StepRoutes
from symbatcher.engines._batch_engine import BatchEngine, EngineCall
from symbatcher.engines._serve_engine import serve_engine
from symbatcher.engines._anthropic_batch_engine import AnthropicBatchEngine
from symbatcher.engines._anthropic_engine import AnthropicEngine
from symbatcher.engines._server_engines import (
    EchoEngine,
    OpenAIBatchEngine,
    OpenAIEmbeddingEngine,
    OpenAIEngine,
)
from symbatcher.engines._symai_embedding_engine import SymaiEmbeddingEngine
from symbatcher.engines._symai_engine import SymaiEngine
from symbatcher.wire._channel import Connection, make_aio_channel, make_channel
from symbatcher.worker._interceptor import sleep

__all__ = [
    # Client: run an Expression over a dataset, and what a job reports.
    "BatchScheduler",
    "Estimate",
    "ItemUsage",
    "JobSummary",
    "ModeEstimate",
    "SampleMeasures",
    "StepRoutes",
    # Worker: what forward() may call inside a worker slot.
    "sleep",
    # Engines: served from Python, or settings of the embedded server's own.
    "AnthropicBatchEngine",
    "AnthropicEngine",
    "BatchEngine",
    "EchoEngine",
    "EngineCall",
    "OpenAIBatchEngine",
    "OpenAIEmbeddingEngine",
    "OpenAIEngine",
    "SymaiEmbeddingEngine",
    "SymaiEngine",
    "serve_engine",
    # Wire: how to reach a server (token, TLS).
    "Connection",
    "make_aio_channel",
    "make_channel",
    # Errors.
    "AuthenticationError",
    "BudgetExceeded",
    "EncodingError",
    "EngineError",
    "EngineUnavailableError",
    "InvalidArgumentError",
    "ItemTimeoutError",
    "JobError",
    "NoWorkerError",
    "RemoteError",
    "RunCancelledError",
    "SchedulerClosedError",
    "ServerStartError",
    "ServerUnavailableError",
    "SymbatcherError",
    "WorkerLostError",
    # Warnings.
    "EchoFallbackWarning",
    "RepeatedFailureWarning",
]
