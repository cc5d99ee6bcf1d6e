"""`symbatcher run` with CSV, Parquet and saved-dataset inputs, CSV and
Parquet outputs (rows in index order, resumed after Ctrl-C and after
SIGKILL with every row once), the input column's choice, and the exit status
of a run whose every item failed."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from symbatcher.cli.main import main as cli_main
from test_runner import runner_command

TESTS_DIR = Path(__file__).resolve().parent
BOOM_ROW = 5


def texts(n: int) -> list[str]:
    return ["boom" if i == BOOM_ROW else f"text {i}" for i in range(n)]


def write_parquet(path: Path, n: int, row_group_size: int = 200) -> None:
    table = pa.table({
        "id": [f"r{i}" for i in range(n)],
        "text": texts(n),
        "other": list(range(n)),
    })
    pq.write_table(table, path, row_group_size=row_group_size)


def write_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "other"])
        writer.writerows([f"r{i}", text, i] for i, text in enumerate(texts(n)))


def read_table(path: Path) -> list[dict]:
    """The output's rows, in file order, values as strings or None."""
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]
    return [
        {k: (None if v is None else str(v)) for k, v in row.items()}
        for row in pq.read_table(path).to_pylist()
    ]


def check_complete(path: Path, n: int) -> list[dict]:
    rows = read_table(path)
    assert [int(r["index"]) for r in rows] == list(range(n)), "every row once, in index order"
    for i, row in enumerate(rows):
        assert row["id"] == f"r{i}"
        if i == BOOM_ROW:
            assert row["result"] is None
            assert (row["error_type"], row["error_message"]) == ("ValueError", "boom is not allowed")
        else:
            assert row["error_type"] is None and row["result"].startswith("echo: ")
            assert f"text {i}" in row["result"]
    return rows


def argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "remote_expressions:Lines", "--input", str(data), "--output", str(out),
            "--workers", "4", "--no-progress", "--app-dir", str(TESTS_DIR), "--engine", "echo", *extra]


@pytest.mark.parametrize("source, target", [("csv", "parquet"), ("parquet", "csv"), ("parquet", "parquet")])
def test_table_input_to_table_output_in_index_order(tmp_path, source, target):
    n = 300
    data, out = tmp_path / f"in.{source}", tmp_path / f"out.{target}"
    (write_csv if source == "csv" else write_parquet)(data, n)
    assert cli_main(argv(data, out, "--input-column", "text")) == 0
    check_complete(out, n)
    assert not list(tmp_path.glob("out.*.partial")) and not list(tmp_path.glob("out.*.journal.jsonl"))
    assert cli_main(argv(data, out, "--input-column", "text")) == 0  # nothing to do
    check_complete(out, n)


def test_a_jsonl_output_from_a_parquet_input_echoes_ids(tmp_path):
    data, out = tmp_path / "in.parquet", tmp_path / "out.jsonl"
    write_parquet(data, 20)
    assert cli_main(argv(data, out, "--input-column", "text", "--id-column", "other")) == 0
    records = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["id"] for r in records] == list(range(20))  # the id column's own type
    assert "text 3" in records[3]["result"]


def test_the_input_column_is_chosen_or_the_columns_are_listed(tmp_path, capsys):
    data, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(data, 10)
    assert cli_main(argv(data, out)) == 2
    err = capsys.readouterr().err
    assert "'id', 'text', 'other'" in err and "--input-column" in err
    assert cli_main(argv(data, out, "--input-column", "nope")) == 2
    assert "no column 'nope'" in capsys.readouterr().err
    assert cli_main(argv(data, out, "--input-column", "text", "--id-column", "nope")) == 2
    assert not out.exists()
    # The only column besides the id: it is the input.
    pair = tmp_path / "pair.csv"
    pair.write_text("id,body\nx1,hello\n")
    out_pair = tmp_path / "pair.jsonl"
    assert cli_main(argv(pair, out_pair)) == 0
    [record] = [json.loads(line) for line in out_pair.read_text().splitlines()]
    assert record["id"] == "x1" and "\nhello\n" in record["result"]
    # One column: it is the input. A column named "input": it is the input.
    single = tmp_path / "single.csv"
    single.write_text("body\nhello\nboom\n")
    assert cli_main(argv(single, out)) == 0
    rows = read_table(out)
    assert [r["result"] for r in rows][0].startswith("echo: ") and rows[1]["error_type"] == "ValueError"
    assert rows[0]["id"] is None
    named = tmp_path / "named.parquet"
    pq.write_table(pa.table({"x": [1, 2], "input": ["a", "b"]}), named)
    out2 = tmp_path / "named.jsonl"
    assert cli_main(argv(named, out2)) == 0
    assert sorted("echo: " in json.loads(line)["result"] for line in out2.read_text().splitlines()) == [True, True]
    # --input-format overrides the extension.
    renamed = tmp_path / "data.txt"
    renamed.write_bytes(single.read_bytes())
    out3 = tmp_path / "renamed.csv"
    assert cli_main(argv(renamed, out3, "--input-format", "csv")) == 0
    assert len(read_table(out3)) == 2


def test_a_jsonl_input_column_and_id_column(tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('{"text": "a", "key": 1}\n{"input": "b"}\n"c"\n')
    assert cli_main(argv(data, out, "--input-column", "text", "--id-column", "key")) == 0
    records = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["index"])
    assert records[0]["id"] == 1 and "\na\n" in records[0]["result"]
    assert records[1]["error"] == {"type": "InputError", "message": "line 2: no key 'text' (--input-column)"}
    assert records[2]["error"]["type"] == "InputError" and "not an object" in records[2]["error"]["message"]


def test_retry_failed_with_a_csv_output(tmp_path):
    n = 12
    data, out = tmp_path / "in.parquet", tmp_path / "out.csv"
    write_parquet(data, n)
    assert cli_main(argv(data, out, "--input-column", "text")) == 0
    before = check_complete(out, n)
    assert cli_main(argv(data, out, "--input-column", "text", "--retry-failed")) == 0
    after = check_complete(out, n)
    assert [r for r in after if r["index"] != str(BOOM_ROW)] == [r for r in before if r["index"] != str(BOOM_ROW)]


def test_every_item_failed_exits_1(tmp_path, capsys):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text('"boom"\n' * 5)
    assert cli_main(argv(data, out)) == 1
    err = capsys.readouterr().err
    assert "every item failed (5 of 5)" in err and "ValueError: boom is not allowed" in err
    assert len(out.read_text().splitlines()) == 5
    # One success among the failures: status 0.
    data.write_text('"boom"\n"ok"\n')
    out.unlink()
    assert cli_main(argv(data, out)) == 0


def wait_for(predicate, what: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()[1]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def journal_lines(out: Path) -> int:
    journal = Path(str(out) + ".journal.jsonl")
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


@pytest.mark.parametrize("target", ["csv", "parquet"])
def test_ctrl_c_finalizes_the_output_and_prints_the_command_that_resumes(tmp_path, target):
    n = 1500
    data, out = tmp_path / "in.parquet", tmp_path / f"out.{target}"
    write_parquet(data, n)
    args = ["remote_expressions:Lines", "--input", str(data), "--output", str(out), "--workers", "2",
            "--batch-size", "4", "--app-dir", str(TESTS_DIR), "--engine", "echo", "--input-column", "text"]
    first = subprocess.Popen(runner_command(*args), stderr=subprocess.PIPE, text=True)
    wait_for(lambda: journal_lines(out) > 50, "journal lines", first)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert shlex.join(["symbatcher", "run", *args]) in err, err
    partial = read_table(out)  # finalized: a readable file
    indices = [int(r["index"]) for r in partial]
    assert 50 <= len(indices) < n and indices == sorted(set(indices))
    assert not Path(str(out) + ".partial").exists() and journal_lines(out) == 0

    second = subprocess.run(runner_command(*args), stderr=subprocess.PIPE, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    rows = check_complete(out, n)
    assert rows[: len(partial)] == partial or all(r in rows for r in partial)


def test_a_run_killed_mid_parquet_resumes_from_its_journal(tmp_path):
    n = 1500
    data, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    write_csv(data, n)
    command = runner_command(
        "remote_expressions:Lines", "--input", str(data), "--output", str(out), "--workers", "2",
        "--batch-size", "4", "--app-dir", str(TESTS_DIR), "--engine", "echo", "--input-column", "text",
        "--no-progress",
    )
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: journal_lines(out) > 100, "journal lines", first)
    os.killpg(first.pid, signal.SIGKILL)  # the client and its embedded server
    first.wait(10)
    first.stderr.close()
    assert not out.exists(), "a first run's output appears only when it is finalized"
    killed_at = journal_lines(out)
    assert killed_at < n
    # A half-written last line, as a crash mid-write leaves it.
    with open(str(out) + ".journal.jsonl", "ab") as f:
        f.write(b'{"index": 999999, "res')

    second = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert f"added {killed_at} results of an interrupted run" in second.stderr
    check_complete(out, n)
    assert not Path(str(out) + ".partial").exists() and journal_lines(out) == 0


def test_a_journal_left_beside_a_finished_output_adds_nothing_twice(tmp_path):
    """A crash after OUT was replaced and before the journal was removed:
    the journal's rows are in OUT already."""
    n = 40
    data, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    write_parquet(data, n)
    assert cli_main(argv(data, out, "--input-column", "text")) == 0
    rows = check_complete(out, n)
    journal = Path(str(out) + ".journal.jsonl")
    journal.write_text("".join(
        json.dumps({"index": i, "id": f"r{i}", "result": "stale"}) + "\n" for i in range(10, 20)
    ))
    assert cli_main(argv(data, out, "--input-column", "text")) == 0
    assert check_complete(out, n) == rows and not journal.exists()


def test_a_saved_hugging_face_dataset_is_an_input(tmp_path):
    datasets = pytest.importorskip("datasets")
    n = 30
    saved, out = tmp_path / "saved", tmp_path / "out.parquet"
    datasets.Dataset.from_dict({"id": [f"r{i}" for i in range(n)], "text": texts(n)}).save_to_disk(str(saved))
    assert cli_main(argv(saved, out, "--input-column", "text")) == 0
    check_complete(out, n)


def test_a_saved_dataset_without_datasets_installed_names_the_extra(tmp_path, capsys, monkeypatch):
    saved, out = tmp_path / "saved", tmp_path / "out.csv"
    saved.mkdir()
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    assert cli_main(argv(saved, out)) == 2
    assert "pip install 'symbatcher[datasets]'" in capsys.readouterr().err
