"""symai call objects that stay in this process.

When a worker slot intercepts an engine call, the symai `Argument` that symai
built for it (instance, prompt, examples, processed input, every property)
is put here under a `local_ref` sent with the call. An engine served from the
same process (`SymaiEngine`) answers from that very object, so the call
reaches symai's engine exactly as it would without symbatcher, and the
engine's own return values (not only their text) go back to the slot. An
engine anywhere else sees only the call's prompt, messages and kwargs.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symai.core import Argument


@dataclass
class LocalCall:
    """One intercepted call: its symai Argument and, once an engine in this
    process answered it, that engine's `(result, metadata)`."""

    argument: Argument
    answer: tuple[object, dict[str, object]] | None = None


class LocalCalls:
    """The process-wide table of intercepted calls by `local_ref`. Dict
    operations are atomic, so slots and engine threads share it unlocked."""

    def __init__(self) -> None:
        self._prefix = f"{uuid.uuid4().hex}:"
        self._ids = itertools.count(1)
        self._calls: dict[str, LocalCall] = {}

    def put(self, argument: Argument) -> str:
        ref = f"{self._prefix}{next(self._ids)}"
        self._calls[ref] = LocalCall(argument)
        return ref

    def get(self, ref: str) -> LocalCall | None:
        return self._calls.get(ref) if ref else None

    def pop(self, ref: str) -> LocalCall | None:
        return self._calls.pop(ref, None)

    def __len__(self) -> int:
        return len(self._calls)


LOCAL_CALLS = LocalCalls()
