"""`symbatcher run` on a 100,000-row Parquet file (the input column chosen
with --input-column) into a Parquet output and into a CSV output, on the echo
engine: one engine call per item. A JSONL output (completion order) is the
baseline.

Each run is a `symbatcher run` process of its own with its embedded server;
the client process's resident memory is sampled every 50 ms (the server's is
reported beside it). Afterwards the output is read back: every row must be
there exactly once, in index order, none failed.

    python bench/runner_parquet.py [--rows 100000] [--workers 8] [--batch-size 32]
                                   [--slots thread|greenlet] [--text-bytes 200]

Target: client peak RSS < 300 MiB for each output.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

MiB = 1 << 20

EXPRESSION = textwrap.dedent('''
    from symai import Expression, Symbol

    class Label(Expression):
        def forward(self, input, **kwargs):
            return Symbol(input).query("Label", **kwargs).value
''')


def write_input(path: Path, rows: int, text_bytes: int) -> None:
    """rows of (id, score, text, lang): the text column is the input."""
    filler = "x" * max(0, text_bytes - 24)
    writer = pq.ParquetWriter(path, pa.schema([
        ("id", pa.string()), ("score", pa.float64()), ("text", pa.string()), ("lang", pa.string()),
    ]))
    step = 10_000
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        writer.write_table(pa.table({
            "id": [f"doc-{i:07d}" for i in range(start, stop)],
            "score": [i / rows for i in range(start, stop)],
            "text": [f"review {i:07d} {filler}" for i in range(start, stop)],
            "lang": ["en"] * (stop - start),
        }))
    writer.close()


def symbatcher_command() -> list[str]:
    script = Path(sys.executable).parent / "symbatcher"
    return [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher.cli"]


def run_once(work: Path, data: Path, out: Path, args: argparse.Namespace) -> dict:
    command = [
        *symbatcher_command(), "run", "bench_runner_expr:Label", "--input", str(data),
        "--input-column", "text", "--output", str(out), "--engine", "echo", "--no-progress",
        "--workers", str(args.workers), "--batch-size", str(args.batch_size), "--slots", args.slots,
        "--app-dir", str(work),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    client = psutil.Process(proc.pid)
    client_peak = server_peak = 0
    while proc.poll() is None:
        try:
            client_peak = max(client_peak, client.memory_info().rss)
            for child in client.children(recursive=True):
                server_peak = max(server_peak, child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"symbatcher run failed ({proc.returncode}):\n{err}")
    check_output(out, args.rows)
    return {
        "output": out.suffix[1:], "rows": args.rows, "wall_s": wall,
        "items_per_s": args.rows / wall, "client_peak_mib": client_peak / MiB,
        "server_peak_mib": server_peak / MiB, "bytes": out.stat().st_size,
    }


def check_output(out: Path, rows: int) -> None:
    """Every row once (CSV, Parquet: in index order), none failed."""
    expected = 0
    if out.suffix == ".jsonl":  # completion order
        seen = bytearray(rows)
        with out.open("rb") as f:
            for line in f:
                record = json.loads(line)
                index = record["index"]
                assert not seen[index] and "error" not in record, record
                assert record["id"] == f"doc-{index:07d}", record
                seen[index] = 1
                expected += 1
    elif out.suffix == ".csv":
        with out.open(newline="") as f:
            for row in csv.DictReader(f):
                assert int(row["index"]) == expected and not row["error_type"], row
                assert row["id"] == f"doc-{expected:07d}", row
                expected += 1
    else:
        for batch in pq.ParquetFile(out).iter_batches(columns=["index", "id", "error_type"]):
            for row in batch.to_pylist():
                assert row["index"] == expected and row["error_type"] is None, row
                assert row["id"] == f"doc-{expected:07d}", row
                expected += 1
    assert expected == rows, f"{expected} rows of {rows}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slots", choices=("thread", "greenlet"), default="thread")
    parser.add_argument("--text-bytes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench_runner_expr.py").write_text(EXPRESSION)
        data = work / "in.parquet"
        write_input(data, args.rows, args.text_bytes)
        print(f"input: {args.rows} rows, {data.stat().st_size / MiB:.1f} MiB Parquet; "
              f"workers={args.workers} batch_size={args.batch_size} slots={args.slots}")
        print(f"{'output':<8} {'wall s':>8} {'items/s':>9} {'client MiB':>11} {'server MiB':>11} {'file MiB':>9}")
        failed = False
        for name in ("out.parquet", "out.csv", "out.jsonl"):
            row = run_once(work, data, work / name, args)
            print(f"{row['output']:<8} {row['wall_s']:>8.1f} {row['items_per_s']:>9.0f} "
                  f"{row['client_peak_mib']:>11.1f} {row['server_peak_mib']:>11.1f} "
                  f"{row['bytes'] / MiB:>9.1f}")
            failed = failed or (row["output"] != "jsonl" and row["client_peak_mib"] >= 300)
        print("every row exactly once (CSV and Parquet in index order): yes")
        if failed:
            print("client peak RSS >= 300 MiB: over the target")
            sys.exit(1)


if __name__ == "__main__":
    main()
