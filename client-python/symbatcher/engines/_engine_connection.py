"""Serving a `BatchEngine` to a server: one `EngineService.Serve` stream on
grpc's asyncio API, on the loop that opened it.

The stream is read on the loop; each batch runs `engine.forward` on a thread
of the connection's own pool (forward() may block on anything): at most the
engine's `max_concurrency` threads, or, without one, a thread per batch in
flight (`_pools`). Its replies are written back on the loop. `stop()` ends
the stream and joins the pool's threads, so nothing outlives the connection.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from symbatcher.engines._batch_engine import BatchEngine, answer_batch
from symbatcher._errors import (
    JobError,
    ServerUnavailableError,
    SymbatcherError,
    call_error,
    from_rpc_error,
)
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
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()
        self._closing = False
        self.error: BaseException | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Registers the engine (the server checks its settings and answers
        with their field named), then serves batches in the background."""
        limit = check_limit("max_concurrency", self._concurrency)
        self._call = self._stub.Serve()
        # Unset (None) lets batches follow the slots; a value is the server's
        # to check, and a refused one fails the registration naming it.
        register = engine_pb2.RegisterEngine(
            name=self._name,
            max_concurrency=limit,
            cache_by_default=bool(getattr(self.engine, "cache_by_default", False)),
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
        except BaseException:
            self._call.cancel()
            raise
        self._pool = thread_pool(limit, f"engine-{self._name}")
        self._reader = asyncio.get_running_loop().create_task(self._read())

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
            result = await loop.run_in_executor(self._pool, answer_batch, self.engine, batch)
            async with self._write_lock:
                await self._call.write(engine_pb2.EngineWorkerMessage(result=result))
        except (grpc.RpcError, asyncio.InvalidStateError, RuntimeError, asyncio.CancelledError):
            pass  # the stream or the pool ended first; the reader says why


#: Reconnection backoff of `serve_engine`: first wait, growth factor,
#: longest wait (seconds); the same as `symbatcher worker`'s.
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.2, 2.0, 5.0
#: How long `serve_engine` keeps trying a name the server still holds: the
#: server frees it once it sees the previous connection end (a frozen
#: server sees that only when it runs again).
NAME_TAKEN_RETRY_S = 60.0


def serve_engine(
    engine: BatchEngine,
    *,
    server: str,
    name: str,
    connection: Any = None,
    connect_timeout: float = 0.0,
) -> None:
    """Serves `engine` under `name` to the symbatcher server at `server`
    (host:port) until the process is interrupted. Jobs select it with
    `BatchScheduler(address=server, engine=name)`.

    Like `symbatcher worker`, it waits for a server that is not there yet
    and reconnects with backoff whenever the connection is lost (a server
    restart, or a freeze that keepalive detects): within the server's
    `--engine-reconnect-grace-ms` the server keeps the engine's waiting
    calls and sends the batches it had not answered again, so no call
    fails. Raises ServerUnavailableError once the server stayed unreachable
    for `connect_timeout` seconds (0: keep trying), and the server's error
    when it refuses the engine (a bad setting, a name another live engine
    holds for longer than NAME_TAKEN_RETRY_S)."""
    from symbatcher.wire._channel import Connection

    async def serve() -> None:
        backoff = BACKOFF_FIRST_S
        failing_since: float | None = None
        while True:
            channel = (connection or Connection.create()).aio_channel(server)
            engine_connection = EngineConnection(channel, engine, name)
            try:
                try:
                    await engine_connection.start()
                except (ServerUnavailableError, JobError) as err:
                    taken = isinstance(err, JobError) and err.kind == "engine_name_taken"
                    if isinstance(err, JobError) and not taken:
                        raise
                    now = asyncio.get_running_loop().time()
                    if failing_since is None:
                        failing_since = now
                        log.warning("engine %r: waiting for the server: %s", name, err)
                    limit = NAME_TAKEN_RETRY_S if taken else connect_timeout
                    if limit and now - failing_since >= limit:
                        raise
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * BACKOFF_FACTOR, BACKOFF_MAX_S)
                    continue
                failing_since, backoff = None, BACKOFF_FIRST_S
                log.info("serving engine %r to %s", name, server)
                try:
                    await engine_connection.finished()
                finally:
                    # Batches cut off here go to this engine again once it
                    # registers: no need to wait for their forward().
                    await engine_connection.stop(grace=0.0)
                log.warning(
                    "engine %r lost the server (%s); reconnecting",
                    name, engine_connection.error or "stream closed",
                )
            finally:
                await channel.close()

    asyncio.run(serve())
