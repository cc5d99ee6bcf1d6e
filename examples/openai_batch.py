"""Run a two-step Expression through OpenAI's Batch API, through symbatcher.

Each item's `forward()` summarises its input, then judges the summary: two
engine calls in a row. With the `openai-batch` engine, the items' first
calls go in provider batches, then their second calls, at the batch price;
the script prints the batches (`symbatcher status`'s list). Submitted batches are recorded in the cache directory,
so a re-run (or a restarted server) waits for batches still in flight
instead of submitting them again.

    export OPENAI_API_KEY=sk-...
    python examples/openai_batch.py --model gpt-4o-mini --items 100

`--fake` runs against the test suite's loopback fake of the Files and
Batches endpoints instead (no key, polls every few ms, a temporary cache
directory).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIBatchEngine
from symbatcher._status_cli import describe
from symbatcher.v1 import status_pb2, status_pb2_grpc


class SummarizeThenJudge(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize in five words", **kwargs).value
        return Symbol(summary).query("Is this summary clear? yes or no", **kwargs).value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.openai.com/v1")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--fake", action="store_true", help="use the loopback fake batch API")
    args = parser.parse_args()

    fake = None
    cache = None
    poll = {}
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_openai_batch import FakeOpenAIBatch

        fake = FakeOpenAIBatch()
        cache = tempfile.TemporaryDirectory()
        os.environ["SYMBATCHER_CACHE_DIR"] = cache.name
        args.base_url = fake.base_url
        poll = {"poll_interval_s": 0.01, "poll_max_interval_s": 0.05}
    engine = OpenAIBatchEngine(args.base_url, args.model, api_key_env=None if fake else "OPENAI_API_KEY", **poll)
    items = [f"review {i}: the soup was {'cold' if i % 3 else 'lovely'}" for i in range(args.items)]
    try:
        with BatchScheduler(engine=engine) as scheduler:
            results = scheduler(SummarizeThenJudge, len(items), items)
            summary = scheduler.last_summary
            with scheduler.connection.channel(scheduler.address) as channel:
                status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest())
            print(results[0])
            print(
                f"{summary.items} items, {summary.engine_calls} engine calls, "
                f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tokens"
            )
            print("\n".join(line for line in describe(status, "embedded").splitlines()
                            if "batch" in line or line.startswith("  batch")))  # fmt: skip
    finally:
        if fake is not None:
            fake.close()
        if cache is not None:
            cache.cleanup()


if __name__ == "__main__":
    main()
