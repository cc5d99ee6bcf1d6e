"""The engine process of `SymaiEngine(process=True)`, started by
`_engine_process.EngineProcess` as `python -m
symbatcher.engines._engine_process_main`.

Its standard input carries two pickles from the process that started it: an
`_engine_process.EngineProcessSpec`, then the symai engine to serve (None: symai's configured
one, resolved here). It serves a `SymaiEngine` over one `EngineService.Serve`
stream, writes one JSON line on its standard output (`{"ready": true}` once
the server registered the engine, `{"error": "..."}` when it could not), and
runs until its standard input closes (the scheduler stopped it, or the
process that started it ended, however it ended) or the stream ends.

Exit status: 0 when its standard input closed, 1 when the stream ended first,
3 when it could not start (the error line says why).
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import threading
from typing import IO, TYPE_CHECKING

from symbatcher.engines._engine_process import EngineProcessSpec

if TYPE_CHECKING:
    from symai.backend.base import Engine

EXIT_STDIN_CLOSED, EXIT_STREAM_ENDED, EXIT_NOT_STARTED = 0, 1, 3


def _say(out: IO[str], message: dict[str, object]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def main() -> int:
    out, sys.stdout = sys.stdout, sys.stderr  # stdout is for the JSON lines only
    stdin = sys.stdin.buffer
    try:
        spec: EngineProcessSpec = pickle.load(stdin)
        sys.path[:] = spec.sys_path
        engine: Engine | None = pickle.load(stdin)
    except Exception as exc:  # noqa: BLE001 - reported to the starting process
        _say(out, {"error": f"could not read its engine: {type(exc).__name__}: {exc}"})
        return EXIT_NOT_STARTED
    return asyncio.run(_serve(spec, engine, stdin, out))


async def _serve(spec: EngineProcessSpec, engine: Engine | None, stdin: IO[bytes], out: IO[str]) -> int:
    from symbatcher.engines._engine_connection import EngineConnection
    from symbatcher.engines._symai_engine import SymaiEngine

    served = SymaiEngine(
        engine=engine,
        concurrency=spec.concurrency,
        max_concurrency=spec.max_concurrency,
        reply_each=spec.reply_each,
    )
    channel = spec.connection.aio_channel(spec.address)
    connection = EngineConnection(channel, served, spec.name)
    try:
        try:
            await connection.start()
        except Exception as exc:  # noqa: BLE001 - reported to the starting process
            _say(out, {"error": str(exc)})
            return EXIT_NOT_STARTED
        _say(out, {"ready": True})
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()

        def wait_for_eof() -> None:
            stdin.read()
            loop.call_soon_threadsafe(closed.set)

        threading.Thread(target=wait_for_eof, name="engine-process-stdin", daemon=True).start()
        ended = asyncio.ensure_future(connection.finished())
        eof = asyncio.ensure_future(closed.wait())
        await asyncio.wait({ended, eof}, return_when=asyncio.FIRST_COMPLETED)
        stdin_closed = eof.done()
        for task in (ended, eof):
            task.cancel()
        await connection.stop()
        if not stdin_closed:
            print(f"engine process: the stream ended: {connection.error or 'closed'}", file=sys.stderr)
            return EXIT_STREAM_ENDED
        return EXIT_STDIN_CLOSED
    finally:
        served.close()
        await channel.close()


if __name__ == "__main__":
    sys.exit(main())
