"""Engine calls made inside forward() reach the server: also from helper
threads that forward() starts, when they run in a copy of its context."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from symai import Expression, Symbol

from symbatcher import BatchScheduler


class FanOut(Expression):
    """Two engine calls per item, made concurrently from helper threads."""

    def forward(self, input, **kwargs):
        def ask(part):
            return Symbol(f"{input}-{part}").query("Part", **kwargs).value

        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, ask, part) for part in ("a", "b")
            ]
            return [f.result() for f in futures]


def test_helper_threads_run_in_a_copied_context_are_intercepted():
    n = 40
    with BatchScheduler(engine="echo") as scheduler:
        results = scheduler(FanOut, 8, range(n), batch_size=16)
        summary = scheduler.last_summary
    for i, (a, b) in enumerate(results):
        assert a.startswith("echo: ") and f"{i}-a" in a, a
        assert b.startswith("echo: ") and f"{i}-b" in b, b
    # Every call went through the server and was batched there.
    assert summary.engine_calls == 2 * n
    assert summary.mean_batch_size > 1


def test_greenlet_slots_refuse_engine_calls_from_helper_threads_clearly():
    with BatchScheduler(engine="echo", slots="greenlet") as scheduler:
        results = scheduler(FanOut, 2, range(3), batch_size=2)
    for result in results:
        assert isinstance(result, Exception), result
        assert "with greenlet slots, engine calls must be made by forward() itself" in str(result)
