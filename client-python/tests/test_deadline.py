"""A job with a deadline on a batch API engine with an online fallback
(`BatchScheduler(deadline_s=...)`), against the loopback fakes of OpenAI's
Batches endpoints (batches that take `T` by the clock) and of its chat
completions endpoint.

A three-call forward() over N items; one provider batch of the second step
(10% of that step's requests) is held back past the deadline. Every item
finishes before the deadline, at no more than 0.6x the all-online cost (by
what the fakes billed: a batch request at half price, an online one at
full), and each item's result is its own, once. Without a deadline every
call goes by batch (0.5x). Runs in a few seconds: T = 0.5 s."""

from __future__ import annotations

import argparse
import threading
import time
from datetime import datetime, timedelta

import pytest
from fake_openai import FakeOpenAI
from fake_openai_batch import FakeOpenAIBatch
from symai import Expression, Symbol

from symbatcher import BatchScheduler, InvalidArgumentError, OpenAIBatchEngine, OpenAIEngine
from symbatcher.cli.run.deadline import parse_deadline

N = 100
PER_BATCH = 10  # N / PER_BATCH = 10 provider batches per step
T = 0.5
DEADLINE_S = 5.0


class ThreeSteps(Expression):
    def forward(self, input, **kwargs):
        first = Symbol(input).query("step one", **kwargs).value
        second = Symbol(first).query("step two", **kwargs).value
        return Symbol(second).query("step three", **kwargs).value


class HoldOneBatchOfStepTwo:
    """The fake's `holds`: every request of the first batch of step-two
    requests is held back (never completed until cancelled)."""

    def __init__(self) -> None:
        self.held: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, contents: list[str]) -> list[bool]:
        with self._lock:
            if self.held or not all("step two" in c for c in contents):
                return [False] * len(contents)
            self.held = list(contents)
            return [True] * len(contents)


def engine(batch: FakeOpenAIBatch, online: FakeOpenAI) -> OpenAIBatchEngine:
    return OpenAIBatchEngine(
        batch.base_url, "gpt-4o-mini", api_key_env=None,
        poll_interval_s=0.02, poll_max_interval_s=0.05, max_requests_per_batch=PER_BATCH,
        fallback=OpenAIEngine(online.base_url, "gpt-4o-mini", api_key_env=None),
        turnaround_guess_s=T, deadline_margin_s=0.5, cancel_wait_s=0.3, online_latency_s=0.2,
    )  # fmt: skip


def run(scheduler: BatchScheduler, items: list[str]) -> tuple[dict[int, object], float]:
    """Results by index (each index must come once) and the last one's time."""
    start = time.monotonic()
    results: dict[int, object] = {}
    last = 0.0
    for index, result in scheduler.stream(ThreeSteps, 16, items):
        assert index not in results, f"item {index} answered twice"
        results[index] = result
        last = time.monotonic() - start
    return results, last


def check_results(items: list[str], results: dict[int, object]) -> None:
    assert sorted(results) == list(range(len(items)))
    for index, item in enumerate(items):
        result = results[index]
        assert isinstance(result, str), (item, result)
        assert result.count("reply to: ") == 3 and item in result, (item, result)
        others = [other for other in items if other != item and f"{other} " in f"{result} "]
        assert not others, (item, result)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBATCHER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_deadline_is_met_below_0_6x_the_online_cost_and_without_one_all_goes_by_batch(cache_dir):
    items = [f"item-{i:03d}" for i in range(N)]
    holds = HoldOneBatchOfStepTwo()
    with FakeOpenAIBatch(turnaround_s=T, holds=holds) as batch, FakeOpenAI() as online:
        with BatchScheduler(engine=engine(batch, online), deadline_s=DEADLINE_S, cache="off") as scheduler:
            results, last = run(scheduler, items)
            summary = scheduler.last_summary
        batch_billed, online_sent = len(batch.billed), len(online.arrivals)
        held = list(holds.held)
        cancels = batch.cancels

        check_results(items, results)
        assert last < DEADLINE_S, f"the last item finished {last:.2f} s after the start"
        assert len(held) == PER_BATCH, "one batch of step two was held back"
        assert cancels >= 1, "the held batch was cancelled at its hedge point"
        held_sent_online = [a.content for a in online.arrivals if a.content in held]
        assert sorted(held_sent_online) == sorted(held), "each held request went online once"
        # Every call answered once: by batch or online; the fakes billed them.
        assert batch_billed + online_sent == 3 * N
        ratio = (0.5 * batch_billed + online_sent) / (3 * N)
        assert ratio <= 0.6, (batch_billed, online_sent, ratio)
        # The server's figures say the same, per step.
        steps = {s.step: s for s in summary.steps}
        assert sorted(steps) == [1, 2, 3]
        assert sum(s.batch_calls for s in steps.values()) == batch_billed
        assert sum(s.online_calls for s in steps.values()) == online_sent
        assert steps[1].online_calls == 0 and steps[2].online_calls >= PER_BATCH
        assert summary.cost_usd / sum(s.online_cost_usd for s in steps.values()) == pytest.approx(ratio)
        assert "by batch" in summary.describe() and "online" in summary.describe()

    # Other items: the first job's batches, recorded in the cache directory,
    # would otherwise answer them.
    items = [f"free-{i:03d}" for i in range(N)]
    with FakeOpenAIBatch(turnaround_s=T / 5) as batch, FakeOpenAI() as online:
        with BatchScheduler(engine=engine(batch, online), cache="off") as scheduler:
            results, _ = run(scheduler, items)
            summary = scheduler.last_summary
        check_results(items, results)
        assert (len(batch.billed), len(online.arrivals)) == (3 * N, 0), "no deadline: all by batch"
        assert all(s.online_calls == 0 for s in summary.steps)
        online_cost = sum(s.online_cost_usd for s in summary.steps)
        assert summary.cost_usd / online_cost == pytest.approx(0.5)


class OneStepThenWait(Expression):
    """One call; the item "slow" then keeps its job running for SLOW_S."""

    def forward(self, input, **kwargs):
        reply = Symbol(input).query("step one", **kwargs).value
        if input == "slow":
            time.sleep(SLOW_S)
        return reply


#: A hedged batch takes CANCEL_S to end once cancelled, longer than the
#: engine's cancel_wait (0.3 s); the job runs SLOW_S after its calls.
CANCEL_S, SLOW_S = 1.0, 3.0
#: What the fakes bill a request of gpt-4o-mini (10 + 5 tokens) online.
PER_REQUEST_USD = (10 * 0.15 + 5 * 0.60) / 1e6


def test_a_hedged_batchs_copies_billed_after_their_calls_went_online_count_in_the_cost(cache_dir):
    # One batch of 10 requests; the fake holds back the first, so the batch
    # does not end by itself. At its hedge point the batch is cancelled; it
    # ends CANCEL_S later, past cancel_wait, so all 10 calls go online, and
    # the 9 requests it had completed are billed too (a cancelled batch's
    # output file).
    items = ["slow", *(f"item-{i}" for i in range(9))]
    with FakeOpenAIBatch(turnaround_s=T, holds=lambda c: [i == 0 for i in range(len(c))], cancel_s=CANCEL_S) as batch:
        with FakeOpenAI() as online:
            with BatchScheduler(engine=engine(batch, online), deadline_s=3.0, cache="off") as scheduler:
                results = scheduler(OneStepThenWait, 16, items)
                summary = scheduler.last_summary
            batch_billed, online_sent = len(batch.billed), len(online.arrivals)
    for item, result in zip(items, results):
        assert isinstance(result, str) and result.startswith("reply to: ") and f"\n{item}\n" in result, result
    assert (len(batch.submitted), batch.cancels) == (1, 1)
    assert (batch_billed, online_sent) == (9, 10), "10 answered online, 9 billed twice"
    billed = (0.5 * batch_billed + online_sent) * PER_REQUEST_USD
    assert summary.cost_usd == pytest.approx(billed), "the cost is what the fakes billed"
    assert summary.billed_twice_usd == pytest.approx(0.5 * 9 * PER_REQUEST_USD)
    assert summary.steps[0].cost_usd == pytest.approx(billed)
    assert (summary.steps[0].batch_calls, summary.steps[0].online_calls) == (0, 10)
    assert "billed twice" in summary.describe()


def test_a_deadline_too_close_for_any_batch_sends_every_call_online(cache_dir):
    items = [f"item-{i:03d}" for i in range(20)]
    with FakeOpenAIBatch(turnaround_s=T) as batch, FakeOpenAI() as online:
        settings = engine(batch, online)
        with BatchScheduler(engine=settings, deadline_s=1.5, cache="off") as scheduler:
            results, last = run(scheduler, items)
        check_results(items, results)
        assert (len(batch.submitted), len(online.arrivals)) == (0, 3 * len(items))
        assert last < 1.5


def test_a_deadline_in_the_past_is_refused_naming_the_field(cache_dir):
    with FakeOpenAIBatch() as batch, FakeOpenAI() as online:
        past = datetime.now() - timedelta(minutes=5)
        with BatchScheduler(engine=engine(batch, online), deadline=past) as scheduler:
            with pytest.raises(InvalidArgumentError, match="deadline_unix_ms.*future"):
                scheduler(ThreeSteps, 2, ["a"])
    with pytest.raises(ValueError, match="deadline_s, deadline: set one"):
        BatchScheduler(deadline_s=60, deadline=datetime.now())
    with pytest.raises(TypeError, match="deadline_s: must be a number"):
        BatchScheduler(deadline_s="2h")  # type: ignore[arg-type]


def test_run_deadline_takes_a_duration_or_an_iso_time():
    assert parse_deadline("2h") == 7200.0
    assert parse_deadline("90m") == parse_deadline("1h30m") == 5400.0
    assert parse_deadline("1.5d") == 129600.0
    when = parse_deadline("2026-12-06T18:00Z")
    assert isinstance(when, datetime) and when.utcoffset() == timedelta(0)
    assert isinstance(parse_deadline("2026-12-06T18:00"), datetime)
    with pytest.raises(argparse.ArgumentTypeError, match=r"--deadline: expected a duration .* got 'soon'"):
        parse_deadline("soon")
