"""Intercepts the embedding calls a forward() makes while a worker runs an
item (`Symbol.embed`, `Symbol.similarity`, anything that reaches symai's
`embedding` engine).

symai looks its embedding engine up by id in `EngineRepository` (no context
variable applies to it, unlike the neurosymbolic engine), so a
`BatchingEmbeddingEngine` takes the `embedding` id for the whole process.
It holds the engine it replaced (symai's own, found lazily the way symai
finds it) and decides per call:

- in a worker slot whose job has an embedding engine: the call goes to the
  symbatcher server (`EngineCall.kind` embedding, its texts in `inputs`),
  which merges it with every other item's calls; the vectors come back in
  the shape symai's own engine returns (`[vectors]`, one per text); by
  default that engine is symai's own, served from the scheduler's process
  (`SymaiEmbeddingEngine`), so the merged calls reach it as one list input;
- a call whose inputs are not all text (bytes, for a multimodal engine)
  cannot cross the wire: symai's own engine answers it in the slot, as
  without symbatcher (without one, it fails naming the limit);
- in a slot whose job has none: symai's own engine answers in this process,
  as it would without symbatcher; when symai has none either, the call goes
  to the server, which fails it with an error naming the kind and how to
  configure an engine for it;
- outside a slot: symai's own engine, untouched.

symai's `new_dim` kwarg is applied here as symai's OpenAI engine applies it
(cut each vector, then L2-normalize it), and not sent.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from symai.backend.base import Engine

from symbatcher.wire._codec import is_json_value
from symbatcher.worker._interceptor import slot_binding

if TYPE_CHECKING:
    from symai.core import Argument

log = logging.getLogger("symbatcher")

_ID = "embedding"


class BatchingEmbeddingEngine(Engine):  # type: ignore[misc]  # symai is untyped
    """symai's `embedding` engine as forward() sees it (see the module doc)."""

    def __init__(self, original: Engine | None) -> None:
        super().__init__()
        self._original = original
        self._resolved = original is not None
        self._lock = threading.Lock()
        # symai's bookkeeping kwargs, and `entries` (the texts themselves,
        # which `core.embed` also passes as a kwarg; they travel in `inputs`).
        self._ignored = frozenset(self.ignored_request_kwargs()) | {"entries"}

    def id(self) -> str:
        return _ID

    def original(self) -> Engine | None:
        """symai's own embedding engine, or None when symai has none."""
        if not self._resolved:
            with self._lock:
                if not self._resolved:
                    self._original = _resolve_symai_engine(self)
                    self._resolved = True
        return self._original

    def _to_server(self, argument: Argument) -> bool:
        binding = slot_binding()
        if binding.caller is None:
            return False
        if binding.embeds and _all_text(argument.prop.entries):
            return True
        return self.original() is None

    def prepare(self, argument: Argument) -> None:
        original = None if self._to_server(argument) else self.original()
        if original is not None:
            original.prepare(argument)
        else:
            argument.prop.prepared_input = argument.prop.entries

    def __call__(self, argument: Argument) -> tuple[Any, dict[str, Any]]:
        original = None if self._to_server(argument) else self.original()
        if original is not None:
            result: tuple[Any, dict[str, Any]] = original(argument)
            return result
        return super().__call__(argument)  # type: ignore[no-any-return]

    def forward(self, argument: Argument) -> tuple[list[list[list[float]]], dict[str, object]]:
        binding = slot_binding()
        if binding.caller is None:
            raise ValueError("No engine named embedding is registered.")
        prepared = argument.prop.prepared_input
        inputs = prepared if isinstance(prepared, list) else [prepared]
        for text in inputs:
            if not isinstance(text, str):
                raise TypeError(
                    "symbatcher sends embedding calls of text (str) inputs only; "
                    f"received {type(text).__name__}"
                )
        kwargs = {
            key: value
            for key, value in argument.kwargs.items()
            if key not in self._ignored
            and key != "new_dim"
            and value is not None
            and is_json_value(value)
        }
        vectors, metadata = binding.caller.call_embedding(binding.task_id, list(inputs), kwargs)
        new_dim = argument.kwargs.get("new_dim")
        if new_dim:
            vectors = [_normalize_l2(vector[:new_dim]) for vector in vectors]
        return [vectors], metadata

    def __getattr__(self, name: str) -> Any:
        # Properties symai binds on its embedding engine (max_tokens,
        # embedding_dim, ...) come from symai's own.
        original = self.__dict__.get("_original")
        if original is None:
            raise AttributeError(name)
        return getattr(original, name)


def _all_text(entries: object) -> bool:
    """Whether an embedding call's entries can cross the wire (text only)."""
    items = entries if isinstance(entries, list) else [entries]
    return all(isinstance(item, str) for item in items)


def _normalize_l2(vector: list[float]) -> list[float]:
    """`vector / ||vector||` (the vector itself when its norm is 0),
    computed as symai's OpenAI embedding engine computes it (numpy), so the
    numbers are the same to the last bit."""
    import numpy as np

    array = np.array(vector)
    norm = np.linalg.norm(array)
    if norm == 0:
        return vector
    result: list[float] = (array / norm).tolist()
    return result


def _repository() -> Any:
    from symai.functional import EngineRepository

    return EngineRepository()


def _resolve_symai_engine(proxy: BatchingEmbeddingEngine) -> Engine | None:
    """symai's own embedding engine, found the way symai finds it
    (`EngineRepository.get`, which registers the one symai's configuration
    selects), with `proxy` out of the way meanwhile."""
    from symai.functional import EngineRepository

    engines = _repository()._engines
    if engines.get(_ID) is proxy:
        del engines[_ID]
    try:
        found: Engine | None = EngineRepository.get(_ID)
    except ValueError:
        found = None
    except Exception as exc:  # noqa: BLE001 - a configured engine that cannot start
        log.warning("symai's configured embedding engine cannot be used: %s", exc)
        found = None
    finally:
        engines[_ID] = proxy
    return None if found is proxy else found


_INSTALL_LOCK = threading.Lock()


def install_embedding_engine() -> BatchingEmbeddingEngine:
    """Puts a `BatchingEmbeddingEngine` in symai's registry, in front of the
    embedding engine registered there (if any, e.g. one a user registered
    since the last call); returns the one in the registry."""
    with _INSTALL_LOCK:
        engines = _repository()._engines
        current = engines.get(_ID)
        if isinstance(current, BatchingEmbeddingEngine):
            return current
        proxy = BatchingEmbeddingEngine(current)
        engines[_ID] = proxy
        return proxy
