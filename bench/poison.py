"""A poison item among 100,000 (issue 22, part 3: "poison items are found,
not guessed").

Two `symbatcher worker --processes 2 --concurrency 16` supervisors (4 worker
processes, 64 thread slots) serve an Expression that sleeps --item-ms and
returns its input, except for one item whose forward() calls `os._exit(1)`
(its process dies with every run in progress on it). The job runs through
`BatchScheduler.stream` (no local slots), which yields each (index, result)
as it arrives, so a lost or repeated index is seen. It prints the items,
`WorkerLostError`s, lost, duplicated and wrong results, the job's wall time
and re-queued runs, and the same job without the poison item (run first):
their difference is what finding the poison cost (the suspects' re-runs,
one at a time, each alone on a worker set aside for them, and the worker
processes the poison kills, restarted by their supervisor).

    python bench/poison.py [--items 100000] [--poison-at 50000] [--item-ms 1]
"""

from __future__ import annotations

import argparse
import collections
import importlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from symai import Expression

from symbatcher import BatchScheduler, WorkerLostError
from symbatcher.client._embedded_server import EmbeddedServer

SUPERVISORS = 2
PROCESSES = 2
SLOTS = 16
BATCH = 16


class Poisoned(Expression):
    """Returns its input after `ms` milliseconds; "poison" kills its process."""

    def forward(self, input: Any, **kwargs: Any) -> Any:
        if input == "poison":
            os._exit(1)
        time.sleep(kwargs.get("ms", 1) / 1000)
        return input


def _workers(address: str, token: str | None) -> int:
    from symbatcher import make_channel
    from symbatcher.v1 import status_pb2, status_pb2_grpc

    with make_channel(address, token=token) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        return len(stub.Status(status_pb2.StatusRequest()).workers)


def _wait_for_workers(address: str, token: str | None, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while _workers(address, token) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{n} worker processes did not register within {timeout}s")
        time.sleep(0.1)


def run_job(
    scheduler: BatchScheduler, expr: type, n: int, poison_at: int | None, ms: float
) -> dict[str, Any]:
    dataset = [f"item {i}" for i in range(n)]
    if poison_at is not None:
        dataset[poison_at] = "poison"
    seen: collections.Counter[int] = collections.Counter()
    lost_errors: list[int] = []
    wrong = 0
    start = time.perf_counter()
    for index, result in scheduler.stream(expr, 0, dataset, batch_size=BATCH, ms=ms):
        seen[index] += 1
        if isinstance(result, WorkerLostError):
            lost_errors.append(index)
        elif result != dataset[index]:
            wrong += 1
    wall = time.perf_counter() - start
    summary = scheduler.last_summary
    return {
        "wall_s": wall,
        "worker_lost": lost_errors,
        "missing": sum(1 for i in range(n) if seen[i] == 0),
        "duplicated": sum(1 for c in seen.values() if c > 1),
        "wrong": wrong,
        "requeued": summary.requeued if summary is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--poison-at", type=int, default=50_000)
    parser.add_argument("--item-ms", type=float, default=1.0)
    args = parser.parse_args()
    # The workers import the expression as `poison:Poisoned`: the job must
    # name the same class.
    expr = importlib.import_module("poison").Poisoned
    server = EmbeddedServer([])
    supervisors: list[subprocess.Popen] = []
    with BatchScheduler(address=server.address, token=server.token) as scheduler:
        try:
            for k in range(SUPERVISORS):
                supervisors.append(subprocess.Popen(
                    [
                        sys.executable, "-m", "symbatcher.cli", "worker", "poison:Poisoned",
                        "--server", scheduler.address, "--processes", str(PROCESSES),
                        "--concurrency", str(SLOTS), "--name", f"sup{k}",
                        "--app-dir", os.path.dirname(os.path.abspath(__file__)),
                        "--log-level", "ERROR",
                    ],
                    env={**os.environ, "SYMBATCHER_AUTH_TOKEN": scheduler.token or ""},
                    start_new_session=True,
                ))
            _wait_for_workers(scheduler.address, scheduler.token, SUPERVISORS * PROCESSES)
            print(f"{SUPERVISORS} supervisors x {PROCESSES} processes x {SLOTS} thread slots, "
                  f"{args.items} items of {args.item_ms} ms, batch_size {BATCH}")
            for label, poison_at in [("no poison", None), (f"poison at {args.poison_at}",
                                                            args.poison_at)]:
                r = run_job(scheduler, expr, args.items, poison_at, args.item_ms)
                print(f"{label:>18}: {r['wall_s']:7.2f} s  WorkerLostError {len(r['worker_lost'])} "
                      f"{r['worker_lost'][:5]}  missing {r['missing']}  duplicated "
                      f"{r['duplicated']}  wrong {r['wrong']}  requeued {r['requeued']}")
                _wait_for_workers(scheduler.address, scheduler.token, SUPERVISORS * PROCESSES)
        finally:
            for proc in supervisors:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in supervisors:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    server.stop()


if __name__ == "__main__":
    main()
