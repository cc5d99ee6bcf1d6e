"""Memory of `BatchScheduler.stream()` over a generator, against the number of items.

Streams N items (strings of --item-bytes bytes, made by a generator, never
held in a list) through `scheduler.stream()` with local worker slots, and
reports the peak resident memory of the client process and of the embedded
server, sampled every 20 ms. Each N runs in a fresh process with a fresh
server, so the peaks are comparable: with flow control working they do not
grow with N (the job holds at most `window` items, 4096 by default).

Targets: server <= 100 MiB, client <= 300 MiB, no growth with N.

    python bench/stream_memory.py [--items 1000000] [--compare 100000] [--item-bytes 200]
                                  [--workers 8] [--engine-calls]

By default forward() makes no engine call, so the run measures streaming itself
(about 30k items/s here); --engine-calls makes each item a symai query to the
echo engine (about 3k items/s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

import psutil
from symai import Expression, Symbol

from symbatcher import BatchScheduler

MiB = 1 << 20


class Measure(Expression):
    def forward(self, input, **kwargs):
        return len(input)


class MeasureWithQuery(Expression):
    def forward(self, input, **kwargs):
        return len(Symbol(input[:40]).query("Summarize this input", **kwargs).value)


class Items:
    """N strings of `size` bytes, made one at a time; counts what it made."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.pad, self.produced = n, "x" * max(0, size - 10), 0

    def __iter__(self):
        for i in range(self.n):
            self.produced += 1
            yield f"{i:010d}{self.pad}"


class PeakRss:
    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.peaks = [p.memory_info().rss for p in self.procs]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            for i, proc in enumerate(self.procs):
                self.peaks[i] = max(self.peaks[i], proc.memory_info().rss)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def child(n: int, size: int, workers: int, engine_calls: bool) -> dict:
    expr = MeasureWithQuery if engine_calls else Measure
    with BatchScheduler(engine="echo") as scheduler:
        before = psutil.Process().memory_info().rss
        rss = PeakRss([psutil.Process().pid, scheduler.server_pid])
        start = time.perf_counter()
        dataset = Items(n, size)
        count = checksum = 0
        max_held = 0
        for index, _value in scheduler.stream(expr, workers, dataset, batch_size=32):
            count += 1
            checksum += index
            if count % 1024 == 0:
                # Items made by the generator and not yet seen by this loop.
                max_held = max(max_held, dataset.produced - count)
        wall = time.perf_counter() - start
        client_peak, server_peak = rss.stop()
        summary = scheduler.last_summary
    assert count == n and checksum == n * (n - 1) // 2, (count, checksum)
    assert summary is not None and summary.failed == 0
    return {
        "n": n,
        "wall": wall,
        "client_before": before,
        "client_peak": client_peak,
        "server_peak": server_peak,
        "max_held": max_held,
    }


def run_child(args: argparse.Namespace, n: int) -> dict:
    command = [
        sys.executable, __file__, "--child", str(n), "--item-bytes", str(args.item_bytes),
        "--workers", str(args.workers),
    ]
    if args.engine_calls:
        command.append("--engine-calls")
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--compare", type=int, nargs="*", default=[100_000],
                        help="smaller N to compare peaks against (default 100000)")
    parser.add_argument("--item-bytes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--engine-calls", action="store_true")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.item_bytes, args.workers, args.engine_calls)))
        return 0

    sizes = sorted(set(args.compare + [args.items]))
    print(
        f"stream() over a generator of N items of {args.item_bytes} bytes, {args.workers} local "
        f"slots, {'symai query per item' if args.engine_calls else 'no engine call'}; "
        "fresh process and server per N"
    )
    print(f"{'N':>10} {'wall s':>8} {'items/s':>9} {'client MiB':>11} {'(at start)':>10} "
          f"{'server MiB':>11} {'max held':>9} {'if held whole':>14}")
    rows = []
    for n in sizes:
        r = run_child(args, n)
        rows.append(r)
        whole = n * (args.item_bytes + 50) / MiB
        print(
            f"{n:>10,} {r['wall']:>8.1f} {n / r['wall']:>9,.0f} {r['client_peak'] / MiB:>11.1f} "
            f"{r['client_before'] / MiB:>10.1f} {r['server_peak'] / MiB:>11.1f} "
            f"{r['max_held']:>9,} {whole:>12,.0f} MiB"
        )
    big, small = rows[-1], rows[0]
    print(
        f"targets: server <= 100 MiB ({big['server_peak'] / MiB:.1f}), client <= 300 MiB "
        f"({big['client_peak'] / MiB:.1f}); growth from N={small['n']:,} to N={big['n']:,}: "
        f"client {(big['client_peak'] - small['client_peak']) / MiB:+.1f} MiB, "
        f"server {(big['server_peak'] - small['server_peak']) / MiB:+.1f} MiB"
    )
    ok = big["server_peak"] <= 100 * MiB and big["client_peak"] <= 300 * MiB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
