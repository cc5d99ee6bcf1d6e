"""symai engines registered the way the original library's users registered
theirs: a symai `Engine` under "neurosymbolic" with
`EngineRepository.register("neurosymbolic", engine, allow_engine_override=True)`.

`registered(engine)` registers one for the duration of a `with` block and
puts back whatever symai had before, so other tests see symai as it was.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from symai.backend.base import Engine
from symai.functional import EngineRepository

ANSWER_PREFIX = "mock answer to: "


class MockEngine(Engine):
    """Answers `"mock answer to: " + processed_input`, one call at a time, as
    symai calls an engine (prepare, then forward with one Argument). Records
    what it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.inputs: list[Any] = []
        self.kwargs: list[dict[str, Any]] = []

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument: Any) -> None:
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        processed = argument.prop.prepared_input
        with self.lock:
            self.inputs.append(processed)
            self.kwargs.append(dict(argument.kwargs))
        text = f"{ANSWER_PREFIX}{processed}"
        usage = {"prompt_tokens": len(str(processed).split()), "completion_tokens": 4, "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + 4
        return [text], {"usage": usage}


class MockBatchEngine(MockEngine):
    """A batching engine as the original library's tests wrote them
    (`allows_batching`, `forward(list_of_arguments)` returning the answers and
    their metadata): raises for the whole batch when any call mentions
    "error"."""

    allows_batching = True

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []
        self.failed_batch_sizes: list[int] = []

    def forward(self, arguments: Any) -> Any:  # type: ignore[override]
        failing = any("error" in str(a.prop.prepared_input) for a in arguments)
        with self.lock:
            self.batch_sizes.append(len(arguments))
            if failing:
                self.failed_batch_sizes.append(len(arguments))
        if failing:
            raise ValueError("Simulated engine error for the entire batch")
        answers = [f"{ANSWER_PREFIX}{a.prop.prepared_input}" for a in arguments]
        return answers, [{} for _ in arguments]


@contextlib.contextmanager
def registered(engine: Engine) -> Iterator[Engine]:
    """`engine` is symai's neurosymbolic engine inside the block."""
    repository = EngineRepository()
    before = repository._engines.get("neurosymbolic")
    EngineRepository.register("neurosymbolic", engine, allow_engine_override=True)
    try:
        yield engine
    finally:
        if before is None:
            repository._engines.pop("neurosymbolic", None)
        else:
            repository._engines["neurosymbolic"] = before
