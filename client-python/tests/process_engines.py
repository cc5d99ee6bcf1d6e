"""symai engines that `SymaiEngine(process=True)` can send to an engine
process: their classes live in a module and their state pickles."""

from __future__ import annotations

import os
from typing import Any

from symai.backend.base import Engine


class PidEngine(Engine):
    """Answers `"<pid>|<last message>"`: which process answered, and what."""

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument: Any) -> None:
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        prepared = argument.prop.prepared_input
        text = prepared[-1]["content"] if isinstance(prepared, list) else str(prepared)
        return [f"{os.getpid()}|{text}"], {}


class DiesOnceEngine(PidEngine):
    """Ends its process at its first call, once: when `marker` does not exist
    yet (it creates it first)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        try:
            with open(self.marker, "x"):
                pass
        except FileExistsError:
            return super().forward(argument)
        os._exit(9)


class UnpicklesBadly(PidEngine):
    """Pickles, but cannot be unpickled: the engine process cannot start."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise RuntimeError("this engine refuses to be unpickled")
