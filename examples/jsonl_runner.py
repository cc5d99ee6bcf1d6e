"""The JSONL runner: `symbatcher run` over a file, interrupted, then resumed.

    symbatcher run summarize:Sentiment --input reviews.jsonl --output results.jsonl \\
        --workers 16 --batch-size 16 --kwargs '{"temperature": 0}'

Input lines are JSON: {"input": ..., "id": ...} objects (the id is echoed), or
any other JSON value used as the input itself. Output lines are {"index",
"id"?, "result"} or {"index", "id"?, "error": {"type", "message"}}, where index
is the input line's position. Re-running the same command skips the indices
already in the output; Ctrl-C writes what finished and leaves whole lines only.

This script writes a sample input (with one malformed line and one empty
review), runs the command, interrupts it with SIGINT, and runs it again.

    python examples/jsonl_runner.py
"""

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def symbatcher_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "symbatcher"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher.cli"]
    return [*head, *args]


def lines_in(path: Path) -> int:
    """Whole lines in `path` so far (0 before it exists)."""
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


def main() -> None:
    # Everything this example writes goes away with the directory.
    with tempfile.TemporaryDirectory(prefix="symbatcher-jsonl-") as tmp:
        run_example(Path(tmp))


def run_example(work: Path) -> None:
    data, out = work / "reviews.jsonl", work / "results.jsonl"
    with data.open("w") as f:
        for i in range(20_000):
            if i == 3:
                f.write('{"input": "a broken line\n')  # reported with its line number
            elif i == 5:
                f.write(json.dumps({"input": "", "id": "r5"}) + "\n")  # fails: empty review
            elif i % 2:
                f.write(json.dumps({"input": f"Review {i}: loved it", "id": f"r{i}"}) + "\n")
            else:
                f.write(json.dumps(f"Review {i}: meh") + "\n")
    command = symbatcher_command(
        "run", "summarize:Sentiment", "--input", str(data), "--output", str(out),
        "--workers", "16", "--batch-size", "16", "--app-dir", str(HERE), "--engine", "echo",
    )
    print("$", " ".join(command[-14:]))
    first = subprocess.Popen(command)
    # Interrupt it once it has written some results (not at a fixed time: on
    # a busy machine, importing symai alone can take seconds).
    deadline = time.monotonic() + 120
    while first.poll() is None and lines_in(out) < 1_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)  # as Ctrl-C would
    print(f"\ninterrupted: exit status {first.wait()}, {lines_in(out)} lines written")

    print("\nrunning the same command again resumes:")
    subprocess.run(command, check=True)
    records = [json.loads(line) for line in out.open()]
    indices = [r["index"] for r in records]
    assert len(indices) == len(set(indices)) == 20_000
    print(f"\n{out.name}: {len(records)} lines, one per input line, no duplicates; for example")
    for record in sorted(records, key=lambda r: r["index"])[2:6]:
        print("  ", json.dumps(record)[:120])


if __name__ == "__main__":
    main()
