"""The call cache under damage: fill `calls.redb` with a run of the echo engine,
flip seeded random bits of the file, re-run with a new embedded server on the
same cache directory, and count the replies that differ from the live
engine's answers (wrong replies served), the cache hits, the stores moved
aside, and whether every run finished with its server alive.

    python bench/cache_damage.py [--items 500] [--flips 2000] [--seeds 5] [--per-run 2000] [--records-only]

`--per-run N` flips the bits N at a time with a re-run after each N (the file
is refilled by each re-run), so that small damage, which redb's page
checksums may not see at open, is tried as often as large damage.
`--records-only` aims the flips at the part of the file that holds the replies
(from 4 KiB before the first stored reply to 4 KiB after the last); most of a
fresh file is free space, where a flip changes nothing.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, make_channel
from symbatcher.v1 import status_pb2, status_pb2_grpc


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def run(cache_dir: Path, items: list[str]) -> tuple[list[str], int]:
    """Results of one job on a fresh embedded server, and its cache hits;
    checks the server still answers Status after the job."""
    with BatchScheduler(engine="echo", cache="use", cache_dir=cache_dir) as scheduler:
        results = scheduler(Ask, 32, items, batch_size=32)
        summary = scheduler.last_summary
        with make_channel(scheduler.address, token=scheduler.token) as channel:
            status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=10)
    assert summary is not None
    return results, summary.cache_hits


def flip(path: Path, rng: random.Random, flips: int, records_only: bool) -> None:
    data = bytearray(path.read_bytes())
    low, high = 0, len(data)
    if records_only:
        marks = [m.start() for m in re.finditer(rb"echo: ", data)]
        if marks:
            low, high = max(0, min(marks) - 4096), min(len(data), max(marks) + 4096)
    for _ in range(flips):
        bit = rng.randrange((high - low) * 8)
        data[low + bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--flips", type=int, default=2000, help="bits flipped per seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--per-run", type=int, default=0, help="bits flipped per re-run (0: all at once)")
    parser.add_argument("--records-only", action="store_true", help="flip only where the replies are")
    args = parser.parse_args()
    per_run = args.per_run or args.flips
    items = [f"question {i} of the damaged cache" for i in range(args.items)]
    totals = {"runs": 0, "wrong": 0, "hits": 0, "aside": 0}
    started = time.monotonic()
    for seed in range(1, args.seeds + 1):
        rng = random.Random(seed)
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            live, hits = run(cache, items)
            assert hits == 0, "a fresh cache served hits"
            seed_stats = {"runs": 0, "wrong": 0, "hits": 0, "aside": 0}
            done = 0
            while done < args.flips:
                n = min(per_run, args.flips - done)
                flip(cache / "calls.redb", rng, n, args.records_only)
                done += n
                results, hits = run(cache, items)
                aside = cache / "calls.redb.damaged"
                seed_stats["runs"] += 1
                seed_stats["wrong"] += sum(r != e for r, e in zip(results, live)) + abs(len(results) - len(live))
                seed_stats["hits"] += hits
                if aside.exists():
                    seed_stats["aside"] += 1
                    aside.unlink()
            print(
                f"seed {seed}: {args.flips} flips over {seed_stats['runs']} re-runs of {args.items} items: "
                f"{seed_stats['wrong']} wrong replies, {seed_stats['hits']} cache hits, "
                f"store moved aside {seed_stats['aside']} times; every run finished, server alive"
            )
            for key in totals:
                totals[key] += seed_stats[key]
    print(
        f"total: {args.seeds} seeds x {args.flips} flips, {totals['runs']} re-runs: {totals['wrong']} wrong replies, "
        f"{totals['hits']} hits, {totals['aside']} stores moved aside, {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
