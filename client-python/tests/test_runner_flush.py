"""`symbatcher run` writes a finished line within a second, even when no
further result arrives to trigger the write."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from test_runner import read_output, runner_command

TESTS_DIR = Path(__file__).resolve().parent
#: The second item's run: the first item's line must not wait for it.
SLOW_S = 5.0


def test_a_finished_line_reaches_the_file_within_a_second(tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text(f"0\n{SLOW_S}\n")
    runner = subprocess.Popen(
        runner_command("remote_expressions:Stamped", "--input", str(data), "--output", str(out),
                       "--workers", "2", "--engine", "echo", "--app-dir", str(TESTS_DIR),
                       "--no-progress"),
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size):
            assert runner.poll() is None, runner.communicate()[1]
            assert time.monotonic() < deadline, "no line within 60 s"
            time.sleep(0.02)
        seen_at = time.time()
        [first] = [json.loads(line) for line in out.read_bytes().splitlines()]
        assert first["index"] == 0
        delay = seen_at - first["result"]["done_at"]
        assert delay < 1.1, f"the finished line waited {delay:.2f}s"
        assert runner.poll() is None, "the runner ended before the slow item finished"
        assert runner.wait(60) == 0, runner.communicate()[1]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        runner.stderr.close()
    assert sorted(line["index"] for line in read_output(out)) == [0, 1]
