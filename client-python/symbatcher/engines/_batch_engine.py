"""`BatchEngine`: subclass it to answer whole batches of engine calls in
Python. `answer_batch` runs one batch through it and encodes the replies;
`_engine_connection` serves it to a server over `EngineService.Serve`."""

from __future__ import annotations

import abc
import json
import traceback
from dataclasses import dataclass, field
from collections.abc import Sequence

from symbatcher._errors import SymbatcherError
from symbatcher.v1 import common_pb2, engine_pb2


#: One reply of a BatchEngine: the text, the text with metadata for symai, or
#: the exception that fails its call.
Reply = str | tuple[str, dict[str, object]] | Exception


@dataclass(frozen=True)
class EngineCall:
    """One engine call of a batch, as a `BatchEngine` receives it."""

    prompt: str
    messages: list[dict[str, object]] = field(default_factory=list)
    kwargs: dict[str, object] = field(default_factory=dict)
    #: Set when the call's symai Argument is in this process (`_local_calls`).
    local_ref: str = ""


class BatchEngine(abc.ABC):
    """Answers batches of engine calls in Python.

    Implement `forward(calls)` returning one reply per call, in order: a
    `str`, a `(str, dict)` pair whose dict reaches symai as the call's
    metadata, or an `Exception` (that call fails). Raising fails the whole batch, and
    every item whose call was in it sees an `EngineError` with the message.

    Each batch runs on a thread of its own. `max_concurrency` caps the batches
    answered at once (1..1024); None, the default, caps nothing: the server
    sends each batch as it forms, so batches in flight follow the worker slots
    calling the engine, and `forward` runs on several threads at once: set
    `max_concurrency = 1` for a `forward` that is not thread-safe.
    `cache_by_default = True` says the engine pays per call:
    jobs on it then use the server's call cache unless they set `cache=`.
    """

    max_concurrency: int | None = None
    cache_by_default: bool = False

    @abc.abstractmethod
    def forward(self, calls: list[EngineCall]) -> Sequence[Reply]:
        """One reply per call, in order."""


def _error(exc: BaseException) -> common_pb2.ItemError:
    return common_pb2.ItemError(
        kind=common_pb2.ERROR_KIND_ENGINE,
        type=type(exc).__name__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def answer_batch(engine: BatchEngine, batch: engine_pb2.EngineBatch) -> engine_pb2.EngineBatchResult:
    """Runs `engine.forward` on a batch and encodes its answers."""
    calls = [
        EngineCall(
            prompt=call.prompt,
            messages=json.loads(call.messages_json) if call.messages_json else [],
            kwargs=json.loads(call.kwargs_json) if call.kwargs_json else {},
            local_ref=call.local_ref,
        )
        for call in batch.calls
    ]
    result = engine_pb2.EngineBatchResult(batch_id=batch.batch_id)
    try:
        replies = engine.forward(calls)
        if len(replies) != len(calls):
            raise SymbatcherError(
                f"{type(engine).__name__}.forward returned {len(replies)} replies for "
                f"{len(calls)} calls"
            )
    except Exception as exc:
        result.batch_error.CopyFrom(_error(exc))
        return result
    for call, reply in zip(batch.calls, replies):
        out = result.replies.add(call_id=call.call_id)
        if isinstance(reply, BaseException):
            out.error.CopyFrom(_error(reply))
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
            bad = TypeError(
                f"reply is {type(reply).__name__}, expected str, (str, dict) or Exception"
            )
            out.error.CopyFrom(_error(bad))
    return result
