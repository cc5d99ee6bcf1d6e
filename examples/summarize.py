"""Expressions used by the examples.

They live in a module of their own, not in the scripts that run them, because
remote workers import an expression by its import path: `symbatcher worker
summarize:Summarize` (run from this directory, or with `--app-dir examples`)
serves exactly the name that `BatchScheduler` submits for `summarize.Summarize`.
A class defined in the script being run is `__main__:Summarize`, which no
other process can import.
"""

import os

from symai import Expression, Symbol


class Summarize(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Summarize this input", **kwargs).value


class Sentiment(Expression):
    """Fails on empty input: the error comes back in place of the result."""

    def forward(self, input, **kwargs):
        if not input:
            raise ValueError("empty review")
        return Symbol(input).query("Is this review positive or negative?", **kwargs).value


class SummarizeWhere(Expression):
    """Summarize, and say which process ran the item (to see work spread)."""

    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize this input", **kwargs).value
        return {"summary": summary, "pid": os.getpid()}
