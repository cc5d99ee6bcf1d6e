"""Expressions for test_long_items.py, served by `symbatcher worker`
processes (which import them by path, `quiet_expressions:OnThreads`,
`quiet_expressions:OnGreenlets`).

An item that is a dict is a long item: it runs without engine calls until
the test lets it stop. Any other item asks the engine once and reports how
many times its worker's flush tick has sent what the slots posted: a post
that a running slot held back goes out on that tick.

Building an instance, which only the worker processes do here (the tests'
jobs run with num_workers=0), lengthens that worker's flush tick
(`FLUSH_AFTER_S`) to 0.5 s and starts counting the writes it makes: a post
then waits for the tick only when a slot holds it back, never because the
machine is busy for a moment."""

from __future__ import annotations

import os
import time
from typing import Any

from symai import Expression, Symbol

import symbatcher
from symbatcher.worker import _runtime as _worker

FLUSH_AFTER_S = 0.5

_tick_writes = 0
_instrumented = False


def _instrument() -> None:
    global _instrumented
    if _instrumented:
        return
    _instrumented = True
    _worker.FLUSH_AFTER_S = FLUSH_AFTER_S
    tick = _worker.WorkerRuntime._flush_tick

    def counted_tick(self: Any) -> None:
        global _tick_writes
        pending = self._wake_pending
        tick(self)
        if self._wake_pending and not pending:
            _tick_writes += 1

    _worker.WorkerRuntime._flush_tick = counted_tick  # type: ignore[method-assign]


def wait_for_stop(dir: str, cooperative: bool = False, limit_s: float = 15.0) -> str:
    """Writes `started` in `dir`, then waits (`time.sleep`, or
    `symbatcher.sleep` when `cooperative`) until `stop` appears there:
    "stopped"; or "gave up" after `limit_s`. When a `symbatcher.sleep`
    raises RunCancelledError, writes `cancelled` there first."""
    nap = symbatcher.sleep if cooperative else time.sleep
    open(os.path.join(dir, "started"), "w").close()
    deadline = time.monotonic() + limit_s
    while not os.path.exists(os.path.join(dir, "stop")):
        if time.monotonic() > deadline:
            return "gave up"
        try:
            nap(0.02)
        except symbatcher.RunCancelledError:
            open(os.path.join(dir, "cancelled"), "w").close()
            raise
    return "stopped"


class LongOrAsk(Expression):
    def __init__(self) -> None:
        super().__init__()
        _instrument()

    def forward(self, input, **kwargs):
        if isinstance(input, dict):
            return wait_for_stop(**input)
        reply = Symbol(str(input)).query("Tag this").value
        return {"input": input, "reply": reply, "tick_writes": _tick_writes}


class OnThreads(LongOrAsk):
    """Served by the tests' thread-slot worker only."""


class OnGreenlets(LongOrAsk):
    """Served by the tests' greenlet-slot worker only."""
