"""`SymaiEngine`: a `BatchEngine` that answers every call with symai's own
configured neurosymbolic engine, so that every provider symai supports
(OpenAI, Anthropic, Gemini, Groq, DeepSeek, OpenRouter, a local llama.cpp or
vLLM `symserver`, ...) works through symbatcher.

The calls of a batch run concurrently on a thread pool shared by all batches
(`concurrency` calls at once). Each call is sent as symai's raw input: the
chat messages the worker's interceptor rendered (system prompt included), so
the engine sends exactly what symai would have sent without symbatcher.
Request kwargs reach the engine as symai kwargs (it keeps those it supports).
The reply's metadata carries the call's token `usage`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from symbatcher._engine import BatchEngine, EngineCall
from symbatcher._codec import is_json_value


class SymaiEngine(BatchEngine):
    """Serves batches with symai's configured neurosymbolic engine.

    `concurrency`: calls running at once (across batches); `max_concurrency`:
    batches the server may send at once; `engine`: a symai `Engine` instance
    to use instead of the configured one (resolved on first use, in a thread
    that symbatcher does not intercept).
    """

    def __init__(self, *, concurrency: int = 8, max_concurrency: int = 4, engine: Any = None) -> None:
        if not 1 <= concurrency <= 1024:
            raise ValueError(f"concurrency: must be 1..1024, got {concurrency}")
        if not 1 <= max_concurrency <= 1024:
            raise ValueError(f"max_concurrency: must be 1..1024, got {max_concurrency}")
        self.concurrency = concurrency
        self.max_concurrency = max_concurrency
        self._engine = engine
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="symai-engine")

    def engine(self) -> Any:
        """The symai engine calls go to (symai's configured one by default)."""
        with self._lock:
            if self._engine is None:
                from symai.functional import EngineRepository

                self._engine = EngineRepository.get("neurosymbolic")
            return self._engine

    def forward(self, calls: list[EngineCall]) -> list[tuple[str, dict] | Exception]:
        engine = self.engine()
        futures = [self._pool.submit(_call, engine, call) for call in calls]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call(engine: Any, call: EngineCall) -> tuple[str, dict] | Exception:
    """One call through symai's engine; an exception fails only this call."""
    from symai.core import Argument

    try:
        argument = Argument((), {**call.kwargs, "raw_input": True}, {})
        argument.prop.processed_input = call.messages or call.prompt
        engine.prepare(argument)
        texts, metadata = engine(argument)
    except Exception as exc:  # noqa: BLE001 - the call's own failure
        return exc
    text = texts[0] if isinstance(texts, list) and texts else texts
    return ("" if text is None else str(text)), _metadata(engine, metadata or {})


def _metadata(engine: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON part of symai's metadata, with the call's token usage."""
    out = {key: value for key, value in metadata.items() if key != "raw_output" and is_json_value(value)}
    try:
        record = engine.usage_record_from_metadata(metadata)
    except Exception:  # noqa: BLE001 - engines without usage
        record = None
    if record is not None:
        out["usage"] = {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.total_tokens,
        }
    return out


