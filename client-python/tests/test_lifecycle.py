"""Scheduler lifecycle: cleanup, context manager, event loops, server process ownership."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from symai import Expression, Symbol

import symbatcher
from symbatcher import BatchScheduler, SchedulerClosedError, SymbatcherError


class LifecycleExpression(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Lifecycle step", **kwargs).value


class OtherExpression(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Other step", **kwargs).value


def _run(s, dataset, expr=LifecycleExpression):
    return s(expr=expr, num_workers=2, dataset=dataset, batch_size=2)


def test_cleanup_then_use_raises_scheduler_closed(assert_echo):
    s = BatchScheduler(engine="echo")
    try:
        results = _run(s, ["before-cleanup"])
        assert_echo(results[0], "before-cleanup", "Lifecycle step")
    finally:
        s.cleanup()
    with pytest.raises(SchedulerClosedError):
        _run(s, ["after-cleanup"])
    with pytest.raises(SchedulerClosedError):
        s.forward(LifecycleExpression, 2, ["after-cleanup"])
    assert issubclass(SchedulerClosedError, SymbatcherError)


def test_cleanup_stops_embedded_server(wait_process_gone, process_gone):
    s = BatchScheduler(engine="echo")
    try:
        pid = s.server_pid
        assert isinstance(pid, int) and pid > 0
        assert not process_gone(pid), "embedded server should be running"
        _run(s, ["server-alive"])
    finally:
        s.cleanup()
    assert wait_process_gone(pid, 5.0), f"server pid {pid} still running after cleanup()"


def test_context_manager(assert_echo, wait_process_gone):
    with BatchScheduler(engine="echo") as s:
        assert isinstance(s, BatchScheduler)
        pid = s.server_pid
        results = _run(s, ["ctx-1", "ctx-2", "ctx-3"])
    assert len(results) == 3
    for item, result in zip(["ctx-1", "ctx-2", "ctx-3"], results):
        assert_echo(result, item, "Lifecycle step")
    with pytest.raises(SchedulerClosedError):
        _run(s, ["after-exit"])
    assert wait_process_gone(pid, 5.0), f"server pid {pid} still running after with-block"


def test_context_manager_cleans_up_on_exception(wait_process_gone):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with BatchScheduler(engine="echo") as s:
            pid = s.server_pid
            raise Boom()
    with pytest.raises(SchedulerClosedError):
        _run(s, ["after-exception"])
    assert wait_process_gone(pid, 5.0)


def test_forward_is_the_same_as_call(scheduler):
    dataset = ["fw-1", "fw-2", "fw-3", "fw-4"]
    via_call = scheduler(LifecycleExpression, 2, dataset, batch_size=2)
    via_forward = scheduler.forward(LifecycleExpression, 2, dataset, batch_size=2)
    via_forward_kw = scheduler.forward(
        expr=LifecycleExpression, num_workers=2, dataset=dataset, batch_size=2
    )
    assert len(via_call) == 4
    assert all(r.startswith("echo: ") for r in via_call)
    assert via_call == via_forward == via_forward_kw


def test_default_batch_size_is_accepted(scheduler, assert_echo):
    results = scheduler(LifecycleExpression, 3, ["dflt-1", "dflt-2"])
    assert_echo(results[0], "dflt-1", "Lifecycle step")
    assert_echo(results[1], "dflt-2", "Lifecycle step")


def test_main_loop_with_start_loop_and_close_loop(assert_echo):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=BatchScheduler.start_loop, args=(loop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loop.is_running(), "start_loop should run the loop in the thread"

    s = BatchScheduler(engine="echo", main_loop=loop)
    try:
        results = _run(s, ["loop-1", "loop-2", "loop-3"])
    finally:
        s.cleanup()
    for item, result in zip(["loop-1", "loop-2", "loop-3"], results):
        assert_echo(result, item, "Lifecycle step")
    # The caller's loop belongs to the caller: cleanup() must not have closed it.
    assert not loop.is_closed()

    BatchScheduler.close_loop(loop, thread)
    assert not thread.is_alive()
    assert loop.is_closed()


def test_two_schedulers_at_once(assert_echo):
    first = BatchScheduler(engine="echo")
    first_open = True
    try:
        with BatchScheduler(engine="echo") as second:
            assert first.server_pid != second.server_pid
            data_a = [f"first-{i}" for i in range(6)]
            data_b = [f"second-{i}" for i in range(6)]
            with ThreadPoolExecutor(max_workers=2) as pool:
                fa = pool.submit(_run, first, data_a, LifecycleExpression)
                fb = pool.submit(_run, second, data_b, OtherExpression)
                results_a = fa.result(timeout=60)
                results_b = fb.result(timeout=60)
            # Closing one does not disturb the other.
            first.cleanup()
            first_open = False
            after = _run(second, ["still-open"], OtherExpression)
    finally:
        if first_open:
            first.cleanup()
    for item, result in zip(data_a, results_a):
        assert_echo(result, item, "Lifecycle step")
    for item, result in zip(data_b, results_b):
        assert_echo(result, item, "Other step")
    assert_echo(after[0], "still-open", "Other step")


def test_unreachable_address_fails_fast(call_with_timeout):
    def submit():
        s = BatchScheduler(address="127.0.0.1:1")
        try:
            return _run(s, ["unreachable"])
        finally:
            s.cleanup()

    start = time.monotonic()
    with pytest.raises(SymbatcherError):
        call_with_timeout(submit, 20.0)
    elapsed = time.monotonic() - start
    assert elapsed < 10.0, f"failing against a dead address took {elapsed:.1f}s"


_CHILD = textwrap.dedent(
    """
    import sys, time
    from symbatcher import BatchScheduler
    s = BatchScheduler(engine="echo")
    print("SERVER_PID=%d" % s.server_pid, flush=True)
    time.sleep(120)
    """
)


def _read_server_pid(proc: subprocess.Popen, timeout: float) -> int:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            m = re.search(rb"SERVER_PID=(\d+)\n", buf)
            if m:
                return int(m.group(1))
    finally:
        sel.close()
    raise AssertionError(f"child never reported a server pid; stdout so far: {buf!r}")


def test_server_exits_when_owner_is_sigkilled(tmp_path, wait_process_gone):
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(symbatcher.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "child-stderr.txt"
    with open(stderr_path, "wb") as stderr_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env=env,
        )
    server_pid = None
    server = None
    try:
        try:
            server_pid = _read_server_pid(proc, timeout=30.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; stderr: {stderr_path.read_text(errors='replace')}")
        server = psutil.Process(server_pid)
        assert server.is_running() and server.status() != psutil.STATUS_ZOMBIE
        cmdline: list[str] = []
        deadline = time.monotonic() + 2.0
        while not cmdline and time.monotonic() < deadline:
            cmdline = server.cmdline()
            if not cmdline:
                time.sleep(0.02)
        assert "symbatcher" in " ".join(cmdline), cmdline

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_process_gone(server_pid, 5.0), (
            f"embedded server {server_pid} outlived its SIGKILLed owner {proc.pid}"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        if server is not None:
            # psutil checks the process identity (pid + start time) before killing.
            try:
                server.kill()
            except psutil.Error:
                pass


def test_progress_bar_is_optional(capfd):
    dataset = [f"prog-{i}" for i in range(10)]
    with BatchScheduler(engine="echo", progress=True) as s:
        results = _run(s, dataset)
    assert len(results) == 10 and all(r.startswith("echo: ") for r in results)
    err = capfd.readouterr().err
    assert "/10" in err, f"expected a progress bar on stderr, got {err!r}"


def test_no_progress_bar_by_default(scheduler, capfd):
    capfd.readouterr()
    results = _run(scheduler, [f"quiet-{i}" for i in range(7)])
    assert len(results) == 7
    err = capfd.readouterr().err
    assert "/7" not in err, f"no progress bar expected by default, got {err!r}"
