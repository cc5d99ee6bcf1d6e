"""Chaos: a job on real worker processes that are SIGKILLed and SIGSTOPped at
random moments while replacements start, and a second job cancelled midway
by its client. Afterwards every result of the completed job is there exactly
once, and a third job on the same pool runs at the rate it had before."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

from helpers import server_status, standalone_server, wait_until
from remote_expressions import Tagger
from symbatcher import BatchScheduler
from test_remote_workers import start_workers, worker_names

POOL = 4
SLOTS = 4


def _rate(client: BatchScheduler, n: int) -> float:
    start = time.monotonic()
    results = client(Tagger, 0, range(n), batch_size=8)
    elapsed = time.monotonic() - start
    assert [r["input"] for r in results] == list(range(n))
    return n / elapsed


def test_killed_frozen_and_replaced_workers_lose_and_duplicate_nothing():
    server_args = (
        "--echo-latency-ms", "10", "--max-attempts", "20",
        # A frozen worker is dropped within 1.5 s.
        "--keepalive-interval-ms", "500", "--keepalive-timeout-ms", "1000",
    )
    pool: dict[str, subprocess.Popen] = {}
    frozen: list[subprocess.Popen] = []

    def spawn(name: str) -> None:
        pool[name] = start_workers(
            server.address, "remote_expressions:Tagger", "--concurrency", str(SLOTS), "--name", name
        )

    with standalone_server(*server_args) as server:
        try:
            for n in range(POOL):
                spawn(f"w{n}")
            wait_until(lambda: len(worker_names(server.address)) == POOL, 60, "the pool to register")
            with BatchScheduler(address=server.address) as client:
                before = _rate(client, 400)

                rng = random.Random(20261129)
                stop = threading.Event()
                events: list[str] = []

                def chaos() -> None:
                    spawned = POOL
                    while not stop.wait(rng.uniform(0.4, 0.8)):
                        victim = rng.choice(sorted(pool))
                        proc = pool.pop(victim)
                        if rng.random() < 0.5:
                            os.killpg(proc.pid, signal.SIGKILL)
                            events.append(f"SIGKILL {victim}")
                        else:
                            os.killpg(proc.pid, signal.SIGSTOP)
                            frozen.append(proc)
                            events.append(f"SIGSTOP {victim}")
                        spawn(f"w{spawned}")
                        spawned += 1

                cancelled_results: list = []

                def cancelled_job() -> None:
                    stream = client.stream(Tagger, 0, range(100_000), batch_size=8)
                    for pair in stream:
                        cancelled_results.append(pair)
                        if len(cancelled_results) >= 300:
                            break
                    stream.close()  # the client cancels the job midway

                chaos_thread = threading.Thread(target=chaos)
                second = threading.Thread(target=cancelled_job)
                chaos_thread.start()
                second.start()
                n = 4000
                try:
                    results = client(Tagger, 0, range(n), batch_size=8)
                finally:
                    stop.set()
                    chaos_thread.join()
                    second.join(60)
                summary = client.last_summary

                # Every result once, in place, none lost; the pool really churned.
                failed = [r for r in results if isinstance(r, BaseException)]
                assert not failed, failed[:3]
                assert [r["input"] for r in results] == list(range(n))
                assert summary.items == n and summary.succeeded == n
                assert any(e.startswith("SIGKILL") for e in events), events
                assert any(e.startswith("SIGSTOP") for e in events), events
                assert summary.requeued > 0, summary.describe()
                assert len(cancelled_results) == 300
                assert not second.is_alive(), "the cancelled job's client hung"

                # The frozen workers are gone from the server; the live pool is idle.
                for proc in frozen:
                    os.killpg(proc.pid, signal.SIGKILL)
                wait_until(
                    lambda: sorted(worker_names(server.address)) == sorted(pool), 30,
                    "only the live pool to remain",
                )
                wait_until(
                    lambda: all(
                        (w.running, w.started, w.cancelling) == (0, 0, 0)
                        for w in server_status(server.address).workers
                    ),
                    10,
                    "the pool's slots to be free",
                )
                after = _rate(client, 400)
            assert after >= 0.5 * before, f"{after:.0f} items/s after the chaos, {before:.0f} before"
        finally:
            for proc in [*pool.values(), *frozen]:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
