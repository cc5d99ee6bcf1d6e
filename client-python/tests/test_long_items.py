"""A long item without engine calls slows nobody (issue 21): on one worker
process, the other slots' engine calls, run starts and results go to the
server when the last other running slot waits, not on the flush tick
(`FLUSH_AFTER_S`), once the long item has run for its job's
max_queue_delay without a call, or once its slot was given up on after an
item timeout. Greenlet slots wait without stopping each other with
`symbatcher.sleep`.

The workers run `quiet_expressions`, which lengthens their flush tick to
0.5 s and counts the writes it makes; each one-call item reports that count
when it ends, so a job none of whose posts waited for the tick sees one
count from its first item to its last (a held-back round would add one
each, about ten here)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import symbatcher
from helpers import server_status, standalone_server, wait_until
from quiet_expressions import OnGreenlets, OnThreads
from symbatcher import BatchScheduler, ItemTimeoutError
from test_remote_workers import start_workers, worker_names

SLOTS = 4
#: One-call items per job: about ten rounds of the three slots beside the
#: long item. The batch size is larger than a round, so that no round
#: leaves because a batch's worth of calls waits.
ITEMS = 30
BATCH = 8


@dataclass
class Served:
    scheduler: BatchScheduler
    address: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A server, and two worker processes of 4 slots: threads serving
    `OnThreads`, greenlets serving `OnGreenlets`."""
    with standalone_server() as server, BatchScheduler(address=server.address) as scheduler:
        procs = [
            start_workers(
                scheduler.address, "quiet_expressions:OnThreads",
                "--concurrency", str(SLOTS), "--slots", "thread", "--name", "quiet-thread",
            ),
            start_workers(
                scheduler.address, "quiet_expressions:OnGreenlets",
                "--concurrency", str(SLOTS), "--slots", "greenlet", "--name", "quiet-green",
            ),
        ]
        try:
            wait_until(
                lambda: sorted(worker_names(scheduler.address)) == ["quiet-green", "quiet-thread"],
                60,
                "the two workers to register",
            )
            yield Served(scheduler, scheduler.address)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass
class LongItem:
    """A long item's files (`quiet_expressions.wait_for_stop`) and, once it
    ended, its result."""

    dir: str
    cooperative: bool
    result: list[Any] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return {"dir": self.dir, "cooperative": self.cooperative}

    def wait_started(self) -> None:
        wait_until(lambda: os.path.exists(os.path.join(self.dir, "started")), 30, "the long item")

    def stop(self) -> None:
        open(os.path.join(self.dir, "stop"), "w").close()


@contextlib.contextmanager
def long_item(cooperative: bool = False) -> Iterator[LongItem]:
    with tempfile.TemporaryDirectory(prefix="long-item-") as directory:
        item = LongItem(directory, cooperative)
        try:
            yield item
        finally:
            item.stop()


@contextlib.contextmanager
def long_job(scheduler: BatchScheduler, expr: Any, cooperative: bool = False) -> Iterator[LongItem]:
    """A job of one long item, running (started) until the block ends."""
    with long_item(cooperative) as item:
        job = threading.Thread(
            target=lambda: item.result.extend(scheduler(expr, 0, [item.spec], batch_size=BATCH))
        )
        job.start()
        try:
            item.wait_started()
            yield item
        finally:
            item.stop()
            job.join(30)


def one_call_results(results: list[Any]) -> list[dict[str, Any]]:
    assert [r["input"] for r in results] == list(range(ITEMS)), results
    assert all(r["reply"].startswith("echo: ") for r in results), results
    return results


def assert_not_held_back(results: list[dict[str, Any]]) -> None:
    """No post of these items waited for the flush tick after the first of
    them ended."""
    counts = sorted({r["tick_writes"] for r in one_call_results(results)})
    assert len(counts) == 1, (
        f"the flush tick sent some of these items' posts (its write count went from "
        f"{counts[0]} to {counts[-1]} during the job): a slot held them back"
    )


@pytest.mark.parametrize("cooperative", [False, True], ids=["time.sleep", "symbatcher.sleep"])
def test_a_long_item_in_another_job_holds_back_no_thread_slot(served, cooperative):
    with long_job(served.scheduler, OnThreads, cooperative) as long:
        results = served.scheduler(OnThreads, 0, range(ITEMS), batch_size=BATCH)
    assert long.result == ["stopped"]
    assert_not_held_back(results)


def test_a_long_item_in_the_same_job_holds_back_no_thread_slot(served):
    with long_item() as long:
        results: dict[int, Any] = {}
        stream = served.scheduler.stream(OnThreads, 0, [long.spec, *range(ITEMS)], batch_size=BATCH)
        for index, result in stream:
            results[index] = result
            if len(results) == ITEMS and 0 not in results:
                long.stop()
    # The long item was still waiting when the last one-call item ended.
    assert results[0] == "stopped"
    # The first round's posts waited for the tick: the long item had run
    # for less than its job's max_queue_delay (50 ms). Later rounds did not.
    assert_not_held_back([results[i + 1] for i in range(ITEMS)])


def test_the_server_counts_a_held_back_start_from_when_its_slot_started(served):
    """The long item and three one-call items start together, in a job whose
    runs go silent after 0.6 s. The worker holds the four starts and the three
    calls back until its flush tick (0.5 s here): the long slot may still
    call. It sends how long ago each run started, so the server sees the long
    run go silent 0.1 s later, and sends the three calls then: not 0.6 s after
    the update came (1.1 s in), as it would counting the start from there."""
    delay_ms = 600
    with long_item() as long, BatchScheduler(address=served.address, max_queue_delay_ms=delay_ms) as slow:
        results: dict[int, Any] = {}
        start = time.monotonic()
        for index, result in slow.stream(OnThreads, 0, [long.spec, *range(3)], batch_size=BATCH):
            results[index] = result
            if len(results) == 3 and 0 not in results:
                took = time.monotonic() - start
                long.stop()
    assert results[0] == "stopped"
    assert [results[i + 1]["input"] for i in range(3)] == [0, 1, 2], results
    # About 0.6 s; 1.1 s when the server counts the start from the update.
    assert took < 0.9, f"the one-call items took {took:.2f} s"


def test_a_slot_given_up_on_after_an_item_timeout_holds_back_nothing(served):
    # A job whose runs do not go silent for a minute: only the give-up
    # takes its stuck slot out of the count.
    with long_item() as stuck, BatchScheduler(
        address=served.address, item_timeout_s=0.3, max_queue_delay_ms=60_000
    ) as strict:
        timed_out = strict(OnThreads, 0, [stuck.spec], batch_size=BATCH)
        assert isinstance(timed_out[0], TimeoutError), timed_out
        # The worker acknowledges the cancelled run when it gives up on its
        # slot (1 s after the cancellation); the stuck thread runs on.
        wait_until(
            lambda: _cancelling(served.address, "quiet-thread") == 0, 10, "the slot to be given up on"
        )
        results = served.scheduler(OnThreads, 0, range(ITEMS), batch_size=BATCH)
    assert_not_held_back(results)


def _cancelling(address: str, name: str) -> int:
    """The cancelled runs worker `name` has not acknowledged yet."""
    workers = [w for w in server_status(address).workers if w.name == name]
    return workers[0].cancelling if workers else -1


def test_a_greenlet_item_in_symbatcher_sleep_holds_back_no_other_job(served):
    with long_job(served.scheduler, OnGreenlets, cooperative=True) as long:
        results = served.scheduler(OnGreenlets, 0, range(ITEMS), batch_size=BATCH)
        # Every one-call item ended while the long item still waited.
        assert not long.result
    assert long.result == ["stopped"]
    one_call_results(results)


def test_a_greenlet_item_in_symbatcher_sleep_holds_back_nothing_of_its_job(served):
    with long_item(cooperative=True) as long:
        results: dict[int, Any] = {}
        stream = served.scheduler.stream(OnGreenlets, 0, [long.spec, *range(ITEMS)], batch_size=BATCH)
        for index, result in stream:
            results[index] = result
            if len(results) == ITEMS and 0 not in results:
                long.stop()
    assert results[0] == "stopped"
    one_call_results([results[i + 1] for i in range(ITEMS)])


@pytest.mark.parametrize("expr", [OnThreads, OnGreenlets], ids=["thread", "greenlet"])
def test_symbatcher_sleep_ends_when_its_run_is_cancelled(served, expr):
    with long_item(cooperative=True) as sleeper, BatchScheduler(
        address=served.address, item_timeout_s=0.3
    ) as strict:
        [result] = strict(expr, 0, [sleeper.spec], batch_size=BATCH)
        assert isinstance(result, ItemTimeoutError), result
        # The sleep raised RunCancelledError when the worker heard of the
        # timeout (a thread slot given up on instead would nap on).
        wait_until(
            lambda: os.path.exists(os.path.join(sleeper.dir, "cancelled")), 5, "the sleep to end"
        )


def test_symbatcher_sleep_outside_a_slot_is_time_sleep():
    start = time.monotonic()
    symbatcher.sleep(0.05)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(ValueError):
        symbatcher.sleep(-1)
