"""Job kwargs that are not JSON are never dropped silently: a job with such
kwargs runs only in this process's slots (which get the original objects),
and with no local slot (num_workers=0) it is a ValueError naming the kwarg."""

from __future__ import annotations

import os
import signal

import pytest
from symai import Expression

from helpers import standalone_server, wait_until
from remote_expressions import Paced
from symbatcher import BatchScheduler
from test_remote_workers import start_workers, stop_workers, worker_names


class Marker:
    """A kwarg value that is not JSON."""


class SeesKwarg(Expression):
    def forward(self, input, marker=None, **kwargs):
        return {"input": input, "marker": id(marker) if marker is not None else None}


def test_non_json_kwargs_reach_local_slots_intact(scheduler):
    marker = Marker()
    results = scheduler(SeesKwarg, 2, range(6), batch_size=2, marker=marker)
    assert [r["input"] for r in results] == list(range(6))
    assert all(r["marker"] == id(marker) for r in results), results


def test_non_json_kwargs_with_no_local_slot_are_a_value_error_naming_them():
    with standalone_server() as server, BatchScheduler(address=server.address) as scheduler:
        for call in (scheduler.forward, scheduler.stream):
            with pytest.raises(ValueError) as err:
                call(Paced, 0, [1, 2], marker=Marker(), delay=0.0)
            message = str(err.value)
            assert "marker=Marker" in message and "not JSON" in message, message
            assert "delay" not in message, message  # the JSON one is fine
            assert "num_workers > 0" in message, message


def test_a_job_with_non_json_kwargs_stays_off_remote_workers():
    with standalone_server() as server:
        proc = start_workers(server.address, "remote_expressions:Paced", "--concurrency", "4")
        try:
            wait_until(lambda: len(worker_names(server.address)) == 1, 60, "the remote worker")
            with BatchScheduler(address=server.address) as scheduler:
                # JSON kwargs: the remote worker takes part (the check below can fail).
                shared = scheduler(Paced, 1, range(40), batch_size=4, delay=0.02)
                assert {r["pid"] for r in shared} - {os.getpid()}, "the remote worker ran nothing"
                # Not JSON: every item runs here.
                local = scheduler(Paced, 1, range(40), batch_size=4, delay=0.02, marker=Marker())
                assert [r["input"] for r in local] == list(range(40))
                assert {r["pid"] for r in local} == {os.getpid()}
            assert stop_workers(proc) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
