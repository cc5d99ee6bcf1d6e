"""A job whose first items all fail the same way before any engine call
(a `forward()` that cannot run at all) is said once, loudly, instead of
returning a list of identical exceptions without a word."""

from __future__ import annotations

import warnings

from symbatcher._call_site import CallSite
from symbatcher._errors import EngineError, RemoteError

#: How many items failing alike, before any engine call, make the warning.
STREAK = 10


class RepeatedFailureWarning(UserWarning):
    """The first items of a job all failed with the same exception before
    any engine call: every item may fail this way."""


class FailureStreak:
    """Watches a job's results in the order they arrive, until one breaks the
    streak: a success, an item that made an engine call, another exception."""

    def __init__(self, site: CallSite | None, streak: int = STREAK) -> None:
        self._site = site
        self._streak = streak
        self._key: tuple[str, str] | None = None
        self._count = 0
        self._over = False

    def see(self, value: object, engine_calls: int) -> None:
        if self._over:
            return
        if not isinstance(value, BaseException) or engine_calls > 0 or isinstance(value, EngineError):
            # An answer, or an item that reached its engine: forward() runs.
            self._over = True
            return
        name = value.type_name if isinstance(value, RemoteError) else type(value).__name__
        message = value.message if isinstance(value, RemoteError) else str(value)
        key = (name, message)
        if self._key is None:
            self._key = key
        elif key != self._key:
            self._over = True
            return
        self._count += 1
        if self._count >= self._streak:
            self._warn()

    def finish(self, items: int) -> None:
        """At the end of the job: a job smaller than the streak whose every
        item (at least two) failed alike is said too."""
        if not self._over and 2 <= self._count == items:
            self._warn()

    def _warn(self) -> None:
        self._over = True
        assert self._key is not None
        name, message = self._key
        text = (
            f"the first {self._count} items all failed with the same exception before any "
            f"engine call: {name}: {message} -- every item may fail this way; check the "
            f"expression's forward(self, input, **kwargs)"
        )
        if self._site is not None:
            self._site.warn(text, RepeatedFailureWarning)
        else:
            warnings.warn(text, RepeatedFailureWarning, stacklevel=2)
