"""The loop of `symbatcher run`: submits the reader's items as one job,
writes each result as it comes, shows progress, and handles Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shlex
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from symbatcher._errors import SymbatcherError
from symbatcher.client._summary import ItemUsage
from symbatcher.cli import connect
from symbatcher.cli.run.inputs import NO_ID, InputReader
from symbatcher.cli.run.outputs import FLUSH_INTERVAL_S, Output, error_record, usage_record
from symbatcher._usd import usd

if TYPE_CHECKING:
    from symbatcher.client._scheduler import BatchScheduler

EXIT_INTERRUPTED = 130
EXIT_ALL_FAILED = 1


async def run_job(
    args: argparse.Namespace,
    expr: type,
    kwargs: dict[str, Any],
    reader: InputReader,
    output: Output,
    *,
    ordered: bool,
    already: int,
    already_failed: int,
    pending: int,
) -> int:
    """Runs the `pending` items of `reader` into `output` (which holds
    `already` items, `already_failed` of them failed); returns the exit
    status: EXIT_ALL_FAILED when every item failed, those of earlier runs
    included. With `ordered`, records reach `output` in index order
    (malformed rows included)."""
    bar = tqdm(
        total=pending, unit="item", desc=expr.__name__, disable=args.no_progress,
        file=sys.stderr, dynamic_ncols=True,
    )
    failed = 0
    first_error: dict[str, str] | None = None

    def count_failure(error: dict[str, str]) -> None:
        nonlocal failed, first_error
        failed += 1
        first_error = first_error or error
        bar.set_postfix_str(spent.describe(failed), refresh=False)

    def report_malformed(before: int | None = None) -> None:
        """Writes the malformed rows read so far (with `before`, those with
        a smaller index only)."""
        while reader.malformed and (before is None or reader.malformed[0][0] < before):
            index, message = reader.malformed.popleft()
            where = f"{reader.unit} {index + 1}"
            bar.write(f"{args.input}:{index + 1}: {message}", file=sys.stderr)
            error = {"type": "InputError", "message": f"{where}: {message}"}
            output.add({"index": index, "error": error})
            count_failure(error)
            bar.update(1)

    interrupted = _install_interrupt(output)
    # Finished lines reach the file within about FLUSH_INTERVAL_S even when
    # no further result arrives to trigger a write.
    flusher = asyncio.get_running_loop().create_task(_flush_every(output, FLUSH_INTERVAL_S / 2))
    status = 0
    scheduler = None
    usage_by_index: dict[int, ItemUsage] = {}
    spent = _Spend(pending)
    try:
        scheduler = open_scheduler(args)
        scheduler._options = dataclasses.replace(
            scheduler._options, on_usage=usage_by_index.__setitem__
        )
        stream = scheduler.astream(
            expr, args.workers, reader, batch_size=args.batch_size, ordered=ordered, **kwargs
        )
        async for job_index, value in stream:
            info = reader.inputs.pop(job_index)
            if ordered:
                report_malformed(before=info.index)
            record: dict[str, Any] = {"index": info.index}
            if info.id is not NO_ID:
                record["id"] = info.id
            if isinstance(value, BaseException):
                record["error"] = error_record(value)
                count_failure(record["error"])
            else:
                record["result"] = value
            usage = usage_by_index.pop(job_index, None)
            if usage is not None:
                record["usage"] = usage_record(usage)
                record["cost"] = None if usage.unpriced_calls else usage.cost_usd
            spent.add(usage)
            if spent.priced:
                bar.set_postfix_str(spent.describe(failed), refresh=False)
            output.add(record)
            bar.update(1)
            if reader.malformed and not ordered:
                report_malformed()
        report_malformed()
    except asyncio.CancelledError:
        if not interrupted():
            raise
        status = EXIT_INTERRUPTED
    except SymbatcherError as exc:
        bar.write(f"symbatcher run: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        flusher.cancel()
        report_malformed()  # those left have larger indices than any written
        output.close()
        bar.close()
        if scheduler is not None:
            scheduler.cleanup()
    total = already + output.written
    if status == EXIT_INTERRUPTED:
        print(
            f"symbatcher run: interrupted; {args.output} has {total} items, "
            f"run the same command again to resume:\n  {resume_command(args)}",
            file=sys.stderr,
        )
    elif status == 0 and output.written and failed == output.written and already == already_failed:
        assert first_error is not None
        print(
            f"symbatcher run: every item failed ({failed} of {failed}); the first: "
            f"{first_error['type']}: {first_error['message']}",
            file=sys.stderr,
        )
        status = EXIT_ALL_FAILED
    elif status == 0:
        spend = (
            f"; cost ${spent.cost:.6f}, {spent.cache_hits} calls answered without a request"
            if spent.priced or spent.cache_hits
            else ""
        )
        print(
            f"symbatcher run: {output.written} items done ({failed} failed); "
            f"{args.output} has {total} items{spend}",
            file=sys.stderr,
        )
    return status


def open_scheduler(args: argparse.Namespace) -> BatchScheduler:
    """The scheduler the command's arguments describe."""
    from symbatcher.client._scheduler import BatchScheduler

    return BatchScheduler(
        address=args.server,
        engine=args.engine,
        embedding_engine=args.embedding_engine,
        server_args=["--config", args.config] if args.config else (),
        worker_wait_ms=args.worker_wait_ms,
        item_timeout_s=args.item_timeout,
        slots=args.slots,
        pin_slots=args.pin_slots,
        cache=args.cache,
        cache_dir=args.cache_dir,
        max_cost_usd=args.max_cost,
        replay=args.replay,
        deadline_s=args.deadline if isinstance(args.deadline, float) else None,
        deadline=args.deadline if isinstance(args.deadline, datetime) else None,
        **connect.scheduler_options(args),
    )


def resume_command(args: argparse.Namespace) -> str:
    """The command line that runs this command again, shell-quoted."""
    argv = getattr(args, "_argv", None)
    if argv is None:
        argv = sys.argv[1:]
    head = ["symbatcher"]
    if os.path.basename(sys.argv[0]) == "__main__.py":
        head = [sys.executable, "-m", "symbatcher.cli"]
    return shlex.join([*head, *argv])


async def _flush_every(output: Output, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        output.flush_due()


class _Spend:
    """Cost so far and the projected total, for the progress bar."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.cost = 0.0
        self.priced = False
        self.cache_hits = 0

    def add(self, usage: ItemUsage | None) -> None:
        self.done += 1
        if usage is not None and usage.calls:
            self.cost += usage.cost_usd
            self.priced = self.priced or usage.unpriced_calls < usage.calls
            self.cache_hits += usage.cache_hits + usage.coalesced

    def describe(self, failed: int) -> str:
        parts = [f"failed={failed}"] if failed else []
        if self.priced:
            projected = self.cost / self.done * self.total if self.done else 0.0
            parts.append(f"cost={usd(self.cost)}, projected={usd(projected)}")
        return ", ".join(parts)


def _install_interrupt(output: Output) -> Callable[[], bool]:
    """SIGINT/SIGTERM cancel the run at its next await (never in the middle of
    writing a line); a second one flushes whole lines and exits at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    count = 0

    def interrupt() -> None:
        nonlocal count
        count += 1
        if count == 1:
            task.cancel()
            return
        output.flush()
        os._exit(EXIT_INTERRUPTED)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    return lambda: count > 0
