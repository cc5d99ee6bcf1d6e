"""`BatchScheduler`: the original library's API over the symbatcher server."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar, cast

import grpc

from symbatcher._errors import InvalidArgumentError, SchedulerClosedError, SymbatcherError
from symbatcher._expressions import build_expression, check_expression, expression_name
from symbatcher.client._call_arguments import (
    check_call,
    kwargs_json,
    length,
    local_only_kwargs,
    timeout_ms,
)
from symbatcher.client._embedded_server import default_cache_dir, open_server
from symbatcher.client._estimate import Estimate
from symbatcher.client._estimate_build import EstimateContext, build as build_estimate
from symbatcher.client._estimate_figures import DEFAULT_WINDOW_S, window_seconds
from symbatcher.client._estimate_sample import draw as draw_sample
from symbatcher.client._event_loops import close_loop, running_loop, start_loop
from symbatcher.client._job_handle import JobHandle
from symbatcher.client._job_options import JobOptions
from symbatcher.client._scheduler_resources import SchedulerResources
from symbatcher.client._sources import AsyncIteratorSource, ItemSource, SequenceSource, source_for
from symbatcher.client._summary import ItemUsage, JobSummary
from symbatcher.engines._batch_engine import BatchEngine
from symbatcher._call_site import user_call_site
from symbatcher.engines._default_engine import (
    symai_embedding_engine,
    symai_engine,
    warn_echo_fallback,
)
from symbatcher.engines._engine_connection import EngineConnection
from symbatcher.engines._engine_process import EngineProcess
from symbatcher.engines._server_engines import OpenAIBatchEngine, ServerEngine
from symbatcher.engines._symai_embedding_engine import SymaiEmbeddingEngine
from symbatcher.engines._symai_engine import SymaiEngine
from symbatcher.v1 import batch_pb2_grpc, status_pb2, status_pb2_grpc
from symbatcher.wire._limits import kwargs_depth_error
from symbatcher.worker._served_job import ExpressionFactory, ServedExpression
from symbatcher.worker._slot_kinds import check_kind as check_slot_kind


T = TypeVar("T")


def _bind_owner(source: ItemSource) -> None:
    """An async iterable is read on the loop of the coroutine that passed it."""
    if isinstance(source, AsyncIteratorSource):
        source.owner = asyncio.get_running_loop()


#: How long the embedded server may take to answer the Status call that
#: settles the default engine.
STATUS_TIMEOUT_S = 10.0


class BatchScheduler:
    """Runs an Expression's `forward(input=item, **kwargs)` over a dataset, with
    the engine calls of all running items batched by the symbatcher server.

    With no `address`, starts an embedded server (the echo engine unless
    `engine` says otherwise) and owns it. `engine` is an `EchoEngine`, a
    `BatchEngine` instance (served from this process), or the name of an engine
    configured on the server. `embedding_engine` answers the embedding calls
    (`Symbol.embed`, `Symbol.similarity`): an `OpenAIEmbeddingEngine`, a
    `BatchEngine` of embedding calls (`SymaiEmbeddingEngine`, served from
    this process), or the name of an embedding engine configured on the
    server; None: the server's default embedding engine, else (embedded
    server) symai's own embedding engine served from this process as a
    `SymaiEmbeddingEngine`, each engine batch one list input to it, else
    (server at `address`) symai's own engine in each worker's process,
    unbatched (else such a call fails, naming how to configure one).
    Keyword options are defaults for every job:

    - `progress`: show a tqdm progress bar;
    - `max_queue_delay_ms`: longest wait of an engine call for its batch to fill;
    - `codec`: "json" (default) or "pickle" (trusted networks only) for
      payloads that cross process boundaries; "pickle" needs
      `allow_pickle=True`, since this process then unpickles the results
      that workers send (unpickling runs code: any worker could run code
      here);
    - `allow_pickle`: must be True with `codec="pickle"` (see `codec`);
      no effect with "json";
    - `window`: most items of a job in flight at once (sent and not yet
      returned); bounds the server's and this process's memory per job and
      the reorder buffer of `stream(..., ordered=True)`; default: the
      server's (4096);
    - `worker_wait_ms`: how long a job waits for a worker serving its
      expression before it fails with `NoWorkerError`; default: the server's
      (30 s);
    - `item_timeout_s`: longest run of one item, from its start (until its
      worker reports the start, from its assignment plus a 1 s grace); a
      longer run's result is an `ItemTimeoutError` (a `TimeoutError`) and
      its worker is told to cancel it; default: the server's (no limit);
    - `slots`: what runs each local item: "thread" (default; one thread per
      worker, as the original library) or "greenlet" (every local worker a
      greenlet on the scheduler's loop thread: faster when forward() does
      Python work and engine calls only; any other blocking call in forward()
      stalls all of them, and the loop with them; with `main_loop` that is
      the caller's loop; a loop blocked for 2 s is a stalled worker, whose
      items the server hands to other workers);
    - `pin_slots`: thread slots share one CPU (default True): they hold one
      GIL, so only one runs Python code at a time, and hand-offs between
      threads on one core are cheaper than across cores (about 20% more
      items/s in BENCHMARKS.md). False lets them run on any CPU, for
      forward()s whose native code releases the GIL for long (threads that
      forward() starts share the slot's CPU too);
    - `cache`: how the jobs' engine calls use the server's call cache:
      "use" (answer a request seen before from the cache, store new replies,
      send identical calls in flight once), "refresh" (send again and
      overwrite), "off"; default: "use" for engines that call a provider
      (openai, openai-batch, symai's own engine served as a `SymaiEngine`, any
      `BatchEngine` with `cache_by_default`), "off" for echo and other
      `BatchEngine`s;
    - `cache_dir`: directory of the embedded server's call cache (default:
      $SYMBATCHER_CACHE_DIR, else $XDG_CACHE_HOME/symbatcher, else
      ~/.cache/symbatcher);
    - `max_cost_usd`: spend cap of each job in US dollars, never passed: a
      request is sent only when its worst case fits under the cap minus the
      spend minus what requests in flight reserved; once one cannot fit, the
      items not yet answered fail with `BudgetExceeded`; default: none;
    - `replay`: with an engine that answers through a provider's batch API
      (`OpenAIBatchEngine`), a run whose engine call waits on a provider
      batch gives its slot back, and its item runs again from the start
      once the call is answered, its earlier calls answered from the replies
      the server kept; so each step of a multi-call forward() goes out as
      one provider batch whatever `num_workers` is. forward() must then make
      the same requests for the same answers, and its side effects may run
      more than once. Default (None): on for batch API engines; False keeps
      a slot per waiting run;
    - `deadline_s` (seconds from each job's start) or `deadline` (a
      datetime): when each job must be done. With a batch API engine that
      has an online `fallback`, calls go by provider batch (half price)
      while the time left can absorb a batch's turnaround, and online when
      it no longer can; a batch still running at its hedge point is
      cancelled and its unanswered calls go online (docs/cost.md). Default:
      none (everything goes by batch);
    - `token`: the bearer token sent with every call (default:
      $SYMBATCHER_AUTH_TOKEN); the embedded server requires it, or a random
      token of its own when none is set (`scheduler.token` tells it, for
      workers started against that server);
    - `tls`, `tls_ca`: reach the server at `address` over TLS, verified
      against the system's CAs or the PEM file `tls_ca`;
    - `tls_client_cert`, `tls_client_key`: PEM files of the certificate
      (chain) and key this client presents to a server that verifies
      clients (`symbatcher-server --tls-client-ca`, mutual TLS); they imply
      `tls`. The local slots of its jobs connect with them too.

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
        embedding_engine: ServerEngine | BatchEngine | str | None = None,
        progress: bool = False,
        max_queue_delay_ms: int | None = None,
        codec: str = "json",
        window: int | None = None,
        worker_wait_ms: int | None = None,
        slots: str = "thread",
        pin_slots: bool = True,
        item_timeout_s: float | None = None,
        cache: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_cost_usd: float | None = None,
        replay: bool | None = None,
        deadline_s: float | None = None,
        deadline: datetime | None = None,
        server_args: Iterable[str] = (),
        token: str | None = None,
        tls: bool | None = None,
        tls_ca: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
        allow_pickle: bool = False,
    ) -> None:
        # Where the user built this scheduler: warnings raised later on its loop point there.
        self._site = user_call_site()
        self._closed = True
        if codec not in ("json", "pickle"):
            raise ValueError(f"codec: must be 'json' or 'pickle', got {codec!r}")
        if codec == "pickle" and allow_pickle is not True:
            raise ValueError(
                "codec='pickle' needs allow_pickle=True: this client then unpickles the results "
                "workers send, and unpickling runs code, so any holder of a worker token could "
                "run code here; pass allow_pickle=True only where every worker of the server is "
                "trusted, else use codec='json'"
            )
        check_slot_kind(slots)
        if cache is not None and not isinstance(cache, str):
            # `cache or ""` would take False for the default ("use").
            raise TypeError(f"cache: must be 'use', 'refresh', 'off' or None, got {cache!r}")
        self._options = JobOptions(
            max_queue_delay_ms=max_queue_delay_ms,
            codec=codec,
            window=window,
            worker_wait_ms=worker_wait_ms,
            item_timeout_ms=timeout_ms(item_timeout_s),
            cache=cache or "",
            max_cost_usd=max_cost_usd,
            replay=replay,
            deadline_s=deadline_s,
            deadline=deadline,
            allow_pickle=codec == "pickle",
        )
        self._options.spec()  # types and encodability; the server checks values
        engine_name = ""
        server_argv = list(server_args)
        #: A provider batch's completion window, for estimates.
        self._batch_window_s = (
            window_seconds(engine.completion_window)
            if isinstance(engine, OpenAIBatchEngine)
            else DEFAULT_WINDOW_S
        )
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
        embedding_name = ""
        if isinstance(embedding_engine, ServerEngine):
            if address is not None:
                raise ValueError(
                    f"embedding_engine: {type(embedding_engine).__name__} settings apply to the "
                    "embedded server only; name an engine configured on the server instead"
                )
            server_argv += embedding_engine.server_args()
        elif isinstance(embedding_engine, str):
            embedding_name = embedding_engine
        elif embedding_engine is not None and not isinstance(embedding_engine, BatchEngine):
            raise TypeError(
                "embedding_engine: expected OpenAIEmbeddingEngine (or another server engine), a "
                "BatchEngine of embedding calls (SymaiEmbeddingEngine) or an engine name, got "
                f"{type(embedding_engine).__name__}"
            )
        embedded = address is None
        if cache_dir is not None and not embedded:
            raise ValueError("cache_dir: sets the embedded server's cache; a server at `address` has its own --cache-dir")
        if embedded and "--cache-dir" not in server_argv:
            server_argv += ["--cache-dir", os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()]
        server_argv += ["--allow-pickle"] if codec == "pickle" else []
        server, address, self.connection = open_server(
            address, server_argv, token=token, tls=tls, tls_ca=tls_ca,
            tls_client_cert=tls_client_cert, tls_client_key=tls_client_key,
        )
        self.address = address
        self._owned = owned = SchedulerResources()
        owned.server = server
        # Released when cleaned up, or when the scheduler is collected.
        self._finalizer = weakref.finalize(self, owned.release)
        if main_loop is None:
            main_loop = asyncio.new_event_loop()
            owned.loop_thread = threading.Thread(
                target=self.start_loop, args=(main_loop,), name="symbatcher-loop", daemon=True
            )
            owned.loop_thread.start()
        owned.loop = self._loop = main_loop
        try:
            if running_loop() is main_loop:
                raise SymbatcherError(
                    "BatchScheduler(main_loop=loop) connects on that loop and waits for it: "
                    "create it from another thread than the loop's"
                )
            engine_name, embedding_name = asyncio.run_coroutine_threadsafe(
                self._connect((engine, engine_name), (embedding_engine, embedding_name), embedded),
                main_loop,
            ).result()
        except BaseException:
            self._finalizer()
            raise
        self._options = JobOptions(
            **{**self._options.__dict__, "engine": engine_name, "embedding_engine": embedding_name}
        )
        self._progress = progress
        self._slots = slots
        self._pin_slots = bool(pin_slots)
        self.last_summary: JobSummary | None = None
        self._closed = False

    async def _connect(
        self,
        chat: tuple[ServerEngine | BatchEngine | str | None, str],
        embedding: tuple[ServerEngine | BatchEngine | str | None, str],
        embedded: bool,
    ) -> tuple[str, str]:
        """On the loop: opens the grpc.aio channel every call of this
        scheduler uses, picks the default engine of each kind, and connects
        the BatchEngines served from here. Returns the names jobs select
        their engines by (chat, embedding)."""
        owned = self._owned
        owned.channel = self.connection.aio_channel(self.address)
        (engine, engine_name), (embedding_engine, embedding_name) = chat, embedding
        if embedded and (engine is None or embedding_engine is None):
            status = await self._status(owned.channel)
            if engine is None:
                engine = owned.own_engine = self._default_engine(status)
            if embedding_engine is None:
                embedding_engine = owned.own_embedding_engine = self._default_embedding_engine(status)
        if isinstance(engine, SymaiEngine) and engine.process:
            engine_name = self._served_name(engine, engine_name, embedded)
            owned.engine_process = EngineProcess(engine, self.address, self.connection, engine_name)
            await asyncio.get_running_loop().run_in_executor(None, owned.engine_process.start)
        elif isinstance(engine, BatchEngine):
            engine_name = self._served_name(engine, engine_name, embedded)
            owned.engine_connection = await self._serve(engine, engine_name)
        if isinstance(embedding_engine, BatchEngine):
            embedding_name = self._served_name(embedding_engine, embedding_name, embedded)
            owned.embedding_connection = await self._serve(embedding_engine, embedding_name)
        return engine_name, embedding_name

    @staticmethod
    def _served_name(engine: BatchEngine, name: str, embedded: bool) -> str:
        """The name a BatchEngine served from here registers under."""
        if name:
            return name
        if isinstance(engine, (SymaiEngine, SymaiEmbeddingEngine)) and embedded:
            # Its own server: a name that says what answers, the same on every
            # run, so that a re-run finds its calls in the cache (keyed by it).
            return engine.describe()
        return f"python-{type(engine).__name__}-{uuid.uuid4().hex[:8]}"

    async def _serve(self, engine: BatchEngine, name: str) -> EngineConnection:
        assert self._owned.channel is not None, "opened by _connect"
        connection = EngineConnection(self._owned.channel, engine, name)
        await connection.start()
        return connection

    @property
    def token(self) -> str | None:
        """The token this scheduler sends (the embedded server's, if it owns one)."""
        return self.connection.token

    # -- the original API --------------------------------------------------

    def __call__(
        self, expr: object, num_workers: int, dataset: Iterable[object], batch_size: int = 5, **kwargs: object
    ) -> list[Any]:
        return self.forward(expr, num_workers, dataset, batch_size, **kwargs)

    def forward(
        self, expr: object, num_workers: int, dataset: Iterable[object], batch_size: int = 5, **kwargs: object
    ) -> list[Any]:
        """Runs `expr.forward(input=item, **kwargs)` for every item with
        `num_workers` local worker slots (0: remote workers only) and returns
        the results in dataset order; a failed item's result is its exception."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        items = list(dataset)
        results: list[Any] = [None] * len(items)
        handle = self._job_handle(
            expr, num_workers, SequenceSource(items), batch_size, kwargs, total=len(items)
        )
        try:
            self._run_on_loop(handle.collect(results), "forward", "aforward")
        finally:
            self.last_summary = handle.summary
        return results

    def estimate(
        self,
        expr: object,
        dataset: Iterable[object],
        sample: int | float | None = None,
        *,
        num_workers: int = 8,
        batch_size: int = 5,
        total: int | None = None,
        seed: int | None = None,
        **kwargs: object,
    ) -> Estimate:
        """Runs a sample of `dataset` as a normal job and returns what running
        all of it with `num_workers` slots will cost and take (`Estimate`).

        `sample`: a count (int), a share (float in (0, 1]), or None for 1%
        of the dataset with at least 50 items (all when fewer). A sized
        dataset (list, tuple) is sampled across its input sizes (strata of
        item length); any other iterable is read as a stream and needs
        `total=<its item count>`, and its sample is spread over its whole
        length. The draw is new on each call; `seed` repeats one. The
        sample's replies go into the call cache (unless the job's `cache` is
        "off" or "refresh"), so the run pays nothing for them again; sampled
        calls already in the cache count as free, as they are for the run.
        See docs/cost.md.
        """
        self._check_open()
        self._check_call(num_workers, batch_size)
        drawn = draw_sample(dataset, sample, total, seed)
        usages: dict[int, ItemUsage] = {}
        finished: list[float] = []

        def on_usage(index: int, usage: ItemUsage) -> None:
            usages[index] = usage
            finished.append(time.monotonic())

        results: list[Any] = [None] * len(drawn.items)
        handle = self._job_handle(
            expr, num_workers, SequenceSource(list(drawn.items)), batch_size, kwargs,
            total=len(drawn.items), on_usage=on_usage,
        )
        try:
            self._run_on_loop(handle.collect(results), "estimate", "")
        finally:
            self.last_summary = handle.summary
        assert handle.summary is not None, "set when the job ended"
        status = self._run_on_loop(self._status(), "estimate", "")
        served = self._owned.engine_connection or self._owned.engine_process
        context = EstimateContext(
            cache=self._options.cache,
            engine=self._options.engine or status.default_engine,
            num_workers=num_workers,
            status=status,
            local_engine_cached=served is not None and served.engine.cache_by_default,
            batch_window_s=self._batch_window_s,
        )
        return build_estimate(drawn, usages, results, handle.summary, context, finished)

    # -- streaming and asyncio -------------------------------------------

    def stream(
        self,
        expr: object,
        num_workers: int,
        dataset: Iterable[object],
        batch_size: int = 5,
        *,
        ordered: bool = False,
        **kwargs: object,
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
        handle = self._job_handle(
            expr, num_workers, source, batch_size, kwargs, ordered=ordered, total=length(dataset)
        )
        return self._iterate(handle)

    async def aforward(
        self, expr: object, num_workers: int, dataset: object, batch_size: int = 5, **kwargs: object
    ) -> list[Any]:
        """`forward` for coroutines: awaits the results without blocking the
        running event loop. `dataset` may also be an async iterable."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        source = source_for(dataset, async_ok=True)
        _bind_owner(source)
        results: list[Any] = [None] * (length(dataset) or 0)
        # Building the expression runs user code (and symai's first-use
        # set-up): off the running loop, so it never stalls the caller's loop.
        handle = await asyncio.to_thread(
            self._job_handle, expr, num_workers, source, batch_size, kwargs, total=length(dataset)
        )
        try:
            await self._on_loop(handle.collect(results))
        finally:
            self.last_summary = handle.summary
        return results

    def astream(
        self,
        expr: object,
        num_workers: int,
        dataset: object,
        batch_size: int = 5,
        *,
        ordered: bool = False,
        **kwargs: object,
    ) -> AsyncIterator[tuple[int, Any]]:
        """`stream` for coroutines: `async for index, result in
        scheduler.astream(...)`, without blocking the running event loop.
        `dataset` may also be an async iterable (read on the caller's loop).
        Leaving the loop early cancels the job once the iterator is closed
        (use `contextlib.aclosing` to close it at once)."""
        self._check_open()
        self._check_call(num_workers, batch_size)
        source = source_for(dataset, async_ok=True)
        handle = self._job_handle(
            expr, num_workers, source, batch_size, kwargs, ordered=ordered, total=length(dataset)
        )
        return self._aiterate(handle, source)

    def cleanup(self) -> None:
        """Stops the engine connection, the embedded server and the scheduler's
        own loop. Using the scheduler afterwards raises SchedulerClosedError."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    def __enter__(self) -> BatchScheduler:
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    @staticmethod
    def start_loop(loop: asyncio.AbstractEventLoop) -> None:
        """Runs `loop` forever in the calling thread (a Thread target); once
        stopped, ends the threads of its default executor."""
        start_loop(loop)

    @staticmethod
    def close_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        """Stops a loop started with `start_loop`, joins its thread, closes it."""
        close_loop(loop, thread)

    @property
    def server_pid(self) -> int | None:
        """Process id of the embedded server (None with an external server)."""
        server = self._owned.server
        return server.pid if server is not None else None

    # -- internals -------------------------------------------------------

    def _check_call(self, num_workers: object, batch_size: object) -> None:
        self._check_open()
        check_call(num_workers, batch_size)
        if num_workers == 0 and self._owned.server is not None:
            raise ValueError(
                "num_workers: 0 leaves the job to remote workers, but this scheduler's server "
                "is embedded (started by this process on a private port), so no worker can "
                "connect to it; use num_workers >= 1, or run `symbatcher-server` and pass "
                "BatchScheduler(address=HOST:PORT) with `symbatcher worker` processes connected"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise SchedulerClosedError("this BatchScheduler was cleaned up; create a new one")

    def _run_on_loop(
        self, coro: Coroutine[object, object, T], name: str = "forward", async_name: str = "aforward"
    ) -> T:
        """Runs `coro` on the scheduler's loop and blocks until it is done."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coro.close()
            instead = f", or use `await scheduler.{async_name}(...)`" if async_name else ""
            raise SymbatcherError(
                f"{name}() would block the event loop it runs on; call it from another thread{instead}"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def _on_loop(self, coro: Coroutine[object, object, T]) -> T:
        """Awaits `coro` on the scheduler's loop from any running loop."""
        if asyncio.get_running_loop() is self._loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def _iterate(self, handle: JobHandle) -> Iterator[tuple[int, Any]]:
        try:
            self._run_on_loop(handle.start(), "stream", "astream")
            while (chunk := self._run_on_loop(handle.take(), "stream", "astream")) is not None:
                yield from chunk
        finally:
            if not self._loop.is_closed():
                self._run_on_loop(handle.close(), "stream", "astream")
            self.last_summary = handle.summary

    async def _aiterate(self, handle: JobHandle, source: ItemSource) -> AsyncIterator[tuple[int, Any]]:
        _bind_owner(source)
        try:
            await self._on_loop(handle.start())
            while (chunk := await self._on_loop(handle.take())) is not None:
                for pair in chunk:
                    yield pair
        finally:
            if not self._loop.is_closed():
                await self._on_loop(handle.close())
            self.last_summary = handle.summary

    def _default_engine(self, status: status_pb2.StatusResponse) -> SymaiEngine | None:
        """The engine of an embedded server's jobs when none is named (see
        `engines/_default_engine`): the server's configured default, else symai's own
        engine served from here, else echo (with a warning)."""
        if status.default_engine_source != "builtin":
            return None
        found = symai_engine()
        if found is None:
            warn_echo_fallback(self._site)
            return None
        return SymaiEngine(engine=found)

    @staticmethod
    def _default_embedding_engine(status: status_pb2.StatusResponse) -> SymaiEmbeddingEngine | None:
        """The embedding engine of an embedded server's jobs when none is
        named: the server's default, else symai's own served from here, else
        none."""
        if status.default_embedding_engine:
            return None
        found = symai_embedding_engine()
        return None if found is None else SymaiEmbeddingEngine(engine=found)

    async def _status(self, channel: grpc.aio.Channel | None = None) -> status_pb2.StatusResponse:
        """The server's Status snapshot."""
        channel = channel or self._owned.channel
        assert channel is not None, "connected in __init__"
        status: status_pb2.StatusResponse = await status_pb2_grpc.StatusServiceStub(channel).Status(
            status_pb2.StatusRequest(), timeout=STATUS_TIMEOUT_S
        )
        return status

    def _batch_stub(self) -> batch_pb2_grpc.BatchServiceStub:
        assert self._owned.channel is not None, "connected in __init__"
        return batch_pb2_grpc.BatchServiceStub(self._owned.channel)

    def _job_handle(
        self,
        expr: object,
        num_workers: int,
        source: ItemSource,
        batch_size: int,
        kwargs: dict[str, object],
        *,
        ordered: bool = False,
        total: int | None = None,
        on_usage: Callable[[int, ItemUsage], None] | None = None,
    ) -> JobHandle:
        check_expression(expr, kwargs)
        name = expression_name(expr)
        too_deep = kwargs_depth_error(kwargs)
        if too_deep:
            raise InvalidArgumentError(too_deep, kind="invalid_argument", field="kwargs")
        local_only = local_only_kwargs(kwargs, num_workers)
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
        # Served as given: forward() is looked up on it per item.
        factory: ExpressionFactory = lambda _kwargs: cast(ServedExpression, instance)  # noqa: E731
        return JobHandle(
            site=user_call_site(),
            address=self.address,
            connection=self.connection,
            stub=self._batch_stub,
            expression=name,
            factory=factory,
            num_workers=num_workers,
            slots=self._slots,
            pin_slots=self._pin_slots,
            source=source,
            kwargs=kwargs,
            kwargs_json=kwargs_json(kwargs),
            local_only=local_only,
            options=JobOptions(
                **{**self._options.__dict__, "batch_size": batch_size, "on_usage": on_usage or self._options.on_usage}
            ),
            ordered=ordered,
            progress=self._progress,
            total=total,
        )
