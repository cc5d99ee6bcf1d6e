"""`symbatcher engine` reconnects as `symbatcher worker` does: through a
server freeze (SIGSTOP) that its keepalive detects, it comes back within the
server's --engine-reconnect-grace-ms and the job running meanwhile loses no
call; through a server restart, it registers with the new server and serves
its jobs. (A restart ends the jobs the old server held: their clients see
ServerUnavailableError, and `symbatcher run` resumes them. What the engine
guarantees is that it is there for them again.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import QueryExpression
from helpers import server_status, standalone_server, wait_until
from symbatcher import BatchScheduler
from symbatcher.client._embedded_server import find_server_binary

TESTS_DIR = Path(__file__).resolve().parent
ENGINE = "reconnecting"
#: The engine's keepalive: a frozen server is noticed within 0.7 s. The
#: test's own client keeps the defaults (15 s), so it rides out the freeze.
ENGINE_KEEPALIVE = {"SYMBATCHER_KEEPALIVE_INTERVAL_MS": "200", "SYMBATCHER_KEEPALIVE_TIMEOUT_MS": "500"}
FREEZE_S = 3.0


def _start_engine(address: str, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, **ENGINE_KEEPALIVE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "symbatcher.cli", "engine", "remote_engines:SlowEcho",
             "--server", address, "--name", ENGINE, "--log-level", "INFO"],
            env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )


def _registered(address: str) -> bool:
    try:
        return any(e.name == ENGINE and not e.reconnecting for e in server_status(address).engines)
    except Exception:  # the server is not up (yet)
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_the_engine_rides_out_a_server_freeze_and_no_call_fails(tmp_path):
    log_path = tmp_path / "engine.log"
    with standalone_server() as server:
        engine = _start_engine(server.address, log_path)
        try:
            wait_until(lambda: _registered(server.address), 30, "the engine to register")
            results: dict[int, object] = {}
            with BatchScheduler(address=server.address, engine=ENGINE) as scheduler:
                def run() -> None:
                    for index, value in scheduler.stream(QueryExpression, 4, range(300), batch_size=8):
                        results[index] = value

                job = threading.Thread(target=run)
                job.start()
                wait_until(lambda: len(results) >= 50, 30, "the job to be under way")
                os.kill(server.pid, signal.SIGSTOP)
                try:
                    time.sleep(FREEZE_S)
                finally:
                    os.kill(server.pid, signal.SIGCONT)
                job.join(60)
                assert not job.is_alive(), "the job did not finish"
            failed = {i: v for i, v in results.items() if isinstance(v, BaseException)}
            assert not failed, f"{len(failed)} items failed: {list(failed.items())[:3]}"
            assert sorted(results) == list(range(300))
            assert all(str(v).startswith("slow: ") for v in results.values())
            assert engine.poll() is None, "the engine process exited"
            # The freeze was visible to the engine: it lost the server and came back.
            wait_until(lambda: _registered(server.address), 10, "the engine to be registered")
            log = log_path.read_text()
            assert "lost the server" in log, log
        finally:
            _stop(engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_on(address: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [find_server_binary(), "--listen", address, "--shutdown-grace-ms", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on "), line
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def test_the_engine_comes_back_after_a_server_restart_and_serves_new_jobs(tmp_path):
    address = f"127.0.0.1:{_free_port()}"
    server = _server_on(address)
    engine = _start_engine(address, tmp_path / "engine.log")
    try:
        wait_until(lambda: _registered(address), 30, "the engine to register")
        with BatchScheduler(address=address, engine=ENGINE) as scheduler:
            assert all(str(v).startswith("slow: ") for v in scheduler(QueryExpression, 2, range(20)))
        server.kill()
        server.wait(10)
        time.sleep(1.0)  # the engine retries meanwhile
        server = _server_on(address)
        wait_until(lambda: _registered(address), 30, "the engine to register with the new server")
        with BatchScheduler(address=address, engine=ENGINE) as scheduler:
            results = scheduler(QueryExpression, 4, range(200), batch_size=8)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, failed[:3]
        assert all(str(v).startswith("slow: ") for v in results)
        assert engine.poll() is None, "the engine process exited"
    finally:
        _stop(engine)
        server.kill()
        server.wait(10)
