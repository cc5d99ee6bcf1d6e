"""Run an Expression through Anthropic's Messages API, through symbatcher.

Each item's `forward()` asks one question; symai's system message goes into
the request's `system` field. The server sends every engine call as its own
request under central limits (rpm, tpm, the `anthropic-ratelimit-*`
headers), retries 429s and 529s after `retry-after`, and prices the calls
from its built-in table of Claude models.

    export ANTHROPIC_API_KEY=sk-ant-...
    python examples/anthropic.py --model claude-haiku-4-5 --items 20

`--fake` runs against the test suite's loopback fake of the Messages API
(no key; it refuses every 5th request with 429 or 529).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symai import Expression

from symbatcher import AnthropicEngine, BatchScheduler


class Classify(Expression):
    @property
    def static_context(self) -> str:
        # symai renders it into the system message, which goes into `system`.
        return "You label restaurant reviews."

    def forward(self, input, **kwargs):
        return self.query(f"Is this review positive or negative? One word. {input}", **kwargs).value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.anthropic.com")
    parser.add_argument("--model", default="claude-haiku-4-5")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--rpm", type=int, default=50)
    parser.add_argument("--fake", action="store_true", help="use the loopback fake Messages API")
    args = parser.parse_args()

    fake = None
    key: str | None = "ANTHROPIC_API_KEY"
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_anthropic import FakeAnthropic

        fake = FakeAnthropic(refuse_every=5, retry_after_s=1)
        args.base_url, key, args.rpm = fake.base_url, None, 600
    engine = AnthropicEngine(args.base_url, args.model, api_key_env=key, rpm=args.rpm, max_tokens=64)
    items = [f"review {i}: the soup was {'cold' if i % 3 else 'lovely'}" for i in range(args.items)]
    try:
        with BatchScheduler(engine=engine, cache="off") as scheduler:
            results = scheduler(Classify, 8, items)
            summary = scheduler.last_summary
    finally:
        if fake is not None:
            fake.close()
    for item, result in list(zip(items, results))[:3]:
        print(f"{item!r} -> {result!r}")
    print(f"{summary.items} items, {summary.engine_calls} engine calls, {summary.retries} retries "
          f"({summary.rate_limited} refused with 429/529), {summary.failed_engine_calls} failed")  # fmt: skip
    print(f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tokens, "
          f"cost ${summary.cost_usd:.6f}")  # fmt: skip
    if fake is not None:
        sent = fake.arrivals[0].body
        print(f"first request: system={sent.get('system', '')!r}, "
              f"roles={[m['role'] for m in sent['messages']]}, max_tokens={sent['max_tokens']}")  # fmt: skip


if __name__ == "__main__":
    main()
