"""`symbatcher worker --processes P`: starts P worker processes (one GIL
each) and supervises them. A worker process that dies (killed by a signal,
or exits with a status other than 0, 2 or 3, e.g. 4: too many threads stuck
in forward()s given up on) is started again, after 0.5 s,
then waits that double up to 30 s while it keeps dying within a minute.
Signals reach the workers through the supervisor: the first drains them, the
second kills them. If the supervisor dies, their stdin pipes close and they
drain by themselves.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from symbatcher.cli import connect
from symbatcher.cli.reconnect import EXIT_GAVE_UP

log = logging.getLogger("symbatcher.worker")

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


def _child_argv(args: argparse.Namespace, name: str, index: int) -> list[str]:
    """The command line of child `index`: its thread slots share the
    `index`-th CPU (modulo their number), so the children spread over the
    cores instead of each taking the CPU it happens to start on."""
    argv = [
        sys.executable, "-m", "symbatcher.cli", "worker", *args.expressions,
        "--server", args.server,
        "--concurrency", str(args.concurrency),
        "--slots", args.slots,
        "--processes", "1",
        "--name", name,
        "--app-dir", os.path.abspath(args.app_dir),
        "--grace", str(args.grace),
        "--connect-timeout", str(args.connect_timeout),
        "--log-level", str(args.log_level),
        *(["--max-stuck-threads", str(args.max_stuck_threads)] if args.max_stuck_threads is not None else []),
        "--exit-with-stdin",
        *(["--slot-cpu-index", str(index)] if args.pin_slots else ["--no-pin-slots"]),
        *connect.child_argv(args),
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
    #: Which child it is (0..P-1), for its CPU (`_child_argv`).
    index: int = 0
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


def supervise(args: argparse.Namespace, name: str) -> int:
    """Starts the worker processes, restarts those that die, and waits for
    them. Signals reach them through this process: the first drains them,
    the second kills them. If this process dies, their stdin pipes close and
    they drain by themselves."""
    children = [_Child(name=f"{name}-{k}", index=k) for k in range(args.processes)]

    def start(child: _Child) -> None:
        child.proc = subprocess.Popen(
            _child_argv(args, child.name, child.index), stdin=subprocess.PIPE, start_new_session=True
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

    def forward(signum: int, _frame: FrameType | None) -> None:
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


def _supervise_turn(
    children: list[_Child], start: Callable[[_Child], None], *, stopping: bool
) -> bool:
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
