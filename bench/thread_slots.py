"""Where a thread-slot job's time goes: the scenario-1 job of throughput.py
(N items, 32 local slots, batch size 32, echo engine without latency), run
once to warm up and once measured, with what the connection does per round
of 32 items:

- messages: worker updates written, assignment and reply messages read, and
  result messages the job's stream read;
- CPU seconds of the scheduler's event-loop thread, and of the process;
- voluntary context switches of the process per item;
- with thread slots (of a client that counts them), the idle gap of each
  round: from the moment every slot
  waits (the worker sends the round's calls) to the first reply handed to a
  slot, summed over the run (the GIL is free for that long).

It wraps grpc.aio's stream `write`/`read` and two worker internals to count;
the figures are for comparing slot kinds and commits, not absolute speeds.

`--floor` measures instead what thread hand-offs alone cost: throughput.py's
ideal in-process batcher with no latency (32 threads whose engine calls wait
until a batch of 32 forms and a batcher thread answers it; no server, no
gRPC), alternated with the in-process pool, medians of `--repeat` runs.

    python bench/thread_slots.py [--items 6000] [--slots thread|greenlet] [--no-pin-slots]
    python bench/thread_slots.py --floor [--items 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import statistics
import threading
import time
from typing import Any

from grpc.aio import _call as aio_call

from symbatcher import BatchScheduler
from symbatcher.worker import _runtime as _worker, _thread_slots
from throughput import (
    BATCH,
    WORKERS,
    baseline_in_process,
    in_process_batcher_run,
    symbatcher_run,
)

_COUNTS: collections.Counter[str] = collections.Counter()
_MARKS: list[tuple[str, float]] = []


def _instrument() -> None:
    call = aio_call.StreamStreamCall
    write, read = call.write, call.read

    async def counted_write(self: Any, request: Any) -> None:
        if type(request).__name__ == "WorkerMessage" and request.WhichOneof("kind") == "update":
            _COUNTS["worker updates written"] += 1
        return await write(self, request)

    async def counted_read(self: Any) -> Any:
        message = await read(self)
        name = type(message).__name__
        if name == "WorkerCommand" and message.WhichOneof("kind") in ("assignments", "replies"):
            _COUNTS[f"worker {message.WhichOneof('kind')} messages read"] += 1
        elif name == "BatchResponse" and message.WhichOneof("kind") == "results":
            _COUNTS["job result messages read"] += 1
        return message

    call.write, call.read = counted_write, counted_read  # type: ignore[method-assign]

    waiting = getattr(_worker.WorkerRuntime, "slots_waiting", None)
    woken = getattr(_thread_slots.ThreadSlots, "woken", None)
    if waiting is None or woken is None:
        return  # a client before thread slots were counted: no idle figure

    def marked_waiting(self: Any) -> None:
        _MARKS.append(("waiting", time.perf_counter()))
        waiting(self)

    def marked_woken(self: Any, *args: Any) -> None:
        _MARKS.append(("woken", time.perf_counter()))
        woken(self, *args)

    _worker.WorkerRuntime.slots_waiting = marked_waiting  # type: ignore[method-assign]
    _thread_slots.ThreadSlots.woken = marked_woken  # type: ignore[method-assign]


def _thread_cpu(name: str) -> float:
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _idle_gaps() -> list[float]:
    gaps, since = [], None
    for kind, at in _MARKS:
        if kind == "waiting":
            since = at
        elif since is not None:
            gaps.append(at - since)
            since = None
    return gaps


def floor(n: int, repeat: int) -> None:
    items = [f"item {i}" for i in range(n)]
    in_process_batcher_run(items[:300], 0)
    baseline_in_process(items[:300])
    ours, base = [], []
    for _ in range(repeat):
        ours.append(n / in_process_batcher_run(items, 0))
        base.append(n / baseline_in_process(items))
    mo, mb = statistics.median(ours), statistics.median(base)
    print(
        f"thread hand-offs alone: N={n}, {WORKERS} threads whose engine calls wait for batches "
        f"of {BATCH} answered by another thread: median {mo:,.0f} items/s, in-process pool "
        f"{mb:,.0f} items/s: {mo / mb:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--slots", choices=("thread", "greenlet"), default="thread")
    parser.add_argument(
        "--no-pin-slots", dest="pin_slots", action="store_false",
        help="thread slots on any CPU (BatchScheduler(pin_slots=False))",
    )
    parser.add_argument("--floor", action="store_true", help="thread hand-offs alone, no server")
    parser.add_argument("--repeat", type=int, default=5, help="runs of --floor")
    args = parser.parse_args()
    if args.floor:
        floor(args.items, args.repeat)
        return 0
    items = [f"item {i}" for i in range(args.items)]
    _instrument()
    with BatchScheduler(engine="echo", slots=args.slots, pin_slots=args.pin_slots) as scheduler:
        symbatcher_run(scheduler, items[:300])
        _COUNTS.clear()
        _MARKS.clear()
        loop_cpu = _thread_cpu("symbatcher-loop")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        process_cpu = time.process_time()
        wall = symbatcher_run(scheduler, items)
        process_cpu = time.process_time() - process_cpu
        loop_cpu = _thread_cpu("symbatcher-loop") - loop_cpu
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - usage.ru_nvcsw
    rounds = args.items / BATCH
    print(
        f"{args.items} items, {WORKERS} {args.slots} slots"
        f"{'' if args.pin_slots or args.slots != 'thread' else ' (not pinned)'}, batch size {BATCH}: "
        f"{args.items / wall:,.0f} items/s, {wall:.2f} s"
    )
    for what, count in sorted(_COUNTS.items()):
        print(f"  {what}: {count} ({count / rounds:.2f} per round of {BATCH})")
    print(f"  event-loop thread CPU: {loop_cpu:.2f} s ({loop_cpu / args.items * 1e6:.0f} µs/item)")
    print(f"  process CPU: {process_cpu:.2f} s ({process_cpu / args.items * 1e6:.0f} µs/item)")
    print(f"  voluntary context switches: {switches / args.items:.2f} per item")
    gaps = _idle_gaps()
    if gaps:
        print(
            f"  idle from 'every slot waits' to the first reply handed over: "
            f"median {statistics.median(gaps) * 1e3:.2f} ms per round, "
            f"{sum(gaps):.2f} s in all ({sum(gaps) / wall:.0%} of the run)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
