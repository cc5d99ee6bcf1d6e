"""Serve Expressions to a symbatcher server from this machine.

    symbatcher worker mypkg.exprs:Summarize --server HOST:PORT [--concurrency 8]
                      [--processes 2] [--slots thread|greenlet]

Each worker process connects to the server, registers the expression under its
import path `module:Class` (the name `BatchScheduler` submits a class under) and
runs `forward(input=item, **kwargs)` for the items the server assigns, in
`--concurrency` slots (threads, or greenlets with `--slots greenlet`); the
engine calls those forwards make go to the server to be batched with everyone
else's. Jobs submitted with
`num_workers=0`, or with local slots too, are served by every connected worker
of their expression.

`--processes P` starts P worker processes (one GIL each) under this one, which
supervises them: a worker process that dies (killed by a signal, or exits with
a status other than 0, 2 or 3) is started again, after 0.5 s, then waits that
double up to 30 s while it keeps dying within a minute. A worker waits for an
unreachable server and reconnects after losing it. SIGINT/SIGTERM drains:
running items finish and are reported, queued ones go back to the server; a
second signal stops at once.

Exit status: 0 after a drain, 2 for invalid arguments, 3 when the server
refuses the worker or stays unreachable past --connect-timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from symbatcher import _connect_cli
from symbatcher._errors import ServerUnavailableError, SymbatcherError
from symbatcher._imports import add_app_dir, build_expression, import_expression, registered_names
from symbatcher._slots import SLOT_KINDS
from symbatcher._worker import WorkerRuntime

log = logging.getLogger("symbatcher.worker")

#: Reconnection backoff: first wait, growth factor, longest wait (seconds).
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.2, 2.0, 5.0
MAX_CONCURRENCY = 4096
#: Exit status of a worker that gave up: the server refused it, or stayed
#: unreachable past --connect-timeout. Starting it again would not help.
EXIT_GAVE_UP = 3
#: Exit statuses of a worker process its supervisor does not restart: a
#: drain (0), invalid arguments (2), giving up (3).
FINAL_STATUSES = frozenset({0, 2, EXIT_GAVE_UP})
#: Restart backoff of a worker process that died: first wait, growth factor,
#: longest wait (seconds). A process that ran RESTART_STABLE_S before it died
#: starts again after the first wait.
RESTART_FIRST_S, RESTART_FACTOR, RESTART_MAX_S = 0.5, 2.0, 30.0
RESTART_STABLE_S = 60.0
#: How often the supervisor looks at its worker processes (seconds).
SUPERVISE_POLL_S = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "expressions", nargs="+", metavar="module:Class",
        help="Expression class(es) to serve, by import path",
    )
    parser.add_argument(
        "--server", default=os.environ.get("SYMBATCHER_SERVER"), metavar="HOST:PORT",
        help="server address (default: $SYMBATCHER_SERVER)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, metavar="N",
        help="items run at once by each process (default 8)",
    )
    parser.add_argument(
        "--slots", choices=SLOT_KINDS, default="thread",
        help=(
            "what runs each item: an OS thread (default), or a greenlet on the "
            "connection's thread; greenlets are faster when forward() does Python "
            "work and engine calls only, but any other blocking call in forward() "
            "stalls every slot of the process"
        ),
    )
    parser.add_argument(
        "--processes", type=int, default=1, metavar="P",
        help="worker processes to start (default 1)",
    )
    parser.add_argument(
        "--prefetch", type=int, default=None, metavar="N",
        help="items queued in each process beyond --concurrency (default: --concurrency; "
        "the server uses at most its --max-prefetch, default 64)",
    )
    parser.add_argument("--name", default=None, help="worker name in Status and logs (default: HOST-PID)")
    parser.add_argument(
        "--app-dir", default=".", metavar="DIR",
        help="directory put first on sys.path before importing (default: the current one)",
    )
    parser.add_argument(
        "--grace", type=float, default=30.0, metavar="SECONDS",
        help="on SIGINT/SIGTERM, how long running items may take to finish (default 30)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=0.0, metavar="SECONDS",
        help="give up when the server stays unreachable this long (default 0: keep trying)",
    )
    parser.add_argument(
        "--allow-pickle", action="store_true",
        help="run items of jobs that use the pickle codec (unpickling runs code: only where "
        "this worker trusts every client of the server); without it they fail with EncodingError",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    _connect_cli.add_arguments(parser)
    # Set by the supervisor for its children: stop when the supervisor's pipe closes.
    parser.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s",
    )
    problem = _check(args)
    if problem:
        print(f"symbatcher worker: {problem}", file=sys.stderr)
        return 2
    add_app_dir(args.app_dir)
    try:
        classes = {spec: import_expression(spec) for spec in args.expressions}
    except ValueError as exc:
        print(f"symbatcher worker: {exc}", file=sys.stderr)
        return 2
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    if args.processes > 1:
        return _supervise(args, name)
    expressions: dict[str, Any] = {}
    for spec, cls in classes.items():
        for registered in registered_names(spec, cls):
            expressions[registered] = functools.partial(build_expression, cls)
    # Everything imported so far lives as long as the process: keep it out of
    # the garbage collector's full passes, which symai's per-call objects
    # trigger often (a few percent of a worker's time).
    gc.freeze()
    return asyncio.run(_serve(args, name, expressions))


def _check(args: argparse.Namespace) -> str:
    if not args.server:
        return "--server HOST:PORT is required (or set SYMBATCHER_SERVER)"
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        return f"--concurrency: must be 1..{MAX_CONCURRENCY}, got {args.concurrency}"
    if args.processes < 1:
        return f"--processes: must be at least 1, got {args.processes}"
    if args.prefetch is not None and not 0 <= args.prefetch <= MAX_CONCURRENCY:
        return f"--prefetch: must be 0..{MAX_CONCURRENCY}, got {args.prefetch}"
    if args.grace < 0 or args.connect_timeout < 0:
        return "--grace and --connect-timeout must be >= 0"
    try:
        args.connection = _connect_cli.connection(args)
    except ValueError as exc:
        return str(exc)
    return ""


# -- one worker process ----------------------------------------------------


class _Stop:
    """Shutdown requests: the first drains, the second stops at once."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.immediate = asyncio.Event()

    def request(self) -> None:
        if self.requested.is_set():
            self.immediate.set()
        self.requested.set()


async def _serve(args: argparse.Namespace, name: str, expressions: dict[str, Any]) -> int:
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
            loop=loop,
            slots=args.slots,
            connection=args.connection,
            allow_pickle=args.allow_pickle,
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


# -- several worker processes ----------------------------------------------


def _child_argv(args: argparse.Namespace, name: str) -> list[str]:
    argv = [
        sys.executable, "-m", "symbatcher._cli", "worker", *args.expressions,
        "--server", args.server,
        "--concurrency", str(args.concurrency),
        "--slots", args.slots,
        "--processes", "1",
        "--name", name,
        "--app-dir", os.path.abspath(args.app_dir),
        "--grace", str(args.grace),
        "--connect-timeout", str(args.connect_timeout),
        "--log-level", str(args.log_level),
        "--exit-with-stdin",
        *_connect_cli.child_argv(args),
        *(["--allow-pickle"] if args.allow_pickle else []),
    ]
    if args.prefetch is not None:
        argv += ["--prefetch", str(args.prefetch)]
    return argv


@dataclass
class _Child:
    """One worker process slot of the supervisor: its process, or when the
    process died, when it starts again."""

    name: str
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None
    #: The last exit status, once the slot is not restarted any more.
    status: int | None = None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _supervise(args: argparse.Namespace, name: str) -> int:
    """Starts the worker processes, restarts those that die, and waits for
    them. Signals reach them through this process: the first drains them,
    the second kills them. If this process dies, their stdin pipes close and
    they drain by themselves."""
    children = [_Child(name=f"{name}-{k}") for k in range(args.processes)]

    def start(child: _Child) -> None:
        child.proc = subprocess.Popen(
            _child_argv(args, child.name), stdin=subprocess.PIPE, start_new_session=True
        )
        child.started = time.monotonic()
        child.restart_at = None

    for child in children:
        start(child)
    log.info(
        "started %d worker processes: %s",
        len(children), " ".join(str(c.proc.pid) for c in children if c.proc is not None),
    )
    signals = 0

    def forward(signum: int, _frame: Any) -> None:
        nonlocal signals
        signals += 1
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM if signals == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while _supervise_turn(children, start, stopping=signals > 0):
            time.sleep(SUPERVISE_POLL_S)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            if child.proc is not None and child.proc.stdin is not None:
                child.proc.stdin.close()
    return max((abs(c.status) for c in children if c.status is not None), default=0)


def _supervise_turn(children: list[_Child], start: Any, *, stopping: bool) -> bool:
    """Reaps worker processes that ended and starts again those due; returns
    False once none runs or waits to start again."""
    now = time.monotonic()
    alive = False
    for child in children:
        if child.proc is not None:
            code = child.proc.poll()
            if code is None:
                alive = True
                continue
            proc, child.proc = child.proc, None
            pid = proc.pid
            if proc.stdin is not None:
                proc.stdin.close()
            if stopping or code in FINAL_STATUSES:
                child.status = code
                if code != 0 and not stopping:
                    log.warning("worker process %d (%s) %s; not restarting it",
                                pid, child.name, _describe_exit(code))
                continue
            stable = now - child.started >= RESTART_STABLE_S
            child.backoff = (
                RESTART_FIRST_S if stable or child.backoff == 0
                else min(child.backoff * RESTART_FACTOR, RESTART_MAX_S)
            )
            child.restart_at = now + child.backoff
            child.status = code
            log.warning("worker process %d (%s) %s; restarting it in %.1f s",
                        pid, child.name, _describe_exit(code), child.backoff)
        if child.restart_at is not None:
            if stopping:
                child.restart_at = None
                continue
            alive = True
            if now >= child.restart_at:
                start(child)
                child.status = None
                assert child.proc is not None
                log.warning("worker process %s started again as %d", child.name, child.proc.pid)
    return alive
