"""Engines as the Python side configures or serves them.

- `EchoEngine`: settings of the server's built-in echo engine.
- `OpenAIEngine`: settings of an OpenAI-compatible HTTP engine in the server.
- `OpenAIBatchEngine`: settings of an engine on OpenAI's Batch API in the server.
- `BatchEngine`: subclass it to answer whole batches in Python; the scheduler
  connects it to the server over `EngineService.Serve`, or `serve_engine`
  serves it to any server.
"""

from __future__ import annotations

import abc
import json
import logging
import queue
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc

from symbatcher._errors import SymbatcherError, from_rpc_error
from symbatcher.v1 import common_pb2, engine_pb2, engine_pb2_grpc

log = logging.getLogger("symbatcher.engine")

_STOP = object()


class ServerEngine(abc.ABC):
    """Settings of an engine that runs inside the embedded server; subclasses
    turn themselves into the server's command-line flags."""

    @abc.abstractmethod
    def server_args(self) -> list[str]:
        """The embedded server's command-line flags for this engine."""


@dataclass(frozen=True)
class EchoEngine(ServerEngine):
    """The server's built-in engine: replies `"echo: " + prompt`.

    `latency_ms` is a simulated latency per batch; `max_concurrency` is how
    many batches it runs at once (1 by default, so batching shows).
    """

    latency_ms: int = 0
    max_concurrency: int = 1

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms: must be >= 0, got {self.latency_ms}")
        if not 1 <= self.max_concurrency <= 1024:
            raise ValueError(f"max_concurrency: must be 1..1024, got {self.max_concurrency}")

    def server_args(self) -> list[str]:
        return [
            "--echo-latency-ms",
            str(self.latency_ms),
            "--echo-max-concurrency",
            str(self.max_concurrency),
        ]


@dataclass(frozen=True)
class OpenAIEngine(ServerEngine):
    """An OpenAI-compatible engine in the embedded server: OpenAI, vLLM,
    llama.cpp server, Ollama, OpenRouter, anything serving
    `POST {base_url}/chat/completions`.

    Every engine call becomes one request, sent concurrently up to
    `max_concurrency`, under limits the server enforces for all workers:
    `rpm` requests and `tpm` tokens per minute (None: unlimited). 429s and
    5xx are retried (`max_retries`, exponential backoff with jitter, honouring
    `Retry-After`); `timeout_s` bounds each attempt. The API key is read by the
    server from the environment variable `api_key_env` (None: send no key).
    With `strict`, a call whose kwargs hold a parameter the engine does not
    pass on fails instead of dropping it (see docs/engines.md).
    """

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int = 16
    max_retries: int = 5
    timeout_s: float = 60
    strict: bool = False

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}: must be at least 1 (None for no limit), got {value}")
        if not 1 <= self.max_concurrency <= 1024:
            raise ValueError(f"max_concurrency: must be 1..1024, got {self.max_concurrency}")
        if not 0 <= self.max_retries <= 100:
            raise ValueError(f"max_retries: must be 0..100, got {self.max_retries}")
        if not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s: must be in (0, 3600], got {self.timeout_s}")

    def server_args(self) -> list[str]:
        args = [
            "--openai-base-url", self.base_url,
            "--openai-model", self.model,
            "--openai-api-key-env", self.api_key_env or "",
            "--openai-max-concurrency", str(self.max_concurrency),
            "--openai-max-retries", str(self.max_retries),
            "--openai-timeout-s", str(self.timeout_s),
        ]  # fmt: skip
        if self.rpm is not None:
            args += ["--openai-rpm", str(self.rpm)]
        if self.tpm is not None:
            args += ["--openai-tpm", str(self.tpm)]
        if self.strict:
            args.append("--openai-strict")
        return args


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class OpenAIBatchEngine(ServerEngine):
    """OpenAI's Batch API (Files + Batches, at the batch price) as the
    embedded server's engine.

    The engine calls of a step of every running `forward()` go into one batch
    file (split at `max_requests_per_batch` requests, at most 50,000, and 200
    MB), which is uploaded and submitted; the server polls it every
    `poll_interval_s` (growing 1.5x per poll, up to `poll_max_interval_s`) and
    routes each reply back to its call. Submitted batches are recorded in
    `batches.redb` in the server's cache directory, so a re-run waits for a
    batch still in flight instead of paying for it again. Requests that
    expired or failed for a passing reason go to `fallback` (an
    `OpenAIEngine`, or the name of an openai engine the server defines),
    else into the next batch. See docs/engines.md.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    completion_window: str = "24h"
    poll_interval_s: float = 10.0
    poll_max_interval_s: float = 300.0
    max_requests_per_batch: int = 50_000
    fallback: OpenAIEngine | str | None = None
    #: Name of the engine in the server.
    name: str = "openai-batch"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        if not self.completion_window:
            raise ValueError('completion_window: must not be empty ("24h")')
        if not 0.001 <= self.poll_interval_s <= 3600:
            raise ValueError(f"poll_interval_s: must be in [0.001, 3600], got {self.poll_interval_s}")
        if not self.poll_interval_s <= self.poll_max_interval_s <= 3600:
            raise ValueError(
                f"poll_max_interval_s: must be in [poll_interval_s, 3600], got {self.poll_max_interval_s}"
            )
        if not 1 <= self.max_requests_per_batch <= 50_000:
            raise ValueError(
                f"max_requests_per_batch: must be 1..50000 (the provider's limit), "
                f"got {self.max_requests_per_batch}"
            )
        if isinstance(self.fallback, str) and not self.fallback:
            raise ValueError("fallback: must name an engine, or be None")

    def engine_toml(self) -> str:
        """The engine as a `[engines.NAME]` table of the server's config format."""
        fallback = "openai" if isinstance(self.fallback, OpenAIEngine) else self.fallback
        lines = [
            f"default_engine = {_toml_string(self.name)}",
            f"[engines.{_toml_string(self.name)}]",
            'kind = "openai-batch"',
            f"base_url = {_toml_string(self.base_url)}",
            f"model = {_toml_string(self.model)}",
            f"api_key_env = {_toml_string(self.api_key_env or '')}",
            f"completion_window = {_toml_string(self.completion_window)}",
            f"poll_interval_ms = {max(1, round(self.poll_interval_s * 1000))}",
            f"poll_max_interval_ms = {max(1, round(self.poll_max_interval_s * 1000))}",
            f"max_requests_per_batch = {self.max_requests_per_batch}",
        ]
        if fallback:
            lines.append(f"fallback = {_toml_string(fallback)}")
        return "\n".join(lines) + "\n"

    def server_args(self) -> list[str]:
        args = ["--config-toml", self.engine_toml()]
        if isinstance(self.fallback, OpenAIEngine):
            args += self.fallback.server_args()
        return args


@dataclass(frozen=True)
class EngineCall:
    """One engine call of a batch, as a `BatchEngine` receives it."""

    prompt: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Set when the call's symai Argument is in this process (`_local_calls`).
    local_ref: str = ""


class BatchEngine(abc.ABC):
    """Answers batches of engine calls in Python.

    Implement `forward(calls)` returning one reply per call, in order: a
    `str`, a `(str, dict)` pair whose dict reaches symai as the call's
    metadata, or an `Exception` (that call fails). Raising fails the whole batch, and
    every item whose call was in it sees an `EngineError` with the message.
    `max_concurrency` batches run at once, each on its own thread.
    """

    max_concurrency: int = 1

    @abc.abstractmethod
    def forward(self, calls: list[EngineCall]) -> list[str | tuple[str, dict] | Exception]:
        """One reply per call, in order."""


def _error(exc: BaseException) -> common_pb2.ItemError:
    return common_pb2.ItemError(
        kind=common_pb2.ERROR_KIND_ENGINE,
        type=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def answer_batch(engine: BatchEngine, batch: engine_pb2.EngineBatch) -> engine_pb2.EngineBatchResult:
    """Runs `engine.forward` on a batch and encodes its answers."""
    calls = [
        EngineCall(
            prompt=call.prompt,
            messages=json.loads(call.messages_json) if call.messages_json else [],
            kwargs=json.loads(call.kwargs_json) if call.kwargs_json else {},
            local_ref=call.local_ref,
        )
        for call in batch.calls
    ]
    result = engine_pb2.EngineBatchResult(batch_id=batch.batch_id)
    try:
        replies = engine.forward(calls)
        if len(replies) != len(calls):
            raise SymbatcherError(
                f"{type(engine).__name__}.forward returned {len(replies)} replies for "
                f"{len(calls)} calls"
            )
    except Exception as exc:
        result.batch_error.CopyFrom(_error(exc))
        return result
    for call, reply in zip(batch.calls, replies):
        out = result.replies.add(call_id=call.call_id)
        if isinstance(reply, BaseException):
            out.error.CopyFrom(_error(reply))
        elif isinstance(reply, str):
            out.text = reply
        elif (
            isinstance(reply, tuple)
            and len(reply) == 2
            and isinstance(reply[0], str)
            and isinstance(reply[1], dict)
        ):
            out.text = reply[0]
            try:
                out.metadata_json = json.dumps(reply[1], ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                out.ClearField("text")
                out.error.CopyFrom(_error(TypeError(f"reply metadata is not JSON: {exc}")))
        else:
            bad = TypeError(
                f"reply is {type(reply).__name__}, expected str, (str, dict) or Exception"
            )
            out.error.CopyFrom(_error(bad))
    return result


class EngineConnection:
    """Serves a `BatchEngine` under `name` over one `EngineService.Serve` stream."""

    def __init__(self, channel: grpc.Channel, engine: BatchEngine, name: str) -> None:
        concurrency = int(getattr(engine, "max_concurrency", 1))
        if not 1 <= concurrency <= 1024:
            raise ValueError(f"max_concurrency: must be 1..1024, got {concurrency}")
        self._stub = engine_pb2_grpc.EngineServiceStub(channel)
        self.engine = engine
        self._name = name
        self._concurrency = concurrency
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"engine-{name}")
        self._registered = threading.Event()
        self._ended = threading.Event()
        self._closing = False
        self._call: Any = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        self._call = self._stub.Serve(self._requests())
        threading.Thread(target=self._read, name=f"engine-{self._name}", daemon=True).start()
        if not self._registered.wait(timeout) or self.error is not None:
            self.stop()
            raise self.error or SymbatcherError(f"engine {self._name!r} registration timed out")

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the connection ends (True) or `timeout` passes."""
        return self._ended.wait(timeout)

    def stop(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._outbox.put(_STOP)
        if self._call is not None:
            self._call.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _requests(self):
        yield engine_pb2.EngineWorkerMessage(
            register=engine_pb2.RegisterEngine(name=self._name, max_concurrency=self._concurrency)
        )
        while True:
            result = self._outbox.get()
            if result is _STOP:
                return
            yield engine_pb2.EngineWorkerMessage(result=result)

    def _read(self) -> None:
        try:
            for command in self._call:
                kind = command.WhichOneof("kind")
                if kind == "registered":
                    self._registered.set()
                elif kind == "batch":
                    self._pool.submit(self._serve, command.batch)
        except grpc.RpcError as err:
            if not self._closing:
                self.error = from_rpc_error(err)
                log.warning("engine %r disconnected: %s", self._name, self.error)
        except RuntimeError:
            pass  # the pool was shut down while a batch arrived
        finally:
            self._registered.set()
            self._ended.set()

    def _serve(self, batch: engine_pb2.EngineBatch) -> None:
        self._outbox.put(answer_batch(self.engine, batch))


def serve_engine(engine: BatchEngine, *, server: str, name: str, connection: Any = None) -> None:
    """Serves `engine` under `name` to the symbatcher server at `server`
    (host:port) until the connection ends or the process is interrupted.
    Jobs select it with `BatchScheduler(address=server, engine=name)`."""
    from symbatcher._channel import Connection

    with (connection or Connection.create()).channel(server) as channel:
        connection = EngineConnection(channel, engine, name)
        connection.start()
        log.info("serving engine %r to %s", name, server)
        try:
            while not connection.wait(0.5):
                pass
        finally:
            connection.stop()
        if connection.error is not None:
            raise connection.error
