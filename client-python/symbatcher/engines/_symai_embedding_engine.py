"""`SymaiEmbeddingEngine`: symai's own embedding engine as a `BatchEngine`
of embedding calls, the embedding counterpart of `SymaiEngine`. It is what
`BatchScheduler()` serves for a job's embedding calls when no
`embedding_engine` is named, the server has no default embedding engine
and symai has an embedding engine (see `engines/_default_engine`).

The server merges the embedding calls of every item and worker into engine
batches; this engine sends each batch to symai's engine:

- as one list input, where symai's engine takes a list (symai's own
  embedding engines do: OpenAI, Gemini, llama.cpp and the local
  sentence-transformers one all embed a list `prepared_input` in one
  request): the batch's texts, grouped by their calls' kwargs, are cut into
  requests of at most `max_inputs` texts and `max_request_tokens` estimated
  tokens (a token per 4 bytes of UTF-8, as the server's `openai-embeddings`
  engine estimates), and the vectors of each request go back to their
  calls in order;
- one call at a time (each call its own request, running concurrently as
  `SymaiEngine`'s calls do) for an engine not known to take a list, e.g.
  one registered with `EngineRepository.register("embedding", ...)`;
  `list_input=True` says that it does.

Each request reaches symai's engine as `Symbol.embed` builds it: an
`Argument` whose entries are the texts (a list), with the kwargs the slot
sent; `engine.prepare` then `engine.forward`, as symai's query path does.
symai's `new_dim` is applied by the slot, as for every embedding engine
(`worker/_embedding_interceptor`). A call's reply is its vectors, which the
slot returns in the shape symai's engine returns (`[vectors]`), with JSON
metadata: `model`, the call's share of its request's token `usage` (shared
among the request's calls by their estimated tokens) and `request_inputs`
(the texts of the request it went in). symai's `raw_output` (the provider's
response object, one for many calls) is not in it.

Jobs on it use the server's call cache by default (`cache_by_default`), as
jobs on `SymaiEngine` do. A call answered from the cache (or by an
identical call in flight) gets the same vectors and the same metadata, with
`"cached": true` added.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from symbatcher.engines._batch_engine import BatchEngine, EngineCall, Reply
from symbatcher.engines._thread_pools import check_limit, thread_pool

if TYPE_CHECKING:
    from symai.backend.base import Engine

T = TypeVar("T")

#: Texts of one request at most, by default: OpenAI's embeddings API takes
#: up to 2,048 inputs a request.
DEFAULT_MAX_INPUTS = 2048
#: Per engine class, where its provider takes fewer: Gemini's
#: `batchEmbedContents` takes up to 100 requests a call.
MAX_INPUTS_BY_ENGINE = {"GeminiEmbeddingEngine": 100}
#: Estimated tokens of one request at most, by default: OpenAI's limit of
#: the tokens summed over one request's inputs.
DEFAULT_MAX_REQUEST_TOKENS = 300_000
#: symai's own embedding engines, which all take a list input.
SYMAI_EMBEDDING_PACKAGE = "symai.backend.engines.embedding."


@dataclass(frozen=True)
class _Piece:
    """One text of a call, on its way into a request."""

    call: int
    text: str
    tokens: int


@dataclass
class _Answer:
    """What a call got back so far: its vectors in input order, its share of
    tokens, the size of its first request, or the error that failed it."""

    vectors: list[list[float]]
    tokens: int = 0
    tokens_known: bool = False
    request_inputs: int = 0
    error: Exception | None = None


class SymaiEmbeddingEngine(BatchEngine):
    """Serves embedding batches with symai's configured embedding engine.

    `max_inputs`: texts of one request at most (1..2048; default: 2,048,
    100 for symai's Gemini engine). `max_request_tokens`: estimated tokens
    of one request at most (default 300,000). `list_input`: whether the
    engine takes a list input (None, the default: True for symai's own
    embedding engines, False for any other, whose calls then go one at a
    time). `concurrency`: requests running at once at most (None: no cap).
    `max_concurrency`: batches the server may send at once (None: no cap).
    `engine`: a symai embedding `Engine` to use instead of the configured one.
    """

    #: symai's engines call providers that charge per call.
    cache_by_default = True
    call_kind = "embedding"

    def __init__(
        self,
        *,
        max_inputs: int | None = None,
        max_request_tokens: int = DEFAULT_MAX_REQUEST_TOKENS,
        list_input: bool | None = None,
        concurrency: int | None = None,
        max_concurrency: int | None = None,
        engine: Engine | None = None,
    ) -> None:
        if max_inputs is not None:
            _check_int("max_inputs", max_inputs, 1, DEFAULT_MAX_INPUTS)
        _check_int("max_request_tokens", max_request_tokens, 1, None)
        if list_input is not None and not isinstance(list_input, bool):
            raise TypeError(f"list_input: expected True, False or None, got {type(list_input).__name__}")
        limit = check_limit("concurrency", concurrency)
        if limit is not None and limit < 1:
            raise ValueError(f"concurrency: must be at least 1 (None for no limit), got {limit}")
        self.max_inputs = max_inputs
        self.max_request_tokens = max_request_tokens
        self.list_input = list_input
        self.concurrency = limit
        self.max_concurrency = max_concurrency
        self._engine = engine
        self._lock = threading.Lock()
        self._pool = thread_pool(limit, "symai-embedding")

    def engine(self) -> Engine:
        """The symai engine calls go to (symai's configured one by default)."""
        with self._lock:
            if self._engine is None:
                from symbatcher.engines._default_engine import symai_embedding_engine

                found = symai_embedding_engine()
                if found is None:
                    raise ValueError(
                        "symai has no embedding engine: configure one (symai.config.json's "
                        "EMBEDDING_ENGINE_MODEL and EMBEDDING_ENGINE_API_KEY, or "
                        "EngineRepository.register('embedding', ...)), or pass "
                        "SymaiEmbeddingEngine(engine=...)"
                    )
                self._engine = found
            return self._engine

    def describe(self) -> str:
        """`symai:<EngineClass>[:<model>]`, the engine's name in Status and summaries."""
        engine = self.engine()
        model = _model(engine)
        name = f"symai:{type(engine).__name__}"
        return f"{name}:{model}" if model else name

    def takes_lists(self) -> bool:
        """Whether a request may hold the texts of many calls."""
        if self.list_input is not None:
            return self.list_input
        return type(self.engine()).__module__.startswith(SYMAI_EMBEDDING_PACKAGE)

    def request_limit(self) -> int:
        """Texts of one request at most."""
        if self.max_inputs is not None:
            return self.max_inputs
        return MAX_INPUTS_BY_ENGINE.get(type(self.engine()).__name__, DEFAULT_MAX_INPUTS)

    def forward(self, calls: list[EngineCall]) -> list[Reply]:
        engine = self.engine()
        if self.takes_lists():
            requests = self._requests(calls)
        else:
            requests = [[_Piece(i, text, _tokens(text)) for text in call.inputs] for i, call in enumerate(calls)]
        answers = [_Answer(vectors=[]) for _ in calls]
        outcomes = self._run([functools.partial(_send, engine, request, calls) for request in requests])
        for request, outcome in zip(requests, outcomes):
            _give_back(request, outcome, answers)
        model = _model(engine)
        return [_reply(answer, model) for answer in answers]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _requests(self, calls: list[EngineCall]) -> list[list[_Piece]]:
        """The batch's texts as requests: calls of the same kwargs together,
        in order, cut at `request_limit()` texts and `max_request_tokens`."""
        groups: dict[str, list[int]] = {}
        for i, call in enumerate(calls):
            groups.setdefault(_kwargs_key(call.kwargs), []).append(i)
        limit = self.request_limit()
        requests: list[list[_Piece]] = []
        for members in groups.values():
            current: list[_Piece] = []
            tokens = 0
            for i in members:
                for text in calls[i].inputs:
                    piece = _Piece(i, text, _tokens(text))
                    if current and (len(current) >= limit or tokens + piece.tokens > self.max_request_tokens):
                        requests.append(current)
                        current, tokens = [], 0
                    current.append(piece)
                    tokens += piece.tokens
            if current:
                requests.append(current)
        return requests

    def _run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Runs the tasks concurrently: on the pool, the first on this
        thread when nothing caps them (as `SymaiEngine` runs calls)."""
        if self.concurrency is not None:
            futures = [self._pool.submit(task) for task in tasks]
            return [future.result() for future in futures]
        futures = [self._pool.submit(task) for task in tasks[1:]]
        first = [tasks[0]()] if tasks else []
        return first + [future.result() for future in futures]


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name}: must be {bound}, got {value}")


def _tokens(text: str) -> int:
    """Estimated tokens of a text: a token per 4 bytes of UTF-8, rounded up,
    at least 1 (the server's estimate)."""
    return max(1, -(-len(text.encode("utf-8")) // 4))


def _kwargs_key(kwargs: dict[str, object]) -> str:
    import json

    return json.dumps(kwargs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _model(engine: Engine) -> str:
    """The model name symai's engine says it uses ("" when it says none)."""
    for attribute in ("model", "model_name"):
        value = getattr(engine, attribute, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _send(
    engine: Engine, request: list[_Piece], calls: list[EngineCall]
) -> tuple[list[list[float]], int | None] | Exception:
    """One request to symai's engine: its vectors, in text order, and the
    prompt tokens the engine reported (None: not reported); or the error."""
    from symai.core import Argument

    texts = [piece.text for piece in request]
    kwargs = dict(calls[request[0].call].kwargs)
    try:
        argument = Argument((), kwargs, {"entries": texts})
        engine.prepare(argument)
        result, metadata = engine.forward(argument)
        return _vectors(engine, result, len(texts)), _prompt_tokens(engine, metadata or {})
    except Exception as exc:  # noqa: BLE001 - fails the request's calls only
        return exc


def _vectors(engine: Engine, result: object, texts: int) -> list[list[float]]:
    """The vectors of symai's `[vectors]` (or a bare list of vectors)."""
    result = result.tolist() if hasattr(result, "tolist") else result
    if isinstance(result, list) and len(result) == 1 and _is_vectors(result[0]):
        result = result[0]
    if not _is_vectors(result):
        raise TypeError(
            f"{type(engine).__name__}.forward returned {type(result).__name__}, expected "
            "[vectors] (one list of floats per input), as symai's embedding engines return"
        )
    assert isinstance(result, list)
    vectors = [list(map(float, v.tolist() if hasattr(v, "tolist") else v)) for v in result]
    if len(vectors) != texts:
        raise ValueError(f"{type(engine).__name__}.forward returned {len(vectors)} vectors for {texts} inputs")
    return vectors


def _is_vectors(value: object) -> bool:
    """A list of vectors (lists or arrays of numbers)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return isinstance(value, list) and all(
        isinstance(v, list) or (hasattr(v, "tolist") and getattr(v, "ndim", 0) == 1) for v in value
    )


def _prompt_tokens(engine: Engine, metadata: dict[str, object]) -> int | None:
    """The prompt tokens of one request, as symai's engine reported them:
    its usage record, else `usage` of its `raw_output` (OpenAI's response)
    or of the metadata itself."""
    try:
        record = engine.usage_record_from_metadata(metadata)
    except Exception:  # noqa: BLE001 - engines without usage
        record = None
    if record is not None and isinstance(getattr(record, "prompt_tokens", None), int):
        return int(record.prompt_tokens)
    raw = metadata.get("raw_output")
    for usage in (getattr(raw, "usage", None), raw.get("usage") if isinstance(raw, dict) else None, metadata.get("usage")):
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else getattr(usage, "prompt_tokens", None)
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            return tokens
    return None


def _give_back(
    request: list[_Piece],
    outcome: tuple[list[list[float]], int | None] | Exception,
    answers: list[_Answer],
) -> None:
    """A request's vectors (and its tokens, shared by estimate) to its calls."""
    if isinstance(outcome, Exception):
        for piece in request:
            answers[piece.call].error = answers[piece.call].error or outcome
        return
    vectors, tokens = outcome
    shares = _shares(tokens or 0, [piece.tokens for piece in request])
    for piece, vector, share in zip(request, vectors, shares):
        answer = answers[piece.call]
        answer.vectors.append(vector)
        answer.tokens += share
        answer.tokens_known = answer.tokens_known or tokens is not None
        answer.request_inputs = answer.request_inputs or len(request)


def _shares(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, the rounding put on the
    last (the server's rule for `openai-embeddings`)."""
    weight = max(1, sum(weights))
    shares = [total * w // weight for w in weights]
    if shares:
        shares[-1] += total - sum(shares)
    return shares


def _reply(answer: _Answer, model: str) -> Reply:
    if answer.error is not None:
        return answer.error
    metadata: dict[str, object] = {}
    if model:
        metadata["model"] = model
    if answer.tokens_known:
        metadata["usage"] = {"prompt_tokens": answer.tokens, "total_tokens": answer.tokens}
    metadata["request_inputs"] = answer.request_inputs
    return answer.vectors, metadata
