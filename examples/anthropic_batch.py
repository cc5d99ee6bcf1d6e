"""Run a two-step Expression through Anthropic's Message Batches API, through
symbatcher.

Each item's `forward()` summarises its input, then judges the summary: two
engine calls in a row. With the `anthropic-batch` engine, the items' first
calls go in one Message Batch, then their second calls in another, at half
the online price; the script prints the summary with its cost and the
batches (`symbatcher status`'s list), and with --compare-online the online
`anthropic` engine's results and cost for the same items. Submitted batches
are recorded in the cache directory, so a re-run (or a restarted server)
waits for batches still in flight instead of submitting them again.

    export ANTHROPIC_API_KEY=sk-ant-...
    python examples/anthropic_batch.py --model claude-haiku-4-5 --items 100

`--fake` runs against the test suite's loopback fakes of the Message Batches
and Messages APIs instead (no key, polls every few ms, a temporary cache
directory).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import AnthropicBatchEngine, AnthropicEngine, BatchScheduler
from symbatcher.cli.status import describe
from symbatcher.v1 import status_pb2, status_pb2_grpc


class SummarizeThenJudge(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize in five words", **kwargs).value
        return Symbol(summary).query("Is this summary clear? yes or no", **kwargs).value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.anthropic.com")
    parser.add_argument("--model", default="claude-haiku-4-5")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--fake", action="store_true", help="use the loopback fake Message Batches API")
    parser.add_argument(
        "--compare-online",
        action="store_true",
        help="also run the items through the online anthropic engine and compare results and cost "
        "(always on with --fake)",
    )
    args = parser.parse_args()

    fakes: list = []
    cache = None
    poll = {}
    online_url = args.base_url
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_anthropic import FakeAnthropic
        from fake_anthropic_batch import FakeAnthropicBatch

        batch_fake, online_fake = FakeAnthropicBatch(), FakeAnthropic()
        fakes = [batch_fake, online_fake]
        cache = tempfile.TemporaryDirectory()
        os.environ["SYMBATCHER_CACHE_DIR"] = cache.name
        args.base_url, online_url = batch_fake.base_url, online_fake.base_url
        poll = {"poll_interval_s": 0.01, "poll_max_interval_s": 0.05}
        args.compare_online = True
    key = None if args.fake else "ANTHROPIC_API_KEY"
    engine = AnthropicBatchEngine(args.base_url, args.model, api_key_env=key, max_tokens=64, **poll)
    items = [f"review {i}: the soup was {'cold' if i % 3 else 'lovely'}" for i in range(args.items)]
    try:
        with BatchScheduler(engine=engine) as scheduler:
            # 16 slots whatever the item count: a run waiting on a provider
            # batch gives its slot back and replays once it is answered.
            results = scheduler(SummarizeThenJudge, 16, items)
            summary = scheduler.last_summary
            with scheduler.connection.channel(scheduler.address) as channel:
                status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest())
        print(f"{summary.items} items, {summary.engine_calls} engine calls, "
              f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tokens, "
              f"cost ${summary.cost_usd:.6f} at the batch price")  # fmt: skip
        print("\n".join(line for line in describe(status, "embedded").splitlines()
                        if line.startswith(("provider batches", "  batch", "  msgbatch"))))  # fmt: skip
        if args.compare_online:
            online = AnthropicEngine(online_url, args.model, api_key_env=key, max_tokens=64)
            with BatchScheduler(engine=online, cache="off") as scheduler:
                direct = scheduler(SummarizeThenJudge, 16, items)
                online_summary = scheduler.last_summary
            same = sum(a == b for a, b in zip(results, direct))
            print(f"online engine: {same}/{len(items)} results the same, "
                  f"cost ${online_summary.cost_usd:.6f} "
                  f"(batch / online = {summary.cost_usd / online_summary.cost_usd:.2f})")  # fmt: skip
    finally:
        for fake in fakes:
            fake.close()
        if cache is not None:
            cache.cleanup()


if __name__ == "__main__":
    main()
