"""`max_cost_usd`: a job stops spending within one concurrency window of its
cap, the items left fail with BudgetExceeded in place, and a re-run with a
higher cap continues from the cache. Against the loopback fake OpenAI server."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI
from symai import Expression, Symbol

from symbatcher import BatchScheduler, BudgetExceeded, JobError, OpenAIEngine

PER_CALL_USD = (10 * 0.15 + 5 * 0.60) / 1e6  # gpt-4o-mini, 10 + 5 tokens a call
CONCURRENCY = 4


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def test_a_capped_job_stops_within_one_concurrency_window_and_resumes_from_the_cache(tmp_path):
    items = [f"item-{i:03d}" for i in range(200)]
    cap = 20.5 * PER_CALL_USD  # reached by the 21st request
    with FakeOpenAI(latency_s=0.02) as fake:
        engine = OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None, max_concurrency=CONCURRENCY)
        with BatchScheduler(engine=engine, cache_dir=tmp_path / "cache", max_cost_usd=cap) as scheduler:
            results = scheduler(Ask, CONCURRENCY, items, batch_size=CONCURRENCY)
            summary = scheduler.last_summary
        sent = len(fake.chat_arrivals())
        assert 21 <= sent <= 21 + CONCURRENCY, f"{sent} requests for a cap of 21"
        answered = [r for r in results if isinstance(r, str)]
        stopped = [r for r in results if isinstance(r, BudgetExceeded)]
        assert len(answered) == sent
        assert len(answered) + len(stopped) == len(items)
        assert "max_cost_usd" in str(stopped[0])
        assert summary.budget_exceeded == len(stopped)
        assert summary.cost_usd == pytest.approx(sent * PER_CALL_USD)
        assert summary.cost_usd <= cap + CONCURRENCY * PER_CALL_USD

        engine = OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None, max_concurrency=CONCURRENCY)
        with BatchScheduler(engine=engine, cache_dir=tmp_path / "cache", max_cost_usd=1.0) as scheduler:
            again = scheduler(Ask, CONCURRENCY, items, batch_size=CONCURRENCY)
            resumed = scheduler.last_summary
        assert all(isinstance(r, str) and item in r for item, r in zip(items, again))
        assert len(fake.chat_arrivals()) == len(items), "nothing paid twice"
        assert resumed.cache_hits == sent


@pytest.mark.parametrize("cap", [-1.0, float("nan"), float("inf")])
def test_a_bad_cap_is_refused_by_the_server_naming_the_field(cap):
    with BatchScheduler(engine="echo", max_cost_usd=cap) as scheduler:
        with pytest.raises(JobError, match="max_cost_usd"):
            scheduler(Ask, 1, ["x"], batch_size=1)
