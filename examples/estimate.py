"""Estimate what a run will cost before paying for it, then run it.

`scheduler.estimate(...)` runs a sample of the dataset (1% with at least 50
items, drawn across its input sizes) as a normal job and extrapolates cost
and time to the whole dataset, online and, with a provider batch engine,
through it. The sample's replies go into the call cache, so the run that
follows pays nothing for them again. The script prints the estimate, runs
the dataset, and compares.

    export OPENAI_API_KEY=sk-...
    python examples/estimate.py --model gpt-4o-mini --items 2000 [--batch]

`--batch` runs through OpenAI's Batch API (`OpenAIBatchEngine`, with the
online engine as its fallback): the estimate then gives both modes, and the
sample itself waits for its provider batch (minutes to hours at OpenAI).
`--fake` runs against the test suite's loopback fakes of the online and batch
endpoints instead (no key; usage grows with the prompt: a token per 4
characters, 5 + a tenth of that in completion tokens; a temporary cache
directory).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIBatchEngine, OpenAIEngine


class Summarize(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Summarize in five words", **kwargs).value


def reviews(count: int) -> list[str]:
    """Reviews of widely different lengths (a few words to pages)."""
    rng = random.Random(7)
    return [
        f"review {i}: " + "the soup was cold and the bread was stale; " * int(rng.lognormvariate(2.5, 1.2))
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.openai.com/v1")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--batch", action="store_true", help="run through OpenAI's Batch API")
    parser.add_argument("--fake", action="store_true", help="use the loopback fake OpenAI servers")
    parser.add_argument("--seed", type=int, default=None, help="draw the same sample every time")
    args = parser.parse_args()

    fakes: list = []
    cache = tempfile.TemporaryDirectory() if args.fake else None
    key: str | None = "OPENAI_API_KEY"
    batch_url, poll = args.base_url, {}
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_openai import FakeOpenAI
        from fake_openai_batch import FakeOpenAIBatch

        online_fake, batch_fake = FakeOpenAI(usage_grows=True), FakeOpenAIBatch(usage_grows=True)
        fakes = [online_fake, batch_fake]
        args.base_url, batch_url, key = online_fake.base_url, batch_fake.base_url, None
        poll = {"poll_interval_s": 0.01, "poll_max_interval_s": 0.05}
    items = reviews(args.items)
    try:
        engine: OpenAIEngine | OpenAIBatchEngine = OpenAIEngine(args.base_url, args.model, api_key_env=key)
        if args.batch:
            engine = OpenAIBatchEngine(batch_url, args.model, api_key_env=key, fallback=engine, **poll)
        options = {"cache_dir": cache.name} if cache is not None else {}
        with BatchScheduler(engine=engine, **options) as scheduler:
            estimate = scheduler.estimate(Summarize, items, num_workers=args.workers, seed=args.seed)
            print(estimate.describe())
            scheduler(Summarize, args.workers, items)
            summary = scheduler.last_summary
        assert summary is not None
        low, high = estimate.cost_range_usd
        print(f"run: {summary.items} items, {summary.cache_hits} answered from the cache, "
              f"{summary.wall_seconds:.1f}s, cost ${summary.cost_usd:.6f} "
              f"(estimate ${estimate.cost_usd:.6f}, range ${low:.6f}-${high:.6f}; "
              f"estimate / actual = {estimate.cost_usd / summary.cost_usd:.3f})")  # fmt: skip
    finally:
        for fake in fakes:
            fake.close()
        if cache is not None:
            cache.cleanup()


if __name__ == "__main__":
    main()
