"""Greenlet slots (`slots="greenlet"`, `symbatcher worker --slots greenlet`):
every slot of a process on one thread, each engine call switching to the
next slot; items keep their own engine replies and errors stay per item.
(Draining on SIGTERM is tested for both kinds in test_remote_workers.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import psutil
import pytest

from helpers import standalone_server, wait_until
from remote_expressions import TwoCalls
from symbatcher import BatchScheduler, EchoEngine
from symbatcher.cli.main import main as cli_main
from test_remote_workers import start_workers, stop_workers, worker_names


def _check_replies(results, n):
    assert len(results) == n
    for i, result in enumerate(results):
        assert isinstance(result, dict), result
        assert result["input"] == i
        first, second = result["replies"]
        # Each engine reply went back to the slot (and the call) that asked.
        assert first.startswith("echo: ") and f"{i}-a" in first and "First" in first
        assert second.startswith("echo: ") and f"{i}-b" in second and "Second" in second


def test_local_greenlet_slots_share_one_thread_and_keep_their_own_replies():
    n = 300
    with BatchScheduler(engine="echo", slots="greenlet") as scheduler:
        results = scheduler(TwoCalls, 16, range(n), batch_size=16)
        summary = scheduler.last_summary
    _check_replies(results, n)
    threads = {r["thread"] for r in results}
    assert len(threads) == 1, "greenlet slots all run on the scheduler's loop thread"
    assert threads != {threading.get_ident()}
    assert summary.succeeded == n and summary.engine_calls == 2 * n
    # The slots overlapped: calls of many items met in each batch.
    assert summary.mean_batch_size >= 8, summary.describe()


def test_thread_slots_run_on_threads_of_their_own():
    with BatchScheduler(engine="echo") as scheduler:
        results = scheduler(TwoCalls, 8, range(64), batch_size=8)
    _check_replies(results, 64)
    assert len({r["thread"] for r in results}) > 1


def test_greenlet_slots_wait_for_the_engine_together():
    # 64 items, 16 slots, an engine taking 100 ms per batch of up to 16:
    # slots that waited one after another would need 64 x 2 x 100 ms.
    with BatchScheduler(
        slots="greenlet", engine=EchoEngine(latency_ms=100, max_concurrency=1)
    ) as scheduler:
        start = time.monotonic()
        results = scheduler(TwoCalls, 16, range(64), batch_size=16)
        elapsed = time.monotonic() - start
        summary = scheduler.last_summary
    _check_replies(results, 64)
    assert summary.engine_batches <= 12, summary.describe()
    assert elapsed < 4.0, f"{elapsed:.2f}s"


def test_exceptions_in_greenlet_slots_are_per_item_errors():
    from symai import Expression, Symbol

    class SometimesFails(Expression):
        def forward(self, input, **kwargs):
            reply = Symbol(str(input)).query("Check", **kwargs).value
            if input % 3 == 0:
                raise ValueError(f"item {input} rejected after {reply!r}")
            return reply

    with BatchScheduler(engine="echo", slots="greenlet") as scheduler:
        results = scheduler(SometimesFails, 4, range(30), batch_size=4)
    for i, result in enumerate(results):
        if i % 3 == 0:
            assert isinstance(result, ValueError) and f"item {i} rejected" in str(result)
        else:
            assert isinstance(result, str) and result.startswith("echo: ") and str(i) in result


def test_greenlet_slots_with_asyncio_forms():
    async def main():
        with BatchScheduler(engine="echo", slots="greenlet") as scheduler:
            got = {i: r async for i, r in scheduler.astream(TwoCalls, 8, range(100), batch_size=8)}
            listed = await scheduler.aforward(TwoCalls, 8, range(20), batch_size=8)
        return got, listed

    got, listed = asyncio.run(main())
    _check_replies([got[i] for i in range(100)], 100)
    _check_replies(listed, 20)


def test_bad_slots_value_names_the_field_and_the_choices(capsys):
    with pytest.raises(ValueError, match=r"slots: must be one of 'thread', 'greenlet', got 'fiber'"):
        BatchScheduler(engine="echo", slots="fiber")
    with pytest.raises(SystemExit) as excinfo:
        cli_main(["worker", "remote_expressions:TwoCalls", "--server", "127.0.0.1:1", "--slots", "fiber"])
    assert excinfo.value.code == 2
    assert "--slots: invalid choice: 'fiber'" in capsys.readouterr().err


def test_worker_processes_with_greenlet_slots_serve_a_job():
    n = 400
    with standalone_server() as server, BatchScheduler(address=server.address) as scheduler:
        proc = start_workers(
            scheduler.address, "remote_expressions:TwoCalls",
            "--processes", "2", "--concurrency", "32", "--slots", "greenlet", "--name", "green",
        )
        try:
            wait_until(
                lambda: sorted(worker_names(scheduler.address)) == ["green-0", "green-1"],
                60,
                "two greenlet worker processes to register",
            )
            children = {c.pid for c in psutil.Process(proc.pid).children()}
            results = scheduler(TwoCalls, 0, range(n), batch_size=32)
            summary = scheduler.last_summary
            _check_replies(results, n)
            assert {r["pid"] for r in results} == children
            # One thread per process ran all of that process's items.
            for pid in children:
                assert len({r["thread"] for r in results if r["pid"] == pid}) == 1
            assert summary.succeeded == n and summary.engine_calls == 2 * n

            assert stop_workers(proc) == 0  # SIGTERM drains and exits cleanly
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
