"""Invalid input, the exception hierarchy, and embedded-server start failures."""

from __future__ import annotations

import stat
import time

import pytest
from symai import Expression, Symbol

import symbatcher
from symbatcher import (
    BatchScheduler,
    EngineError,
    JobError,
    RemoteError,
    SchedulerClosedError,
    ServerStartError,
    SymbatcherError,
)


class ErrorsExpression(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Errors step", **kwargs).value


def test_exception_hierarchy():
    for cls in (SchedulerClosedError, ServerStartError, EngineError, RemoteError, JobError):
        assert issubclass(cls, SymbatcherError), cls
        assert getattr(symbatcher, cls.__name__) is cls
    assert issubclass(SymbatcherError, Exception)
    for name in (
        "BatchScheduler",
        "BatchEngine",
        "EchoEngine",
        "SymbatcherError",
        "SchedulerClosedError",
        "ServerStartError",
        "EngineError",
        "RemoteError",
        "JobError",
    ):
        assert name in symbatcher.__all__, name


@pytest.mark.parametrize("batch_size", [0, -1, -5])
def test_invalid_batch_size_is_rejected(scheduler, batch_size, assert_echo):
    start = time.monotonic()
    with pytest.raises((JobError, ValueError)) as excinfo:
        scheduler(expr=ErrorsExpression, num_workers=2, dataset=["x-1", "x-2"], batch_size=batch_size)
    assert "batch_size" in str(excinfo.value)
    assert time.monotonic() - start < 5.0
    # The scheduler is still usable after a rejected job.
    results = scheduler(expr=ErrorsExpression, num_workers=2, dataset=["after-bad"], batch_size=2)
    assert_echo(results[0], "after-bad", "Errors step")


@pytest.mark.parametrize("num_workers", [-1, -8])
def test_negative_num_workers_is_rejected(scheduler, num_workers, assert_echo):
    with pytest.raises(ValueError) as excinfo:
        scheduler(expr=ErrorsExpression, num_workers=num_workers, dataset=["y-1"], batch_size=2)
    assert "num_workers" in str(excinfo.value)
    results = scheduler(expr=ErrorsExpression, num_workers=1, dataset=["after-neg"], batch_size=2)
    assert_echo(results[0], "after-neg", "Errors step")


def test_server_start_error_carries_server_stderr(tmp_path, monkeypatch, call_with_timeout):
    script = tmp_path / "fake-symbatcher-server"
    script.write_text('#!/bin/sh\necho "bad config: listen" >&2\nexit 2\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("SYMBATCHER_SERVER_BIN", str(script))

    def start_and_submit():
        s = BatchScheduler(engine="echo")
        try:
            return s(expr=ErrorsExpression, num_workers=1, dataset=["never"], batch_size=1)
        finally:
            s.cleanup()

    start = time.monotonic()
    with pytest.raises(ServerStartError) as excinfo:
        call_with_timeout(start_and_submit, 20.0)
    assert "bad config: listen" in str(excinfo.value)
    assert isinstance(excinfo.value, SymbatcherError)
    elapsed = time.monotonic() - start
    assert elapsed < 10.0, f"reporting a server that exited at once took {elapsed:.1f}s"


def test_server_start_error_for_missing_binary(tmp_path, monkeypatch, call_with_timeout):
    monkeypatch.setenv("SYMBATCHER_SERVER_BIN", str(tmp_path / "does-not-exist"))

    def start_and_submit():
        s = BatchScheduler(engine="echo")
        try:
            return s(expr=ErrorsExpression, num_workers=1, dataset=["never"], batch_size=1)
        finally:
            s.cleanup()

    with pytest.raises(ServerStartError):
        call_with_timeout(start_and_submit, 20.0)



def test_a_job_the_server_rejects_names_the_field_as_an_attribute():
    # The server knows no engine of that name: it refuses the job, and the
    # error says which field, in words and as attributes.
    with BatchScheduler(engine="no-such-engine") as scheduler:
        with pytest.raises(JobError) as excinfo:
            scheduler(ErrorsExpression, 1, ["x"])
    err = excinfo.value
    assert "no-such-engine" in str(err) and "engine" in str(err)
    assert err.code == "INVALID_ARGUMENT"
    assert err.kind == "unknown_engine" and err.field == "engine"
