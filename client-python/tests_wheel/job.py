"""Run inside the wheel's virtualenv by test_installed_wheel.py: a small job
on the embedded server that BatchScheduler() starts from the bundled binary.
Prints one JSON line: where things were found, and the results."""

import json
import sys

from symai import Expression, Symbol

import symbatcher
from symbatcher import BatchScheduler, EchoEngine
from symbatcher.client._embedded_server import bundled_server_binary, find_server_binary


class Shout(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Shout this", **kwargs).value


with BatchScheduler(engine=EchoEngine()) as scheduler:
    results = scheduler(expr=Shout, num_workers=4, dataset=[f"item-{i}" for i in range(5)], batch_size=4)
    summary = scheduler.last_summary

print(json.dumps({
    "package": symbatcher.__file__,
    "server_binary": find_server_binary(),
    "bundled_binary": bundled_server_binary(),
    "results": [str(r) for r in results],
    "succeeded": summary.succeeded,
    "engine_calls": summary.engine_calls,
    "engine_batches": summary.engine_batches,
    "sys_path": sys.path,
}))
