"""`symbatcher run`: the JSONL runner, its output format, resume and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symbatcher.cli.main import main as cli_main
from symbatcher.cli.run import load_output

TESTS_DIR = Path(__file__).resolve().parent
MALFORMED_LINE = 4  # 1-based line number of the malformed line
BLANK_LINE = 6
BOOM_LINE = 9


def write_input(path: Path, n: int) -> set[int]:
    """n lines: objects with input and id, plain strings, numbers, one
    malformed line, one blank line and one failing item. Returns the
    indices that must appear in the output."""
    expected = set()
    with path.open("w") as f:
        for index in range(n):
            line = index + 1
            if line == MALFORMED_LINE:
                f.write('{"input": "half an object"\n')
            elif line == BLANK_LINE:
                f.write("\n")
                continue
            elif line == BOOM_LINE:
                f.write(json.dumps({"input": "boom", "id": "b-9"}) + "\n")
            elif index % 3 == 0:
                f.write(json.dumps({"input": f"text {index}", "id": f"id-{index}"}) + "\n")
            elif index % 3 == 1:
                f.write(json.dumps(f"plain {index}") + "\n")
            else:
                f.write(json.dumps(index) + "\n")
            expected.add(index)
    return expected


def read_output(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "output ends with a partial line"
    return [json.loads(line) for line in data.splitlines()]


def runner_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "symbatcher"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher.cli"]
    return [*head, "run", *args]


def test_run_interrupt_and_resume(tmp_path):
    n = 1500
    data, out = tmp_path / "data.jsonl", tmp_path / "results.jsonl"
    expected = write_input(data, n)
    command = runner_command(
        "remote_expressions:Lines", "--input", str(data), "--output", str(out),
        "--workers", "2", "--batch-size", "4", "--app-dir", str(TESTS_DIR), "--engine", "echo",
    )
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0):
        assert first.poll() is None, first.communicate()[1]
        assert time.monotonic() < deadline, "no output within 60 s"
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)
    _, first_err = first.communicate(timeout=30)
    assert first.returncode == 130, first_err
    assert "interrupted" in first_err and "again to resume" in first_err
    # The malformed line was reported with its line number, and the run went on.
    assert f"data.jsonl:{MALFORMED_LINE}: invalid JSON" in first_err
    partial = read_output(out)  # every line whole
    assert 0 < len(partial) < len(expected)
    assert len({r["index"] for r in partial}) == len(partial)

    second = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "item/s" in second.stderr  # the progress bar
    records = read_output(out)
    indices = [r["index"] for r in records]
    assert len(indices) == len(set(indices)), "duplicate indices"
    assert set(indices) == expected

    by_index = {r["index"]: r for r in records}
    malformed = by_index[MALFORMED_LINE - 1]
    assert malformed["error"]["type"] == "InputError"
    assert f"line {MALFORMED_LINE}" in malformed["error"]["message"]
    assert by_index[BOOM_LINE - 1] == {
        "index": BOOM_LINE - 1, "id": "b-9",
        "error": {"type": "ValueError", "message": "boom is not allowed"},
    }
    for index in expected - {MALFORMED_LINE - 1, BOOM_LINE - 1}:
        record = by_index[index]
        assert record["result"].startswith("echo: "), record
        if index % 3 == 0:
            assert record["id"] == f"id-{index}" and f"text {index}" in record["result"]
        else:
            assert "id" not in record

    third = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=60)
    assert third.returncode == 0 and "nothing to do" in third.stderr
    assert read_output(out) == records


def test_resume_drops_a_partial_line_and_retries_failures(tmp_path, capsys):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in ["a", "boom", "c", "d"]))
    out.write_text(
        json.dumps({"index": 0, "result": "kept"}) + "\n"
        + json.dumps({"index": 1, "error": {"type": "ValueError", "message": "old"}}) + "\n"
        + '{"index": 2, "res'  # a crash left half a line
    )
    done = load_output(str(out))
    assert 0 in done and 1 in done and 2 not in done and len(done) == 2
    assert out.read_text().endswith("\n")  # the partial line is gone

    argv = ["run", "remote_expressions:Lines", "--input", str(data), "--output", str(out),
            "--workers", "2", "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "echo"]
    assert cli_main([*argv, "--ordered"]) == 0
    records = read_output(out)
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert records[0] == {"index": 0, "result": "kept"}  # not run again
    assert records[1]["error"]["message"] == "old"

    assert cli_main([*argv, "--retry-failed"]) == 0
    records = read_output(out)
    assert [r["index"] for r in records] == [0, 2, 3, 1]  # failures dropped, then re-run
    assert records[-1]["error"]["message"] == "boom is not allowed"


def test_kwargs_reach_forward_and_bad_arguments_are_reported(tmp_path, capsys):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"input": "x", "id": 1}\n')
    argv = ["run", "remote_expressions:Paced", "--input", str(data), "--output", str(out),
            "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "echo"]
    assert cli_main([*argv, "--kwargs", '{"delay": 0}']) == 0
    [record] = read_output(out)
    assert record["id"] == 1 and record["result"]["input"] == "x"
    assert cli_main([*argv, "--kwargs", "[1]"]) == 2
    assert "--kwargs: must be a JSON object" in capsys.readouterr().err
    assert cli_main([*argv, "--workers", "0"]) == 2
    assert "--server" in capsys.readouterr().err
    os.remove(data)
    assert cli_main(argv) == 2
    assert "no such file" in capsys.readouterr().err


def test_run_with_greenlet_slots(tmp_path):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    data.write_text("".join(json.dumps({"input": i, "id": f"r{i}"}) + "\n" for i in range(40)))
    argv = ["run", "remote_expressions:TwoCalls", "--input", str(data), "--output", str(out),
            "--workers", "8", "--slots", "greenlet", "--batch-size", "8", "--no-progress",
            "--app-dir", str(TESTS_DIR), "--engine", "echo"]
    assert cli_main(argv) == 0
    records = sorted(read_output(out), key=lambda r: r["index"])
    assert [r["index"] for r in records] == list(range(40))
    assert [r["id"] for r in records] == [f"r{i}" for i in range(40)]
    for i, record in enumerate(records):
        assert record["result"]["input"] == i
        assert f"{i}-a" in record["result"]["replies"][0] and f"{i}-b" in record["result"]["replies"][1]
    # Greenlet slots: every item ran on the same (event-loop) thread.
    assert len({r["result"]["thread"] for r in records}) == 1


def test_an_unknown_engine_fails_before_the_output_file_is_created(tmp_path, capsys):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n"b"\n')
    argv = ["run", "remote_expressions:Lines", "--input", str(data), "--output", str(out),
            "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "no-such-engine"]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert "unknown engine" in err and "no-such-engine" in err
    assert not out.exists()


def test_engines_of_a_config_file_serve_the_embedded_server(tmp_path, monkeypatch):
    data, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    data.write_text('"a"\n"b"\n"c"\n')
    config = tmp_path / "symbatcher.toml"
    config.write_text('[engines.fast-echo]\nkind = "echo"\n')
    argv = ["run", "remote_expressions:Lines", "--input", str(data), "--output", str(out),
            "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "fast-echo"]
    assert cli_main([*argv, "--config", str(config)]) == 0
    assert sorted(r["index"] for r in read_output(out)) == [0, 1, 2]
    # The same file through $SYMBATCHER_CONFIG, as the server reads it.
    out.unlink()
    monkeypatch.setenv("SYMBATCHER_CONFIG", str(config))
    assert cli_main(argv) == 0
    assert all(r["result"].startswith("echo: ") for r in read_output(out))


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("symbatcher 0.")
