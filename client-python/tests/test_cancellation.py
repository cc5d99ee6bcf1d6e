"""Every engine call a worker sends gets exactly one reply, cancellation
reaches real worker processes and frees their slots, items time out, and
failures stay with the item that caused them. These run real `symbatcher
worker` processes: a fake worker that never blocks cannot show a slot that
waits forever."""

from __future__ import annotations

import os
import time

import pytest
from symai import Expression

from helpers import server_status, standalone_server, wait_until
from remote_expressions import Poison, Sleepy, Tagger
from symbatcher import BatchScheduler, ItemTimeoutError, WorkerLostError
from test_remote_workers import start_workers, stop_workers, worker_names


def _worker_counts(address: str, name: str) -> tuple[int, int, int]:
    [w] = [w for w in server_status(address).workers if w.name == name]
    return w.running, w.started, w.cancelling


def _idle(address: str, name: str) -> bool:
    return _worker_counts(address, name) == (0, 0, 0)


def test_a_cancelled_job_frees_the_slots_of_real_workers():
    # A slow engine: when the first job is cancelled, every slot of the
    # worker is parked on an engine call that will never be answered by it.
    with standalone_server("--echo-latency-ms", "400") as server:
        worker = start_workers(server.address, "remote_expressions:Tagger",
                               "--concurrency", "8", "--name", "w")
        try:
            wait_until(lambda: worker_names(server.address) == ["w"], 60, "the worker to register")
            with BatchScheduler(address=server.address) as client:
                stream = client.stream(Tagger, 0, range(1000), batch_size=8)
                next(stream)  # the job is running, the slots are parked
                stream.close()  # cancels the job
                # Status counts what really runs: the slots are free again.
                wait_until(lambda: _idle(server.address, "w"), 5, "the worker's slots to be freed")
                start = time.monotonic()
                results = client(Tagger, 0, range(40), batch_size=8)
                elapsed = time.monotonic() - start
            assert [r["input"] for r in results] == list(range(40))
            # 40 items on 8 slots with a 400 ms engine: 5 rounds, about 2 s;
            # slots still stuck on the cancelled job's calls would never finish.
            assert elapsed < 6, f"the next job took {elapsed:.1f}s"
        finally:
            assert stop_workers(worker) == 0


def test_an_item_that_runs_too_long_times_out_and_its_slot_comes_back():
    with standalone_server() as server:
        worker = start_workers(server.address, "remote_expressions:Sleepy",
                               "--concurrency", "2", "--prefetch", "0", "--name", "sleepy")
        try:
            wait_until(lambda: worker_names(server.address) == ["sleepy"], 60, "the worker to register")
            with BatchScheduler(address=server.address, item_timeout_s=0.5) as client:
                start = time.monotonic()
                results = client(Sleepy, 0, [0, "hang", 0.1, 0, 0.1, 0], batch_size=2)
                elapsed = time.monotonic() - start
                summary = client.last_summary
            assert isinstance(results[1], ItemTimeoutError) and isinstance(results[1], TimeoutError)
            assert "item 1" in str(results[1]) and "500 ms" in str(results[1])
            for i in (0, 2, 3, 4, 5):
                assert results[i]["reply"].startswith("echo: "), results[i]
            assert summary.failed == 1
            # The job did not wait for the hung item.
            assert elapsed < 5, f"took {elapsed:.1f}s"
            # The stuck thread's slot was replaced: the worker is whole again.
            wait_until(lambda: _idle(server.address, "sleepy"), 5, "the hung run's slot to be released")
        finally:
            stop_workers(worker)


def test_a_timed_out_run_waiting_on_its_engine_call_is_abandoned_at_once():
    # The engine call never comes back within the timeout (5 s per batch):
    # the run is cancelled, its call answered `Cancelled`, and forward() ends.
    with standalone_server("--echo-latency-ms", "5000") as server:
        worker = start_workers(server.address, "remote_expressions:Tagger",
                               "--concurrency", "1", "--prefetch", "0", "--name", "t")
        try:
            wait_until(lambda: worker_names(server.address) == ["t"], 60, "the worker to register")
            with BatchScheduler(address=server.address, item_timeout_s=0.3) as client:
                start = time.monotonic()
                [result] = client(Tagger, 0, ["x"])
            assert isinstance(result, ItemTimeoutError), result
            assert time.monotonic() - start < 3
            wait_until(lambda: _idle(server.address, "t"), 2, "the slot to be free")
        finally:
            stop_workers(worker)


class RaisesBaseExceptions(Expression):
    def forward(self, input, **kwargs):
        if input == "exit":
            raise SystemExit(3)
        if input == "interrupt":
            raise KeyboardInterrupt()
        return input


def test_system_exit_and_keyboard_interrupt_are_the_items_results(scheduler):
    results = scheduler(RaisesBaseExceptions, 1, ["exit", "ok", "interrupt", "ok too"])
    assert isinstance(results[0], SystemExit) and results[0].code == 3
    assert isinstance(results[2], KeyboardInterrupt)
    assert results[1] == "ok" and results[3] == "ok too"  # the one slot lived on


def test_a_poison_item_is_the_only_one_charged():
    # One attempt per item: an item queued behind the poison in the dying
    # worker that was charged for that would fail with WorkerLostError.
    with standalone_server("--max-attempts", "1") as server:
        workers = [
            start_workers(server.address, "remote_expressions:Poison",
                          "--concurrency", "1", "--prefetch", "6", "--name", name)
            for name in ("p1", "p2")
        ]
        try:
            wait_until(lambda: sorted(worker_names(server.address)) == ["p1", "p2"], 60,
                       "two workers to register")
            with BatchScheduler(address=server.address) as client:
                dataset = ["poison"] + [f"item {i}" for i in range(12)]
                results = client(Poison, 0, dataset, batch_size=4)
            assert isinstance(results[0], WorkerLostError), results[0]
            for item, result in zip(dataset[1:], results[1:]):
                assert result == {"input": item, "pid": result["pid"]}, result
        finally:
            for proc in workers:
                if proc.poll() is None:
                    stop_workers(proc)


def test_items_only_this_process_can_read_never_go_to_remote_workers():
    with standalone_server() as server:
        worker = start_workers(server.address, "remote_expressions:Tagger",
                               "--concurrency", "4", "--name", "remote")
        try:
            wait_until(lambda: worker_names(server.address) == ["remote"], 60, "the worker to register")
            with BatchScheduler(address=server.address) as client:
                # Sets are not JSON: they exist only in this process.
                dataset = [{i, i + 1} if i % 2 else i for i in range(40)]
                results = client(Tagger, 1, dataset, batch_size=4)
            for item, result in zip(dataset, results):
                assert not isinstance(result, BaseException), result
                if isinstance(item, set):
                    assert result["pid"] == os.getpid(), result
            assert {r["pid"] for r in results} != {os.getpid()}, "the remote worker took part"
        finally:
            stop_workers(worker)
