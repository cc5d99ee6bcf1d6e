"""Serving a `BatchEngine` to a server: one `EngineService.Serve` stream on
grpc's asyncio API, on the loop that opened it.

The stream is read on the loop; each batch runs `engine.forward` (or
`forward_each`) on a thread of the connection's own pool (forward() may block
on anything): at most the engine's `max_concurrency` threads, or, without
one, a thread per batch in flight (`_thread_pools`). An engine that runs
each call on a pool of its own (`SymaiEngine`) starts the batch from the
loop instead (`start_batch`), so no thread waits on it. Its replies, whole or
each as it is ready, go to an outbox that one writer on the loop empties:
whatever is ready when it runs leaves in one message (or in as few as the
message limit allows). `stop()` ends the
stream and joins the pool's threads, so nothing outlives the connection.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor
import grpc

from symbatcher.engines._batch_engine import (
    BatchEngine,
    call_kind,
    failed_batch,
    serve_batch,
    start_batch,
)
from symbatcher._errors import ServerUnavailableError, SymbatcherError
from symbatcher.wire import _limits
from symbatcher.wire._rpc_errors import call_error, from_rpc_error
from symbatcher.engines._thread_pools import check_limit, thread_pool
from symbatcher.v1 import engine_pb2, engine_pb2_grpc

log = logging.getLogger("symbatcher.engine")

#: How long `stop()` waits for batches running in `forward()` to return
#: before it leaves their threads to finish on their own.
STOP_GRACE_S = 5.0


class EngineConnection:
    """Serves `engine` under `name` over one `EngineService.Serve` stream on
    `channel` (a grpc.aio channel). All methods run on the channel's loop."""

    def __init__(self, channel: grpc.aio.Channel, engine: BatchEngine, name: str) -> None:
        self._stub = engine_pb2_grpc.EngineServiceStub(channel)
        self.engine = engine
        self._name = name
        self._concurrency: object = getattr(engine, "max_concurrency", None)
        self._pool: ThreadPoolExecutor | None = None
        self._call: grpc.aio.StreamStreamCall = None
        self._reader: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        #: Results not written yet (appended from any thread), and the
        #: writer that sends them: woken once per burst (`_send`).
        self._outbox: collections.deque[engine_pb2.EngineBatchResult] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._writer: asyncio.Task[None] | None = None
        #: The server takes results in parts and several per message
        #: (`EngineRegistered.replies_ahead`); else each batch goes whole,
        #: in a message of its own.
        self._replies_ahead = True
        self._closing = False
        self.error: BaseException | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Registers the engine (the server checks its settings and answers
        with their field named), then serves batches in the background."""
        limit = check_limit("max_concurrency", self._concurrency)
        kind = call_kind(self.engine)
        self._call = self._stub.Serve()
        # Unset (None) lets batches follow the slots; a value is the server's
        # to check, and a refused one fails the registration naming it.
        register = engine_pb2.RegisterEngine(
            name=self._name,
            max_concurrency=limit,
            cache_by_default=bool(getattr(self.engine, "cache_by_default", False)),
            call_kind=kind,
            answers_per_call=bool(getattr(self.engine, "answers_per_call", False)),
        )
        try:
            try:
                await self._call.write(engine_pb2.EngineWorkerMessage(register=register))
                first = await asyncio.wait_for(self._call.read(), timeout)
            except grpc.RpcError as err:
                raise from_rpc_error(await call_error(self._call, err)) from None
            except asyncio.TimeoutError:
                raise ServerUnavailableError(
                    f"engine {self._name!r}: the server did not answer its registration "
                    f"within {timeout:.0f} s"
                ) from None
            if first is grpc.aio.EOF or first.WhichOneof("kind") != "registered":
                raise SymbatcherError(f"server closed engine {self._name!r} before registering it")
            self._replies_ahead = first.registered.replies_ahead
        except BaseException:
            self._call.cancel()
            raise
        self._pool = thread_pool(limit, f"engine-{self._name}")
        self._loop = asyncio.get_running_loop()
        self._writer = self._loop.create_task(self._write())
        self._reader = self._loop.create_task(self._read())

    async def finished(self) -> None:
        """Waits until the stream ends, for any reason; `error` says why if it failed."""
        if self._reader is not None:
            await asyncio.shield(self._reader)

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Ends the stream; waits (up to `grace` seconds) for running
        batches, then joins the pool's threads (those of batches still
        running end on their own once forward() returns)."""
        if self._closing:
            return
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        idle = True
        if self._batches:
            _, pending = await asyncio.wait(self._batches, timeout=max(grace, 0.001))
            idle = not pending
        if self._pool is not None:
            # Idle threads exit at once; a forward() that never returns keeps
            # its thread, which is then not waited for.
            self._pool.shutdown(wait=idle, cancel_futures=True)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                command = await self._call.read()
                if command is grpc.aio.EOF:
                    break
                if command.WhichOneof("kind") == "batch":
                    task = loop.create_task(self._answer(command.batch))
                    self._batches.add(task)
                    task.add_done_callback(self._batches.discard)
        except grpc.RpcError as err:
            if not self._closing:
                self.error = from_rpc_error(err)
                log.warning("engine %r disconnected: %s", self._name, self.error)
        except asyncio.CancelledError:
            pass

    async def _answer(self, batch: engine_pb2.EngineBatch) -> None:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        try:
            # An engine that runs each call on a pool of its own starts the
            # batch from here, without a thread of ours waiting on it.
            started = start_batch(self.engine, batch, self._send) if self._replies_ahead else None
            if started is not None:
                await asyncio.wrap_future(started)
                return
            await loop.run_in_executor(
                self._pool, serve_batch, self.engine, batch, self._send, self._replies_ahead
            )
        except (asyncio.InvalidStateError, RuntimeError, asyncio.CancelledError):
            pass  # the pool ended first; the reader says why
        except Exception as exc:
            # serve_batch turns what the engine raises or returns into
            # replies; anything else escaping it still ends the batch, failing
            # the calls it left unanswered, instead of leaving them waiting.
            log.exception("engine %r: batch %d failed", self._name, batch.batch_id)
            self._send(failed_batch(batch.batch_id, exc))

    def _send(self, result: engine_pb2.EngineBatchResult) -> None:
        """From any thread: queues `result` for the writer, waking it unless
        a wake is already on its way (so a burst of replies costs one)."""
        self._outbox.append(result)
        if self._wake_pending or self._loop is None:
            return
        self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass  # the loop is closed: the connection is gone

    async def _write(self) -> None:
        """Writes what the outbox holds, one message per wake."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._wake_pending = False
                ready = []
                while self._outbox:
                    ready.append(self._outbox.popleft())
                # As many results per message as fit under the message limit
                # (one each for a server that takes no more).
                runs = _limits.split(ready) if self._replies_ahead else ([r] for r in ready)
                for run in runs:
                    if len(run) == 1:
                        message = engine_pb2.EngineWorkerMessage(result=run[0])
                    else:
                        results = engine_pb2.EngineResults(results=run)
                        message = engine_pb2.EngineWorkerMessage(results=results)
                    await self._call.write(message)
        except (grpc.RpcError, asyncio.InvalidStateError, RuntimeError, asyncio.CancelledError):
            pass  # the stream ended; the reader says why
