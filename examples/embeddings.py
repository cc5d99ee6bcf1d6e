"""Embed every item and ask about it, with an engine of each kind, through symbatcher.

Each item's `forward()` embeds its input (`Symbol.embed`, symai's embedding
engine) and then queries it (symai's neurosymbolic engine): the job has an
engine for each kind. The embedding calls of all running items are merged
into few `POST /embeddings` requests (up to 2,048 texts each) by the
server's `openai-embeddings` engine; the chat calls go to an `openai`
engine. The script prints the job summary (both engines, the request count)
and the engines `symbatcher status` lists.

    export OPENAI_API_KEY=sk-...
    python examples/embeddings.py --items 1000

`--fake` runs against the test suite's loopback fake of OpenAI's chat and
embeddings endpoints instead (no key), and checks every item's vectors
against what symai's own OpenAI embedding engine returns from the same fake.

`--symai-embeddings` embeds with symai's own OpenAI embedding engine instead,
served from this process: with no `embedding_engine=`, `BatchScheduler()`
serves the embedding engine symai has as a `SymaiEmbeddingEngine`, and each
engine batch reaches it as one list input (one request for up to 2,048
texts).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIEmbeddingEngine, OpenAIEngine
from symbatcher.cli.status import describe
from symbatcher.v1 import status_pb2, status_pb2_grpc


class EmbedThenAsk(Expression):
    def forward(self, input, **kwargs):
        [vector] = Symbol(input).embed().value
        answer = Symbol(input).query("Name the topic in one word").value
        return {"vector": vector, "topic": answer}


def use_symai_engine(base_url: str, model: str, api_key: str) -> None:
    """Makes symai's own OpenAI embedding engine, sending to `base_url`,
    symai's `embedding` engine."""
    from symai.backend.engines.embedding.openai import engine as module
    from symai.functional import EngineRepository

    module.OPENAI_EMBEDDINGS_URL = f"{base_url}/embeddings"
    engine = module.EmbeddingEngine(api_key=api_key, model=model)
    EngineRepository.register("embedding", engine, allow_engine_override=True)


def symai_vectors(base_url: str, model: str, texts: list[str]) -> list[list[float]]:
    """What symai's own OpenAI embedding engine returns for each text
    (`Symbol(text).embed()` outside symbatcher, one request per text), sent
    to `base_url`."""
    use_symai_engine(base_url, model, "unused")
    return [Symbol(text).embed().value[0] for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="https://api.openai.com/v1")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--embedding-model", default="text-embedding-3-small")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=256)
    parser.add_argument("--fake", action="store_true", help="use the loopback fake OpenAI API")
    parser.add_argument(
        "--symai-embeddings", action="store_true",
        help="embed with symai's own OpenAI embedding engine, served from this process",
    )
    args = parser.parse_args()

    fake = None
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "client-python" / "tests"))
        from fake_openai import FakeOpenAI

        fake = FakeOpenAI()
        args.base_url = fake.base_url
    key = None if args.fake else "OPENAI_API_KEY"
    chat = OpenAIEngine(args.base_url, args.model, api_key_env=key)
    embeddings: OpenAIEmbeddingEngine | None = None
    if args.symai_embeddings:
        use_symai_engine(args.base_url, args.embedding_model, "unused" if args.fake else os.environ["OPENAI_API_KEY"])
    else:
        embeddings = OpenAIEmbeddingEngine(args.base_url, args.embedding_model, api_key_env=key)
    items = [f"item {i}: a note about {'soup' if i % 3 else 'trains'}" for i in range(args.items)]
    try:
        with BatchScheduler(engine=chat, embedding_engine=embeddings, cache="off") as scheduler:
            results = scheduler(EmbedThenAsk, args.workers, items, batch_size=args.workers)
            summary = scheduler.last_summary
            with scheduler.connection.channel(scheduler.address) as channel:
                status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest())
        assert summary is not None
        print(summary.describe())
        print("\n".join(line for line in describe(status, "embedded").splitlines()
                        if line.startswith(("default", "engines", "  "))
                        and "calls in" in line or line.startswith("default")))  # fmt: skip
        failed = [r for r in results if isinstance(r, Exception)]
        print(f"{len(items) - len(failed)}/{len(items)} items answered")
        if fake is not None:
            requests = fake.embedding_arrivals()
            print(f"{len(requests)} embeddings requests for {len(items)} embedding calls")
            own = symai_vectors(fake.base_url, args.embedding_model, items)
            same = sum(r["vector"] == v for r, v in zip(results, own))
            print(f"{same}/{len(items)} items' vectors equal symai's own engine's")
            if same != len(items) or failed:
                raise SystemExit(1)
    finally:
        if fake is not None:
            fake.close()


if __name__ == "__main__":
    main()
