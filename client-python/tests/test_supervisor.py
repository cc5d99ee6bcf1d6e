"""The `symbatcher worker --processes` supervisor: a worker process that dies
is started again (and the restart logged with its exit status), so the pool
does not shrink; one that exits cleanly after a drain is not."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import psutil

from helpers import server_status, standalone_server, wait_until
from test_remote_workers import start_workers, stop_workers, worker_names


def _children(proc: subprocess.Popen) -> list[int]:
    return sorted(c.pid for c in psutil.Process(proc.pid).children())


def _collect(stream, lines: list[str]) -> threading.Thread:
    def read() -> None:
        for raw in iter(stream.readline, b""):
            lines.append(raw.decode(errors="replace"))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _worker_ids(address: str) -> dict[str, int]:
    return {w.name: w.worker_id for w in server_status(address).workers}


def test_a_killed_worker_process_is_replaced():
    with standalone_server() as server:
        proc = start_workers(
            server.address, "remote_expressions:Tagger",
            "--processes", "2", "--concurrency", "2", "--name", "sup",
            stderr=subprocess.PIPE,
        )
        lines: list[str] = []
        reader = _collect(proc.stderr, lines)
        try:
            wait_until(lambda: sorted(worker_names(server.address)) == ["sup-0", "sup-1"],
                       60, "two worker processes to register")
            before = _worker_ids(server.address)
            children = _children(proc)
            assert len(children) == 2
            victim = children[0]
            os.kill(victim, signal.SIGKILL)

            def replaced() -> bool:
                ids = _worker_ids(server.address)
                return len(ids) == 2 and set(ids.values()) != set(before.values())

            wait_until(replaced, 15, "a replacement worker process to register")
            after = _children(proc)
            assert len(after) == 2 and victim not in after, after
            # The same names: one of them registered again, the other never left.
            assert sorted(_worker_ids(server.address)) == ["sup-0", "sup-1"]
            assert stop_workers(proc) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(5)
        log = "".join(lines)
        assert f"worker process {victim}" in log and "SIGKILL" in log and "restarting" in log, log


def test_a_worker_process_that_drains_is_not_restarted():
    with standalone_server() as server:
        proc = start_workers(
            server.address, "remote_expressions:Tagger",
            "--processes", "2", "--concurrency", "2", "--name", "calm",
        )
        try:
            wait_until(lambda: len(worker_names(server.address)) == 2, 60, "two workers")
            drained = _children(proc)[0]
            os.kill(drained, signal.SIGTERM)  # drains, exits 0
            wait_until(lambda: len(_children(proc)) == 1, 20, "the drained process to exit")
            wait_until(lambda: len(worker_names(server.address)) == 1, 10, "its worker to leave")
            # Give a restart (0.5 s after the exit) every chance to happen.
            for _ in range(3):
                threading.Event().wait(1.0)
                assert len(_children(proc)) == 1
                assert len(worker_names(server.address)) == 1
            assert stop_workers(proc) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
