"""`BatchEngine`: subclass it to answer whole batches of engine calls in
Python, chat calls (the default) or embedding calls (`call_kind =
"embedding"`). `answer_batch` runs one batch through it and encodes the
replies; `serve_batch` sends them all at once, or each as soon as it is
ready (`forward_each`); `_engine_connection` serves it to a server over
`EngineService.Serve`."""

from __future__ import annotations

import abc
import json
import threading
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence

from symbatcher._errors import SymbatcherError
from symbatcher.v1 import common_pb2, engine_pb2


#: One reply of a BatchEngine: the text, the text with metadata for symai, or
#: the exception that fails its call. An embedding engine's reply is its
#: call's vectors (one per input), alone or with metadata, or an exception.
Vectors = list[list[float]]
Reply = str | tuple[str, dict[str, object]] | Vectors | tuple[Vectors, dict[str, object]] | Exception

#: The kinds of call a BatchEngine may answer (`BatchEngine.call_kind`).
CALL_KINDS = {
    "neurosymbolic": common_pb2.CALL_KIND_NEUROSYMBOLIC,
    "embedding": common_pb2.CALL_KIND_EMBEDDING,
}


@dataclass(frozen=True)
class EngineCall:
    """One engine call of a batch, as a `BatchEngine` receives it."""

    prompt: str
    messages: list[dict[str, object]] = field(default_factory=list)
    kwargs: dict[str, object] = field(default_factory=dict)
    #: Set when the call's symai Argument is in this process (`_local_calls`).
    local_ref: str = ""
    #: An embedding call's texts (one vector each in its reply); empty for
    #: a chat call.
    inputs: list[str] = field(default_factory=list)


class BatchEngine(abc.ABC):
    """Answers batches of engine calls in Python.

    Implement `forward(calls)` returning one reply per call, in order: a
    `str`, a `(str, dict)` pair whose dict reaches symai as the call's
    metadata, or an `Exception` (that call fails). Raising fails the whole batch, and
    every item whose call was in it sees an `EngineError` with the message.

    `call_kind = "embedding"` makes it an engine of embedding calls
    (`BatchScheduler(embedding_engine=...)`): each call then has `inputs`,
    and its reply is one vector (a list of floats) per input, alone or as
    a `(vectors, dict)` pair, or an `Exception`.

    Each batch runs on a thread of its own. `max_concurrency` caps the batches
    answered at once (1..1024); None, the default, caps nothing: the server
    sends each batch as it forms, so batches in flight follow the worker slots
    calling the engine, and `forward` runs on several threads at once: set
    `max_concurrency = 1` for a `forward` that is not thread-safe.
    `cache_by_default = True` says the engine pays per call:
    jobs on it then use the server's call cache unless they set `cache=`.

    An engine whose calls are requests of their own overrides `forward_each`
    to answer each call as soon as it is ready, and sets
    `answers_per_call = True`: its calls then leave for it at once, without
    waiting for a batch to fill (as the server's openai engine sends them).
    """

    max_concurrency: int | None = None
    cache_by_default: bool = False
    #: Calls leave for this engine at once instead of waiting for a batch
    #: to fill (`RegisterEngine.answers_per_call`).
    answers_per_call: bool = False
    #: The kind of call it answers: "neurosymbolic" (chat) or "embedding".
    call_kind: str = "neurosymbolic"

    @abc.abstractmethod
    def forward(self, calls: list[EngineCall]) -> Sequence[Reply]:
        """One reply per call, in order."""

    def forward_each(self, calls: list[EngineCall], answer: Callable[[int, Reply], None]) -> None:
        """Answers each call as soon as its reply is ready: `answer(i, reply)`
        once for `calls[i]`, from any thread, before returning. Each reply
        goes to its item at once, so no call waits for the slowest of its
        batch. Override it for an engine whose calls are requests of their
        own; raising fails the calls not answered yet. The default answers
        them all with `forward(calls)`."""
        replies = self.forward(calls)
        _check_count(self, replies, calls)
        for i, reply in enumerate(replies):
            answer(i, reply)

    def _answers_each(self) -> bool:
        """Whether this engine's class overrides `forward_each`."""
        return type(self).forward_each is not BatchEngine.forward_each

    def _submits_each(self) -> bool:
        """Whether `_submit_each` can start a batch without blocking: for an
        engine that runs each call on a pool of its own (`start_batch`)."""
        return False

    def _submit_each(self, calls: list[EngineCall], answer: Callable[[int, Reply], None]) -> Future[None]:
        """Starts every call without waiting; the future is done once each
        has answered. Only called when `_submits_each()`."""
        raise NotImplementedError(f"{type(self).__name__} answers its batches on a thread (serve_batch)")


def _error(exc: BaseException) -> common_pb2.ItemError:
    return common_pb2.ItemError(
        kind=common_pb2.ERROR_KIND_ENGINE,
        type=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def call_kind(engine: BatchEngine) -> common_pb2.CallKind:
    """The wire kind of the calls `engine` answers; an unknown one is refused
    naming the attribute."""
    kind = getattr(engine, "call_kind", "neurosymbolic")
    if kind not in CALL_KINDS:
        raise ValueError(
            f"{type(engine).__name__}.call_kind: must be one of {sorted(CALL_KINDS)}, got {kind!r}"
        )
    return CALL_KINDS[kind]


def _check_count(engine: BatchEngine, replies: Sequence[Reply], calls: list[EngineCall]) -> None:
    if len(replies) != len(calls):
        raise SymbatcherError(
            f"{type(engine).__name__}.forward returned {len(replies)} replies for {len(calls)} calls"
        )


def _calls(batch: engine_pb2.EngineBatch) -> list[EngineCall]:
    return [
        EngineCall(
            prompt=call.prompt,
            messages=json.loads(call.messages_json) if call.messages_json else [],
            kwargs=json.loads(call.kwargs_json) if call.kwargs_json else {},
            local_ref=call.local_ref,
            inputs=list(call.inputs),
        )
        for call in batch.calls
    ]


def answer_batch(engine: BatchEngine, batch: engine_pb2.EngineBatch) -> engine_pb2.EngineBatchResult:
    """Runs `engine.forward` on a batch and encodes its answers."""
    calls = _calls(batch)
    result = engine_pb2.EngineBatchResult(batch_id=batch.batch_id)
    embeds = call_kind(engine) == common_pb2.CALL_KIND_EMBEDDING
    try:
        replies = engine.forward(calls)
        _check_count(engine, replies, calls)
    except Exception as exc:
        return failed_batch(batch.batch_id, exc)
    for call, reply in zip(batch.calls, replies):
        _encode(result.replies.add(call_id=call.call_id), reply, embeds, len(call.inputs))
    return result


def serve_batch(
    engine: BatchEngine,
    batch: engine_pb2.EngineBatch,
    send: Callable[[engine_pb2.EngineBatchResult], None],
    ahead: bool = True,
) -> None:
    """Runs `engine` on a batch and sends its answers on `send`: an engine
    that overrides `forward_each` each reply as soon as it is ready (a
    `partial` result), then the error that fails the calls it left
    unanswered, if any; any other engine, or any engine when the server
    takes no replies ahead (`ahead` False), the whole batch's result."""
    if not (ahead and engine._answers_each()):
        send(answer_batch(engine, batch))
        return
    answers = BatchAnswers(engine, batch, send)
    problem: Exception | None = None
    try:
        engine.forward_each(_calls(batch), answers.answer)
    except Exception as exc:
        problem = exc
    answers.finish(problem)


def start_batch(
    engine: BatchEngine,
    batch: engine_pb2.EngineBatch,
    send: Callable[[engine_pb2.EngineBatchResult], None],
) -> Future[None] | None:
    """Starts answering a batch without blocking, for an engine that runs
    each call on a pool of its own (`_submit_each`): each reply goes ahead
    on `send` as it is ready. The future is done once every call has its
    reply. None when the engine cannot start it so: serve it with
    `serve_batch`, on a thread."""
    if not engine._submits_each():
        return None
    answers = BatchAnswers(engine, batch, send)
    done = engine._submit_each(_calls(batch), answers.answer)
    done.add_done_callback(lambda ended: answers.finish(ended.exception()))
    return done


class BatchAnswers:
    """The replies to one batch, sent ahead as they come: `answer(i, reply)`
    (from any thread) sends the first reply to `calls[i]` and drops any
    later one; `finish(problem)` fails the calls still unanswered."""

    def __init__(
        self,
        engine: BatchEngine,
        batch: engine_pb2.EngineBatch,
        send: Callable[[engine_pb2.EngineBatchResult], None],
    ) -> None:
        self._engine_name = type(engine).__name__
        self._batch = batch
        self._embeds = call_kind(engine) == common_pb2.CALL_KIND_EMBEDDING
        self._send = send
        self._answered: set[int] = set()
        self._lock = threading.Lock()

    def answer(self, i: int, reply: Reply) -> None:
        calls = self._batch.calls
        if not isinstance(i, int) or not 0 <= i < len(calls):
            return
        with self._lock:
            if i in self._answered:
                return
            self._answered.add(i)
        call = calls[i]
        result = engine_pb2.EngineBatchResult(batch_id=self._batch.batch_id, partial=True)
        _encode(result.replies.add(call_id=call.call_id), reply, self._embeds, len(call.inputs))
        self._send(result)

    def finish(self, problem: BaseException | None) -> None:
        total = len(self._batch.calls)
        with self._lock:
            missing = total - len(self._answered)
            self._answered.update(range(total))  # later answers are dropped
        if not missing:
            return
        if problem is None:
            problem = SymbatcherError(
                f"{self._engine_name}.forward_each returned without answering {missing} of "
                f"{total} calls"
            )
        self._send(failed_batch(self._batch.batch_id, problem))


def failed_batch(batch_id: int, problem: BaseException) -> engine_pb2.EngineBatchResult:
    """The result that fails a batch's calls not answered yet with `problem`."""
    failed = engine_pb2.EngineBatchResult(batch_id=batch_id)
    failed.batch_error.CopyFrom(_error(problem))
    return failed


def _encode(out: common_pb2.EngineReply, reply: object, embeds: bool, inputs: int) -> None:
    """One reply on the wire: its text (and metadata), vectors, or error. A
    reply protobuf cannot carry (text with a lone surrogate, a number too
    large for a float) becomes its call's error, naming why."""
    try:
        _encode_reply(out, reply, embeds, inputs)
    except (UnicodeError, OverflowError, ValueError, TypeError) as exc:
        call_id = out.call_id
        out.Clear()
        out.call_id = call_id
        problem = ValueError(f"the engine's reply cannot be sent: {type(exc).__name__}: {exc}")
        out.error.CopyFrom(_error(problem))


def _encode_reply(out: common_pb2.EngineReply, reply: object, embeds: bool, inputs: int) -> None:
    if isinstance(reply, BaseException):
        out.error.CopyFrom(_error(reply))
    elif embeds:
        _encode_embeddings(out, reply, inputs)
    elif isinstance(reply, str):
        out.text = reply
    elif (
        isinstance(reply, tuple)
        and len(reply) == 2
        and isinstance(reply[0], str)
        and isinstance(reply[1], dict)
    ):
        out.text = reply[0]
        try:
            out.metadata_json = json.dumps(reply[1], ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            out.ClearField("text")
            out.error.CopyFrom(_error(TypeError(f"reply metadata is not JSON: {exc}")))
    else:
        bad = TypeError(f"reply is {type(reply).__name__}, expected str, (str, dict) or Exception")
        out.error.CopyFrom(_error(bad))


def _encode_embeddings(out: common_pb2.EngineReply, reply: object, inputs: int) -> None:
    """An embedding engine's reply: `vectors` or `(vectors, dict)`, one
    vector per input."""
    vectors, metadata = reply if isinstance(reply, tuple) and len(reply) == 2 else (reply, {})
    problem = _vectors_problem(vectors, inputs)
    if problem is None and not isinstance(metadata, dict):
        problem = f"reply metadata is {type(metadata).__name__}, expected dict"
    if problem is None:
        try:
            metadata_json = json.dumps(metadata, ensure_ascii=False) if metadata else ""
        except (TypeError, ValueError) as exc:
            problem = f"reply metadata is not JSON: {exc}"
    if problem is not None:
        out.error.CopyFrom(_error(TypeError(problem)))
        return
    assert isinstance(vectors, list)
    for vector in vectors:
        out.embeddings.vectors.add(values=vector)
    out.metadata_json = metadata_json


def _vectors_problem(vectors: object, inputs: int) -> str | None:
    """Why `vectors` is not one list of numbers per input; None when it is."""
    if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
        return (
            f"reply is {type(vectors).__name__}, expected a list of vectors (lists of floats), "
            "a (vectors, dict) pair or an Exception"
        )
    if len(vectors) != inputs:
        return f"reply holds {len(vectors)} vectors for the call's {inputs} inputs"
    for vector in vectors:
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector):
            return "a vector holds something other than numbers"
    return None
