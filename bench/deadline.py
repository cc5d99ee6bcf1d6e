"""A deadline at the lowest price, at scale: N items x a three-call
forward() through `OpenAIBatchEngine` with an online fallback, against the
test suite's loopback fakes (`fake_openai_batch` running by the clock: every
provider batch takes T; `fake_openai` online). One provider batch of the
second step, 10% of that step's requests, is held back past the deadline.

Two runs in one invocation, each a fresh embedded server and fresh fakes:

- baseline: no deadline, nothing held back: everything by batch, 0.5x; its
  wall time W is what the batches take on this machine (T per step, plus
  running forward() 6N times);
- deadline: `BatchScheduler(deadline_s=D)`, D = --deadline, else 1.5 W (a
  deadline the batches can meet when none stalls), with
  `deadline_margin_s` = 15% of D (time for the steps after a hedge).
  Targets: 100% of the items finish before the deadline, each item's result
  once and its own, cost <= 0.6x all online.

Cost is counted twice, independently: from what the fakes billed (a
request in a batch output file at half price, an online request at full
price, against 3N requests all online) and from the server's job summary
(its per-step figures).

    python bench/deadline.py [--items 10000] [--turnaround 20] [--deadline SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402
from fake_openai_batch import FakeOpenAIBatch  # noqa: E402
from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler, OpenAIBatchEngine, OpenAIEngine  # noqa: E402


class ThreeSteps(Expression):
    def forward(self, input, **kwargs):
        first = Symbol(input).query("step one", **kwargs).value
        second = Symbol(first).query("step two", **kwargs).value
        return Symbol(second).query("step three", **kwargs).value


class HoldOneBatchOfStepTwo:
    """Holds back every request of the first provider batch of step two."""

    def __init__(self) -> None:
        self.held = 0
        self._lock = threading.Lock()

    def __call__(self, contents: list[str]) -> list[bool]:
        with self._lock:
            if self.held or not all("step two" in c for c in contents):
                return [False] * len(contents)
            self.held = len(contents)
            return [True] * len(contents)


def run(args: argparse.Namespace, deadline: bool) -> dict:
    items = [f"item-{i:06d}" for i in range(args.items)]
    holds = HoldOneBatchOfStepTwo() if deadline else None
    per_batch = max(1, args.items // 10)
    with tempfile.TemporaryDirectory() as cache, \
            FakeOpenAIBatch(turnaround_s=args.turnaround, holds=holds) as batch, \
            FakeOpenAI() as online:  # fmt: skip
        engine = OpenAIBatchEngine(
            batch.base_url, "gpt-4o-mini", api_key_env=None,
            poll_interval_s=0.05, poll_max_interval_s=0.25, max_requests_per_batch=per_batch,
            fallback=OpenAIEngine(online.base_url, "gpt-4o-mini", api_key_env=None),
            turnaround_guess_s=args.turnaround, deadline_margin_s=args.margin or 1.0,
            cancel_wait_s=args.cancel_wait, online_latency_s=args.online_latency,
        )  # fmt: skip
        options = {"deadline_s": args.deadline} if deadline else {}
        # A window of every item: each step's calls all reach the server
        # before its batches leave (the default window, 4096 items, would
        # run the items in waves of three steps each).
        with BatchScheduler(
            engine=engine, cache_dir=cache, cache="off", window=args.items, **options
        ) as scheduler:
            start = time.monotonic()
            seen: set[int] = set()
            twice = wrong = late = 0
            last = 0.0
            for index, result in scheduler.stream(ThreeSteps, args.workers, items):
                now = time.monotonic() - start
                last = max(last, now)
                late += deadline and now >= args.deadline
                twice += index in seen
                seen.add(index)
                ok = isinstance(result, str) and result.count("reply to: ") == 3
                wrong += not (ok and items[index] in str(result))
            summary = scheduler.last_summary
        billed, sent_online = len(batch.billed), len(online.arrivals)
    steps = summary.steps
    return {
        "items": len(seen), "late": late, "twice": twice, "wrong": wrong, "last": last,
        "billed_ratio": (0.5 * billed + sent_online) / (3 * args.items),
        "batch": billed, "online": sent_online, "held": holds.held if holds else 0,
        "server_ratio": summary.cost_usd / max(1e-12, sum(s.online_cost_usd for s in steps)),
        "describe": summary.describe(), "steps": [s.describe() for s in steps],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--turnaround", type=float, default=20.0, help="T: seconds each provider batch takes")
    parser.add_argument("--deadline", type=float, default=None, help="seconds from the job's start")
    parser.add_argument("--margin", type=float, default=None, help="default: 15%% of the deadline")
    parser.add_argument("--cancel-wait", type=float, default=2.0)
    parser.add_argument("--online-latency", type=float, default=1.0)
    args = parser.parse_args()

    for name, deadline in (("baseline, no deadline", False), ("deadline", True)):
        if deadline:
            args.deadline = args.deadline or round(1.5 * baseline_wall)
            args.margin = args.margin or round(0.15 * args.deadline, 1)
            print(f"deadline {args.deadline:.0f} s (1.5x the baseline's {baseline_wall:.1f} s), "
                  f"margin {args.margin:.1f} s, T {args.turnaround:.0f} s")  # fmt: skip
        r = run(args, deadline)
        baseline_wall = r["last"]
        print(f"{name}: {r['items']:,} items, last at {r['last']:.1f} s"
              + (f" (deadline {args.deadline:.0f} s, {r['late']} late)" if deadline else ""))  # fmt: skip
        print(f"  answered twice: {r['twice']}, wrong results: {r['wrong']}, held back: {r['held']:,}")
        print(f"  billed by the fakes: {r['batch']:,} by batch + {r['online']:,} online "
              f"= {r['billed_ratio']:.3f}x all online; server: {r['server_ratio']:.3f}x")  # fmt: skip
        for line in r["steps"]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
