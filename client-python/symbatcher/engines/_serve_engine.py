"""`serve_engine`: serves a `BatchEngine` to a server until the process is
interrupted, waiting for the server and reconnecting with backoff."""

from __future__ import annotations

import asyncio
import logging

from symbatcher._errors import JobError, ServerUnavailableError
from symbatcher.engines._batch_engine import BatchEngine
from symbatcher.engines._engine_connection import EngineConnection
from symbatcher.wire._channel import Connection

log = logging.getLogger("symbatcher.engine")


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
    connection: Connection | None = None,
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
