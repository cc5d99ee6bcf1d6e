"""Expressions for the stalled-worker tests, imported by path
(`stall_expressions:Blocking`) by `symbatcher worker` processes."""

from __future__ import annotations

import os

import time

from symai import Expression, Symbol


class Blocking(Expression):
    """Input "block": sleeps `block_s` seconds without yielding (on a
    greenlet slot this blocks the worker's whole loop). Any other input: one
    engine call. Says which process ran it."""

    def forward(self, input, block_s=0.0, **kwargs):
        if input == "block":
            time.sleep(block_s)
            return {"input": input, "pid": os.getpid()}
        reply = Symbol(f"item {input}").query("Echo", **kwargs).value
        return {"input": input, "pid": os.getpid(), "reply": str(reply)}
