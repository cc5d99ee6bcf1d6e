"""`symbatcher run` with the call cache and costs, against the loopback fake
OpenAI server: every output line carries its usage and cost, and a run killed
with SIGKILL (client and embedded server) then run again pays at most for the
calls that were in flight, with every index in the output once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from fake_openai import FakeOpenAI

TESTS_DIR = Path(__file__).resolve().parent
CONCURRENCY = 4
PER_CALL_USD = (10 * 0.15 + 5 * 0.60) / 1e6  # gpt-4o-mini, 10 + 5 tokens a call


def runner_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "symbatcher"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher._cli"]
    return [*head, "run", *args]


def write_config(path: Path, base_url: str) -> None:
    path.write_text(
        "[engines.gpt]\n"
        'kind = "openai"\n'
        f'base_url = "{base_url}"\n'
        'model = "gpt-4o-mini"\n'
        'api_key_env = ""\n'
        f"max_concurrency = {CONCURRENCY}\n"
    )


def whole_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data.splitlines(keepends=True) if line.endswith(b"\n")]


def servers_using(cache_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any("symbatcher-server" in part for part in cmdline[:1]) and str(cache_dir) in cmdline:
            found.append(proc)
    return found


def test_a_run_killed_mid_job_resumes_paying_only_for_calls_in_flight(tmp_path):
    n = 300
    data, out, config = tmp_path / "data.jsonl", tmp_path / "out.jsonl", tmp_path / "engines.toml"
    cache_dir = tmp_path / "cache"
    data.write_text("".join(json.dumps(f"line {i}") + "\n" for i in range(n)))
    with FakeOpenAI(latency_s=0.01) as fake:
        write_config(config, fake.base_url)
        command = runner_command(
            "remote_expressions:Tagger", "--input", str(data), "--output", str(out),
            "--workers", str(CONCURRENCY), "--batch-size", str(CONCURRENCY),
            "--app-dir", str(TESTS_DIR), "--config", str(config), "--cache-dir", str(cache_dir),
        )
        first = subprocess.Popen(command, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while len(whole_lines(out)) < 20:
            assert first.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no output within 60 s"
            time.sleep(0.01)
        # Between two flushes of the output (every 0.5 s): replies that came
        # meanwhile are in the cache and not yet in the output.
        time.sleep(0.25)
        servers = servers_using(cache_dir)
        assert servers, "the embedded server runs with the cache directory"
        os.killpg(first.pid, signal.SIGKILL)
        for server in servers:
            server.kill()
        first.wait(10)
        psutil.wait_procs(servers, timeout=10)
        written = len(whole_lines(out))
        assert written < n, "killed mid-job"

        second = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=180)
        assert second.returncode == 0, second.stderr
        requests = len(fake.chat_arrivals())

    records = whole_lines(out)
    indices = [r["index"] for r in records]
    assert sorted(indices) == list(range(n)), "every index once"
    assert requests <= n + CONCURRENCY, f"{requests} requests for {n} items"
    for record in records:
        assert record["result"]["reply"].startswith("reply to: "), record
        assert record["usage"]["calls"] == 1
        hit = record["usage"].get("cache_hits", 0) == 1
        if hit:
            assert record["cost"] == 0.0
            assert record["usage"]["prompt_tokens"] == 0
        else:
            assert record["usage"]["prompt_tokens"] == 10
            assert abs(record["cost"] - PER_CALL_USD) < 1e-12
    resumed = records[written:]
    assert any(r["usage"].get("cache_hits") for r in resumed), (
        "calls answered before the kill and not yet written come from the cache"
    )
    assert "projected=$" in second.stderr, "the progress bar shows the projected cost"
