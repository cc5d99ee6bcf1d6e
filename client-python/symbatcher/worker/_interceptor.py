"""Intercepts the engine calls a forward() makes while a worker runs an item.

symai resolves its neurosymbolic engine through its engine registry, which
first consults the `CURRENT_ENGINE_VAR` context variable (the mechanism behind
symai's own `DynamicEngine`). Each worker slot (a thread or a greenlet) sets
that variable to a `BatchingEngine`, so every `Symbol.query` (and anything
else that reaches the neurosymbolic engine) inside forward() is sent to the
symbatcher server, tagged with the item's run, and answered from the batch it
joined. Code that does not run in a worker slot is untouched.
"""

from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from symai.backend.base import Engine
from symai.context import CURRENT_ENGINE_VAR

from symbatcher._errors import SymbatcherError
from symbatcher.wire._codec import is_json_value
from symbatcher.engines._local_calls import LOCAL_CALLS
from symbatcher.engines._system_prompt import render_system

if TYPE_CHECKING:
    from collections.abc import Iterable

    from symai.core import Argument


class EngineCaller(Protocol):
    def call_engine(
        self,
        task_id: int,
        prompt: str,
        messages: list[dict[str, object]],
        kwargs: dict[str, object],
        local_ref: str = "",
    ) -> tuple[str, dict[str, object]]: ...

    def call_embedding(
        self,
        task_id: int,
        inputs: list[str],
        kwargs: dict[str, object],
        local_ref: str = "",
    ) -> tuple[list[list[float]], dict[str, object]]: ...

    def pause(self, task_id: int, seconds: float) -> None: ...


@dataclass(frozen=True)
class SlotBinding:
    """The item run the current slot runs, and for whom."""

    caller: EngineCaller | None = None
    task_id: int = 0
    #: False when the job's engine reads only the prompt, which saves
    #: rendering symai's system prompt per call.
    wants_messages: bool = True
    #: True when the job has an engine for embedding calls.
    embeds: bool = False


#: The binding of the current slot. A context variable, so that it is
#: private to each slot whether slots are threads or greenlets.
_BINDING: ContextVar[SlotBinding] = ContextVar("symbatcher_slot", default=SlotBinding())


def bind_slot(
    caller: EngineCaller | None,
    task_id: int = 0,
    wants_messages: bool = True,
    embeds: bool = False,
) -> None:
    """Marks the current slot (thread or greenlet) as running `task_id` for
    `caller` (None unbinds); see `SlotBinding`."""
    _BINDING.set(SlotBinding(caller, task_id, wants_messages, embeds))


def slot_binding() -> SlotBinding:
    """The current slot's binding (its caller None outside an item run)."""
    return _BINDING.get()


def sleep(seconds: float) -> None:
    """Waits `seconds` inside forward() without holding up its worker's
    other slots: a greenlet slot lets them run meanwhile (`time.sleep`
    would stop every slot of its process), and a thread slot holds back
    none of their engine calls. Like an engine call, it raises
    `RunCancelledError` when the item's run is cancelled (job cancelled,
    item timed out). Outside a worker slot (and in threads that forward()
    starts) it is `time.sleep`."""
    if seconds < 0:
        raise ValueError(f"sleep length must be non-negative, got {seconds!r}")
    binding = _BINDING.get()
    if binding.caller is None:
        time.sleep(seconds)
    else:
        binding.caller.pause(binding.task_id, seconds)


class BatchingEngine(Engine):  # type: ignore[misc]  # symai is untyped
    """The neurosymbolic engine seen by forward() inside a worker slot."""

    def __init__(self) -> None:
        super().__init__()
        # symai's own bookkeeping kwargs are not request parameters;
        # response_format is both, and is kept.
        self._ignored = frozenset(set(self.ignored_request_kwargs()) - {"response_format"})

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument: Argument) -> None:
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument: Argument) -> tuple[object, dict[str, object]]:
        binding = _BINDING.get()
        caller, task_id, wants_messages = binding.caller, binding.task_id, binding.wants_messages
        if caller is None:
            raise SymbatcherError("engine call outside a symbatcher item run")
        prompt, messages = self._prompt_and_messages(argument, wants_messages)
        kwargs = self._request_kwargs(argument.kwargs.items())
        # An engine in this process answers from the Argument itself and
        # leaves its own return values here (see `_local_calls`).
        ref = LOCAL_CALLS.put(argument)
        try:
            text, metadata = caller.call_engine(task_id, prompt, messages, kwargs, ref)
            local = LOCAL_CALLS.get(ref)
            if local is not None and local.answer is not None:
                return local.answer
        finally:
            LOCAL_CALLS.pop(ref)
        return [text], metadata

    def _prompt_and_messages(
        self, argument: Argument, wants_messages: bool
    ) -> tuple[str, list[dict[str, object]]]:
        processed = argument.prop.processed_input
        if isinstance(processed, list):
            chat = [m for m in processed if isinstance(m, dict)]
            user = [m.get("content") for m in chat if m.get("role") == "user"]
            return (str(user[-1]) if user else json.dumps(chat)), chat
        if isinstance(processed, dict):
            return str(processed.get("content", "")), [processed]
        prompt = "" if processed is None else str(processed)
        messages: list[dict[str, object]] = []
        if not wants_messages:
            return prompt, messages
        if not argument.prop.raw_input:
            system = render_system(argument)
            # symai's chat engines send their system message even when it
            # renders empty.
            if system is not None:
                messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": prompt})
        return prompt, messages

    def _request_kwargs(self, items: Iterable[tuple[str, object]]) -> dict[str, object]:
        return {
            key: value
            for key, value in items
            if key not in self._ignored
            and value is not None
            and not (key == "stop" and not value)
            and is_json_value(value)
        }


_ENGINE: BatchingEngine | None = None
_ENGINE_LOCK = threading.Lock()


def install_in_context() -> None:
    """Routes the neurosymbolic engine calls made in the current context (a
    slot thread's, or a slot greenlet's) to symbatcher, and puts symbatcher's
    embedding engine in symai's registry (see `_embedding_interceptor`)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = BatchingEngine()
    CURRENT_ENGINE_VAR.set(_ENGINE)
    from symbatcher.worker._embedding_interceptor import install_embedding_engine

    install_embedding_engine()
