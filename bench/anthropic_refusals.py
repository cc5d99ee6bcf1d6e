"""Bench: the anthropic engine at full size under refusals (issue 24's
acceptance).

Runs N items (one query each, so one engine call with symai's system
message) through `BatchScheduler(engine=AnthropicEngine(rpm=...))` against
the loopback fake of Anthropic's Messages API
(client-python/tests/fake_anthropic.py), which refuses every 5th request,
429 `rate_limit_error` and 529 `overloaded_error` in turn, with
`retry-after: 1`. It reports lost items (target 0), the most requests the
fake saw within any 60 s window next to the rpm (target: never above), the
refusals retried, and usage and cost per item.

    python bench/anthropic_refusals.py [--items 2000] [--rpm 1500] [--every 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_anthropic import FakeAnthropic  # noqa: E402
from symai import Expression  # noqa: E402

from symbatcher import AnthropicEngine, BatchScheduler, ItemUsage  # noqa: E402


class Ask(Expression):
    @property
    def static_context(self) -> str:
        # symai renders it into the system message, which goes into `system`.
        return "You answer in one word."

    def forward(self, input, **kwargs):
        return self.query(f"Answer briefly: {input}", **kwargs).value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rpm", type=int, default=1500)
    parser.add_argument("--every", type=int, default=5, help="refuse every n-th request")
    parser.add_argument("--model", default="claude-haiku-4-5")
    args = parser.parse_args()

    usage: dict[int, ItemUsage] = {}
    items = [f"item-{i:05d}" for i in range(args.items)]
    with FakeAnthropic(refuse_every=args.every, retry_after_s=1) as fake:
        engine = AnthropicEngine(fake.base_url, args.model, api_key_env=None, rpm=args.rpm)
        started = time.monotonic()
        with BatchScheduler(engine=engine, cache="off") as scheduler:
            scheduler._options = dataclasses.replace(scheduler._options, on_usage=usage.__setitem__)
            results = scheduler(Ask, 64, items, batch_size=64)
            summary = scheduler.last_summary
        elapsed = time.monotonic() - started
        arrivals = list(fake.arrivals)
        peak_minute = fake.peak_in(60.0)
    lost = sum(not (isinstance(r, str) and r.startswith("reply to: ") and item in r) for item, r in zip(items, results))
    refused = [a for a in arrivals if a.status != 200]
    with_system = sum(bool(a.body.get("system")) and all(m["role"] != "system" for m in a.body["messages"])
                      for a in arrivals)  # fmt: skip
    per_item = {(u.prompt_tokens, u.completion_tokens, u.calls, round(u.cost_usd, 9)) for u in usage.values()}
    print(f"{args.items} items in {elapsed:.1f} s, rpm {args.rpm}, every {args.every}th request refused")
    print(f"lost items: {lost}")
    print(f"requests: {len(arrivals)} ({len(refused)} refused: "
          f"{sum(a.status == 429 for a in refused)} x 429, {sum(a.status == 529 for a in refused)} x 529)")  # fmt: skip
    print(f"most requests in any 60 s window: {peak_minute} (rpm {args.rpm}; "
          f"{'within' if peak_minute <= args.rpm else 'OVER'} the limit)")  # fmt: skip
    print(f"summary: retries {summary.retries}, rate limited {summary.rate_limited}, "
          f"failed calls {summary.failed_engine_calls}")  # fmt: skip
    print(f"system prompt in `system` (not in `messages`): {with_system}/{len(arrivals)} requests")
    print(f"usage per item (prompt, completion, calls, cost USD): {sorted(per_item)} for {len(usage)} items")
    print(f"cost: ${summary.cost_usd:.6f} ({summary.prompt_tokens} prompt + {summary.completion_tokens} "
          f"completion tokens at {args.model}'s built-in price)")  # fmt: skip


if __name__ == "__main__":
    main()
