"""Provider batches at scale: a two-call forward() over N items through
`OpenAIBatchEngine`, with few worker slots, against the test suite's loopback
fake of OpenAI's Files and Batches endpoints (`fake_openai_batch`; each batch
completes after a few polls, 5-20 ms apart).

With replay (the default), a run waiting on a provider batch gives its slot
back, so each step of forward() goes out as one provider batch per
`max_requests_per_batch` requests, whatever `num_workers` is: N = 100,000 at
the provider's 50,000 makes 4 batches (2 steps x 2 files). The baseline is
the same job with `replay=False`, where every waiting run holds its slot and
a step goes out in batches of at most `num_workers` calls; it runs on
--baseline-items items (fewer: it makes N / num_workers batches per step).
Each run is a fresh process with a fresh embedded server; the peak resident
memory of the client process and of the server is sampled every 50 ms.

    python bench/batch_scale.py [--items 100000] [--workers 32]
                                [--max-requests-per-batch 50000] [--baseline-items 2000]

Targets: batches = 2 x ceil(N / max_requests_per_batch); client and server
each below 1 GiB peak RSS; every item answered, none failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_openai_batch import FakeOpenAIBatch  # noqa: E402
from stream_memory import PeakRss  # noqa: E402
from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler, OpenAIBatchEngine  # noqa: E402

MiB = 1 << 20


class SummarizeThenJudge(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize", **kwargs).value
        return Symbol(summary).query("Judge", **kwargs).value


def child(n: int, workers: int, per_batch: int, replay: bool) -> dict:
    items = (f"item-{i:07d}" for i in range(n))
    with tempfile.TemporaryDirectory() as cache, FakeOpenAIBatch() as fake:
        engine = OpenAIBatchEngine(
            fake.base_url, "fake-1", api_key_env=None, poll_interval_s=0.005,
            poll_max_interval_s=0.02, max_requests_per_batch=per_batch,
        )  # fmt: skip
        with BatchScheduler(engine=engine, cache_dir=cache, replay=replay) as scheduler:
            rss = PeakRss([os.getpid(), scheduler.server_pid], interval=0.05)
            start = time.perf_counter()
            done = failed = 0
            for _index, result in scheduler.stream(SummarizeThenJudge, workers, items, batch_size=32):
                done += 1
                failed += not (isinstance(result, str) and result.count("reply to: ") == 2)
            wall = time.perf_counter() - start
            client_peak, server_peak = rss.stop()
        sizes = [len(ids) for ids in fake.submitted]
    return {
        "n": n, "wall": wall, "done": done, "failed": failed, "batches": sizes,
        "client_peak": client_peak, "server_peak": server_peak,
    }  # fmt: skip


def run_child(n: int, workers: int, per_batch: int, replay: bool) -> dict:
    command = [
        sys.executable, __file__, "--child", str(n), "--workers", str(workers),
        "--max-requests-per-batch", str(per_batch), *([] if replay else ["--no-replay"]),
    ]  # fmt: skip
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def describe(label: str, r: dict) -> str:
    sizes = r["batches"]
    shown = ", ".join(f"{s:,}" for s in sizes[:6]) + (", ..." if len(sizes) > 6 else "")
    return (
        f"{label}: {r['n']:,} items in {r['wall']:.1f} s, {r['done']:,} answered, {r['failed']} failed; "
        f"{len(sizes)} provider batches ({shown}); peak RSS client {r['client_peak'] / MiB:.0f} MiB, "
        f"server {r['server_peak'] / MiB:.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--max-requests-per-batch", type=int, default=50_000)
    parser.add_argument("--baseline-items", type=int, default=2000)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-replay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = child(args.child, args.workers, args.max_requests_per_batch, not args.no_replay)
        print(json.dumps(result))
        return 0

    print(
        f"two-call forward() through OpenAIBatchEngine (loopback fake, max_requests_per_batch "
        f"{args.max_requests_per_batch:,}), num_workers={args.workers}, fresh process and server per run"
    )
    ours = run_child(args.items, args.workers, args.max_requests_per_batch, replay=True)
    print(describe("replay", ours))
    base = run_child(args.baseline_items, args.workers, args.max_requests_per_batch, replay=False)
    print(describe("replay=False (baseline)", base))
    expected = 2 * math.ceil(args.items / args.max_requests_per_batch)
    per_step = len(base["batches"]) / 2
    print(
        f"provider batches: {len(ours['batches'])} for {args.items:,} items (target {expected}); "
        f"without replay {per_step:.0f} per step for {args.baseline_items:,} items, "
        f"{per_step * args.items / args.baseline_items:,.0f} per step at {args.items:,}"
    )
    ok = (
        len(ours["batches"]) == expected
        and ours["failed"] == 0
        and ours["done"] == args.items
        and max(ours["client_peak"], ours["server_peak"]) < 1024 * MiB
    )
    print(f"targets met: {'yes' if ok else 'NO'} (batches {expected}, 0 failed, client and server < 1 GiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
