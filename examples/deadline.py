"""Meet a deadline at the lowest price: a three-step Expression through
OpenAI's Batch API, with the online API as the fallback, under a deadline.

Calls go by provider batch (half price) while the time left can absorb a
batch's turnaround; a batch still running at its hedge point is cancelled,
what it completed is used, and its other calls go online; calls made too
late for a batch go online at once. The summary says, per step, how many
calls went each way and what that saved against all online.

    export OPENAI_API_KEY=sk-...
    python examples/deadline.py --model gpt-4o-mini --items 1000 --deadline-s 7200

`--fake` runs against the test suite's loopback fakes instead (no key): every
batch takes 1 s, and one batch of the second step is held back (the
provider stalls it) until it is cancelled; the deadline is 8 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIBatchEngine, OpenAIEngine


class Review(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("step one: summarize in five words", **kwargs).value
        tone = Symbol(summary).query("step two: the tone, in one word", **kwargs).value
        return Symbol(tone).query("step three: is it positive? yes or no", **kwargs).value


class StallOneBatchOfStepTwo:
    """For the fake: holds back every request of the first batch of step two."""

    def __init__(self) -> None:
        self.done = False
        self._lock = threading.Lock()

    def __call__(self, contents: list[str]) -> list[bool]:
        with self._lock:
            stall = not self.done and all("step two" in c for c in contents)
            self.done = self.done or stall
            return [stall] * len(contents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.openai.com/v1")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--deadline-s", type=float, default=7200.0)
    parser.add_argument("--fake", action="store_true", help="use the loopback fakes")
    args = parser.parse_args()

    fakes: list = []
    cache = None
    key: str | None = "OPENAI_API_KEY"
    batch_url, online_url = args.base_url, args.base_url
    timing: dict = {}
    per_batch = 50_000
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_openai import FakeOpenAI
        from fake_openai_batch import FakeOpenAIBatch

        batch_fake = FakeOpenAIBatch(turnaround_s=1.0, holds=StallOneBatchOfStepTwo())
        online_fake = FakeOpenAI()
        fakes = [batch_fake, online_fake]
        cache = tempfile.TemporaryDirectory()
        os.environ["SYMBATCHER_CACHE_DIR"] = cache.name
        batch_url, online_url, key = batch_fake.base_url, online_fake.base_url, None
        timing = {"poll_interval_s": 0.02, "poll_max_interval_s": 0.1, "turnaround_guess_s": 1.0,
                  "deadline_margin_s": 1.0, "cancel_wait_s": 0.5, "online_latency_s": 0.3}  # fmt: skip
        per_batch = max(1, args.items // 10)  # ten batches a step
        args.deadline_s = 8.0
    engine = OpenAIBatchEngine(
        batch_url, args.model, api_key_env=key, max_requests_per_batch=per_batch,
        fallback=OpenAIEngine(online_url, args.model, api_key_env=key), **timing,
    )  # fmt: skip
    items = [f"review {i}: the soup was {'cold' if i % 3 else 'lovely'}" for i in range(args.items)]
    try:
        with BatchScheduler(engine=engine, deadline_s=args.deadline_s) as scheduler:
            start = time.monotonic()
            results = scheduler(Review, 16, items)
            wall = time.monotonic() - start
            summary = scheduler.last_summary
        answered = sum(isinstance(r, str) for r in results)
        online_cost = sum(s.online_cost_usd for s in summary.steps)
        print(f"{answered}/{len(items)} items answered in {wall:.1f} s (deadline {args.deadline_s:.0f} s)")
        for step in summary.steps:
            print(f"  {step.describe()}")
        print(f"cost ${summary.cost_usd:.6f} = {summary.cost_usd / online_cost:.2f}x "
              f"the all-online ${online_cost:.6f}")  # fmt: skip
    finally:
        for fake in fakes:
            fake.close()
        if cache is not None:
            cache.cleanup()


if __name__ == "__main__":
    main()
