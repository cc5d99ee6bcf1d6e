"""Engines for the tests that run `symbatcher engine` in other processes:
they import these by path (`remote_engines:SlowEcho`), with this directory on
PYTHONPATH. Kept apart from the test modules, so that an engine process does
not import conftest (whose session directory a killed process would leave
behind)."""

from __future__ import annotations

import time

from symbatcher import BatchEngine


class SlowEcho(BatchEngine):
    """Answers each batch after 20 ms."""

    max_concurrency = 2

    def forward(self, calls):
        time.sleep(0.02)
        return [f"slow: {call.prompt}" for call in calls]
