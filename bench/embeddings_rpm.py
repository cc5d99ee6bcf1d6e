"""Bench: embeddings under a requests-per-minute limit.

Runs N items whose `forward()` embeds its input once (`Symbol.embed`)
through `BatchScheduler(embedding_engine=OpenAIEmbeddingEngine(rpm=...))`
against the loopback fake OpenAI embeddings endpoint
(client-python/tests/fake_openai.py), with `batch_size` B and as many worker
slots. The server merges the calls into requests of up to 2,048 texts, so N
calls are about N / B requests; calls that arrive while the limit admits no
request wait and leave together when it admits one. Two baselines: what one
request per item (symai's own engine, or any per-call client) needs under
the same limit, N / rpm minutes (computed: hours at the default); and the
same job without a limit (`rpm=None`), run alternately with the limited one
in this invocation, which is the pace of the Python slots, the floor the
limited run cannot beat. Prints the wall times, the requests the fake saw,
the vectors checked against the fake's, and the ratios.

    python bench/embeddings_rpm.py [--items 10000] [--rpm 60] [--batch-size 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_openai import FakeOpenAI, embedding_of  # noqa: E402
from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler, OpenAIEmbeddingEngine  # noqa: E402


class Embed(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).embed().value


def one_run(args: argparse.Namespace, rpm: int | None) -> tuple[float, int]:
    items = [f"document {i} about {i % 97}" for i in range(args.items)]
    with FakeOpenAI() as fake:
        engine = OpenAIEmbeddingEngine(fake.base_url, api_key_env=None, rpm=rpm)
        with BatchScheduler(
            engine="echo", embedding_engine=engine, cache="off", slots=args.slots
        ) as scheduler:
            started = time.perf_counter()
            results = scheduler(Embed, args.batch_size, items, batch_size=args.batch_size)
            wall = time.perf_counter() - started
        requests = len(fake.embedding_arrivals())
    wrong = [(t, r) for r, t in zip(results, items) if r != [embedding_of(t)]]
    if wrong:
        text, result = wrong[0]
        raise SystemExit(
            f"{len(wrong)} items got other results than the fake's vectors, e.g. {text!r}: "
            f"{result!r:.300}"
        )
    return wall, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rpm", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--slots", default="thread", choices=["thread", "greenlet"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs, unlimited = [], []
    for _ in range(args.repeat):
        runs.append(one_run(args, args.rpm))
        unlimited.append(one_run(args, None))
    walls = [wall for wall, _ in runs]
    requests = max(r for _, r in runs)
    baseline = args.items / args.rpm * 60
    median = statistics.median(walls)
    floor = statistics.median(wall for wall, _ in unlimited)
    print(f"engine openai-embeddings (loopback fake, no added latency), rpm={args.rpm}, "
          f"{args.items} items, batch_size={args.batch_size}, {args.slots} slots")  # fmt: skip
    print(f"wall time: median {median:.2f} s of {args.repeat} runs ({', '.join(f'{w:.2f}' for w in walls)}); "
          f"at most {requests} requests; every item's vectors checked")  # fmt: skip
    print(f"without a limit: median {floor:.2f} s ({', '.join(f'{w:.2f}' for w, _ in unlimited)}); "
          f"at most {max(r for _, r in unlimited)} requests; limited / unlimited {median / floor:.2f}x")  # fmt: skip
    print(f"one request per item at rpm={args.rpm}: {baseline:,.0f} s ({baseline / 3600:.1f} h); "
          f"ratio {baseline / median:,.0f}x")  # fmt: skip

if __name__ == "__main__":
    main()
