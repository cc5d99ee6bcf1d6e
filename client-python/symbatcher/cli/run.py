"""Run an Expression over a JSONL file, one output line per input line.

    symbatcher run mypkg.exprs:Summarize --input data.jsonl --output results.jsonl
                   [--server HOST:PORT] [--workers N] [--batch-size B] [--kwargs JSON]
                   [--slots thread|greenlet] [--no-pin-slots] [--engine NAME]
                   [--config symbatcher.toml]
                   [--cache use|refresh|off] [--cache-dir DIR] [--max-cost USD]
                   [--no-replay]

Engines: with no --engine, the calls go where a `BatchScheduler()` sends them:
with --server, to that server's default engine; else to the --config file's
default_engine (or $SYMBATCHER_CONFIG's), else to symai's own configured
neurosymbolic engine, else to the echo engine (with a warning). `--engine
NAME` names one the server knows: `echo`, an engine of the --config file, or
an engine process connected to --server. An unknown engine fails before the
output file is created.

Input: one JSON value per line. An object with an "input" key is run as
forward(input=obj["input"]); any other value (a string, a number, an object
without "input", ...) is the input itself. An object's "id" is echoed back.
Blank lines are skipped.

Output: one JSON object per line, written as items finish (completion order;
a finished line reaches the file within a second):
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
where "index" is the input line's position (0-based: line N has index N-1)
and "id" appears when the input line had one. A malformed input line is
reported on stderr with its line number and gets an error line of type
"InputError"; the other lines run.

Resume: re-running the same command skips every index already in the output
(--retry-failed runs the failed ones again); calls answered before a crash
but not yet written come from the call cache (--cache, default: the engine's
choice), so a re-run pays at most for the calls that were in flight.
--max-cost USD caps the job's spend: past it, waiting items fail with
BudgetExceeded; re-run with a higher cap (and --retry-failed) to continue. Ctrl-C stops the job, writes the
results that arrived and exits with status 130; the output never ends with a
partial line (a partial line left by a crash is dropped on the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tqdm.auto import tqdm

from symbatcher.cli import connect
from symbatcher.wire._codec import json_default
from symbatcher._errors import RemoteError, SymbatcherError
from symbatcher._expressions import add_app_dir, import_expression
from symbatcher.wire._limits import MAX_KWARGS_DEPTH, kwargs_depth_error
from symbatcher.worker._slot_kinds import SLOT_KINDS
from symbatcher.client._summary import ItemUsage

#: Output lines are written in one write() per this many lines, or once the
#: flush interval has passed since the last write (checked every half of
#: it, so a finished line reaches the file within 1 s), always whole lines.
FLUSH_LINES = 512
FLUSH_INTERVAL_S = 0.5
EXIT_INTERRUPTED = 130
_NO_ID = object()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("expression", metavar="module:Class", help="Expression class, by import path")
    parser.add_argument("--input", required=True, metavar="PATH", help="JSONL input file")
    parser.add_argument("--output", required=True, metavar="PATH", help="JSONL output file (appended to)")
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
        help="spend cap of the job in US dollars; items still waiting past it fail with BudgetExceeded",
    )
    parser.add_argument(
        "--no-replay", dest="replay", action="store_const", const=False, default=None,
        help=(
            "with a batch API engine, keep a slot per run waiting on a provider batch instead "
            "of replaying the item from the start once it is answered (the default)"
        ),
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


def run(args: argparse.Namespace) -> int:
    add_app_dir(args.app_dir)
    try:
        expr = import_expression(args.expression)
        kwargs = _parse_kwargs(args.kwargs)
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
        if not os.path.isfile(args.input):
            raise ValueError(f"--input: no such file: {args.input}")
        connect.connection(args)  # a bad --token-file or --tls-ca stops here
    except ValueError as exc:
        print(f"symbatcher run: {exc}", file=sys.stderr)
        return 2
    done = load_output(args.output, retry_failed=args.retry_failed)
    pending = _count_pending(args.input, done)
    if pending == 0:
        print(
            f"symbatcher run: nothing to do, {args.output} has all {len(done)} items",
            file=sys.stderr,
        )
        return 0
    try:
        return asyncio.run(_run(args, expr, kwargs, done, pending))
    except KeyboardInterrupt:  # before the handlers were installed
        return EXIT_INTERRUPTED


def _parse_kwargs(text: str) -> dict[str, object]:
    try:
        kwargs: object = json.loads(text)
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


# -- resume ------------------------------------------------------------------


class IndexSet:
    """A set of small non-negative ints as a bitmap (10 M indices: 1.25 MB)."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._count = 0

    def add(self, index: int) -> None:
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self._count += 1

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._count


def load_output(path: str, *, retry_failed: bool = False) -> IndexSet:
    """The indices already in `path`. Drops a partial last line (left by a
    crash); with `retry_failed`, also drops error lines (rewriting the file)."""
    done = IndexSet()
    if not os.path.exists(path):
        return done
    keep_errors = not retry_failed
    rewrite = None if keep_errors else open(path + ".tmp", "wb")
    with open(path, "rb+") as f:
        offset = 0
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                print(f"symbatcher run: {path}:{number}: dropping a partial last line", file=sys.stderr)
                f.truncate(offset)
                break
            offset += len(raw)
            try:
                record = json.loads(raw)
                index = record["index"]
                failed = "error" in record
                if not isinstance(index, int) or index < 0:
                    raise ValueError("bad index")
            except (ValueError, KeyError, TypeError):
                print(f"symbatcher run: {path}:{number}: not a result line; ignored", file=sys.stderr)
                continue
            if failed and not keep_errors:
                continue
            done.add(index)
            if rewrite is not None:
                rewrite.write(raw)
    if rewrite is not None:
        rewrite.close()
        os.replace(path + ".tmp", path)
    return done


def _count_pending(path: str, done: IndexSet) -> int:
    pending = 0
    with open(path, "rb") as f:
        for index, raw in enumerate(f):
            if index not in done and raw.strip():
                pending += 1
    return pending


# -- the run -----------------------------------------------------------------


@dataclass
class _Input:
    """What the reader thread learned about one submitted item."""

    line_index: int
    id: object


class _InputReader:
    """Reads the input file lazily (on the job's reader thread): yields the
    items to run, records each one's line and id, and sets aside malformed
    lines for the writer."""

    def __init__(self, path: str, done: IndexSet) -> None:
        self._path = path
        self._done = done
        self.inputs: dict[int, _Input] = {}
        self.malformed: collections.deque[tuple[int, str]] = collections.deque()

    def __iter__(self) -> Iterator[object]:
        submitted = 0
        with open(self._path, "rb") as f:
            for line_index, raw in enumerate(f):
                if line_index in self._done or not raw.strip():
                    continue
                try:
                    value = json.loads(raw.rstrip(b"\r\n"))
                except ValueError as exc:  # also invalid UTF-8
                    self.malformed.append((line_index, f"invalid JSON: {exc}"))
                    continue
                item, item_id = value, _NO_ID
                if isinstance(value, dict):
                    item_id = value.get("id", _NO_ID)
                    if "input" in value:
                        item = value["input"]
                self.inputs[submitted] = _Input(line_index, item_id)
                submitted += 1
                yield item


class _Output:
    """Appends whole lines to the output file, a few hundred per write().
    The file is opened (created) at the first write, so a job the server
    refuses (an unknown engine, say) leaves no output file behind."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._lines: list[bytes] = []
        self._last_flush = time.monotonic()
        self.written = 0

    def add(self, record: dict[str, object]) -> None:
        """Queues `record` as a line. A result that cannot be written as
        UTF-8 JSON (a set, a string with a lone surrogate, ...) becomes an
        error line in its place: a result never stops the run."""
        try:
            line = _utf8_json(record)
        except (TypeError, ValueError, RecursionError):
            if "result" in record:
                try:
                    _utf8_json(record["result"])
                except (TypeError, ValueError, RecursionError) as exc:
                    value = record.pop("result")
                    record["error"] = {
                        "type": "EncodingError",
                        "message": f"result ({type(value).__name__}) cannot be written as JSON: {exc}",
                    }
            # ASCII escapes: what else the record holds (an id read from the
            # input, an error message, with a lone surrogate) cannot fail.
            line = json.dumps(record, default=json_default).encode()
        self._lines.append(line + b"\n")
        if len(self._lines) >= FLUSH_LINES or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush_due(self) -> None:
        """Writes the queued lines if the oldest has waited FLUSH_INTERVAL_S."""
        if self._lines and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            data = b"".join(self._lines)
            self._lines.clear()
            if self._file is None:
                self._file = open(self._path, "ab")
            view = memoryview(data)
            while view:
                view = view[os.write(self._file.fileno(), view):]
            self.written += data.count(b"\n")
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()


def _utf8_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=json_default).encode()


def _error(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, RemoteError):
        return {"type": exc.type_name, "message": exc.message}
    return {"type": type(exc).__name__, "message": str(exc)}


async def _run(
    args: argparse.Namespace, expr: type, kwargs: dict[str, object], done: IndexSet, pending: int
) -> int:
    from symbatcher.client._scheduler import BatchScheduler

    reader = _InputReader(args.input, done)
    output = _Output(args.output)
    bar = tqdm(
        total=pending, unit="item", desc=expr.__name__, disable=args.no_progress,
        file=sys.stderr, dynamic_ncols=True,
    )
    failed = 0

    def report_malformed() -> None:
        nonlocal failed
        while reader.malformed:
            line_index, message = reader.malformed.popleft()
            bar.write(f"{args.input}:{line_index + 1}: {message}", file=sys.stderr)
            output.add({"index": line_index, "error": {"type": "InputError", "message": f"line {line_index + 1}: {message}"}})
            failed += 1
            bar.update(1)
            bar.set_postfix_str(spent.describe(failed), refresh=False)

    interrupted = _install_interrupt(output)
    # Finished lines reach the file within about FLUSH_INTERVAL_S even when
    # no further result arrives to trigger a write.
    flusher = asyncio.get_running_loop().create_task(_flush_every(output, FLUSH_INTERVAL_S / 2))
    status = 0
    scheduler = None
    usage_by_index: dict[int, ItemUsage] = {}
    spent = _Spend(pending)
    try:
        scheduler = BatchScheduler(
            address=args.server,
            engine=args.engine,
            server_args=["--config", args.config] if args.config else (),
            worker_wait_ms=args.worker_wait_ms,
            item_timeout_s=args.item_timeout,
            slots=args.slots,
            pin_slots=args.pin_slots,
            cache=args.cache,
            cache_dir=args.cache_dir,
            max_cost_usd=args.max_cost,
            replay=args.replay,
            **connect.scheduler_options(args),
        )
        scheduler._options = dataclasses.replace(
            scheduler._options, on_usage=usage_by_index.__setitem__
        )
        stream = scheduler.astream(
            expr, args.workers, reader, batch_size=args.batch_size, ordered=args.ordered, **kwargs
        )
        async for job_index, value in stream:
            info = reader.inputs.pop(job_index)
            record: dict[str, object] = {"index": info.line_index}
            if info.id is not _NO_ID:
                record["id"] = info.id
            if isinstance(value, BaseException):
                record["error"] = _error(value)
                failed += 1
                bar.set_postfix_str(spent.describe(failed), refresh=False)
            else:
                record["result"] = value
            usage = usage_by_index.pop(job_index, None)
            if usage is not None:
                record["usage"] = _usage_record(usage)
                record["cost"] = None if usage.unpriced_calls else usage.cost_usd
            spent.add(usage)
            if spent.priced:
                bar.set_postfix_str(spent.describe(failed), refresh=False)
            output.add(record)
            bar.update(1)
            if reader.malformed:
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
        report_malformed()
        output.close()
        bar.close()
        if scheduler is not None:
            scheduler.cleanup()
    total = len(done) + output.written
    if status == EXIT_INTERRUPTED:
        print(
            f"symbatcher run: interrupted; {args.output} has {total} items, "
            "run the same command again to resume",
            file=sys.stderr,
        )
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


async def _flush_every(output: _Output, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        output.flush_due()


def _usage_record(usage: ItemUsage) -> dict[str, int]:
    record = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls": usage.calls,
    }
    for name in ("cache_hits", "coalesced", "unpriced_calls"):
        if getattr(usage, name):
            record[name] = getattr(usage, name)
    return record


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
            parts.append(f"cost=${self.cost:.4f}, projected=${projected:.4f}")
        return ", ".join(parts)


def _install_interrupt(output: _Output) -> Callable[[], bool]:
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
