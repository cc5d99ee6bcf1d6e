"""Expressions for the message limit and liveness tests, imported by path
(`limits_expressions:Sized`) by `symbatcher worker` processes."""

from __future__ import annotations

import os
import time

from symai import Expression, Symbol


class Sized(Expression):
    """Returns a string of `input` bytes (an int), or the input itself when it
    is a string."""

    def forward(self, input, **kwargs):
        if isinstance(input, str):
            return input
        return "y" * input


class Prompted(Expression):
    """One engine call whose prompt holds `input` characters."""

    def forward(self, input, **kwargs):
        return Symbol("z" * input).query("Count", **kwargs).value


class Held(Expression):
    """Takes `delay` seconds per item and says which process ran it."""

    def forward(self, input, delay=0.2, **kwargs):
        time.sleep(delay)
        return {"input": input, "pid": os.getpid()}
