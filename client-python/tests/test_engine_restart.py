"""An engine process (`symbatcher engine module:Class`) killed in the middle
of a job and started again within the server's --engine-reconnect-grace-ms:
the job's engine calls wait for it, and no item fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import QueryExpression
from helpers import server_status, standalone_server, wait_until
from symbatcher import BatchScheduler

TESTS_DIR = Path(__file__).resolve().parent
ENGINE = "restartable"


def _start_engine(address: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "symbatcher.cli", "engine", "remote_engines:SlowEcho",
         "--server", address, "--name", ENGINE, "--log-level", "WARNING"],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _engine(address: str):
    return next((e for e in server_status(address).engines if e.name == ENGINE), None)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_an_engine_process_restarted_within_the_grace_fails_no_item():
    with standalone_server() as server:
        first = _start_engine(server.address)
        second = None
        try:
            wait_until(lambda: _engine(server.address), 30, "the engine to register")
            results: dict[int, object] = {}
            with BatchScheduler(address=server.address, engine=ENGINE) as scheduler:
                def run() -> None:
                    for index, value in scheduler.stream(QueryExpression, 4, range(300), batch_size=8):
                        results[index] = value

                job = threading.Thread(target=run)
                job.start()
                wait_until(lambda: len(results) >= 50, 30, "the job to be under way")
                os.kill(first.pid, signal.SIGKILL)
                first.wait(10)
                wait_until(lambda: (e := _engine(server.address)) is not None and e.reconnecting,
                           10, "the server to wait for the engine")
                done_while_away = len(results)
                second = _start_engine(server.address)
                job.join(60)
                assert not job.is_alive(), "the job did not finish"
            assert done_while_away < 300, "the engine was killed after the job's end"
            failed = {i: v for i, v in results.items() if isinstance(v, BaseException)}
            assert not failed, f"{len(failed)} items failed: {list(failed.items())[:3]}"
            assert sorted(results) == list(range(300))
            assert all(str(v).startswith("slow: ") for v in results.values())
            assert not _engine(server.address).reconnecting
        finally:
            _stop(first)
            if second is not None:
                _stop(second)
