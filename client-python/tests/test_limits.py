"""Message size limits: an item, a result or an engine call too large for one
gRPC message fails alone, with an error naming the limit, and the job's other
items run; chunks of items and results below the limit pass whatever their
sum. The server runs with `--max-message-bytes 65536`, its worker process with
SYMBATCHER_MAX_MESSAGE_BYTES=65536, and this process's checks use the same
limit (its channels keep the default, so anything the checks let through that
is over the server's limit fails the job)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import server_status, wait_until
from limits_expressions import Prompted, Sized
from symbatcher import BatchScheduler, EncodingError
from symbatcher.wire import _settings
from symbatcher.client._embedded_server import EmbeddedServer
from test_remote_workers import stop_workers, worker_command

LIMIT = 65536
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def small_limit():
    server = EmbeddedServer(["--max-message-bytes", str(LIMIT)])
    env = dict(os.environ, SYMBATCHER_MAX_MESSAGE_BYTES=str(LIMIT))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        worker_command(
            "--server", server.address, "--log-level", "WARNING",
            "limits_expressions:Sized", "--concurrency", "4", "--name", "limits",
        ),
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    scheduler = BatchScheduler(address=server.address, worker_wait_ms=30_000)
    try:
        wait_until(lambda: server_status(server.address).workers, 60, "the worker to register")
        yield scheduler
        stop_workers(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        scheduler.cleanup()
        server.stop()


@pytest.fixture(autouse=True)
def client_limit(monkeypatch):
    monkeypatch.setattr(_settings, "MAX_MESSAGE_BYTES", LIMIT)


def test_an_item_over_the_limit_fails_alone_before_sending(small_limit):
    results = small_limit(Sized, 0, [3, "x" * 70_000, 5, 7])
    assert results[0] == "yyy" and results[2] == "y" * 5 and results[3] == "y" * 7
    err = results[1]
    assert isinstance(err, EncodingError), err
    assert "item 1 is 70002 bytes encoded" in str(err)
    assert f"over the {LIMIT}-byte message limit" in str(err)
    assert "SYMBATCHER_MAX_MESSAGE_BYTES" in str(err)
    summary = small_limit.last_summary
    assert (summary.items, summary.succeeded, summary.failed) == (4, 3, 1)


def test_a_result_over_the_limit_fails_alone(small_limit):
    results = small_limit(Sized, 0, [10, 70_000, 20, 30])
    assert [len(r) for r in (results[0], results[2], results[3])] == [10, 20, 30]
    err = results[1]
    assert isinstance(err, EncodingError), err
    assert "result of item 1 is 70002 bytes encoded" in str(err)
    assert f"over the {LIMIT}-byte message limit" in str(err)
    summary = small_limit.last_summary
    # The worker kept its connection: nothing was re-queued.
    assert (summary.failed, summary.requeued) == (1, 0)


def test_items_and_results_below_the_limit_pass_whatever_their_sum(small_limit):
    # Each item and result is 40 KB: every chunk of two or more (items sent,
    # assignments, results from the worker, results to the client) must split.
    dataset = [chr(ord("a") + i) * 40_000 for i in range(12)]
    results = small_limit(Sized, 0, dataset)
    assert results == dataset
    summary = small_limit.last_summary
    assert (summary.succeeded, summary.requeued) == (12, 0)


def test_an_engine_call_over_the_limit_fails_its_item(small_limit):
    results = small_limit(Prompted, 2, [10, 70_000, 20])
    assert isinstance(results[0], str) and "z" * 10 in results[0]
    assert isinstance(results[2], str) and "z" * 20 in results[2]
    err = results[1]
    assert isinstance(err, EncodingError), err
    assert "engine call is" in str(err) and f"{LIMIT}-byte message limit" in str(err)
