"""`BatchScheduler`: the original library's API over the symbatcher server."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sized
from typing import Any

import grpc

from symbatcher._channel import register_connection, unregister_connection
from symbatcher._engine import BatchEngine, EngineConnection, ServerEngine
from symbatcher._engine_choice import symai_engine, warn_echo_fallback
from symbatcher._errors import SchedulerClosedError, SymbatcherError
from symbatcher._imports import build_expression, expression_name
from symbatcher._job import JobOptions
from symbatcher._server import EmbeddedServer, open_server
from symbatcher._slots import check_kind as check_slot_kind
from symbatcher._source import AsyncIteratorSource, ItemSource, SequenceSource, source_for
from symbatcher._stream import JobRun
from symbatcher._types import JobSummary
from symbatcher._symai_engine import SymaiEngine
from symbatcher.v1 import batch_pb2_grpc, status_pb2, status_pb2_grpc
from symbatcher._codec import is_json_value


#: How long the embedded server may take to answer the Status call that
#: settles the default engine.
STATUS_TIMEOUT_S = 10.0


def default_cache_dir() -> str:
    """The embedded server's call cache: $SYMBATCHER_CACHE_DIR, else
    $XDG_CACHE_HOME/symbatcher, else ~/.cache/symbatcher."""
    explicit = os.environ.get("SYMBATCHER_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symbatcher")


def _timeout_ms(item_timeout_s: Any) -> int | None:
    """`item_timeout_s` in whole milliseconds (at least 1); None stays None."""
    if item_timeout_s is None:
        return None
    if isinstance(item_timeout_s, bool) or not isinstance(item_timeout_s, (int, float)) or not item_timeout_s > 0:
        raise ValueError(
            f"item_timeout_s: must be a number of seconds > 0 (or None for the server's "
            f"default), got {item_timeout_s!r}"
        )
    return max(1, round(item_timeout_s * 1000))


def _check_call(num_workers: Any, batch_size: Any) -> None:
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: must be an integer >= 0, got {num_workers!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 4096:
        raise ValueError(f"batch_size: must be an integer in 1..4096, got {batch_size!r}")


def _length(dataset: Any) -> int | None:
    return len(dataset) if isinstance(dataset, Sized) else None


def _bind_owner(source: ItemSource) -> None:
    """An async iterable is read on the loop of the coroutine that passed it."""
    if isinstance(source, AsyncIteratorSource):
        source.owner = asyncio.get_running_loop()


def _kwargs_json(kwargs: dict[str, Any]) -> str:
    """Job kwargs as JSON for workers in other processes. A job with kwargs
    that are not JSON never reaches them (`_local_only_kwargs`): its local
    slots get the original objects, and the JSON ones are sent for the record."""
    return json.dumps(
        {k: v for k, v in kwargs.items() if is_json_value(v)}, ensure_ascii=False
    )


def _local_only_kwargs(kwargs: dict[str, Any], num_workers: int) -> bool:
    """True when the job's kwargs include values that are not JSON: only
    this process's slots can receive them, so its items run there alone.
    With no local slot (num_workers=0) no one could run it: ValueError
    naming the kwargs."""
    names = [name for name, value in kwargs.items() if not is_json_value(value)]
    if not names:
        return False
    if num_workers == 0:
        listed = ", ".join(f"{name}={type(kwargs[name]).__name__}" for name in names)
        raise ValueError(
            f"kwargs: {listed} not JSON, so no remote worker can receive "
            f"{'it' if len(names) == 1 else 'them'}: pass JSON values (str, number, bool, "
            f"None, list, dict), or run the job with local workers (num_workers > 0), "
            f"whose slots alone then run its items"
        )
    return True


class BatchScheduler:
    """Runs an Expression's `forward(input=item, **kwargs)` over a dataset, with
    the engine calls of all running items batched by the symbatcher server.

    With no `address`, starts an embedded server (the echo engine unless
    `engine` says otherwise) and owns it. `engine` is an `EchoEngine`, a
    `BatchEngine` instance (served from this process), or the name of an engine
    configured on the server. Keyword options are defaults for every job:

    - `progress`: show a tqdm progress bar;
    - `max_queue_delay_ms`: longest wait of an engine call for its batch to fill;
    - `codec`: "json" (default) or "pickle" (trusted networks only) for
      payloads that cross process boundaries;
    - `window`: most items of a job in flight at once (sent and not yet
      returned); bounds the server's and this process's memory per job and
      the reorder buffer of `stream(..., ordered=True)`; default: the
      server's (4096);
    - `worker_wait_ms`: how long a job waits for a worker serving its
      expression before it fails with `NoWorkerError`; default: the server's
      (30 s);
    - `item_timeout_s`: longest run of one item, from its start; a longer
      run's result is an `ItemTimeoutError` (a `TimeoutError`) and its
      worker is told to cancel it; default: the server's (no limit);
    - `slots`: what runs each local item: "thread" (default; one thread per
      worker, as the original library) or "greenlet" (every local worker a
      greenlet on the scheduler's loop thread: faster when forward() does
      Python work and engine calls only; any other blocking call in forward()
      stalls all of them, and the loop with them; with `main_loop` that is
      the caller's loop);
    - `cache`: how the jobs' engine calls use the server's call cache:
      "use" (answer a request seen before from the cache, store new replies,
      send identical calls in flight once), "refresh" (send again and
      overwrite), "off"; default: "use" for engines that call a provider
      (openai), "off" for echo and engine processes (`BatchEngine`s);
    - `cache_dir`: directory of the embedded server's call cache (default:
      $SYMBATCHER_CACHE_DIR, else $XDG_CACHE_HOME/symbatcher, else
      ~/.cache/symbatcher);
    - `max_cost_usd`: spend cap of each job in US dollars: once its
      requests have cost that much, none of its calls is sent any more and
      every item still waiting fails with `BudgetExceeded`; default: none;
    - `token`: the bearer token sent with every call (default:
      $SYMBATCHER_AUTH_TOKEN); the embedded server requires it, or a random
      token of its own when none is set (`scheduler.token` tells it, for
      workers started against that server);
    - `tls`, `tls_ca`: reach the server at `address` over TLS, verified
      against the system's CAs or the PEM file `tls_ca`.

    Calls: `forward` (and calling the scheduler) returns a list in dataset
    order; `stream` yields `(index, result)` as items finish, from any
    iterable, in bounded memory; `aforward` and `astream` are their asyncio
    forms. `num_workers` local slots serve each call; 0 leaves it to remote
    workers (`symbatcher worker module:Class --server ADDR`).

    `main_loop` is an asyncio loop that the caller runs in another thread (see
    `start_loop` / `close_loop`); jobs' streams run on it. Without one the
    scheduler runs its own.
    """

    def __init__(
        self,
        main_loop: asyncio.AbstractEventLoop | None = None,
        *,
        address: str | None = None,
        engine: ServerEngine | BatchEngine | str | None = None,
        progress: bool = False,
        max_queue_delay_ms: int | None = None,
        codec: str = "json",
        window: int | None = None,
        worker_wait_ms: int | None = None,
        slots: str = "thread",
        item_timeout_s: float | None = None,
        cache: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_cost_usd: float | None = None,
        server_args: Iterable[str] = (),
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | None = None,
    ) -> None:
        self._closed = True
        self._server: EmbeddedServer | None = None
        self._engine_connection: EngineConnection | None = None
        #: The SymaiEngine this scheduler chose by default (closed with it).
        self._own_engine: SymaiEngine | None = None
        self._own_loop: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
        if max_queue_delay_ms is not None and not 0 <= max_queue_delay_ms <= 60_000:
            raise ValueError(f"max_queue_delay_ms: must be 0..60000, got {max_queue_delay_ms}")
        if codec not in ("json", "pickle"):
            raise ValueError(f"codec: must be 'json' or 'pickle', got {codec!r}")
        check_slot_kind(slots)
        item_timeout_ms = _timeout_ms(item_timeout_s)
        engine_name = ""
        server_argv = list(server_args)
        if isinstance(engine, ServerEngine):
            if address is not None:
                raise ValueError(
                    f"engine: {type(engine).__name__} settings apply to the embedded server "
                    "only; name an engine configured on the server instead"
                )
            server_argv += engine.server_args()
        elif isinstance(engine, str):
            engine_name = engine
        elif engine is not None and not isinstance(engine, BatchEngine):
            raise TypeError(
                "engine: expected EchoEngine (or another server engine), a BatchEngine or an "
                f"engine name, got {type(engine).__name__}"
            )
        embedded = address is None
        if cache is not None and cache not in ("use", "refresh", "off"):
            raise ValueError(f"cache: must be 'use', 'refresh' or 'off' (or None for the engine's default), got {cache!r}")
        if cache_dir is not None and not embedded:
            raise ValueError("cache_dir: sets the embedded server's cache; a server at `address` has its own --cache-dir")
        if embedded and "--cache-dir" not in server_argv:
            server_argv += ["--cache-dir", os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()]
        server_argv += ["--allow-pickle"] if codec == "pickle" else []
        self._server, address, self.connection = open_server(
            address, server_argv, token=token, tls=tls, tls_ca=tls_ca
        )
        self.address = address
        register_connection(address, self.connection)
        self._channel = self.connection.channel(address)
        self._aio: tuple[grpc.aio.Channel, batch_pb2_grpc.BatchServiceStub] | None = None
        try:
            if engine is None and embedded:
                engine = self._own_engine = self._default_engine()
                if isinstance(engine, SymaiEngine):
                    # Its own server: a name that says what answers.
                    engine_name = engine.describe()
            if isinstance(engine, BatchEngine):
                engine_name = engine_name or f"python-{type(engine).__name__}-{uuid.uuid4().hex[:8]}"
                self._engine_connection = EngineConnection(self._channel, engine, engine_name)
                self._engine_connection.start()
        except BaseException:
            self._release()
            raise
        if main_loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self.start_loop, args=(loop,), name="symbatcher-loop", daemon=True
            )
            thread.start()
            self._own_loop = (loop, thread)
            main_loop = loop
        self._loop = main_loop
        self._options = JobOptions(
            max_queue_delay_ms=max_queue_delay_ms or 0,
            engine=engine_name,
            codec=codec,
            window=window or 0,
            worker_wait_ms=worker_wait_ms or 0,
            item_timeout_ms=item_timeout_ms,
            cache=cache or "",
            max_cost_usd=max_cost_usd,
        )
        self._progress = progress
        self._slots = slots
        self.last_summary: JobSummary | None = None
        self._closed = False

    @property
    def token(self) -> str | None:
        """The token this scheduler sends (the embedded server's, if it owns one)."""
        return self.connection.token

    # -- the original API --------------------------------------------------

    def __call__(
        self, expr: Any, num_workers: int, dataset: Iterable[Any], batch_size: int = 5, **kwargs: Any
    ) -> list[Any]:
        return self.forward(expr, num_workers, dataset, batch_size, **kwargs)

    def forward(
        self, expr: Any, num_workers: int, dataset: Iterable[Any], batch_size: int = 5, **kwargs: Any
    ) -> list[Any]:
        """Runs `expr.forward(input=item, **kwargs)` for every item with
        `num_workers` local worker slots (0: remote workers only) and returns
        the results in dataset order; a failed item's result is its exception."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        items = list(dataset)
        results: list[Any] = [None] * len(items)
        run = self._job_run(
            expr, num_workers, SequenceSource(items), batch_size, kwargs, total=len(items)
        )
        try:
            self._run_on_loop(run.collect(results), "forward", "aforward")
        finally:
            self.last_summary = run.summary
        return results

    # -- streaming and asyncio -------------------------------------------

    def stream(
        self,
        expr: Any,
        num_workers: int,
        dataset: Iterable[Any],
        batch_size: int = 5,
        *,
        ordered: bool = False,
        **kwargs: Any,
    ) -> Iterator[tuple[int, Any]]:
        """Like `forward`, but yields `(index, result)` pairs as items finish.

        `dataset` is any iterable (a generator of millions of items): it is
        read on a background thread a chunk at a time, only as fast as the job
        advances, and never held whole. At most `window` items (the
        scheduler's option, by default the server's 4096) are in flight: sent
        and not yet yielded. A consumer that stops iterating stops the job;
        closing the iterator (or breaking out of the loop) cancels it.

        `ordered=True` yields in dataset order. Results that finish early wait
        in a reorder buffer of at most `window` results: a slow item lets the
        job run at most `window` items past it, then the job waits until it
        finishes (and yields it with the results that waited behind it).
        """
        self._check_open()
        self._check_call(num_workers, batch_size)
        source = source_for(dataset)
        run = self._job_run(
            expr, num_workers, source, batch_size, kwargs, ordered=ordered, total=_length(dataset)
        )
        return self._iterate(run)

    async def aforward(
        self, expr: Any, num_workers: int, dataset: Any, batch_size: int = 5, **kwargs: Any
    ) -> list[Any]:
        """`forward` for coroutines: awaits the results without blocking the
        running event loop. `dataset` may also be an async iterable."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        source = source_for(dataset, async_ok=True)
        _bind_owner(source)
        results: list[Any] = [None] * (_length(dataset) or 0)
        run = self._job_run(
            expr, num_workers, source, batch_size, kwargs, total=_length(dataset)
        )
        try:
            await self._on_loop(run.collect(results))
        finally:
            self.last_summary = run.summary
        return results

    def astream(
        self,
        expr: Any,
        num_workers: int,
        dataset: Any,
        batch_size: int = 5,
        *,
        ordered: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[int, Any]]:
        """`stream` for coroutines: `async for index, result in
        scheduler.astream(...)`, without blocking the running event loop.
        `dataset` may also be an async iterable (read on the caller's loop).
        Leaving the loop early cancels the job once the iterator is closed
        (use `contextlib.aclosing` to close it at once)."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        source = source_for(dataset, async_ok=True)
        run = self._job_run(
            expr, num_workers, source, batch_size, kwargs, ordered=ordered, total=_length(dataset)
        )
        return self._aiterate(run, source)

    def cleanup(self) -> None:
        """Stops the engine connection, the embedded server and the scheduler's
        own loop. Using the scheduler afterwards raises SchedulerClosedError."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def __enter__(self) -> BatchScheduler:
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.cleanup()

    def __del__(self) -> None:
        try:
            self.cleanup()
        except Exception:
            pass

    @staticmethod
    def start_loop(loop: asyncio.AbstractEventLoop) -> None:
        """Runs `loop` forever in the calling thread (a Thread target)."""
        asyncio.set_event_loop(loop)
        loop.run_forever()

    @staticmethod
    def close_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        """Stops a loop started with `start_loop`, joins its thread, closes it."""
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    @property
    def server_pid(self) -> int | None:
        """Process id of the embedded server (None with an external server)."""
        return self._server.pid if self._server is not None else None

    # -- internals -------------------------------------------------------

    def _check_call(self, num_workers: Any, batch_size: Any) -> None:
        self._check_open()
        _check_call(num_workers, batch_size)
        if num_workers == 0 and self._server is not None:
            raise ValueError(
                "num_workers: 0 leaves the job to remote workers, but this scheduler's server "
                "is embedded (started by this process on a private port), so no worker can "
                "connect to it; use num_workers >= 1, or run `symbatcher-server` and pass "
                "BatchScheduler(address=HOST:PORT) with `symbatcher worker` processes connected"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise SchedulerClosedError("this BatchScheduler was cleaned up; create a new one")

    def _run_on_loop(self, coro: Any, name: str = "forward", async_name: str = "aforward") -> Any:
        """Runs `coro` on the scheduler's loop and blocks until it is done."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coro.close()
            raise SymbatcherError(
                f"{name}() would block the event loop it runs on; call it from another thread, "
                f"or use `await scheduler.{async_name}(...)`"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def _on_loop(self, coro: Any) -> Any:
        """Awaits `coro` on the scheduler's loop from any running loop."""
        if asyncio.get_running_loop() is self._loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def _iterate(self, run: JobRun) -> Iterator[tuple[int, Any]]:
        try:
            self._run_on_loop(run.start(), "stream", "astream")
            while (chunk := self._run_on_loop(run.take(), "stream", "astream")) is not None:
                yield from chunk
        finally:
            if not self._loop.is_closed():
                self._run_on_loop(run.close(), "stream", "astream")
            self.last_summary = run.summary

    async def _aiterate(self, run: JobRun, source: ItemSource) -> AsyncIterator[tuple[int, Any]]:
        _bind_owner(source)
        try:
            await self._on_loop(run.start())
            while (chunk := await self._on_loop(run.take())) is not None:
                for pair in chunk:
                    yield pair
        finally:
            if not self._loop.is_closed():
                await self._on_loop(run.close())
            self.last_summary = run.summary

    def _default_engine(self) -> BatchEngine | None:
        """The engine of an embedded server's jobs when none is named (see
        `_engine_choice`): the server's configured default, else symai's own
        engine served from here, else echo (with a warning)."""
        status = status_pb2_grpc.StatusServiceStub(self._channel).Status(
            status_pb2.StatusRequest(), timeout=STATUS_TIMEOUT_S
        )
        if status.default_engine_source != "builtin":
            return None
        found = symai_engine()
        if found is None:
            warn_echo_fallback()
            return None
        return SymaiEngine(engine=found)

    def _batch_stub(self) -> batch_pb2_grpc.BatchServiceStub:
        # grpc.aio channels belong to the loop they were made on.
        if self._aio is None:
            channel = self.connection.aio_channel(self.address)
            self._aio = (channel, batch_pb2_grpc.BatchServiceStub(channel))
        return self._aio[1]

    def _job_run(
        self,
        expr: Any,
        num_workers: int,
        source: ItemSource,
        batch_size: int,
        kwargs: dict[str, Any],
        *,
        ordered: bool = False,
        total: int | None = None,
    ) -> JobRun:
        name = expression_name(expr)
        local_only = _local_only_kwargs(kwargs, num_workers)
        if inspect.isclass(expr):
            # One instance per call, built with the call's kwargs and shared
            # by its local slots, as the original library did. Remote workers
            # build one per process per job (see `symbatcher worker`).
            instance = build_expression(expr, kwargs) if num_workers > 0 else None
        else:
            # A given instance may carry state: only this process's slots
            # serve it, under a name of its own.
            if num_workers == 0:
                raise ValueError(
                    "num_workers: 0 leaves the job to remote workers, which serve expression "
                    "classes by import path; pass the class, not an instance"
                )
            name = f"{name}#{uuid.uuid4().hex[:8]}"
            instance = expr
        factory = lambda _kwargs: instance  # noqa: E731
        return JobRun(
            address=self.address,
            stub=self._batch_stub,
            expression=name,
            factory=factory,
            num_workers=num_workers,
            slots=self._slots,
            source=source,
            kwargs=kwargs,
            kwargs_json=_kwargs_json(kwargs),
            local_only=local_only,
            options=JobOptions(**{**self._options.__dict__, "batch_size": batch_size}),
            ordered=ordered,
            progress=self._progress,
            total=total,
        )

    def _release(self) -> None:
        if self._engine_connection is not None:
            self._engine_connection.stop()
        if self._own_engine is not None:
            self._own_engine.close()
        if self._aio is not None and self._own_loop is None:
            pass  # closed with the caller's loop
        elif self._aio is not None and self._own_loop is not None:
            loop = self._own_loop[0]
            asyncio.run_coroutine_threadsafe(self._aio[0].close(), loop).result(timeout=5)
        self._channel.close()
        unregister_connection(self.address)
        if self._own_loop is not None:
            self.close_loop(*self._own_loop)
            self._own_loop = None
        if self._server is not None:
            self._server.stop()
