"""What a BatchScheduler owns and releases."""

from __future__ import annotations

import asyncio
import threading

import grpc

from symbatcher.client._embedded_server import EmbeddedServer
from symbatcher.client._event_loops import close_loop, running_loop
from symbatcher.engines._engine_connection import EngineConnection
from symbatcher.engines._engine_process import EngineProcess
from symbatcher.engines._symai_embedding_engine import SymaiEmbeddingEngine
from symbatcher.engines._symai_engine import SymaiEngine
from symbatcher.wire._channel import release_aio_channels


class SchedulerResources:
    """What a BatchScheduler owns and releases: its embedded server, its own
    loop and thread, the grpc.aio channel on its loop, and the engine
    connections served from this process (chat, embedding) or the engine
    process of a `SymaiEngine(process=True)`. Kept apart from the scheduler so
    that `weakref.finalize` can release it without keeping the scheduler
    alive."""

    def __init__(self) -> None:
        self.server: EmbeddedServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: threading.Thread | None = None
        self.channel: grpc.aio.Channel | None = None
        self.engine_connection: EngineConnection | None = None
        self.embedding_connection: EngineConnection | None = None
        #: The process serving a `SymaiEngine(process=True)`.
        self.engine_process: EngineProcess | None = None
        #: The SymaiEngine chosen by default (closed with the scheduler).
        self.own_engine: SymaiEngine | None = None
        #: The SymaiEmbeddingEngine chosen by default (closed with it too).
        self.own_embedding_engine: SymaiEmbeddingEngine | None = None

    async def _close_on_loop(self) -> None:
        for connection in (self.engine_connection, self.embedding_connection):
            if connection is not None:
                await connection.stop()
        if self.channel is not None:
            await self.channel.close()

    def release(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed() and loop.is_running():
            closing = self._close_on_loop()
            if running_loop() is loop:
                loop.create_task(closing)  # cannot wait on the loop we run on
            else:
                asyncio.run_coroutine_threadsafe(closing, loop).result(timeout=30)
        self.channel = self.engine_connection = self.embedding_connection = None
        if self.engine_process is not None:
            self.engine_process.stop()
            self.engine_process = None
        for own in (self.own_engine, self.own_embedding_engine):
            if own is not None:
                own.close()
        if self.loop_thread is not None and loop is not None:
            close_loop(loop, self.loop_thread)
        if self.server is not None:
            self.server.stop()
        # grpc.aio stops its poller thread (and grpc its core threads) once
        # no channel object is left; the closed channels of jobs and local
        # workers sit in reference cycles with their finished tasks.
        release_aio_channels()
