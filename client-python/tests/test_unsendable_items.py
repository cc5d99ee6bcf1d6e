"""An item that cannot be encoded for another process fails alone and at
once when no slot of the client's process serves its job; the JSONL runner
writes an error line for it, and for a result it cannot write, and never
stops on one."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from helpers import standalone_server, wait_until
from remote_expressions import Paced
from symbatcher import BatchScheduler, EncodingError
from test_remote_workers import start_workers, stop_workers, worker_names
from test_runner import read_output, runner_command

TESTS_DIR = Path(__file__).resolve().parent


def test_items_that_cannot_be_sent_fail_at_once_and_alone_on_remote_workers():
    with standalone_server() as server:
        worker = start_workers(server.address, "remote_expressions:Paced",
                               "--concurrency", "8", "--name", "w")
        try:
            wait_until(lambda: worker_names(server.address) == ["w"], 60, "the worker to register")
            with BatchScheduler(address=server.address, worker_wait_ms=60_000) as client:
                start = time.monotonic()
                results = client(Paced, 0, ["a", {1, 2}, "b"], delay=0)
                elapsed = time.monotonic() - start
                assert isinstance(results[1], EncodingError), results[1]
                assert "item 1" in str(results[1]) and "num_workers" in str(results[1])
                assert [results[0]["input"], results[2]["input"]] == ["a", "b"]
                assert elapsed < 5, f"took {elapsed:.1f}s"
                assert client.last_summary.failed == 1 and client.last_summary.items == 3

                # A bad item near the queue's front holds back none behind it.
                items: list = list(range(1000))
                items[10] = "lone \udcff surrogate"
                results = client(Paced, 0, items, delay=0)
                errors = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
                assert errors == [10], errors
                assert isinstance(results[10], EncodingError) and "item 10" in str(results[10])
                assert sum(1 for r in results if isinstance(r, dict)) == 999
        finally:
            assert stop_workers(worker) == 0


def test_with_local_slots_an_item_that_cannot_be_sent_runs_in_them(scheduler):
    results = scheduler(Paced, 2, ["a", {1, 2}, "b"], delay=0)
    assert [r["input"] for r in results] == ["a", {1, 2}, "b"]


def _write_lines(path: Path, n: int, bad_index: int, bad_line: str) -> None:
    with path.open("w") as f:
        for index in range(n):
            f.write((bad_line if index == bad_index else json.dumps(f"line {index}")) + "\n")


def test_the_runner_on_remote_workers_writes_an_error_line_for_a_lone_surrogate_input(tmp_path):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    _write_lines(data, 2000, 700, '{"input": "\\udcff", "id": "bad"}')
    with standalone_server() as server:
        worker = start_workers(server.address, "remote_expressions:LoneSurrogate",
                               "--concurrency", "8", "--name", "w")
        try:
            wait_until(lambda: worker_names(server.address) == ["w"], 60, "the worker to register")
            done = subprocess.run(
                runner_command("remote_expressions:LoneSurrogate", "--input", str(data),
                               "--output", str(out), "--workers", "0", "--server", server.address,
                               "--app-dir", str(TESTS_DIR), "--no-progress"),
                capture_output=True, text=True, timeout=60,
            )
        finally:
            assert stop_workers(worker) == 0
    assert done.returncode == 0, done.stderr
    lines = read_output(out)
    assert sorted(line["index"] for line in lines) == list(range(2000))
    [bad] = [line for line in lines if "error" in line]
    assert bad["index"] == 700 and bad["id"] == "bad"
    assert bad["error"]["type"] == "EncodingError" and "item " in bad["error"]["message"]


def test_the_runner_writes_an_error_line_for_a_result_it_cannot_write_and_finishes(tmp_path):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    _write_lines(data, 2000, 1500, json.dumps({"input": "bad", "id": "x\udcff"}))
    # Another line whose id (not its result) holds a lone surrogate.
    lines = data.read_text().splitlines()
    lines[1600] = json.dumps({"input": "fine", "id": "y\udcff"})
    data.write_text("\n".join(lines) + "\n")
    command = runner_command(
        "remote_expressions:LoneSurrogate", "--input", str(data), "--output", str(out),
        "--workers", "4", "--engine", "echo", "--app-dir", str(TESTS_DIR), "--no-progress",
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = read_output(out)
    assert sorted(line["index"] for line in lines) == list(range(2000))
    [bad] = [line for line in lines if "error" in line]
    assert bad["index"] == 1500 and bad["id"] == "x\udcff"
    assert bad["error"]["type"] == "EncodingError" and "str" in bad["error"]["message"]
    [odd_id] = [line for line in lines if line["index"] == 1600]
    assert odd_id == {"index": 1600, "id": "y\udcff", "result": "fine"}
    # A re-run finds every line written: nothing to do.
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
