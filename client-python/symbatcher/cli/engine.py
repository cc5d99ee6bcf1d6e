"""Serve an engine to a symbatcher server from this machine.

    symbatcher engine --symai --server HOST:PORT [--name symai] [--concurrency N] [--max-batches N]
    symbatcher engine mypkg.engines:MyEngine --server HOST:PORT [--name NAME]

`--symai` answers batches with symai's own configured neurosymbolic engine
(whatever symai.config.json selects: OpenAI, Anthropic, Gemini, a local
llama.cpp or vLLM symserver, ...), with the calls of each batch running
concurrently: by default as many at once as the worker slots calling the
engine make; `--concurrency` caps the calls running at once and
`--max-batches` the batches. Jobs on it use the server's call cache unless
they set `cache`. `module:Class` serves a
`symbatcher.BatchEngine` subclass (instantiated with no arguments).

Jobs use the engine by its name: `BatchScheduler(address=HOST:PORT,
engine="symai")`, or start the server with `--default-engine symai`. The
engine stays registered until this process ends. Like `symbatcher worker`, it
waits for a server that is not up yet and reconnects with backoff when it
loses the server (a restart, or a freeze that keepalive detects after
$SYMBATCHER_KEEPALIVE_INTERVAL_MS + $SYMBATCHER_KEEPALIVE_TIMEOUT_MS): a
server that is still the same process keeps the engine's calls for its
--engine-reconnect-grace-ms (default 30 s) and sends it the batches it had
not answered again, so no call fails.

Exit status: 0 on SIGINT, 2 for invalid arguments, 3 when the server refuses
the engine or stays unreachable past --connect-timeout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from symbatcher.cli import connect
from symbatcher.engines._batch_engine import BatchEngine
from symbatcher.engines._serve_engine import serve_engine
from symbatcher._expressions import add_app_dir, import_expression
from symbatcher._errors import SymbatcherError
from symbatcher.cli.reconnect import EXIT_GAVE_UP

log = logging.getLogger("symbatcher.engine")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--symai", action="store_true",
        help="serve symai's configured neurosymbolic engine",
    )
    source.add_argument(
        "engine_class", nargs="?", metavar="module:Class",
        help="a BatchEngine subclass to serve, by import path",
    )
    parser.add_argument(
        "--server", default=os.environ.get("SYMBATCHER_SERVER"), metavar="HOST:PORT",
        help="server address (default: $SYMBATCHER_SERVER)",
    )
    parser.add_argument(
        "--name", default=None,
        help="engine name jobs select (default: 'symai', or the class name)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, metavar="N",
        help="--symai: engine calls running at once at most (default: no cap, as many as the slots make)",
    )
    parser.add_argument(
        "--max-batches", type=int, default=None, metavar="N",
        help="--symai: batches the server may send at once (default: no cap, they follow the slots)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=0.0, metavar="SECONDS",
        help="give up when the server stays unreachable this long (default 0: keep trying)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    connect.add_arguments(parser)


def _load_class(spec: str) -> type:
    add_app_dir(os.getcwd())
    cls = import_expression(spec)
    if not issubclass(cls, BatchEngine):
        raise ValueError(f"{spec!r} is not a symbatcher.BatchEngine subclass")
    return cls


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.server:
        print("symbatcher engine: --server HOST:PORT is required", file=sys.stderr)
        return 2
    if not args.connect_timeout >= 0:
        print(f"symbatcher engine: --connect-timeout: must be >= 0, got {args.connect_timeout}", file=sys.stderr)
        return 2
    try:
        connection = connect.connection(args)
        if args.symai:
            from symbatcher.engines._symai_engine import SymaiEngine

            engine: BatchEngine = SymaiEngine(
                concurrency=args.concurrency, max_concurrency=args.max_batches
            )
            name = args.name or "symai"
        else:
            cls = _load_class(args.engine_class)
            engine = cls()
            name = args.name or cls.__name__
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"symbatcher engine: {exc}", file=sys.stderr)
        return 2
    try:
        serve_engine(
            engine, server=args.server, name=name, connection=connection,
            connect_timeout=args.connect_timeout,
        )
    except KeyboardInterrupt:
        return 0
    except SymbatcherError as exc:
        print(f"symbatcher engine: {exc}", file=sys.stderr)
        return EXIT_GAVE_UP
    return 0
