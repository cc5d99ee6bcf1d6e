"""`BatchScheduler.estimate` and `symbatcher run --estimate`, against the
loopback fake OpenAI server with usage that grows with the prompt.

The acceptance figure (five datasets of 5,000 items, a 1% sample) is
`bench/estimate_accuracy.py`; here the same five datasets are smaller, so
that the test takes seconds, with the same rule: the estimate is within
15% of what the run then pays, and the run pays nothing for the sampled
items."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from estimate_datasets import NAMES, dataset
from fake_openai import FakeOpenAI
from remote_expressions import Tagger

from symbatcher import BatchScheduler, Estimate, OpenAIBatchEngine, OpenAIEngine
from symbatcher.client._estimate_sample import draw, sample_count
from test_runner_cost import runner_command

ITEMS = 600
WORKERS = 16
TESTS_DIR = Path(__file__).resolve().parent


def engine(fake: FakeOpenAI) -> OpenAIEngine:
    return OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None)


def test_the_default_sample_is_one_percent_with_at_least_fifty_items():
    assert sample_count(None, 5_000) == 50
    assert sample_count(None, 20_000) == 200
    assert sample_count(None, 30) == 30
    assert sample_count(0.1, 600) == 60
    assert sample_count(7, 600) == 7
    with pytest.raises(ValueError, match="sample: a share must be in"):
        sample_count(1.5, 600)
    with pytest.raises(ValueError, match="sample: a count must be at least 1"):
        sample_count(0, 600)
    with pytest.raises(TypeError, match="sample: must be a count"):
        sample_count("10", 600)  # type: ignore[arg-type]


def test_a_sized_dataset_is_sampled_across_its_sizes_not_its_head():
    items = dataset("sorted", 5_000)
    drawn = draw(items, None, None, seed=3)
    assert drawn.by_size and len(drawn.indices) == 50 and len(drawn.strata) == 10
    assert all(len(s.drawn) == 5 for s in drawn.strata)
    # Sorted by length: the sample spans the whole dataset, its shortest and longest tenths included.
    assert min(drawn.indices) < 500 and max(drawn.indices) >= 4_500
    assert [items[i] for i in drawn.indices] == list(drawn.items)


def test_a_streamed_dataset_needs_its_total_and_is_sampled_across_it():
    with pytest.raises(ValueError, match="total: a dataset without len"):
        draw(iter(range(1000)), None, None, seed=0)
    with pytest.raises(ValueError, match="total: the dataset ended after 1000 items, fewer than total=2000"):
        draw(iter(range(1000)), None, 2000, seed=0)
    with pytest.raises(ValueError, match="total: the dataset has 1000 items, not 999"):
        draw(list(range(1000)), None, 999, seed=0)
    drawn = draw((i for i in range(1000)), 50, 1000, seed=0)
    assert not drawn.by_size
    assert list(drawn.items) == list(drawn.indices)
    # One item from each twentieth of the stream.
    assert [i // 20 for i in drawn.indices] == list(range(50))


@pytest.mark.parametrize("name", NAMES)
def test_the_estimate_is_within_15_percent_of_the_run_which_pays_nothing_for_the_sample(name, tmp_path):
    items = dataset(name, ITEMS)
    with FakeOpenAI(usage_grows=True) as fake, BatchScheduler(
        engine=engine(fake), cache_dir=tmp_path / "cache"
    ) as scheduler:
        estimate = scheduler.estimate(Tagger, items, num_workers=WORKERS, seed=11)
        sampled = len(estimate.sample.indices)
        assert sampled == 50 and len(fake.chat_arrivals()) == sampled
        assert estimate.sample_reused and estimate.to_run == ITEMS - sampled
        results = scheduler(Tagger, WORKERS, items)
        summary = scheduler.last_summary
    assert summary is not None and not any(isinstance(r, Exception) for r in results)
    # The run sent a request for every item but the sampled ones, which came from the cache.
    assert len(fake.chat_arrivals()) == ITEMS
    assert summary.cache_hits == sampled
    sampled_texts = {items[i] for i in estimate.sample.indices}
    assert sum(1 for a in fake.chat_arrivals() if any(t in a.content for t in sampled_texts)) == sampled
    actual = summary.cost_usd
    error = estimate.cost_usd / actual - 1
    assert abs(error) <= 0.15, f"{name}: estimated {estimate.cost_usd:.6f}, paid {actual:.6f} ({error:+.1%})"
    low, high = estimate.cost_range_usd
    assert low <= estimate.cost_usd <= high
    assert estimate.batch is None and estimate.mode == "online"
    assert estimate.seconds is not None and estimate.seconds > 0
    line = estimate.describe()
    assert "\n" not in line and "online $" in line and f"{ITEMS:,} items" in line


def test_with_the_cache_off_the_run_pays_for_the_sample_again(tmp_path):
    items = dataset("uniform", 200)
    with FakeOpenAI(usage_grows=True) as fake, BatchScheduler(
        engine=engine(fake), cache_dir=tmp_path / "cache", cache="off"
    ) as scheduler:
        estimate = scheduler.estimate(Tagger, items, 40, num_workers=WORKERS, seed=12)
        scheduler(Tagger, WORKERS, items)
        summary = scheduler.last_summary
    assert not estimate.sample_reused and estimate.to_run == 200
    assert "cache='off'" in estimate.reuse_note
    assert summary is not None and summary.cache_hits == 0
    assert len(fake.chat_arrivals()) == 240
    assert abs(estimate.cost_usd / summary.cost_usd - 1) <= 0.15


def test_an_rpm_limit_bounds_the_online_time(tmp_path):
    items = dataset("uniform", 300)
    with FakeOpenAI(usage_grows=True) as fake, BatchScheduler(
        engine=OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None, rpm=1200),
        cache_dir=tmp_path / "cache",
    ) as scheduler:
        estimate = scheduler.estimate(Tagger, items, 20, num_workers=WORKERS, seed=13)
    # 280 calls at 1,200 a minute take 14 s at least, however fast the sample went.
    assert estimate.seconds is not None and estimate.seconds >= 14 * 0.999
    if estimate.seconds < 14.001:
        assert estimate.online.time_basis == "the engine's rpm 1,200"


def test_with_a_batch_engine_the_estimate_gives_both_modes(tmp_path):
    from fake_openai_batch import FakeOpenAIBatch

    items = dataset("bimodal", 120)
    with FakeOpenAIBatch() as batch_fake, FakeOpenAI() as online_fake:
        batch = OpenAIBatchEngine(
            batch_fake.base_url, "gpt-4o-mini", api_key_env=None,
            poll_interval_s=0.01, poll_max_interval_s=0.05,
            fallback=OpenAIEngine(online_fake.base_url, "gpt-4o-mini", api_key_env=None),
        )
        with BatchScheduler(engine=batch, cache_dir=tmp_path / "cache") as scheduler:
            estimate: Estimate = scheduler.estimate(Tagger, items, 30, num_workers=4, seed=14)
            scheduler(Tagger, 4, items)
            summary = scheduler.last_summary
    assert estimate.mode == "batch" and estimate.batch is not None
    assert estimate.cost_usd == estimate.batch.cost_usd
    assert estimate.online.cost_usd == pytest.approx(2 * estimate.batch.cost_usd)
    assert estimate.batch.engine == "openai-batch" and estimate.online.engine == "openai"
    assert "as the sample's took" in estimate.batch.time_basis
    assert summary is not None and summary.cache_hits == 30
    assert abs(estimate.cost_usd / summary.cost_usd - 1) <= 0.15
    assert "batch $" in estimate.describe() and "[this engine]" in estimate.describe()


def _runner(tmp_path: Path, fake: FakeOpenAI, *extra: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "engines.toml"
    config.write_text(
        "default_engine = \"gpt\"\n[engines.gpt]\nkind = \"openai\"\n"
        f"base_url = \"{fake.base_url}\"\nmodel = \"gpt-4o-mini\"\napi_key_env = \"\"\n"
    )
    command = runner_command(
        "remote_expressions:Tagger", "--input", str(tmp_path / "data.jsonl"),
        "--output", str(tmp_path / "out.jsonl"), "--workers", "8", "--app-dir", str(TESTS_DIR),
        "--config", str(config), "--cache-dir", str(tmp_path / "cache"), "--no-progress", *extra,
    )
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)


def test_the_runner_prints_the_estimate_and_runs_with_yes(tmp_path):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(t) + "\n" for t in dataset("lognormal", 150)))
    with FakeOpenAI(usage_grows=True) as fake:
        done = _runner(tmp_path, fake, "--estimate", "--sample", "30", "--yes")
        requests = len(fake.chat_arrivals())
    assert done.returncode == 0, done.stderr
    assert "estimate for 150 items (120 to pay for): sample of 30" in done.stderr
    assert "150 items done" in done.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in lines) == list(range(150))
    assert requests == 150, "the sampled items came from the cache"
    assert sum(1 for r in lines if r["usage"].get("cache_hits")) == 30


def test_the_runner_without_yes_and_without_a_terminal_stops_after_the_estimate(tmp_path):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(t) + "\n" for t in dataset("uniform", 100)))
    with FakeOpenAI(usage_grows=True) as fake:
        stopped = _runner(tmp_path, fake, "--estimate", "--sample", "20", stdin="y\n")
        requests = len(fake.chat_arrivals())
    assert stopped.returncode == 0, stopped.stderr
    assert "estimate for 100 items" in stopped.stderr
    assert "stdin is not a terminal and --yes was not given: stopping after the estimate" in stopped.stderr
    assert requests == 20 and not (tmp_path / "out.jsonl").exists()


def test_the_runner_refuses_sample_and_yes_without_estimate(tmp_path):
    (tmp_path / "data.jsonl").write_text('"a"\n')
    with FakeOpenAI() as fake:
        refused = _runner(tmp_path, fake, "--yes")
        bad_share = _runner(tmp_path, fake, "--estimate", "--sample", "1.5")
    assert refused.returncode == 2 and "--sample and --yes apply to --estimate" in refused.stderr
    assert bad_share.returncode == 2 and "sample: a share must be in (0, 1], got 1.5" in bad_share.stderr


def test_a_streamed_dataset_with_its_total_is_estimated_across_it(tmp_path):
    items = dataset("sorted", 600)
    with FakeOpenAI(usage_grows=True) as fake, BatchScheduler(
        engine=engine(fake), cache_dir=tmp_path / "cache"
    ) as scheduler:
        estimate = scheduler.estimate(Tagger, (t for t in items), num_workers=WORKERS, total=len(items), seed=15)
        scheduler(Tagger, WORKERS, items)
        summary = scheduler.last_summary
    assert not estimate.sample.by_size and estimate.sample.strata == 50
    assert summary is not None and summary.cache_hits == 50
    # Sorted by length, a sample of the stream's head would be far too low; one across it is not.
    assert abs(estimate.cost_usd / summary.cost_usd - 1) <= 0.15
    assert "stretches of the stream" in estimate.describe()


def test_an_online_job_on_a_server_with_a_batch_engine_gets_the_batch_price_and_window():
    from symbatcher.client._estimate_build import EstimateContext, build
    from symbatcher.client._summary import ItemUsage, JobSummary
    from symbatcher.v1 import status_pb2

    drawn = draw([f"item {i}" for i in range(100)], 10, None, seed=0)
    usages = {i: ItemUsage(prompt_tokens=10, completion_tokens=5, cost_usd=1e-5, calls=2) for i in range(10)}
    summary = JobSummary(
        items=10, succeeded=10, failed=0, engine_calls=20, engine_batches=20, mean_batch_size=1,
        requeued=0, wall_seconds=1.0, engine_seconds=1.0, mean_queue_wait_ms=0,
        engine_latency_p50_ms=500, cost_usd=1e-4, engine="gpt",
    )
    status = status_pb2.StatusResponse(
        engines=[
            status_pb2.EngineStatus(name="gpt", kind="openai", rpm=60),
            status_pb2.EngineStatus(name="gpt-batch", kind="openai-batch"),
        ],
        cache=status_pb2.CacheStatus(dir="/somewhere"),
    )
    context = EstimateContext(cache="", engine="gpt", num_workers=4, status=status, batch_window_s=3600)
    estimate = build(drawn, usages, [None] * 10, summary, context, finished=[])
    assert estimate.mode == "online" and estimate.to_run == 90 and estimate.sample_reused
    assert estimate.cost_usd == pytest.approx(90 * 1e-5)
    # Every item cost the same: nothing is left unexplained, so the range is the point.
    assert estimate.cost_range_usd == pytest.approx((90 * 1e-5, 90 * 1e-5))
    # 180 calls at 60 a minute (4 slots at 0.5 s a call would take 22.5 s).
    assert estimate.seconds == pytest.approx(180.0)
    assert estimate.online.time_basis == "the engine's rpm 60"
    assert estimate.batch is not None and estimate.batch.engine == "gpt-batch"
    assert estimate.batch.cost_usd == pytest.approx(45 * 1e-5)
    # Two calls in a row: two provider batches, each at most the 1 h window.
    assert estimate.batch.seconds == pytest.approx(7200.0)
    assert "none measured" in estimate.batch.time_basis
    off = build(drawn, usages, [None] * 10, summary, EstimateContext(
        cache="", engine="gpt", num_workers=4,
        status=status_pb2.StatusResponse(engines=status.engines), batch_window_s=3600,
    ))
    assert not off.sample_reused and off.to_run == 100 and "no call cache" in off.reuse_note


def test_each_estimate_draws_a_new_sample_so_a_second_one_is_not_fooled_by_the_first(tmp_path):
    items = dataset("lognormal", 600)
    with FakeOpenAI(usage_grows=True) as fake, BatchScheduler(
        engine=engine(fake), cache_dir=tmp_path / "cache"
    ) as scheduler:
        # Seeded, so that the figures below are the same on every run; the
        # unseeded default draws anew each time (checked after the run).
        first = scheduler.estimate(Tagger, items, num_workers=WORKERS, seed=1)
        second = scheduler.estimate(Tagger, items, num_workers=WORKERS, seed=2)
        scheduler(Tagger, WORKERS, items)
        summary = scheduler.last_summary
    assert first.sample.indices != second.sample.indices
    overlap = len(set(first.sample.indices) & set(second.sample.indices))
    assert second.sample.cached_calls == overlap
    assert summary is not None and summary.cache_hits == 100 - overlap
    # The second estimate's run (the first's sampled items cached too) is the run that followed.
    assert abs(second.cost_usd / summary.cost_usd - 1) <= 0.15
    # Unseeded, two draws of 50 of 600 items differ (the chance that they
    # are the same is below 1e-70).
    assert draw(items, 50, None, seed=None).indices != draw(items, 50, None, seed=None).indices
