"""`symbatcher run --estimate`: runs a sample of the pending rows, prints the
estimate of the whole run, and asks whether to go on.

The sample is drawn across the whole input (the rows to run are read as a
stream: one row drawn at random from each of as many equal stretches as the
sample has rows). Its replies go into the call cache, so the run that
follows pays nothing for them again (unless --cache off or refresh). Whether
to go on: --yes goes on without asking; else a terminal on stdin is asked;
else (stdin is a file, a pipe, /dev/null) the command stops after the
estimate with status 0 and says so, so a script never hangs on the question.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from symbatcher._errors import SymbatcherError
from symbatcher.cli.run.inputs import open_input
from symbatcher.cli.run.loop import open_scheduler
from symbatcher.cli.run.resume import IndexSet

#: `estimate_first`'s answers: run the job, stop (status 0), or fail with
#: this exit status.
GO_ON = -1


def estimate_first(args: argparse.Namespace, expr: type, kwargs: dict[str, Any], done: IndexSet, pending: int) -> int:
    """Estimates the run of the `pending` rows (those not in `done`) and
    asks whether to go on: GO_ON, or the exit status to stop with."""
    reader = open_input(args.input, args.input_format, args.input_column, args.id_column)
    reader.done = done
    try:
        scheduler = open_scheduler(args)
    except SymbatcherError as exc:
        print(f"symbatcher run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        estimate = scheduler.estimate(
            expr, reader, args.sample, num_workers=args.workers, batch_size=args.batch_size,
            total=pending, **kwargs,
        )
    except ValueError as exc:
        print(f"symbatcher run: --estimate: {exc}", file=sys.stderr)
        return 2
    except SymbatcherError as exc:
        print(f"symbatcher run: --estimate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        scheduler.cleanup()
    print(f"symbatcher run: {estimate.describe()}", file=sys.stderr)
    if args.yes:
        return GO_ON
    if not sys.stdin.isatty():
        print(
            "symbatcher run: stdin is not a terminal and --yes was not given: stopping after the "
            "estimate (give --yes to run after it)",
            file=sys.stderr,
        )
        return 0
    print(f"Run the {estimate.to_run:,} items? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return GO_ON
    print("symbatcher run: not run", file=sys.stderr)
    return 0
