"""`SymaiEngine`: a `BatchEngine` that answers every call with symai's own
neurosymbolic engine, so that every provider symai supports (OpenAI,
Anthropic, Gemini, Groq, DeepSeek, OpenRouter, a local llama.cpp or vLLM
`symserver`, an engine registered with `EngineRepository.register`, ...)
works through symbatcher. It is what `BatchScheduler()` uses when no engine
is named and symai has one (see `engines/_default_engine`).

How a call reaches the engine:

- A call intercepted in this process carries a `local_ref` to the symai
  `Argument` symai built for it (`_local_calls`). The engine gets that very
  object: `engine.prepare(argument)` then `engine.forward(argument)`, as
  symai's own query path does, and its return values go back to the slot
  untouched. The answer is the one symai's engine would give without
  symbatcher.
- A call from another process (a remote worker) is rebuilt as symai's raw
  input: the chat messages the worker rendered (system prompt included), so
  the engine sends what symai would have sent. Request kwargs reach the
  engine as symai kwargs (it keeps those it supports).

The calls of a batch run concurrently: the first on the batch's own thread,
the others on a thread pool shared by all batches, and each call's reply
goes back as soon as it is ready (`forward_each`): no call waits for the
slowest of its batch. By default nothing caps
them, so as many calls run at once as the worker slots calling the engine
make (the pool grows on demand, `_thread_pools`); `concurrency` caps the calls
running at once, `max_concurrency` the batches. An engine with
`allows_batching = True` (the original library's batch engines) gets the
whole batch at once: `engine.forward([argument, ...])` returning
`(results, metadata_list)`. The reply's metadata carries the call's token
`usage`.

Jobs on it use the server's call cache by default (`cache_by_default`), as
jobs on the server's own openai engines do: a re-run pays for no call twice.
A call answered from the cache (or by an identical call in flight) gets the
JSON form of what symai's engine returned: the text of its first result and
its JSON-serialisable metadata, with `"cached": true`; objects that are not
JSON (`raw_output`, the provider's response object) are not in it.
"""

from __future__ import annotations

import functools
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from symbatcher.wire._codec import is_json_value
from symbatcher.engines._batch_engine import BatchEngine, EngineCall
from symbatcher.engines._local_calls import LOCAL_CALLS, LocalCall
from symbatcher.engines._thread_pools import check_limit, thread_pool

if TYPE_CHECKING:
    from symai.backend.base import Engine
    from symai.core import Argument

Reply = tuple[str, dict[str, object]] | Exception


class SymaiEngine(BatchEngine):
    """Serves batches with symai's configured neurosymbolic engine.

    `concurrency`: calls running at once at most (across batches); None, the
    default: no cap, as many as the slots calling the engine make.
    `max_concurrency`: batches the server may send at once; None, the
    default: no cap (they follow the slots). `engine`: a symai `Engine`
    instance to use instead of the configured one (resolved on first use, in
    a thread that symbatcher does not intercept). `reply_each` (default
    True): each call's reply goes back as soon as symai's engine returns it,
    and calls leave for the engine at once; False: a batch's replies go back
    together when its last call returns, and calls wait for their batch to
    fill, which costs the process fewer messages per call (where it is
    CPU-bound: hundreds of slots on a fast engine) and makes every item of a
    batch wait for its slowest call.

    `process` (default False): a BatchScheduler serves the engine from a
    Python process of its own (`_engine_process`), started with the
    scheduler and stopped with it, so that symai's engine work does not
    take the interpreter lock the worker slots need: with many slots that
    lock, not the engine's latency, bounds a run served from the
    scheduler's process. The engine (`engine`, else the one symai has here)
    is then pickled into that process (`symai_engine_pickle`), its calls
    reach it as a remote worker's do (the rendered chat messages and
    kwargs), and answers come back in their JSON form, as from the call
    cache.
    """

    #: symai's engines call providers that charge per call.
    cache_by_default = True

    def __init__(
        self,
        *,
        concurrency: int | None = None,
        max_concurrency: int | None = None,
        engine: Engine | None = None,
        reply_each: bool = True,
        process: bool = False,
    ) -> None:
        # `concurrency` sizes this process's own pool; `max_concurrency` is
        # checked by the server when the engine registers.
        limit = check_limit("concurrency", concurrency)
        if limit is not None and limit < 1:
            raise ValueError(f"concurrency: must be at least 1 (None for no limit), got {limit}")
        if not isinstance(reply_each, bool):
            raise TypeError(f"reply_each: must be True or False, got {type(reply_each).__name__}")
        if not isinstance(process, bool):
            raise TypeError(f"process: must be True or False, got {type(process).__name__}")
        if process and engine is not None:
            _sendable_pickle(engine)
        self.concurrency = limit
        self.max_concurrency = max_concurrency
        self.reply_each = reply_each
        self.process = process
        self._engine = engine
        #: The engine given (None: symai's configured one, resolved on use).
        self._given = engine
        self._lock = threading.Lock()
        self._pool = thread_pool(limit, "symai-engine")

    @property
    def answers_per_call(self) -> bool:  # type: ignore[override]
        """True with `reply_each`, unless symai's engine takes whole batches
        (`allows_batching`): each call is then a request of its own, so it
        leaves at once."""
        if not self.reply_each:
            return False
        try:
            engine = self.engine()
        except Exception:  # noqa: BLE001 - no engine yet: its calls fail as they come
            return True
        return not getattr(engine, "allows_batching", False)

    def _answers_each(self) -> bool:
        # An engine that takes whole batches answers them whole either way.
        return self.answers_per_call

    def engine(self) -> Engine:
        """The symai engine calls go to (symai's configured one by default)."""
        with self._lock:
            if self._engine is None:
                from symai.functional import EngineRepository

                self._engine = EngineRepository.get("neurosymbolic")
            return self._engine

    def symai_engine_pickle(self) -> bytes:
        """What the engine process of `process=True` serves, pickled: the
        engine given, else the one symai has in this process (registered
        with `EngineRepository.register`, or built from symai's
        configuration). None (pickled) when that is one of symai's own
        engines that does not pickle: the engine process builds it from the
        same configuration. TypeError naming `engine` for an engine of
        another kind that cannot get there."""
        engine = self.engine()
        try:
            return _sendable_pickle(engine)
        except TypeError:
            if self._given is None and type(engine).__module__.split(".")[0] == "symai":
                return pickle.dumps(None)
            raise

    def describe(self) -> str:
        """`symai:<EngineClass>[:<model>]`, the engine's name in Status and summaries."""
        engine = self.engine()
        model = getattr(engine, "model", None)
        name = f"symai:{type(engine).__name__}"
        return f"{name}:{model}" if isinstance(model, str) and model else name

    def forward(self, calls: list[EngineCall]) -> list[Reply]:
        # The whole batch's replies (`reply_each=False`): `forward_each`
        # answers every call before it returns, or raises.
        replies: list[Reply] = [RuntimeError("not answered")] * len(calls)

        def keep(i: int, reply: Reply) -> None:
            replies[i] = reply

        self.forward_each(calls, keep)
        return replies

    def forward_each(self, calls: list[EngineCall], answer: Callable[[int, Reply], None]) -> None:
        engine = self.engine()
        if getattr(engine, "allows_batching", False):
            for i, reply in enumerate(_batch(engine, calls)):
                answer(i, reply)
            return
        self._submit_each(calls, answer).result()

    def _submits_each(self) -> bool:
        """Whether `_submit_each` may start a batch: symai's engine is
        resolved (resolving it may block) and answers one call at a time."""
        engine = self._engine
        return engine is not None and self.reply_each and not getattr(engine, "allows_batching", False)

    def _submit_each(self, calls: list[EngineCall], answer: Callable[[int, Reply], None]) -> Future[None]:
        """Runs each call on the pool without waiting: each answers from
        the thread that ran it, as soon as it returns. The future is done
        once every call has answered."""
        engine = self.engine()
        done: Future[None] = Future()
        left = [len(calls)]
        lock = threading.Lock()

        def answered(i: int, future: Future[Reply]) -> None:
            try:
                answer(i, _result(future))
            finally:
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    done.set_result(None)

        if not calls:
            done.set_result(None)
        for i, call in enumerate(calls):
            try:
                future = self._pool.submit(_call, engine, call)
            except RuntimeError as exc:  # the pool is shut down (`close()`): the call fails
                future = Future()
                future.set_exception(exc)
            future.add_done_callback(functools.partial(answered, i))
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _sendable_pickle(engine: Engine) -> bytes:
    """`engine` pickled for a process of its own (`process=True`):
    TypeError naming the field when that cannot work."""
    cls = type(engine)
    if cls.__module__ == "__main__":
        raise TypeError(
            f"engine: SymaiEngine(process=True) sends the engine to a process of its own, which cannot "
            f"import {cls.__qualname__} from __main__; define its class in a module, or use process=False"
        )
    try:
        return pickle.dumps(engine)
    except Exception as exc:  # noqa: BLE001 - pickle raises many kinds
        raise TypeError(
            f"engine: SymaiEngine(process=True) sends the engine to a process of its own, and "
            f"{cls.__qualname__} cannot be pickled ({type(exc).__name__}: {exc}); "
            f"use process=False"
        ) from None


def _result(future: Future[Reply]) -> Reply:
    """A call's reply from its future (a cancelled one fails the call)."""
    try:
        return future.result()
    except BaseException as exc:  # noqa: BLE001 - cancelled at shutdown
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc) or type(exc).__name__)


def _argument(call: EngineCall) -> tuple[Argument, LocalCall | None]:
    """The symai Argument of a call: the original one when it is in this
    process, else one rebuilt from the call's messages (or prompt)."""
    local = LOCAL_CALLS.get(call.local_ref)
    if local is not None:
        return local.argument, local
    from symai.core import Argument

    argument = Argument((), {**call.kwargs, "raw_input": True}, {})
    argument.prop.processed_input = call.messages or call.prompt
    return argument, None


def _call(engine: Engine, call: EngineCall) -> Reply:
    """One call through symai's engine; an exception fails only this call."""
    try:
        argument, local = _argument(call)
        engine.prepare(argument)
        result, metadata = engine.forward(argument)
    except Exception as exc:  # noqa: BLE001 - the call's own failure
        return exc
    return _reply(engine, local, result, metadata or {})


def _batch(engine: Engine, calls: list[EngineCall]) -> list[Reply]:
    """A batch through an engine that takes a list of Arguments; raising
    fails the whole batch."""
    pairs = [_argument(call) for call in calls]
    arguments = [argument for argument, _ in pairs]
    for argument in arguments:
        engine.prepare(argument)
    results, metadata_list = engine.forward(arguments)
    if len(results) != len(calls):
        raise ValueError(f"{type(engine).__name__}.forward returned {len(results)} results for {len(calls)} calls")
    metadata_list = list(metadata_list or [{}] * len(calls))
    return [
        _reply(engine, local, result if isinstance(result, list) else [result], metadata or {})
        for (_, local), result, metadata in zip(pairs, results, metadata_list)
    ]


def _reply(engine: Engine, local: LocalCall | None, result: object, metadata: dict[str, object]) -> Reply:
    """The wire reply (text and JSON metadata); a local call also keeps the
    engine's own return values for its slot (with the call's token `usage`
    added when the engine's metadata has none, as every engine reports it)."""
    wire = _metadata(engine, metadata)
    if local is not None:
        if "usage" in wire and "usage" not in metadata:
            metadata = {**metadata, "usage": wire["usage"]}
        local.answer = (result, metadata)
    text = result[0] if isinstance(result, list) and result else result
    return ("" if text is None else str(text)), wire


def _metadata(engine: Engine, metadata: dict[str, object]) -> dict[str, object]:
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
    elif isinstance(metadata.get("usage"), dict) and is_json_value(metadata["usage"]):
        out["usage"] = metadata["usage"]
    return out
