"""Poison items are found, not guessed: an item whose forward() kills its
worker process (`os._exit`) among busy slots of real `symbatcher worker
--processes` fails alone with WorkerLostError; the runs that died with it
run again alone, are charged nothing, and succeed."""

from __future__ import annotations

import os
import signal

from helpers import server_status, standalone_server, wait_until
from remote_expressions import QuickPoison
from test_remote_workers import start_workers, stop_workers, worker_names
from symbatcher import BatchScheduler, WorkerLostError

ITEMS = 2_000
POISON = 1_000


def test_a_poison_item_among_busy_slots_is_the_only_item_lost():
    with standalone_server() as server:
        proc = start_workers(
            server.address, "remote_expressions:QuickPoison",
            "--processes", "2", "--concurrency", "8", "--name", "pp",
        )
        try:
            wait_until(lambda: sorted(worker_names(server.address)) == ["pp-0", "pp-1"], 60,
                       "two worker processes to register")
            dataset = [f"item {i}" for i in range(ITEMS)]
            dataset[POISON] = "poison"
            with BatchScheduler(address=server.address) as client:
                results = client(QuickPoison, 0, dataset, batch_size=4)
            assert len(results) == ITEMS
            lost = [i for i, r in enumerate(results) if isinstance(r, WorkerLostError)]
            assert lost == [POISON], [(i, results[i]) for i in lost[:5]]
            assert "alone" in str(results[POISON]), results[POISON]
            for i, result in enumerate(results):
                if i != POISON:
                    assert result == {"input": dataset[i], "pid": result["pid"]}, (i, result)
            # The poison killed a process each time it ran (once among
            # others, then alone up to max_attempts 3): its supervisor
            # started them again, and the pool is whole.
            wait_until(lambda: len(server_status(server.address).workers) == 2, 30,
                       "the worker pool to be whole again")
        finally:
            if proc.poll() is None:
                stop_workers(proc)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
