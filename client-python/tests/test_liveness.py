"""HTTP/2 keepalive: a frozen worker (SIGSTOP) loses its connection and its
items run elsewhere; a client whose server freezes gets ServerUnavailableError.
Both within keepalive interval + timeout, here 500 + 1000 ms."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from helpers import server_status, standalone_server, wait_until
from limits_expressions import Held
from symbatcher import BatchScheduler
from test_remote_workers import start_workers, stop_workers

TESTS_DIR = Path(__file__).resolve().parent
INTERVAL_MS, TIMEOUT_MS = 500, 1000
KEEPALIVE = ["--keepalive-interval-ms", str(INTERVAL_MS), "--keepalive-timeout-ms", str(TIMEOUT_MS)]
#: interval + timeout, and room for a loaded 2-core machine to act on it.
NOTICED_WITHIN = (INTERVAL_MS + TIMEOUT_MS) / 1000 + 1.5


def test_a_frozen_worker_is_dropped_and_its_items_run_on_the_other(capsys):
    with standalone_server(*KEEPALIVE) as server:
        proc = start_workers(
            server.address, "limits_expressions:Held",
            "--processes", "2", "--concurrency", "2", "--name", "live",
        )
        scheduler = BatchScheduler(address=server.address)
        try:
            wait_until(lambda: len(server_status(server.address).workers) == 2, 60, "two workers")
            victim, survivor = [c.pid for c in psutil.Process(proc.pid).children()]
            n = 24
            out: dict = {}
            job = threading.Thread(
                target=lambda: out.setdefault("results", scheduler(Held, 0, range(n), delay=0.25))
            )
            job.start()
            wait_until(
                lambda: all(w.running for w in server_status(server.address).workers),
                10,
                "both workers to hold items",
            )
            os.kill(victim, signal.SIGSTOP)
            frozen_at = time.monotonic()
            wait_until(
                lambda: len(server_status(server.address).workers) == 1, 10, "the frozen worker to go"
            )
            noticed = time.monotonic() - frozen_at
            job.join(20)
            assert not job.is_alive()
            with capsys.disabled():
                print(f"\nfrozen worker noticed after {noticed:.2f}s")
            assert noticed <= NOTICED_WITHIN, noticed
            results = out["results"]
            # Every item exactly once, in place; the frozen worker's items
            # were run again by the other process.
            assert [r["input"] for r in results] == list(range(n))
            summary = scheduler.last_summary
            assert (summary.items, summary.succeeded, summary.failed) == (n, n, 0)
            assert summary.requeued >= 1
            assert any(r["pid"] == survivor for r in results)
        finally:
            for pid in psutil.Process(proc.pid).children():
                pid.send_signal(signal.SIGCONT)
            os.kill(victim, signal.SIGKILL)
            stop_workers(proc)
            scheduler.cleanup()


CLIENT = """
import sys, time
from symbatcher import BatchScheduler, ServerUnavailableError
from limits_expressions import Held
scheduler = BatchScheduler(address=sys.argv[1], worker_wait_ms=60_000)
try:
    scheduler(Held, 0, [1])
    print("no error", flush=True)
except ServerUnavailableError as exc:
    print("unavailable:", exc, flush=True)
"""


def test_a_client_of_a_frozen_server_gets_server_unavailable(capsys):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env["SYMBATCHER_KEEPALIVE_INTERVAL_MS"] = str(INTERVAL_MS)
    env["SYMBATCHER_KEEPALIVE_TIMEOUT_MS"] = str(TIMEOUT_MS)
    with standalone_server() as server:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, server.address],
            env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        # A client that never notices would block the read below.
        guard = threading.Timer(20, client.kill)
        guard.start()
        try:
            wait_until(lambda: server_status(server.address).jobs, 30, "the client's job")
            os.kill(server.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            assert client.stdout is not None
            line = client.stdout.readline()
            noticed = time.monotonic() - frozen_at
            with capsys.disabled():
                print(f"\nfrozen server noticed after {noticed:.2f}s: {line.strip()}")
            assert line.startswith("unavailable:"), line
            assert noticed <= NOTICED_WITHIN, noticed
            client.wait(10)
        finally:
            guard.cancel()
            os.kill(server.pid, signal.SIGCONT)
            if client.poll() is None:
                client.kill()
                client.wait()
