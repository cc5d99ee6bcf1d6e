"""Message size limits on the client side: an item, a result or an engine
call too large for one gRPC message fails alone, with an error that names the
limit, instead of breaking the stream it would travel on (and with it every
other item of the job or the worker). Chunks of several items, results or
calls are split below the limit.

The limit itself is `_settings.MAX_MESSAGE_BYTES` (`SYMBATCHER_MAX_MESSAGE_BYTES`),
read when a check runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from symbatcher._errors import EncodingError
from symbatcher.v1 import common_pb2
from symbatcher.wire import _settings

#: Bytes of a message that are not the payload of its one item, result or
#: call (envelope, ids, flags); a payload may take the rest.
ENVELOPE_BYTES = 1024
#: Bytes one entry of a chunk adds besides its own size (field tag, length).
ENTRY_BYTES = 16
#: The variable that sets the limit, named in every error.
LIMIT_SETTING = "SYMBATCHER_MAX_MESSAGE_BYTES, the server's --max-message-bytes"

M = TypeVar("M")


def message_limit() -> int:
    return _settings.MAX_MESSAGE_BYTES


def payload_limit() -> int:
    """Largest payload of one item, result or engine call."""
    return message_limit() - ENVELOPE_BYTES


def too_large(what: str, size: int) -> str:
    """The message of an oversized payload's error."""
    limit = message_limit()
    return (
        f"{what} is {size} bytes encoded, over the {limit}-byte message limit "
        f"(at most {limit - ENVELOPE_BYTES} bytes per payload; {LIMIT_SETTING})"
    )


def result_outcome(payload: bytes, index: int) -> common_pb2.Outcome:
    """The Outcome that carries a result's `payload`, or an EncodingError in its
    place when the payload cannot fit in a message."""
    if len(payload) <= payload_limit():
        return common_pb2.Outcome(payload=payload)
    return common_pb2.Outcome(
        error=common_pb2.ItemError(
            kind=common_pb2.ERROR_KIND_ENCODING,
            type="EncodingError",
            message=too_large(f"result of item {index}", len(payload)),
        )
    )


def check_call(prompt: str, messages_json: str, kwargs_json: str) -> None:
    """Raises EncodingError when an engine call cannot fit in a message."""
    limit = payload_limit()
    chars = len(prompt) + len(messages_json) + len(kwargs_json)
    if chars * 4 <= limit:  # a character is at most 4 bytes of UTF-8
        return
    size = len(prompt.encode()) + len(messages_json.encode()) + len(kwargs_json.encode())
    if size > limit:
        raise EncodingError(too_large("engine call", size))


def split(messages: Sequence[M]) -> Iterator[list[M]]:
    """`messages` (protobuf messages) in runs that each fit in one message."""
    budget = message_limit() - ENVELOPE_BYTES
    run: list[M] = []
    size = 0
    for message in messages:
        cost = message.ByteSize() + ENTRY_BYTES  # type: ignore[attr-defined]
        if run and size + cost > budget:
            yield run
            run, size = [], 0
        run.append(message)
        size += cost
    if run:
        yield run


#: Deepest nesting of containers (dicts, lists, tuples, sets) in a job's
#: kwargs: deeper ones are refused before anything is sent (JSON encoders and
#: decoders on every side recurse per level).
MAX_KWARGS_DEPTH = 64


def kwargs_depth_error(kwargs: dict[str, object]) -> str:
    """"" when no kwarg nests deeper than MAX_KWARGS_DEPTH, else the message
    that names the kwarg and the limit. Walks without recursion."""
    for name, value in kwargs.items():
        stack: list[tuple[object, int]] = [(value, 1)]
        while stack:
            current, depth = stack.pop()
            if isinstance(current, dict):
                children: Iterable[object] = current.values()
            elif isinstance(current, (list, tuple, set, frozenset)):
                children = current
            else:
                continue
            if depth > MAX_KWARGS_DEPTH:
                return (
                    f"kwargs[{name!r}]: nested deeper than {MAX_KWARGS_DEPTH} levels "
                    f"(the limit for kwargs); pass a flatter value"
                )
            stack.extend((child, depth + 1) for child in children)
    return ""
