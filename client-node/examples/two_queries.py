"""The Python half of the polyglot example: an expression that makes two
engine calls per item and says which language ran it. A Node worker serves
the same name, `two_queries:TwoQueries` (see two_queries.ts)."""

import os

from symai import Expression, Symbol


class TwoQueries(Expression):
    def forward(self, input, **kwargs):
        first = Symbol(str(input)).query("First question", **kwargs).value
        second = Symbol(str(input)).query("Second question", **kwargs).value
        return {"input": input, "worker": "python", "pid": os.getpid(), "replies": [first, second]}
