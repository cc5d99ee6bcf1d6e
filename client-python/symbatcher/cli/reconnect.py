"""One worker process: connects to the server and serves until a signal (or
the supervisor's closed pipe) asks it to stop, reconnecting with backoff
whenever the connection is lost or the server is not there yet.

The first SIGINT/SIGTERM drains (running items finish and are reported,
queued ones go back to the server); a second stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from symbatcher._errors import ServerUnavailableError, SymbatcherError
from symbatcher.worker._runtime import WorkerRuntime
from symbatcher.worker._served_job import ExpressionFactory

log = logging.getLogger("symbatcher.worker")

#: Reconnection backoff: first wait, growth factor, longest wait (seconds).
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.2, 2.0, 5.0
#: Exit status of a worker that gave up: the server refused it, or stayed
#: unreachable past --connect-timeout. Starting it again would not help.
EXIT_GAVE_UP = 3
#: Exit status of a worker whose thread slots left too many threads stuck
#: in forward()s given up on (--max-stuck-threads): a new process ends them,
#: so its supervisor starts it again (a lone worker runs itself again).
EXIT_STUCK = 4


class _Stop:
    """Shutdown requests: the first drains, the second stops at once."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.immediate = asyncio.Event()

    def request(self) -> None:
        if self.requested.is_set():
            self.immediate.set()
        self.requested.set()


async def serve(
    args: argparse.Namespace, name: str, expressions: dict[str, ExpressionFactory]
) -> int:
    loop = asyncio.get_running_loop()
    stop = _Stop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.request)
    if args.exit_with_stdin:
        _watch_stdin(loop, stop)
    backoff = BACKOFF_FIRST_S
    unreachable_since: float | None = None
    while not stop.requested.is_set():
        runtime = WorkerRuntime(
            args.server,
            expressions=expressions,
            concurrency=args.concurrency,
            prefetch=args.prefetch,
            name=name,
            slots=args.slots,
            pin_slots=args.pin_slots,
            slot_cpu_index=args.slot_cpu_index,
            connection=args.connection,
            allow_pickle=args.allow_pickle,
            max_stuck_threads=args.max_stuck_threads,
            replace_when_stuck=True,
        )
        try:
            await runtime.open()
        except ServerUnavailableError as err:
            now = time.monotonic()
            if unreachable_since is None:
                unreachable_since = now
                log.warning("waiting for the server: %s", err)
            if args.connect_timeout and now - unreachable_since >= args.connect_timeout:
                log.error("server unreachable for %.0f s; giving up", args.connect_timeout)
                return EXIT_GAVE_UP
            await _wait(stop.requested, backoff)
            backoff = min(backoff * BACKOFF_FACTOR, BACKOFF_MAX_S)
            continue
        except SymbatcherError as err:
            log.error("the server refused this worker: %s", err)
            return EXIT_GAVE_UP
        unreachable_since, backoff = None, BACKOFF_FIRST_S
        log.info(
            "worker %s connected to %s (worker id %d): serving %s with %d %s slots",
            name, args.server, runtime.worker_id, ", ".join(expressions), args.concurrency,
            args.slots,
        )
        finished = asyncio.ensure_future(runtime.finished())
        stopping = asyncio.ensure_future(stop.requested.wait())
        await asyncio.wait({finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.requested.is_set():
            await _drain(runtime, stop, args.grace)
            finished.cancel()
            return 0
        if runtime.exhausted:
            await runtime.closed(timeout=2.0)
            log.error("too many threads stuck in forward(): this process is replaced")
            return EXIT_STUCK
        log.warning("lost the server (%s); reconnecting", runtime.error or "stream closed")
    return 0


async def _drain(runtime: WorkerRuntime, stop: _Stop, grace: float) -> None:
    log.info("draining: finishing running items (up to %.0f s; signal again to stop now)", grace)
    draining = asyncio.ensure_future(runtime.drain(grace))
    immediate = asyncio.ensure_future(stop.immediate.wait())
    await asyncio.wait({draining, immediate}, return_when=asyncio.FIRST_COMPLETED)
    immediate.cancel()
    if not draining.done():
        draining.cancel()
        runtime.stop()
        await runtime.closed(timeout=2.0)
    log.info("worker stopped")


async def _wait(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: _Stop) -> None:
    """Requests a drain when stdin closes (the supervisor is gone)."""

    fd = sys.stdin.fileno()

    def watch() -> None:
        # The raw fd, not sys.stdin: a daemon thread blocked in a buffered
        # read would abort the interpreter's shutdown.
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        try:
            loop.call_soon_threadsafe(stop.request)
        except RuntimeError:
            pass  # the loop is already closed

    threading.Thread(target=watch, name="symbatcher-stdin", daemon=True).start()
