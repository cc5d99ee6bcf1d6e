"""A long item without engine calls beside a job of one-call items, on one
remote worker (issue 21, part 3: "long items slow nobody").

One `symbatcher worker` process of 16 slots serves an Expression whose items
ask the echo engine once (the server's built-in echo engine, no latency:
`symbatcher-server` with its default `--echo-latency-ms 0`), except the long
item, which runs without any engine call until the measured job has ended
(the issue's item sleeps 120 s; this one sleeps until told to stop, so it
holds its slot for the whole measurement). Each scenario times a job of
--items one-call items (batch_size 16) alone, then beside the long item in
another job, then with the long item in the same job, --repeat times over,
and prints each one's median items/s. Its ratio (the issue's target:
>= 0.9x) is the median of the per-round ratios: each run with the long item
over the run alone just before it, so that a machine that gets busier or
quieter between rounds moves both sides of a ratio alike (runs of this job
last about a second, and single runs on a shared machine vary by a fifth).
The ratio of the medians is printed beside it.

Beside the long item in another job, the measured job starts once the long
item has run for SILENT_S (0.1 s): past its job's max_queue_delay (50 ms by
default), a run without an engine call is silent, and neither the worker
nor the server waits for it, as for the issue's item that sleeps 120 s.
Before that it may still call, and both wait for it as for any such run: a
job started at the same moment as the long item is timed too, and the time
that wait added to it is printed. With the long item in the same job, the
job pays that wait once, at its start.

- thread slots, the long item in another job: it blocks its thread
  (`time.sleep`);
- thread slots, the long item in the same job (its items/s: until the last
  one-call item is done);
- greenlet slots, the long item in another job, and in the same job: it
  waits with `symbatcher.sleep`, the cooperative wait of greenlet slots
  (`time.sleep` would stop every slot of the process). A symbatcher without
  `symbatcher.sleep` skips these.

    python bench/long_items.py [--items 2000] [--repeat 9] [--slots thread,greenlet]
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from symai import Expression, Symbol

import symbatcher
from symbatcher import BatchScheduler
from symbatcher.client._embedded_server import EmbeddedServer

SLOTS = 16
BATCH = 16
#: How long the long item runs before the measured job beside it starts: past
#: its job's max_queue_delay (50 ms by default), after which a run without a
#: call is silent, and nobody waits for it.
SILENT_S = 0.1
#: How often the long item looks for its stop file.
POLL_S = 0.1


class LongOrAsk(Expression):
    """An item that is a dict is the long item: it writes `started` in its
    directory, then waits (`time.sleep`, or `symbatcher.sleep` when
    `cooperative`) until `stop` appears there. Any other item asks the
    engine once."""

    def forward(self, input: Any, **kwargs: Any) -> Any:
        if isinstance(input, dict):
            return _wait_for_stop(input["dir"], input["cooperative"])
        return Symbol(str(input)).query("Tag this", **kwargs).value


def _wait_for_stop(directory: str, cooperative: bool) -> str:
    nap = symbatcher.sleep if cooperative else time.sleep
    with open(os.path.join(directory, "started"), "w"):
        pass
    while not os.path.exists(os.path.join(directory, "stop")):
        nap(POLL_S)
    return "stopped"


class _LongItem:
    """The long item of one run: a directory of its own for its files."""

    def __init__(self, cooperative: bool) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="long-item-")
        self.spec = {"dir": self._dir.name, "cooperative": cooperative}

    def wait_started(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(os.path.join(self._dir.name, "started")):
            if time.monotonic() > deadline:
                raise RuntimeError("the long item did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        with open(os.path.join(self._dir.name, "stop"), "w"):
            pass

    def close(self) -> None:
        self._dir.cleanup()


def _check(results: list[Any]) -> None:
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed[:3]


def job_alone(scheduler: BatchScheduler, expr: Any, items: list[int]) -> float:
    """Items/s of the one-call job."""
    start = time.perf_counter()
    results = scheduler(expr, 0, items, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    _check(results)
    return len(items) / elapsed


def job_beside_long_item(
    scheduler: BatchScheduler, expr: Any, items: list[int], cooperative: bool
) -> tuple[float, float]:
    """Items/s of the one-call job while the long item, in a job of its own,
    runs on the same worker, in the order run: started as soon as the long
    item has started (it is not silent yet), then once the long item has run
    for SILENT_S (it is silent then)."""
    long_item = _LongItem(cooperative)
    outcome: list[Any] = []
    other = threading.Thread(
        target=lambda: outcome.extend(scheduler(expr, 0, [long_item.spec], batch_size=BATCH))
    )
    other.start()
    try:
        long_item.wait_started()
        started = time.monotonic()
        at_once = job_alone(scheduler, expr, items)
        time.sleep(max(0.0, started + SILENT_S - time.monotonic()))
        silent = job_alone(scheduler, expr, items)
    finally:
        long_item.stop()
        other.join()
        long_item.close()
    assert outcome == ["stopped"], outcome
    return at_once, silent


def job_with_long_item(
    scheduler: BatchScheduler, expr: Any, items: list[int], cooperative: bool
) -> float:
    """Items/s of the one-call items of a job whose first item is the long
    one: until its last one-call item is done."""
    long_item = _LongItem(cooperative)
    try:
        done = 0
        start = time.perf_counter()
        elapsed = 0.0
        for _, result in scheduler.stream(expr, 0, [long_item.spec, *items], batch_size=BATCH):
            assert not isinstance(result, BaseException), result
            if result == "stopped":
                continue
            done += 1
            if done == len(items):
                elapsed = time.perf_counter() - start
                long_item.stop()
    finally:
        long_item.stop()
        long_item.close()
    return len(items) / elapsed


def _wait_for_worker(address: str, token: str | None, timeout: float = 60.0) -> None:
    from symbatcher import make_channel
    from symbatcher.v1 import status_pb2, status_pb2_grpc

    deadline = time.monotonic() + timeout
    with make_channel(address, token=token) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        while not stub.Status(status_pb2.StatusRequest()).workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not register within {timeout}s")
            time.sleep(0.1)


def scenario(slots: str, n: int, repeat: int) -> None:
    cooperative = slots == "greenlet"
    if cooperative and not hasattr(symbatcher, "sleep"):
        print(
            f"{slots} slots: skipped: this symbatcher has no symbatcher.sleep (a greenlet "
            "item can only wait by blocking every slot of its process)"
        )
        return
    # The worker imports the expression as `long_items:LongOrAsk`: the job
    # must name the same class.
    expr = importlib.import_module("long_items").LongOrAsk
    items = list(range(n))
    alone: list[float] = []
    other_job: list[float] = []
    at_once: list[float] = []
    same_job: list[float] = []
    server = EmbeddedServer([])
    with BatchScheduler(address=server.address, token=server.token) as scheduler:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "symbatcher.cli", "worker", "long_items:LongOrAsk",
                "--server", scheduler.address, "--concurrency", str(SLOTS), "--slots", slots,
                "--app-dir", os.path.dirname(os.path.abspath(__file__)), "--log-level", "WARNING",
            ],
            env={**os.environ, "SYMBATCHER_AUTH_TOKEN": scheduler.token or ""},
        )
        try:
            _wait_for_worker(scheduler.address, scheduler.token)
            job_alone(scheduler, expr, items[:500])  # warm-up
            for _ in range(repeat):
                # Each round: the job alone, then the runs paired with it.
                alone.append(job_alone(scheduler, expr, items))
                first, silent = job_beside_long_item(scheduler, expr, items, cooperative)
                other_job.append(silent)
                at_once.append(first)
                same_job.append(job_with_long_item(scheduler, expr, items, cooperative))
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            server.stop()
    base = statistics.median(alone)
    print(
        f"{slots} slots: N={n} one-call items, 1 worker x {SLOTS} {slots} slots, "
        f"batch_size={BATCH}, echo engine without latency, medians of {repeat} alternated runs"
    )
    print(f"  alone                         {base:8.0f} items/s  runs {[round(x) for x in alone]}")
    for what, runs in (("long item in another job", other_job), ("long item in the same job", same_job)):
        median = statistics.median(runs)
        paired = statistics.median(run / before for run, before in zip(runs, alone))
        print(
            f"  {what:<29} {median:8.0f} items/s  runs {[round(x) for x in runs]}  "
            f"ratio {paired:.2f}x (target >= 0.9x)  [median of {repeat} paired ratios; "
            f"ratio of the medians {median / base:.2f}x]"
        )
    # The job started as the long item starts: until the long item has run
    # for its job's max_queue_delay, it may still call, so the worker and the
    # server wait for it as for any such run (once per long item).
    extra_ms = statistics.median(n / first - n / before for first, before in zip(at_once, alone)) * 1000
    print(
        f"  started with the long item      {statistics.median(at_once):8.0f} items/s  runs {[round(x) for x in at_once]}  "
        f"{extra_ms:+.0f} ms per job against alone (median; the long item is silent "
        f"after its job's max_queue_delay, 50 ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--slots", default="thread,greenlet", help="comma-separated slot kinds")
    args = parser.parse_args()
    for kind in [k.strip() for k in args.slots.split(",") if k.strip()]:
        scenario(kind, args.items, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
