"""Bench: how close `BatchScheduler.estimate` comes to what the run pays.

Five synthetic datasets (client-python/tests/estimate_datasets.py: uniform,
lognormal, bimodal, heavy-tailed and sorted prompt lengths, from 20 to
20,000 characters) of N items each, one engine call per item, against the
loopback fake OpenAI server (client-python/tests/fake_openai.py) with usage
that grows with the prompt (a token per 4 characters, 5 + a tenth of that in
completion tokens), priced as gpt-4o-mini. For each: the estimate from the
default sample (1%, at least 50 items), then the real run on the same
scheduler (its call cache in a temporary directory). It prints the estimate,
what the run paid, their ratio (target within 1 +/- 0.15), whether the run's
cost falls in the estimate's range, the requests the run sent for the
sampled items (target 0), the estimated and actual time, and, as the
baseline, the estimate a sample of the dataset's first items would give
(sample cost per item x items).

    python bench/estimate_accuracy.py [--items 5000] [--workers 16] [--seed 1]
                                      [--latency-ms 0] [--stream] [--only NAME ...]

--stream passes each dataset as a generator with `total=`, so the sample is
drawn from stretches of the stream instead of strata of size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from estimate_datasets import NAMES, dataset  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402
from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler, OpenAIEngine  # noqa: E402


class Summarize(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Summarize in five words", **kwargs).value


def one_dataset(name: str, args: argparse.Namespace) -> bool:
    items = dataset(name, args.items, args.seed)
    with tempfile.TemporaryDirectory() as cache, FakeOpenAI(
        usage_grows=True, latency_s=args.latency_ms / 1000
    ) as fake:
        engine = OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None)
        with BatchScheduler(engine=engine, cache_dir=cache) as scheduler:
            source = (item for item in items) if args.stream else items
            estimate = scheduler.estimate(
                Summarize, source, num_workers=args.workers, seed=args.seed, total=len(items)
            )
            sampled = {items[i] for i in estimate.sample.indices}
            before = len(fake.chat_arrivals())
            scheduler(Summarize, args.workers, items)
            summary = scheduler.last_summary
            assert summary is not None
            run_requests = fake.chat_arrivals()[before:]
            paid_again = sum(1 for a in run_requests if any(text in a.content for text in sampled))
        # Baseline: as many items from the dataset's head, sent again (cache off).
        with BatchScheduler(engine=engine, cache="off", cache_dir=cache) as scheduler:
            head = len(sampled)
            head_cost = scheduler.estimate(Summarize, items[:head], head, num_workers=args.workers).sample
    head_estimate = head_cost.cost_per_item_usd * estimate.to_run
    low, high = estimate.cost_range_usd
    actual = summary.cost_usd
    ratio = estimate.cost_usd / actual
    inside = low <= actual <= high
    seconds = estimate.seconds or 0.0
    print(
        f"{name:>10}: sample {len(sampled)} -> estimate ${estimate.cost_usd:.5f} "
        f"(${low:.5f}-${high:.5f}); run paid ${actual:.5f}; estimate/actual {ratio:.3f}"
        f" ({'in' if inside else 'OUT OF'} range); run requests for sampled items {paid_again}; "
        f"time est {seconds:.1f}s / run {summary.wall_seconds:.1f}s; "
        f"head-sample baseline estimate/actual {head_estimate / actual:.3f}"
    )
    return abs(ratio - 1) <= 0.15 and paid_again == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0, help="the fake's latency per request")
    parser.add_argument("--stream", action="store_true", help="pass each dataset as a generator, with total=")
    parser.add_argument("--only", choices=NAMES, action="append", help="run these datasets only")
    args = parser.parse_args()
    results = [one_dataset(name, args) for name in args.only or NAMES]
    print(f"within +/-15% and nothing paid twice: {sum(results)}/{len(results)} datasets")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
