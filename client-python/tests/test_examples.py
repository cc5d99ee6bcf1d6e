"""The examples in examples/ as a user runs them: each one imports (its
symbatcher names exist), and the batch-engine examples run against the
loopback fakes and print what docs/cost.md and docs/engines.md quote."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_imports(path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # examples import each other (summarize)
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs nothing past the imports: main() is guarded


def test_the_batch_engine_example_goes_in_one_batch_per_step_at_half_the_online_cost():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "openai_batch.py"), "--fake", "--items", "30"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("30 items, 60 engine calls, 600 prompt + 300 completion tokens, cost $"), lines
    assert "provider batches (2)" in lines
    assert [line.split("·")[1].strip() for line in lines if line.startswith("  batch-")] == ["30/30 done"] * 2
    assert lines[-1].startswith("online engine: 30/30 results the same"), lines
    assert lines[-1].endswith("(batch / online = 0.50)"), lines


def test_the_estimate_example_estimates_within_15_percent_and_reuses_the_sample():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "estimate.py"), "--fake", "--items", "300", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stdout.splitlines()
    assert first.startswith("estimate for 300 items (250 to pay for): sample of 50 across 10 size strata"), first
    assert last.startswith("run: 300 items, 50 answered from the cache"), last
    ratio = float(last.rsplit("estimate / actual = ", 1)[1].rstrip(")"))
    assert abs(ratio - 1) <= 0.15, last


def test_the_anthropic_batch_example_goes_in_one_message_batch_per_step_at_half_the_online_cost():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "anthropic_batch.py"), "--fake", "--items", "30"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("30 items, 60 engine calls, 600 prompt + 300 completion tokens, cost $"), lines
    assert "provider batches (2)" in lines
    batches = [line for line in lines if line.startswith("  msgbatch_")]
    assert [line.split("·")[1].strip() for line in batches] == ["30/30 done"] * 2, lines
    assert all("(anthropic-batch): ended" in line for line in batches), lines
    assert lines[-1].startswith("online engine: 30/30 results the same"), lines
    assert lines[-1].endswith("(batch / online = 0.50)"), lines


def test_the_embeddings_example_gets_symais_own_vectors_with_an_engine_of_each_kind():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "embeddings.py"), "--fake", "--items", "40", "--workers", "40"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "engine openai, embedding engine openai-embeddings" in out, out
    assert "default embedding engine openai-embeddings" in out, out
    assert "40/40 items' vectors equal symai's own engine's" in out, out


def test_the_embeddings_example_batches_symais_own_embedding_engine_served_in_process():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "embeddings.py"), "--fake", "--symai-embeddings",
         "--items", "40", "--workers", "40"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "embedding engine symai:EmbeddingEngine:text-embedding-3-small" in out, out
    assert "(40 chat, 40 embedding)" in out, out
    requests = int(out.split(" embeddings requests for 40 embedding calls")[0].rsplit("\n", 1)[-1])
    assert requests < 40, out
    assert "40/40 items' vectors equal symai's own engine's" in out, out
