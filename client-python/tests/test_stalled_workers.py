"""Every assigned run has a deadline, and a worker whose loop blocks is seen
by its missing heartbeats: a greenlet slot's forward() that sleeps blocks
its worker's loop, so the worker neither reports the run started nor sends
anything else. Its run times out from its assignment (item timeout plus
the 1 s start grace), and the worker's other runs move to a healthy worker
once it has been silent for four heartbeat intervals (2 s)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from helpers import server_status, standalone_server, wait_until
from stall_expressions import Blocking
from symbatcher import BatchScheduler, ItemTimeoutError
from test_remote_workers import start_workers

#: The block is long and the timeout short, as 60 s and 3 s would be, so
#: that what ends the item early is the deadline, not the block.
BLOCK_S, TIMEOUT_S = 20.0, 2.0
#: Timeout plus start grace, plus room for a loaded 2-core machine.
DONE_WITHIN_S = 5.0


def _kill(proc) -> None:
    """SIGKILL the worker's process group: a blocked loop would hold a
    graceful stop for the whole block."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_a_blocked_greenlet_worker_times_out_its_item_and_loses_the_others():
    with standalone_server() as server:
        # Registered first, so that round robin gives it the job's first
        # item (the blocking one); asserted below through the re-queues.
        blocked = start_workers(
            server.address, "stall_expressions:Blocking", "--slots", "greenlet",
            "--concurrency", "8", "--name", "greenlet-worker",
        )
        healthy = None
        try:
            wait_until(lambda: len(server_status(server.address).workers) == 1, 60, "greenlet worker")
            healthy = start_workers(
                server.address, "stall_expressions:Blocking",
                "--concurrency", "8", "--name", "thread-worker",
            )
            wait_until(lambda: len(server_status(server.address).workers) == 2, 60, "thread worker")
            dataset = ["block", *range(15)]
            with BatchScheduler(address=server.address, item_timeout_s=TIMEOUT_S) as scheduler:
                start = time.monotonic()
                results = scheduler(Blocking, 0, dataset, block_s=BLOCK_S)
                elapsed = time.monotonic() - start
                summary = scheduler.last_summary
            assert isinstance(results[0], ItemTimeoutError), results[0]
            assert elapsed < DONE_WITHIN_S, elapsed
            # Every other item succeeded exactly once, in place.
            assert [r["input"] for r in results[1:]] == list(range(15)), results
            assert all(r["reply"].startswith("echo: ") for r in results[1:])
            # The blocked worker held items when it stalled: they were
            # re-queued and finished on the healthy worker.
            assert summary.requeued >= 1, summary.describe()
            assert (summary.succeeded, summary.failed) == (15, 1)
            # Its slots ran nothing else: the block came first and held the
            # loop, so the healthy worker ran all the others.
            assert {r["pid"] for r in results[1:]} == {healthy.pid}, results
            workers = {w.name: w for w in server_status(server.address).workers}
            assert workers["greenlet-worker"].running == 0
        finally:
            _kill(blocked)
            if healthy is not None:
                _kill(healthy)


def test_many_thread_slots_declare_a_heartbeat_interval_their_loop_can_keep():
    # The loop's thread waits for the GIL behind the running slot threads,
    # about a switch interval each: a worker of 1,000 thread slots that
    # declared 0.5 s was held stalled (2 s) while healthy, and lost every run.
    from symbatcher.worker._runtime import HEARTBEAT_INTERVAL_S, declared_heartbeat_s

    switch = sys.getswitchinterval()
    assert declared_heartbeat_s(on_loop=False, slots=8) == HEARTBEAT_INTERVAL_S
    assert declared_heartbeat_s(on_loop=False, slots=1000) == pytest.approx(1000 * switch / 2)
    # Four intervals cover the GIL's round through every slot, twice.
    assert 4 * declared_heartbeat_s(on_loop=False, slots=1000) >= 2 * 1000 * switch
    assert declared_heartbeat_s(on_loop=False, slots=100_000) == 15.0
    # Greenlet slots run on the loop: a forward() that does not yield is
    # what the heartbeat catches, within 2 s whatever their number.
    assert declared_heartbeat_s(on_loop=True, slots=1000) == HEARTBEAT_INTERVAL_S
