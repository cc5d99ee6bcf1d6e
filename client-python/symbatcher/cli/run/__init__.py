"""Run an Expression over a dataset file, one output record per input row.

    symbatcher run mypkg.exprs:Summarize --input data.jsonl --output results.jsonl
                   [--input-format jsonl|csv|parquet|hf] [--input-column NAME] [--id-column NAME]
                   [--server HOST:PORT] [--workers N] [--batch-size B] [--kwargs JSON]
                   [--slots thread|greenlet] [--no-pin-slots] [--engine NAME]
                   [--embedding-engine NAME] [--config symbatcher.toml]
                   [--cache use|refresh|off] [--cache-dir DIR] [--max-cost USD]
                   [--deadline 2h|90m|ISO-TIME] [--no-replay] [--force]
                   [--estimate [--sample N|SHARE] [--yes]]

Engines: with no --engine, the calls go where a `BatchScheduler()` sends them:
with --server, to that server's default engine; else to the --config file's
default_engine (or $SYMBATCHER_CONFIG's), else to symai's own configured
neurosymbolic engine, else to the echo engine (with a warning). `--engine
NAME` names one the server knows: `echo`, an engine of the --config file, or
an engine process connected to --server. An unknown engine fails before the
output file is created. `--embedding-engine NAME` names the engine of the
embedding calls (an `openai-embeddings` engine of the --config file, ...);
without it, the server's default embedding engine (a --config file with one
openai-embeddings engine makes it the default), else symai's own embedding
engine in each worker.

Input, by its extension (--input-format overrides): .jsonl/.json (else too)
JSON lines, .csv a CSV file with a header row, .parquet a Parquet file (read
a record batch at a time), a directory a Hugging Face dataset saved with
`save_to_disk` (needs `pip install 'symbatcher[datasets]'`). A CSV, Parquet
or dataset row runs its input column: --input-column NAME, else "input",
else the only column besides the id column (else the command lists the
columns and stops); its id
column (--id-column, else "id" when there is one) is echoed. A JSON line: an
object with an "input" key (or the --input-column key) is run as
forward(input=obj["input"]); any other value (a string, a number, an object
without "input", ...) is the input itself. An object's "id" is echoed back.
Blank lines are skipped.

Output, by its extension: .csv or .parquet get rows in input order (columns
index, id, result, error_type, error_message and the usage and cost columns;
an id or result that is not a string is written as JSON); anything else gets
JSON lines, written as items finish (completion order; a finished line
reaches the file within a second):
  {"index": 7, "id": "a1", "result": ...}
  {"index": 9, "error": {"type": "ValueError", "message": "..."}}
A result that cannot be written as UTF-8 JSON (a set, a string with a lone
surrogate) gets an error line of type "EncodingError". So does an input that
cannot be sent to a remote worker (e.g. a lone surrogate) when --workers 0
leaves the job to remote workers.
Lines of items whose engine calls reported usage also carry
  "usage": {"prompt_tokens": 20, "completion_tokens": 10, "calls": 2, "cache_hits": 0, ...}
  "cost": 0.000009
(US dollars of the requests sent for the item: a cache hit costs nothing;
null when a model has no price). The progress bar shows the cost so far and
the projected total (cost so far / items done x items).
where "index" is the input row's position (0-based; for JSONL, line N has
index N-1) and "id" appears when the input row had one. A malformed input
line is reported on stderr with its line number and gets an error line of
type "InputError"; the other lines run.

Resume: re-running the same command skips every index already in the output
(--retry-failed runs the failed ones again); calls answered before a crash
but not yet written come from the call cache (--cache, default: the engine's
choice), so a re-run pays at most for the calls that were in flight. A CSV
or Parquet output is finalized on exit from its journal OUT.journal.jsonl;
after a crash the next run first merges that journal into OUT (see
symbatcher.cli.run.tables). The output's fingerprint (OUT.symbatcher.json:
the input file's size, time and a hash of its ends, the expression, the
kwargs, the engine of each kind, the input column) must match: a re-run that differs
stops with status 2 and names what changed; --force resumes anyway.
--max-cost USD caps the job's spend, never passed: items whose requests
cannot fit under it fail with BudgetExceeded (set max_tokens in --kwargs, or
each request reserves the model's output ceiling); re-run with a higher cap
(and --retry-failed) to continue.
--estimate first runs a sample of the rows to run (--sample: a count, or a
share below 1; default 1% with at least 50 rows), spread over the whole input,
and prints what the run will cost and take (online, and through a provider
batch engine when the server has one); the sample's replies go into the call
cache, so the run pays nothing for them again. It then asks whether to go on:
--yes goes on without asking; with no terminal on stdin and no --yes the
command stops after the estimate with status 0 (see docs/cost.md).
Ctrl-C stops the job, writes the results that arrived, prints the command
that resumes and exits with status 130; the output never ends with a partial
line (a partial line left by a crash is dropped on the next run).

Exit status: 0 when the job ran (failed items included), 1 when every item
failed, those of earlier runs into the output included (the first error of
this run is printed), or the job failed as a whole,
2 for bad arguments or a fingerprint that differs, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from symbatcher._expressions import add_app_dir, import_expression
from symbatcher.cli.run import arguments, fingerprint, tables
from symbatcher.cli.run.estimate import GO_ON, estimate_first
from symbatcher.cli.run.inputs import open_input
from symbatcher.cli.run.loop import EXIT_INTERRUPTED, run_job
from symbatcher.cli.run.outputs import JsonlOutput, Output
from symbatcher.cli.run.resume import IndexSet, load_output

__all__ = ["add_arguments", "run", "load_output", "IndexSet"]

add_arguments = arguments.add_arguments
EXIT_USAGE = 2


def run(args: argparse.Namespace) -> int:
    add_app_dir(args.app_dir)
    try:
        expr = import_expression(args.expression)
        kwargs = arguments.check(args)
        reader = open_input(args.input, args.input_format, args.input_column, args.id_column)
    except ValueError as exc:
        print(f"symbatcher run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fmt = tables.output_format(args.output)
    current = fingerprint.fingerprint(
        args.input, args.expression, kwargs, args.engine, reader.input_column, args.embedding_engine
    )
    problem = _check_fingerprint(args, current)
    if problem:
        print(f"symbatcher run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if fmt == "jsonl":
        done = load_output(args.output, retry_failed=args.retry_failed)
    else:
        tables.recover(args.output, fmt)
        if args.retry_failed and os.path.exists(args.output):
            tables.rewrite(args.output, fmt, drop_errors=True)
        done = tables.load_table(args.output, fmt)
    reader.done = done
    pending = reader.count_pending(done)
    if pending == 0:
        print(
            f"symbatcher run: nothing to do, {args.output} has all {len(done)} items",
            file=sys.stderr,
        )
        return 0
    if args.estimate:
        decided = estimate_first(args, expr, kwargs, done, pending)
        if decided != GO_ON:
            return decided
    output = _output(args.output, fmt, current)
    try:
        return asyncio.run(
            run_job(
                args, expr, kwargs, reader, output,
                ordered=args.ordered or fmt != "jsonl", already=len(done),
                already_failed=done.failed, pending=pending,
            )
        )
    except KeyboardInterrupt:  # before the handlers were installed
        output.close()
        return EXIT_INTERRUPTED


def _check_fingerprint(args: argparse.Namespace, current: dict[str, Any]) -> str | None:
    """Why the output must not be resumed (None: it may). Writes the current
    fingerprint when --force overrides a difference or the output had none."""
    output = args.output
    if not (os.path.exists(output) or os.path.exists(tables.journal_path(output))):
        return None  # nothing to resume: the fingerprint is written with the output
    kept = fingerprint.read_sidecar(output)
    if kept is None:
        print(
            f"symbatcher run: {output} has no fingerprint (written before symbatcher kept one): "
            "resuming without checking the input, expression, kwargs and engine",
            file=sys.stderr,
        )
        fingerprint.write_sidecar(output, current)
        return None
    changed = fingerprint.changes(kept, current)
    if not changed:
        return None
    if args.force:
        print(f"symbatcher run: --force: resuming although {'; '.join(changed)}", file=sys.stderr)
        fingerprint.write_sidecar(output, current)
        return None
    return (
        f"{output} was written by another job: {'; '.join(changed)}. Resuming would mix "
        "their results; give --force to resume anyway, or another --output"
    )


def _output(path: str, fmt: str, current: dict[str, Any]) -> Output:
    def on_open() -> None:
        fingerprint.write_sidecar(path, current)

    if fmt == "jsonl":
        return JsonlOutput(path, on_open)
    return tables.TableOutput(path, fmt, on_open)

