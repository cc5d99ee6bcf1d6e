"""The arguments of `symbatcher run` and their checks."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from symbatcher.wire._limits import MAX_KWARGS_DEPTH, kwargs_depth_error
from symbatcher.worker._slot_kinds import SLOT_KINDS
from symbatcher.cli import connect
from symbatcher.cli.run.deadline import parse_deadline
from symbatcher.cli.run.inputs import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("expression", metavar="module:Class", help="Expression class, by import path")
    parser.add_argument(
        "--input", required=True, metavar="PATH",
        help="input: a JSONL, CSV or Parquet file, or a saved Hugging Face dataset (a directory)",
    )
    parser.add_argument(
        "--input-format", choices=FORMATS, default=None,
        help="read --input as this format (default: by its extension, hf for a directory, else jsonl)",
    )
    parser.add_argument(
        "--input-column", default=None, metavar="NAME",
        help="the column (JSONL: the key) run as the input (default: 'input', else the only column but the id)",
    )
    parser.add_argument(
        "--id-column", default=None, metavar="NAME",
        help="the column (JSONL: the key) echoed as the id (default: 'id' when there is one)",
    )
    parser.add_argument(
        "--output", required=True, metavar="PATH",
        help="output: .csv or .parquet (rows in input order), else JSONL lines (appended to)",
    )
    parser.add_argument(
        "--force", action="store_true",
        help="resume into an output written by another input, expression, kwargs or engine",
    )
    parser.add_argument(
        "--server", default=None, metavar="HOST:PORT",
        help="submit to this server (default: start an embedded one)",
    )
    parser.add_argument(
        "--workers", type=int, default=8, metavar="N",
        help="local worker slots (default 8; 0 with --server: remote workers only)",
    )
    parser.add_argument(
        "--slots", choices=SLOT_KINDS, default="thread",
        help="local slots: threads (default) or greenlets (see `symbatcher worker --help`)",
    )
    parser.add_argument(
        "--no-pin-slots", dest="pin_slots", action="store_false",
        help="let local thread slots run on any CPU (see `symbatcher worker --help`)",
    )
    parser.add_argument("--batch-size", type=int, default=5, metavar="B", help="engine batch size (default 5)")
    parser.add_argument(
        "--kwargs", default="{}", metavar="JSON",
        help="JSON object of keyword arguments for every forward() call",
    )
    parser.add_argument(
        "--engine", default=None, metavar="NAME",
        help=(
            "engine that answers the calls: a name the server knows (echo, a --config "
            "engine, a connected engine process). Default: the server's default engine "
            "with --server; else the config file's default_engine, else symai's own "
            "configured engine, else echo (with a warning)"
        ),
    )
    parser.add_argument(
        "--embedding-engine", default=None, metavar="NAME",
        help=(
            "engine that answers the embedding calls (Symbol.embed, ...): a name the server "
            "knows (an openai-embeddings engine of the --config file, a connected engine "
            "process). Default: the server's default embedding engine, else symai's own "
            "embedding engine in each worker"
        ),
    )
    parser.add_argument(
        "--config", default=None, metavar="FILE",
        help=(
            "symbatcher.toml with named engines for the embedded server "
            "(default: $SYMBATCHER_CONFIG; see docs/engines.md)"
        ),
    )
    parser.add_argument(
        "--worker-wait-ms", type=int, default=None, metavar="MS",
        help="fail when no worker serves the expression for this long (default: the server's)",
    )
    parser.add_argument(
        "--item-timeout", type=float, default=None, metavar="SECONDS",
        help="fail an item that runs longer than this (TimeoutError); default: no limit",
    )
    parser.add_argument(
        "--cache", choices=("use", "refresh", "off"), default=None,
        help=(
            "call cache: use (answer requests seen before from it), refresh (send again, "
            "overwrite) or off; default: use for openai engines, off for echo and engine processes"
        ),
    )
    parser.add_argument(
        "--cache-dir", default=None, metavar="DIR",
        help="the embedded server's call cache (default: $XDG_CACHE_HOME/symbatcher or ~/.cache/symbatcher)",
    )
    parser.add_argument(
        "--max-cost", type=float, default=None, metavar="USD",
        help="spend cap of the job in US dollars, never passed; items whose requests cannot fit under it fail with BudgetExceeded",
    )
    parser.add_argument(
        "--deadline", type=parse_deadline, default=None, metavar="WHEN",
        help=(
            "when the job must be done: a duration (2h, 90m, 1h30m) or an ISO time; with a batch "
            "API engine that has a fallback, calls go by batch while the time left allows, else "
            "online (default: none)"
        ),
    )
    parser.add_argument(
        "--no-replay", dest="replay", action="store_const", const=False, default=None,
        help=(
            "with a batch API engine, keep a slot per run waiting on a provider batch instead "
            "of replaying the item from the start once it is answered (the default)"
        ),
    )
    parser.add_argument(
        "--estimate", action="store_true",
        help=(
            "first run a sample spread over the input, print what the run will cost and take, "
            "and ask whether to go on (the sample's replies are reused from the call cache)"
        ),
    )
    parser.add_argument(
        "--sample", type=_sample, default=None, metavar="N|SHARE",
        help="--estimate's sample: a count of rows, or a share below 1 (default: 1%%, at least 50 rows)",
    )
    parser.add_argument(
        "--yes", action="store_true",
        help="with --estimate, go on without asking (without it and without a terminal, stop after the estimate)",
    )
    parser.add_argument("--ordered", action="store_true", help="write results in input order")
    parser.add_argument(
        "--retry-failed", action="store_true",
        help="drop the output's error lines and run those items again",
    )
    parser.add_argument(
        "--app-dir", default=".", metavar="DIR",
        help="directory put first on sys.path before importing (default: the current one)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    connect.add_arguments(parser)


def check(args: argparse.Namespace) -> dict[str, Any]:
    """Checks the arguments that need no import; returns the kwargs.
    Raises ValueError with the message for exit status 2."""
    kwargs = parse_kwargs(args.kwargs)
    if args.workers < 0:
        raise ValueError(f"--workers: must be >= 0, got {args.workers}")
    if args.workers == 0 and not args.server:
        raise ValueError("--workers 0 runs on remote workers only: give --server HOST:PORT")
    if args.item_timeout is not None and not args.item_timeout > 0:
        raise ValueError(f"--item-timeout: must be a number of seconds > 0, got {args.item_timeout}")
    if args.cache_dir and args.server:
        raise ValueError("--cache-dir sets the embedded server's cache; with --server, the server's own --cache-dir applies")
    if args.config and args.server:
        raise ValueError("--config configures the embedded server; with --server, the server's own configuration applies")
    if args.config and not os.path.isfile(args.config):
        raise ValueError(f"--config: no such file: {args.config}")
    if (args.sample is not None or args.yes) and not args.estimate:
        raise ValueError("--sample and --yes apply to --estimate: give --estimate too")
    if not os.path.exists(args.input):
        raise ValueError(f"--input: no such file: {args.input}")
    connect.connection(args)  # a bad --token-file or --tls-ca stops here
    return kwargs


def _sample(text: str) -> int | float:
    """--sample: a whole count (`200`) or a share (`0.02`); the estimate checks its range."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count or a share: {text!r}") from None


def parse_kwargs(text: str) -> dict[str, Any]:
    try:
        kwargs = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--kwargs: not JSON: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"--kwargs: nested deeper than {MAX_KWARGS_DEPTH} levels (the limit for kwargs)"
        ) from None
    if not isinstance(kwargs, dict):
        raise ValueError("--kwargs: must be a JSON object")
    too_deep = kwargs_depth_error(kwargs)
    if too_deep:
        raise ValueError(f"--kwargs: {too_deep}")
    return kwargs
