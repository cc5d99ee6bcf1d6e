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

A thread slot whose run was cancelled (its job ended, or it timed out) and
whose forward() does not return within a second is given up on: a new thread
takes its place, and the stuck one ends when its forward() returns. At most
--max-stuck-threads such threads (default: --concurrency) may run at once;
past that, the worker process disconnects (the server re-queues its runs)
and exits with status 4, and its supervisor starts a new one, which ends
every stuck thread (a lone worker, without --processes, runs itself again).

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
import socket
import sys
from symbatcher._expressions import add_app_dir, build_expression, import_expression, registered_names
from symbatcher.worker._served_job import ExpressionFactory
from symbatcher.worker._slot_kinds import SLOT_KINDS
from symbatcher.cli import connect
from symbatcher.cli.reconnect import EXIT_STUCK, serve
from symbatcher.cli.supervisor import supervise


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
        "--no-pin-slots", dest="pin_slots", action="store_false",
        help=(
            "let thread slots run on any CPU; by default the slots of a process share "
            "one (they hold one GIL, and hand-offs on one core are cheaper), and the "
            "processes of --processes spread over the CPUs; use it when forward() runs "
            "native code that releases the GIL for long"
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
    parser.add_argument(
        "--max-stuck-threads", type=int, default=None, metavar="N",
        help="threads of slots given up on (forward() ignoring a cancellation) that may run "
        "at once in a process; past it the process is replaced (default: --concurrency)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    connect.add_arguments(parser)
    # Set by the supervisor for its children: stop when the supervisor's pipe closes.
    parser.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    # Set by the supervisor: which of the CPUs the child's thread slots share.
    parser.add_argument("--slot-cpu-index", type=int, default=None, help=argparse.SUPPRESS)


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
        return supervise(args, name)
    expressions: dict[str, ExpressionFactory] = {}
    for spec, cls in classes.items():
        for registered in registered_names(spec, cls):
            expressions[registered] = functools.partial(build_expression, cls)
    # Everything imported so far lives as long as the process: keep it out of
    # the garbage collector's full passes, which symai's per-call objects
    # trigger often (a few percent of a worker's time).
    gc.freeze()
    status = asyncio.run(serve(args, name, expressions))
    if status == EXIT_STUCK and not args.exit_with_stdin:
        # No supervisor to start a new process: this one runs itself again,
        # which ends its stuck threads.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "symbatcher.cli", *args._argv])
    return status


def _check(args: argparse.Namespace) -> str:
    if not args.server:
        return "--server HOST:PORT is required (or set SYMBATCHER_SERVER)"
    if args.concurrency < 1:
        # Its upper limit is the server's, which refuses the worker naming it.
        return f"--concurrency: must be at least 1, got {args.concurrency}"
    if args.processes < 1:
        return f"--processes: must be at least 1, got {args.processes}"
    if args.prefetch is not None and args.prefetch < 0:
        return f"--prefetch: must be at least 0, got {args.prefetch}"
    if args.max_stuck_threads is not None and args.max_stuck_threads < 0:
        return f"--max-stuck-threads: must be at least 0, got {args.max_stuck_threads}"
    if args.grace < 0 or args.connect_timeout < 0:
        return "--grace and --connect-timeout must be >= 0"
    try:
        args.connection = connect.connection(args)
    except ValueError as exc:
        return str(exc)
    return ""
