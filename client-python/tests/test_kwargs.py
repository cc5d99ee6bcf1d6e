"""Job kwargs that are not JSON are never dropped silently: a job with such
kwargs runs only in this process's slots (which get the original objects),
and with no local slot (num_workers=0) it is a ValueError naming the kwarg.
Kwargs nested deeper than the limit are refused, naming the kwarg and the
limit."""

from __future__ import annotations

import os
import signal

import pytest
from symai import Expression

from helpers import standalone_server, wait_until
from remote_expressions import Paced
from symbatcher import BatchScheduler, InvalidArgumentError
from symbatcher.wire._limits import MAX_KWARGS_DEPTH
from symbatcher.cli.main import main as cli_main
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


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_kwargs_nested_too_deep_are_refused_naming_the_kwarg_and_the_limit(scheduler, tmp_path, capsys):
    for call in (scheduler.forward, scheduler.stream):
        with pytest.raises(InvalidArgumentError) as err:
            call(SeesKwarg, 1, [1], deep=_nested(10_000))
        assert err.value.field == "kwargs"
        assert "kwargs['deep']" in str(err.value) and "64 levels" in str(err.value)
    # The limit itself is accepted, and reaches forward() whole.
    results = scheduler(SeesKwarg, 1, ["x"], deep=_nested(MAX_KWARGS_DEPTH))
    assert results[0]["input"] == "x"
    # The runner refuses a --kwargs nested too deep before it starts anything.
    data = tmp_path / "in.jsonl"
    data.write_text('"a"\n')
    argv = ["run", "remote_expressions:Paced", "--input", str(data),
            "--output", str(tmp_path / "out.jsonl"), "--kwargs",
            '{"deep": ' + "[" * 10_000 + "]" * 10_000 + "}"]
    capsys.readouterr()
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "--kwargs" in err and "64 levels" in err, err
    assert not (tmp_path / "out.jsonl").exists()
