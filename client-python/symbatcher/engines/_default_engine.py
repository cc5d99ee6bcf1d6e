"""Which engine answers a `BatchScheduler`'s calls when none is named.

The rule, for a scheduler with an embedded server and no `engine=`:

1. an engine the server's configuration names as its default (a config file
   with `default_engine`, `--default-engine`, `--openai-base-url`);
2. else the engine symai itself would use: one registered with
   `EngineRepository.register("neurosymbolic", ...)`, or the one symai's
   configuration (symai.config.json) selects; it is served from this process
   by a `SymaiEngine`, so every call reaches it exactly as symai would send it;
3. else the server's built-in echo engine, with a warning (once per process)
   that says how to choose a real one.

Embedding calls follow the same rule, with no `embedding_engine=`: the
server's default embedding engine; else the embedding engine symai would use
(one registered as "embedding", or the one symai's configuration selects),
served from this process by a `SymaiEmbeddingEngine`, so that the server
merges the calls of all items into batches and each batch goes to it as one
list input; else none (an embedding call then fails its item, naming how to
configure an engine for it).

With `address=`, the server's default engine applies unless `engine=` names
one: whoever runs a shared server configures its engines.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING

from symbatcher._call_site import CallSite

if TYPE_CHECKING:
    from symai.backend.base import Engine

log = logging.getLogger("symbatcher")

_warned = threading.Event()


class EchoFallbackWarning(UserWarning):
    """symai has no neurosymbolic engine, so the echo engine answers."""


ECHO_FALLBACK_MESSAGE = (
    "symbatcher: symai has no neurosymbolic engine (none is registered with "
    "EngineRepository.register('neurosymbolic', ...) and symai.config.json sets no "
    "NEUROSYMBOLIC_ENGINE_MODEL with its API key), so the built-in echo engine answers every "
    "call with 'echo: ' + its prompt. To use a real model, configure symai, or pass "
    "BatchScheduler(engine=OpenAIEngine(base_url, model)) or a BatchEngine; pass "
    "engine='echo' to choose the echo engine and silence this warning."
)


def symai_engine() -> Engine | None:
    """The neurosymbolic engine symai would use here, or None if it has none.

    Looks it up the way symai's own query path does (`EngineRepository.get`),
    which also registers the engine symai's configuration selects."""
    from symai.functional import EngineRepository

    try:
        return EngineRepository.get("neurosymbolic")
    except ValueError:
        return None
    except Exception as exc:  # noqa: BLE001 - a configured engine that cannot start
        log.warning("symai's configured neurosymbolic engine cannot be used: %s", exc)
        return None


def symai_embedding_engine() -> Engine | None:
    """The embedding engine symai would use here, or None if it has none.

    symbatcher's slots put their own embedding engine in symai's registry
    (`worker/_embedding_interceptor`), in front of symai's; this is the one
    behind it, found the way symai finds it."""
    from symbatcher.worker._embedding_interceptor import install_embedding_engine

    return install_embedding_engine().original()


def warn_echo_fallback(site: CallSite | None = None) -> None:
    """Says once per process, loudly, that the echo engine answers; at `site`
    (the user's line that built the scheduler) when known."""
    if _warned.is_set():
        return
    _warned.set()
    if site is not None:
        site.warn(ECHO_FALLBACK_MESSAGE, EchoFallbackWarning)
    else:
        warnings.warn(ECHO_FALLBACK_MESSAGE, EchoFallbackWarning, stacklevel=4)
