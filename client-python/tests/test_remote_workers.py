"""`symbatcher worker` processes serving jobs together with local slots;
remote errors; jobs sharing workers; no worker; draining on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from symai import Expression

import remote_expressions
from helpers import server_status, standalone_server, wait_until
from remote_expressions import Awkward, Paced, SlotCpus, Tagger
from symbatcher import BatchScheduler, EncodingError, NoWorkerError, RemoteError
from symbatcher.cli.main import main as cli_main
from symbatcher.client._embedded_server import EmbeddedServer

TESTS_DIR = Path(__file__).resolve().parent


def worker_command(*args: str) -> list[str]:
    """`symbatcher worker ...`: the console script next to this Python, or
    the same entry point through -m."""
    script = Path(sys.executable).parent / "symbatcher"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher.cli"]
    return [*head, "worker", *args]


def start_workers(address: str, *args: str, stderr=None) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        worker_command("--server", address, "--log-level", "WARNING", *args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,
    )


def stop_workers(proc: subprocess.Popen, timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def worker_names(address: str) -> list[str]:
    return [w.name for w in server_status(address).workers]


@pytest.fixture(scope="module")
def remote():
    """A server of its own, a scheduler submitting to it, and a `symbatcher
    worker --processes 2` serving the test expressions to it (4 slots per
    process)."""
    server = EmbeddedServer([])
    scheduler = BatchScheduler(address=server.address)
    proc = start_workers(
        scheduler.address,
        "remote_expressions:Tagger",
        "remote_expressions:Paced",
        "remote_expressions:Awkward",
        "remote_expressions:SlotCpus",
        "--processes", "2",
        "--concurrency", "4",
        "--name", "pool",
    )
    try:
        wait_until(
            lambda: sorted(worker_names(scheduler.address)) == ["pool-0", "pool-1"],
            60,
            "two worker processes to register",
        )
        children = [c.pid for c in psutil.Process(proc.pid).children()]
        assert len(children) == 2
        yield scheduler, children
        assert stop_workers(proc) == 0  # SIGTERM drains and exits cleanly
        wait_until(lambda: not worker_names(scheduler.address), 10, "workers to disconnect")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        scheduler.cleanup()
        server.stop()


def test_the_processes_of_a_supervisor_pin_their_slots_to_different_cpus(remote):
    # `--processes 2`: child k's thread slots share the k-th CPU of the
    # process's set, so the two GILs run on two cores.
    scheduler, children = remote
    results = scheduler(SlotCpus, 0, list(range(40)), batch_size=4)
    cpus_by_pid: dict[int, set[tuple[int, ...]]] = {}
    for result in results:
        cpus_by_pid.setdefault(result["pid"], set()).add(tuple(result["cpus"]))
    assert sorted(cpus_by_pid) == sorted(children), cpus_by_pid
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) >= 2:
        # Every item on one CPU; children 0 and 1 start on the first two (a
        # child may move later, off a CPU that other work keeps busy).
        assert all(len(cpu_set) == 1 for cpus in cpus_by_pid.values() for cpu_set in cpus)
        used = sorted({cpu_set[0] for cpus in cpus_by_pid.values() for cpu_set in cpus})
        assert set(allowed[:2]) <= set(used), cpus_by_pid
    else:  # a single CPU: nothing to pin
        assert all(cpus == {tuple(allowed)} for cpus in cpus_by_pid.values()), cpus_by_pid


def test_expressions_are_named_by_import_path():
    # What BatchScheduler submits is what `symbatcher worker` registers.
    assert Tagger.__module__ == "remote_expressions"
    assert remote_expressions.Tagger is Tagger


def test_two_worker_processes_and_local_slots_serve_one_job(remote):
    scheduler, worker_pids = remote
    n = 400
    results = scheduler(Tagger, 2, range(n), batch_size=8)
    assert len(results) == n
    for i, result in enumerate(results):
        assert isinstance(result, dict), result
        assert result["input"] == i
        assert result["reply"].startswith("echo: ") and str(i) in result["reply"]
    summary = scheduler.last_summary
    assert summary.items == n and summary.succeeded == n and summary.failed == 0
    pids = {r["pid"] for r in results}
    assert set(worker_pids) <= pids, (pids, worker_pids)
    assert os.getpid() in pids  # the local slots took part
    # Engine calls of all three processes were batched together.
    assert summary.engine_calls == n and summary.mean_batch_size > 1


def test_num_workers_zero_runs_on_remote_workers_only(remote):
    scheduler, worker_pids = remote
    got = dict(scheduler.stream(Tagger, 0, (i for i in range(200)), batch_size=8))
    assert sorted(got) == list(range(200))
    assert {r["pid"] for r in got.values()} <= set(worker_pids)


def test_remote_exceptions_and_non_json_results_are_per_item_errors(remote):
    scheduler, _ = remote
    results = scheduler(Awkward, 0, ["ok", "raise", "set", "symbol", "ok again"])
    assert results[0] == "ok" and results[4] == "ok again"
    err = results[1]
    assert isinstance(err, RemoteError)
    assert err.type_name == "KeyError"
    assert err.message == "'no such key'"
    assert 'raise KeyError("no such key")' in err.traceback_text
    assert "remote_expressions.py" in err.traceback_text
    bad = results[2]
    assert isinstance(bad, EncodingError)
    assert "result of item 2" in str(bad) and "not JSON-serializable" in str(bad)
    # A symai Symbol crosses the process boundary as its value.
    assert results[3] == "a symbol's value"
    assert scheduler.last_summary.failed == 2


def test_two_concurrent_jobs_on_the_same_workers_both_progress(remote):
    scheduler, _ = remote

    async def run_job(n, delay, start_after, times):
        await asyncio.sleep(start_after)
        async for _index, _value in scheduler.astream(Paced, 0, range(n), delay=delay):
            times.append(time.monotonic())

    async def main():
        a, b = [], []
        await asyncio.gather(run_job(400, 0.01, 0, a), run_job(100, 0.01, 0.15, b))
        return a, b

    a, b = asyncio.run(main())
    assert len(a) == 400 and len(b) == 100
    # B started after A had queued all its items; with the workers shared
    # in turn, B got slots at once and finished first, while A kept going.
    assert b[-1] < a[-1]
    a_during_b = sum(1 for t in a if b[0] <= t <= b[-1])
    assert a_during_b >= 50, f"job A made {a_during_b} results while B ran"


def test_job_without_a_worker_fails_after_the_configured_wait(remote):
    scheduler, _ = remote

    class Unserved(Expression):  # defined here: no worker serves it
        def forward(self, input, **kwargs):
            return input

    # An external server (the fixture's), as another program would use it.
    with BatchScheduler(address=scheduler.address, worker_wait_ms=300) as client:
        assert client.server_pid is None
        start = time.monotonic()
        with pytest.raises(NoWorkerError) as excinfo:
            client(Unserved, 0, [1, 2, 3])
        waited = time.monotonic() - start
    assert 0.25 <= waited < 10
    message = str(excinfo.value)
    assert "Unserved" in message and "300 ms" in message
    assert "symbatcher worker" in message and scheduler.address in message
    # The same facts as attributes, from the server's error trailers.
    err = excinfo.value
    assert err.kind == "no_worker" and err.code == "FAILED_PRECONDITION"
    assert err.expression.endswith(".Unserved") and err.expression.startswith("test_remote_workers:")
    assert err.waited_ms == 300


@pytest.mark.parametrize("slots", ["thread", "greenlet"])
def test_worker_drains_running_items_on_sigterm(remote, tmp_path, slots):
    scheduler, _ = remote
    proc = start_workers(
        scheduler.address, "remote_expressions:Paced",
        "--concurrency", "1", "--prefetch", "0", "--name", "drainer", "--slots", slots,
    )
    try:
        wait_until(lambda: "drainer" in worker_names(scheduler.address), 60, "the worker to register")
        arrivals: list[tuple[float, int, dict]] = []

        def consume():
            stream = scheduler.stream(Paced, 0, range(40), delay=0.4, mark_dir=str(tmp_path))
            for index, value in stream:
                arrivals.append((time.monotonic(), index, value))

        consumer = threading.Thread(target=consume)
        consumer.start()

        def drainer_started_an_item():
            # Started in forward(), not merely assigned: only then must it finish there.
            return any(p.name.startswith(f"{proc.pid}-") for p in tmp_path.iterdir())

        wait_until(drainer_started_an_item, 20, "the worker to start an item")
        signalled_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        consumer.join(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Every item once: what the drained worker did not start went to the pool.
    assert sorted(index for _, index, _ in arrivals) == list(range(40))
    assert all(value["input"] == index for _, index, value in arrivals)
    # The item it was running when signalled finished there and was reported.
    assert any(t > signalled_at and value["pid"] == proc.pid for t, _, value in arrivals)


def test_worker_command_rejects_a_bad_import_path(capsys):
    assert cli_main(["worker", "no_such_module_xyz:Thing", "--server", "127.0.0.1:1"]) == 2
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err
    assert cli_main(["worker", "remote_expressions", "--server", "127.0.0.1:1"]) == 2
    assert "module:Class" in capsys.readouterr().err
    assert cli_main(["worker", "remote_expressions:os", "--server", "127.0.0.1:1"]) == 2
    assert "not a class" in capsys.readouterr().err


def test_worker_waits_for_the_server_and_reconnects_after_losing_it():
    from symbatcher.client._embedded_server import find_server_binary

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"

    def start_server() -> subprocess.Popen:
        server = subprocess.Popen(
            [find_server_binary(), "--listen", address, "--shutdown-grace-ms", "200"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert server.stdout.readline().decode().startswith("listening on")
        return server

    worker = start_workers(
        address, "remote_expressions:Tagger", "--concurrency", "2", "--name", "patient",
        stderr=subprocess.PIPE,
    )
    server = None
    try:
        # No server yet: the worker says it waits, and keeps trying.
        for line in worker.stderr:
            if b"waiting for the server" in line:
                break
        else:
            pytest.fail("the worker exited instead of waiting for the server")
        server = start_server()
        wait_until(lambda: worker_names(address) == ["patient"], 60, "the worker to register")
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        server = start_server()  # a new server at the same address
        wait_until(lambda: worker_names(address) == ["patient"], 30, "the worker to come back")
        with BatchScheduler(address=address) as client:
            results = client(Tagger, 0, range(10))
        assert [r["input"] for r in results] == list(range(10))
        assert stop_workers(worker) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize("slots", ["thread", "greenlet"])
def test_a_draining_worker_gives_back_its_queued_items_without_using_an_attempt(tmp_path, slots):
    # One attempt per item: an item queued in the draining worker that the
    # server had to re-queue at its disconnect would fail with WorkerLostError.
    with BatchScheduler(engine="echo", server_args=["--max-attempts", "1"]) as scheduler:
        proc = start_workers(
            scheduler.address, "remote_expressions:Paced",
            "--concurrency", "1", "--prefetch", "8", "--name", "drainer", "--slots", slots,
        )
        try:
            wait_until(lambda: "drainer" in worker_names(scheduler.address), 60, "the worker to register")
            results: list = []

            def consume():
                # 1 local slot beside the worker: it takes what the worker gives back.
                results.extend(
                    scheduler(Paced, 1, range(30), delay=0.3, mark_dir=str(tmp_path))
                )

            consumer = threading.Thread(target=consume)
            consumer.start()

            def drainer_queue():
                # Runs assigned to it that its one slot has not started. (A
                # greenlet slot's time.sleep blocks its process's loop, so its
                # RunsStarted goes out with the run's result: `started` may
                # read 0 while the slot runs an item.)
                workers = server_status(scheduler.address).workers
                queued = [w.running - 1 for w in workers if w.name == "drainer"]
                return queued[0] if queued and queued[0] >= 4 else 0

            queued = wait_until(drainer_queue, 20, "the worker to start an item and queue more")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            consumer.join(60)
            summary = scheduler.last_summary
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed[:3]
    assert [r["input"] for r in results] == list(range(30))
    # What it held queued went back. One more may have started meanwhile;
    # with greenlet slots two: forward()'s time.sleep blocks the loop, and
    # after each item the slot's next step is queued on the loop before the
    # SIGTERM's handler, so the slot starts the next item first.
    meanwhile = 2 if slots == "greenlet" else 1
    assert summary.requeued >= queued - meanwhile, (queued, summary.describe())
