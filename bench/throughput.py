"""Throughput benchmarks of symbatcher against same-run baselines.

Scenario 1: N items, 32 workers, batch size 32, echo engine without latency,
against the same Expression run in this process on a ThreadPoolExecutor(32)
with a trivial symai engine called directly (the single-process ceiling).

Scenario 2: N items, 32 workers, batch size 32, echo engine with 50 ms per
batch and concurrency 1, against its bound ceil(N / 32) * 50 ms. For reference
it also runs an ideal single-process batcher (32 threads, a batcher thread
that sends a batch the moment 32 calls wait and sleeps 50 ms per batch, no
server): the part of the bound that Python's own per-item work costs here.

Scenario 3: the scenario-1 job (N items, batch size 32, echo engine without
latency) served only by 2 `symbatcher worker` processes (64 slots each; the
job runs with num_workers=0), against the same in-process
ThreadPoolExecutor(32) baseline: what a second GIL buys on this machine.
Each process has more slots than a batch holds, so that while a batch is
away its other items keep the process's core busy (with 16 slots each, the
two processes would run in lockstep, each idle while the other finishes its
half of the batch). It runs once with thread slots (`--slots thread`, the
default) and once with greenlet slots (`--slots greenlet`), each against
baseline runs alternated with its own.

Scenario 1 also runs with `BatchScheduler(slots="greenlet")`.

Runs alternate between symbatcher and the baseline so that machine noise
hits both; the figures are medians of --repeat runs.

    python bench/throughput.py [--repeat 5] [--items 10000] [--latency-items 1000]
                               [--only 1|2|3] [--slots thread|greenlet]
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from symai import Expression, Symbol
from symai.backend.base import Engine
from symai.context import CURRENT_ENGINE_VAR

from symbatcher import BatchScheduler, EchoEngine
from symbatcher.client._embedded_server import EmbeddedServer

WORKERS = 32
BATCH = 32


class Summarize(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Summarize this input", **kwargs).value


class DirectEchoEngine(Engine):
    """A trivial symai engine answering in-process, like the echo engine."""

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument):
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument):
        return ["echo: " + str(argument.prop.prepared_input)], {}


_DIRECT = DirectEchoEngine()


def _direct(item: str) -> str:
    CURRENT_ENGINE_VAR.set(_DIRECT)
    return Summarize().forward(input=item)


def baseline_in_process(items: list[str]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(_direct, items))
    elapsed = time.perf_counter() - start
    assert results[0].startswith("echo: ")
    return elapsed


class _InProcessBatcher(Engine):
    """Blocks each call until a batcher thread answers a batch of them."""

    def __init__(self, batch: int, latency_s: float, workers: int) -> None:
        super().__init__()
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.batch, self.latency_s, self.workers = batch, latency_s, workers
        self.active = workers

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument):
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument):
        box: queue.SimpleQueue = queue.SimpleQueue()
        self.calls.put((box, str(argument.prop.prepared_input)))
        return [box.get()], {}

    def serve(self) -> None:
        while True:
            first = self.calls.get()
            if first is None:
                return
            waiting = [first]
            # A batch leaves when it is full or every active worker waits.
            while len(waiting) < min(self.batch, self.active):
                try:
                    waiting.append(self.calls.get(timeout=0.0005))
                except queue.Empty:
                    continue  # re-check: slots leave when the work runs out
            time.sleep(self.latency_s)
            for box, prompt in waiting:
                box.put("echo: " + prompt)


def in_process_batcher_run(items: list[str], latency_ms: int) -> float:
    engine = _InProcessBatcher(BATCH, latency_ms / 1000, WORKERS)
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        work.put(item)
    lock = threading.Lock()

    def slot() -> None:
        CURRENT_ENGINE_VAR.set(engine)
        expr = Summarize()
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                with lock:
                    engine.active -= 1
                return
            expr.forward(input=item)

    server = threading.Thread(target=engine.serve)
    server.start()
    start = time.perf_counter()
    slots = [threading.Thread(target=slot) for _ in range(WORKERS)]
    for t in slots:
        t.start()
    for t in slots:
        t.join()
    elapsed = time.perf_counter() - start
    engine.calls.put(None)
    server.join()
    return elapsed


def symbatcher_run(scheduler: BatchScheduler, items: list[str]) -> float:
    start = time.perf_counter()
    results = scheduler(Summarize, WORKERS, items, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed[:3]
    assert results[-1] == f"echo: Data:\n{items[-1]}\nContext: Summarize this input\nAnswer:"
    return elapsed


def scenario_throughput(n: int, repeat: int, slots: str) -> None:
    items = [f"item {i}" for i in range(n)]
    ours, base = [], []
    with BatchScheduler(engine="echo", slots=slots) as scheduler:
        symbatcher_run(scheduler, items[:500])  # warm-up
        baseline_in_process(items[:500])
        for _ in range(repeat):
            ours.append(n / symbatcher_run(scheduler, items))
            base.append(n / baseline_in_process(items))
        summary = scheduler.last_summary
    mo, mb = statistics.median(ours), statistics.median(base)
    print(
        f"scenario 1: N={n}, workers={WORKERS} ({slots} slots), batch_size={BATCH}, "
        "echo engine, no latency"
    )
    print(f"  symbatcher          median {mo:8.0f} items/s  runs {[round(x) for x in ours]}")
    print(f"  in-process baseline median {mb:8.0f} items/s  runs {[round(x) for x in base]}")
    print(f"  ratio {mo / mb:.2f}x (target >= 0.8x); last run: {summary.describe() if summary else ''}")


def scenario_latency(n: int, repeat: int, latency_ms: int = 50) -> None:
    items = [f"item {i}" for i in range(n)]
    bound = math.ceil(n / BATCH) * latency_ms / 1000
    walls, ideal = [], []
    with BatchScheduler(engine=EchoEngine(latency_ms=latency_ms, max_concurrency=1)) as scheduler:
        for _ in range(repeat):
            walls.append(symbatcher_run(scheduler, items))
            ideal.append(in_process_batcher_run(items, latency_ms))
        summary = scheduler.last_summary
    median = statistics.median(walls)
    ideal_median = statistics.median(ideal)
    print(
        f"scenario 2: N={n}, workers={WORKERS}, batch_size={BATCH}, echo {latency_ms} ms/batch, "
        "concurrency 1"
    )
    print(f"  symbatcher median {median:.3f}s  runs {[round(x, 3) for x in walls]}")
    print(f"  bound ceil(N/{BATCH}) x {latency_ms} ms = {bound:.3f}s")
    print(
        f"  reference: ideal in-process batcher median {ideal_median:.3f}s "
        f"({ideal_median / bound:.3f}x the bound)  runs {[round(x, 3) for x in ideal]}"
    )
    print(f"  ratio {median / bound:.3f}x the bound (target <= 1.15x); last run: {summary.describe() if summary else ''}")


WORKER_PROCESSES = 2
WORKER_SLOTS = 64


def _wait_for_workers(address: str, token: str | None, count: int, timeout: float = 60.0) -> None:
    from symbatcher import make_channel
    from symbatcher.v1 import status_pb2, status_pb2_grpc

    deadline = time.monotonic() + timeout
    with make_channel(address, token=token) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        while len(stub.Status(status_pb2.StatusRequest()).workers) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} workers did not register within {timeout}s")
            time.sleep(0.1)


def scenario_worker_processes(n: int, repeat: int, slots: str) -> None:
    # The workers import the expression as `throughput:Summarize` (this file,
    # by import path); the job must name it the same way, so use that class.
    remote = importlib.import_module("throughput").Summarize
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    items = [f"item {i}" for i in range(n)]
    ours, base = [], []
    # Remote workers need a server they can reach: one of its own.
    server = EmbeddedServer([])
    with BatchScheduler(address=server.address, token=server.token) as scheduler:
        workers = subprocess.Popen(
            [
                sys.executable, "-m", "symbatcher.cli", "worker", "throughput:Summarize",
                "--server", scheduler.address, "--processes", str(WORKER_PROCESSES),
                "--concurrency", str(WORKER_SLOTS), "--slots", slots,
                "--app-dir", bench_dir, "--log-level", "WARNING",
            ],
            # The embedded server's token, for the workers to present.
            env={**os.environ, "SYMBATCHER_AUTH_TOKEN": scheduler.token or ""},
        )
        try:
            _wait_for_workers(scheduler.address, scheduler.token, WORKER_PROCESSES)
            scheduler(remote, 0, items[:500], batch_size=BATCH)  # warm-up
            baseline_in_process(items[:500])
            meter = _CpuMeter(
                client=os.getpid(), server=server.pid, workers=_children(workers.pid)
            )
            for _ in range(repeat):
                meter.begin()
                start = time.perf_counter()
                results = scheduler(remote, 0, items, batch_size=BATCH)
                ours.append(n / (time.perf_counter() - start))
                meter.end()
                failed = [r for r in results if isinstance(r, BaseException)]
                assert not failed, failed[:3]
                base.append(n / baseline_in_process(items))
            summary = scheduler.last_summary
        finally:
            workers.send_signal(signal.SIGTERM)
            workers.wait(30)
            server.stop()
    mo, mb = statistics.median(ours), statistics.median(base)
    print(
        f"scenario 3: N={n}, {WORKER_PROCESSES} `symbatcher worker` processes x "
        f"{WORKER_SLOTS} {slots} slots, num_workers=0, batch_size={BATCH}, echo engine, "
        "no latency"
    )
    print(f"  symbatcher          median {mo:8.0f} items/s  runs {[round(x) for x in ours]}")
    print(f"  in-process baseline median {mb:8.0f} items/s  runs {[round(x) for x in base]}")
    print(f"  ratio {mo / mb:.2f}x (target >= 1.5x); last run: {summary.describe() if summary else ''}")
    print(f"  CPU during symbatcher runs, median share of one core: {meter.describe()}")


def _children(pid: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(pid).children()]


class _CpuMeter:
    """CPU time of the client, the server and each worker process per run,
    as a share of one core over the run's wall time."""

    def __init__(self, *, client: int, server: int | None, workers: list[int]) -> None:
        import psutil

        self._procs = {"client": psutil.Process(client)}
        if server is not None:
            self._procs["server"] = psutil.Process(server)
        for k, pid in enumerate(workers):
            self._procs[f"worker {k}"] = psutil.Process(pid)
        self._start: tuple[float, dict[str, float]] = (0.0, {})
        self.shares: dict[str, list[float]] = {name: [] for name in self._procs}

    def _cpu(self) -> dict[str, float]:
        return {name: sum(p.cpu_times()[:2]) for name, p in self._procs.items()}

    def begin(self) -> None:
        self._start = (time.perf_counter(), self._cpu())

    def end(self) -> None:
        wall = time.perf_counter() - self._start[0]
        for name, cpu in self._cpu().items():
            self.shares[name].append((cpu - self._start[1][name]) / wall)

    def describe(self) -> str:
        medians = {name: statistics.median(v) for name, v in self.shares.items() if v}
        parts = [f"{name} {share:.0%}" for name, share in medians.items()]
        return ", ".join(parts) + f"; total {sum(medians.values()):.0%} of 2 cores' 200%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency-items", type=int, default=1_000)
    parser.add_argument("--only", choices=["1", "2", "3"], default=None)
    parser.add_argument(
        "--slots", choices=["thread", "greenlet"], default=None,
        help="slot kind for scenarios 1 and 3 (default: both, one after the other)",
    )
    args = parser.parse_args()
    kinds = [args.slots] if args.slots else ["thread", "greenlet"]
    if args.only in (None, "1"):
        for kind in kinds:
            scenario_throughput(args.items, args.repeat, kind)
    if args.only in (None, "2"):
        scenario_latency(args.latency_items, args.repeat)
    if args.only in (None, "3"):
        for kind in kinds:
            scenario_worker_processes(args.items, args.repeat, kind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
