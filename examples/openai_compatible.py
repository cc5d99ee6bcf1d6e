"""Classify reviews with any OpenAI-compatible endpoint, through symbatcher.

Every `Symbol.query` of every item becomes one chat-completions request sent
by the symbatcher server, which holds the rate limits (`--rpm`, `--tpm`) for
all workers, retries 429s and 5xx with backoff, and reports tokens, retries
and latency in the summary.

OpenAI (or any hosted OpenAI-compatible API; the key is read from the
environment variable named by --api-key-env, never passed on the command line):

    export OPENAI_API_KEY=sk-...
    python examples/openai_compatible.py --base-url https://api.openai.com/v1 \\
        --model gpt-4o-mini --rpm 500

A local vLLM server (no key):

    vllm serve Qwen/Qwen2.5-1.5B-Instruct --port 8000
    python examples/openai_compatible.py --base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen2.5-1.5B-Instruct --no-api-key

A local llama.cpp server (no key; it serves whichever model it loaded, the
model name is only echoed):

    llama-server -m qwen2.5-1.5b-instruct-q4_k_m.gguf --port 8080
    python examples/openai_compatible.py --base-url http://127.0.0.1:8080/v1 \\
        --model local --no-api-key

Ollama: `--base-url http://127.0.0.1:11434/v1 --model llama3.2 --no-api-key`.

`--fake` runs against the test suite's loopback fake server instead (no
network, no model), to see the moving parts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIEngine


class Sentiment(Expression):
    def forward(self, input, **kwargs):
        answer, metadata = Symbol(input).query(
            "Classify the sentiment of this review as positive, negative or mixed. "
            "Answer with one word.",
            return_metadata=True,
            **kwargs,
        ).value
        return {"sentiment": str(answer).strip(), "usage": metadata.get("usage")}


REVIEWS = [
    "The blender works great and is quiet.",
    "Broke after two days. Support never answered.",
    "Good value, but the lid leaks a little.",
    "Exactly as described, fast delivery.",
    "The manual is useless, the product is fine.",
    "Stopped charging after a week.",
    "My kids love it.",
    "Too loud, returned it.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="variable holding the key")
    parser.add_argument("--no-api-key", action="store_true", help="send no key (local servers)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute (default: no limit)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute (default: no limit)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--fake", action="store_true", help="use the loopback fake server")
    args = parser.parse_args()

    fake = None
    if args.fake:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))
        from fake_openai import FakeOpenAI

        fake = FakeOpenAI(latency_s=0.05)
        args.base_url, args.no_api_key = fake.base_url, True
    if not args.base_url:
        parser.error("--base-url is required (or --fake)")

    engine = OpenAIEngine(
        args.base_url,
        args.model,
        api_key_env=None if args.no_api_key else args.api_key_env,
        rpm=args.rpm,
        tpm=args.tpm,
    )
    try:
        with BatchScheduler(engine=engine, progress=True) as scheduler:
            results = scheduler(Sentiment, args.workers, REVIEWS, batch_size=8, temperature=0)
            summary = scheduler.last_summary
    finally:
        if fake is not None:
            fake.close()
    for review, result in zip(REVIEWS, results):
        shown = result if isinstance(result, BaseException) else result["sentiment"]
        print(f"{review!r}\n  -> {shown!r}")
    assert summary is not None
    print(summary.describe())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
