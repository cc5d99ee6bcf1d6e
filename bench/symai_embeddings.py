"""Bench: symai's own embedding engine, batched by symbatcher.

N items whose `forward()` embeds its input once (`Symbol.embed`), with
symai's own OpenAI embedding engine sending to the loopback fake OpenAI
embeddings endpoint (client-python/tests/fake_openai.py) at a fixed
latency per request. Two ways, run in the same invocation:

- baseline: the user's own `ThreadPoolExecutor(W)` running `forward()`
  directly: symai's engine sends one request per item;
- symbatcher: `BatchScheduler()` with W worker slots and `batch_size` W; no
  embedding engine is named, so symai's own is served from the scheduler's
  process (`SymaiEmbeddingEngine`), each engine batch one list input.

Prints, per way, the median wall time and requests over the repeats, every
item's vectors checked against the fake's, and the ratios.

    python bench/symai_embeddings.py [--items 2000] [--workers 64] [--latency-ms 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_openai import FakeOpenAI, embedding_of  # noqa: E402
from symai import Expression, Symbol  # noqa: E402
from symai.functional import EngineRepository  # noqa: E402

from symbatcher import BatchScheduler  # noqa: E402

MODEL = "text-embedding-3-small"


class Embed(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).embed().value


def use_symai_engine(fake: FakeOpenAI) -> None:
    """symai's own OpenAI embedding engine, sending to `fake`, is symai's
    `embedding` engine."""
    from symai.backend.engines.embedding.openai import engine as module

    module.OPENAI_EMBEDDINGS_URL = f"{fake.base_url}/embeddings"
    engine = module.EmbeddingEngine(api_key="bench-key", model=MODEL)
    EngineRepository.register("embedding", engine, allow_engine_override=True)


def one_run(args: argparse.Namespace, batched: bool) -> tuple[float, int]:
    items = [f"document {i} about {i % 97}" for i in range(args.items)]
    with FakeOpenAI(latency_s=args.latency_ms / 1000) as fake:
        use_symai_engine(fake)
        started = time.perf_counter()
        if batched:
            with BatchScheduler(engine="echo", cache="off") as scheduler:
                started = time.perf_counter()
                results = scheduler(Embed, args.workers, items, batch_size=args.workers)
                wall = time.perf_counter() - started
                summary = scheduler.last_summary
            assert summary is not None and summary.embedding_engine.startswith("symai:"), summary
        else:
            expression = Embed()
            with ThreadPoolExecutor(args.workers) as pool:
                results = list(pool.map(lambda item: expression.forward(item), items))
            wall = time.perf_counter() - started
        requests = len(fake.embedding_arrivals())
    wrong = [t for r, t in zip(results, items) if r != [embedding_of(t)]]
    if wrong:
        raise SystemExit(f"{len(wrong)} items got other vectors than the fake's, e.g. {wrong[0]!r}")
    return wall, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = {}
    for name, batched in (("thread pool, symai's engine per item", False), ("symbatcher, SymaiEmbeddingEngine", True)):
        runs = [one_run(args, batched) for _ in range(args.repeat)]
        wall = statistics.median(w for w, _ in runs)
        requests = statistics.median(r for _, r in runs)
        rows[batched] = (wall, requests)
        print(
            f"{name}: {args.items} items, {args.workers} workers, {args.latency_ms:.0f} ms a request: "
            f"median {wall:.2f} s, {requests:.0f} requests (runs: "
            + ", ".join(f"{w:.2f} s/{r}" for w, r in runs) + ")"
        )
    (base_wall, base_requests), (wall, requests) = rows[False], rows[True]
    print(
        f"symbatcher / thread pool: wall {wall / base_wall:.2f}, requests {requests / base_requests:.3f}"
        " (every item's vectors equal the fake's)"
    )


if __name__ == "__main__":
    main()
