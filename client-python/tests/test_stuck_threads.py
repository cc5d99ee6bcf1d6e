"""Threads left behind by thread slots given up on (a cancelled forward()
that does not return) are bounded: a slot given up on is not counted busy,
and past --max-stuck-threads the worker process is replaced (by its
supervisor, or by running itself again), which ends them all."""

from __future__ import annotations

from helpers import server_status, standalone_server, wait_until
from remote_expressions import Sleepy
from symbatcher import BatchScheduler, ItemTimeoutError
from test_remote_workers import start_workers, stop_workers


def _workers(address: str) -> dict[str, tuple[int, int, int, int]]:
    return {w.name: (w.worker_id, w.running, w.started, w.cancelling)
            for w in server_status(address).workers}


def _check(results: list, items: list) -> None:
    for item, result in zip(items, results):
        if item == "hang":
            assert isinstance(result, ItemTimeoutError), result
        else:
            assert result["reply"].startswith("echo: "), result


def test_a_supervised_worker_process_past_the_cap_is_replaced(tmp_path):
    log = tmp_path / "workers.log"
    items = ["hang", 0, "hang", 0, "hang", 0, "hang", 0] + [0] * 8
    with standalone_server() as server, log.open("wb") as stderr:
        workers = start_workers(
            server.address, "remote_expressions:Sleepy", "--processes", "2", "--concurrency", "2",
            "--prefetch", "0", "--max-stuck-threads", "1", "--grace", "1", "--name", "s",
            "--log-level", "INFO", stderr=stderr,
        )
        try:
            wait_until(lambda: len(_workers(server.address)) == 2, 60, "two worker processes")
            with BatchScheduler(address=server.address, item_timeout_s=0.3) as client:
                results = client(Sleepy, 0, items, batch_size=2)
            _check(results, items)
            # 4 stuck runs on 2 processes allowed 1 stuck thread each: one
            # process at least went past the cap and was started again.
            wait_until(lambda: "exited with status 4; restarting" in log.read_text(), 20,
                       "a worker process past the cap to be replaced")
            wait_until(lambda: len(_workers(server.address)) == 2, 60, "the replacement to register")
            with BatchScheduler(address=server.address) as client:
                again = client(Sleepy, 0, [0] * 8, batch_size=2)
            _check(again, [0] * 8)
        finally:
            stop_workers(workers)


def test_a_lone_worker_past_the_cap_runs_itself_again_and_a_slot_given_up_on_is_not_busy():
    with standalone_server() as server:
        worker = start_workers(
            server.address, "remote_expressions:Sleepy", "--concurrency", "2", "--prefetch", "0",
            "--max-stuck-threads", "1", "--grace", "1", "--name", "lone",
        )
        try:
            wait_until(lambda: "lone" in _workers(server.address), 60, "the worker to register")
            [first_id] = [w[0] for w in _workers(server.address).values()]
            with BatchScheduler(address=server.address, item_timeout_s=0.3) as client:
                results = client(Sleepy, 0, ["hang", 0], batch_size=2)
                _check(results, ["hang", 0])
                # Given up on (1 s after the timeout), the stuck slot counts
                # no more, though its thread still sleeps.
                wait_until(lambda: _workers(server.address)["lone"][1:] == (0, 0, 0), 5,
                           "the slot given up on to be free")
                assert _workers(server.address)["lone"][0] == first_id
                # A second stuck run is past the cap: the process runs itself again.
                results = client(Sleepy, 0, ["hang", 0], batch_size=2)
                _check(results, ["hang", 0])
            wait_until(lambda: (w := _workers(server.address).get("lone")) and w[0] != first_id,
                       30, "the worker to register again")
            assert worker.poll() is None, "the worker process ended instead of running again"
            with BatchScheduler(address=server.address) as client:
                _check(client(Sleepy, 0, [0, 0, 0], batch_size=2), [0, 0, 0])
        finally:
            stop_workers(worker)
