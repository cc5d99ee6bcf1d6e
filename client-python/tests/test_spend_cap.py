"""`max_cost_usd`: a call is sent only when its worst case fits under the cap
minus the spend minus what calls in flight reserved, so the spend never passes
the cap; the items left fail with BudgetExceeded in place, and a re-run with a
higher cap pays only for them (call cache). Against the loopback fake OpenAI
server, whose usage is 10 prompt and 5 completion tokens a call."""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI
from symai import Expression, Symbol

from symbatcher import BatchScheduler, BudgetExceeded, JobError, OpenAIEngine

INPUT_USD, OUTPUT_USD = 0.15 / 1e6, 0.60 / 1e6  # gpt-4o-mini, per token
PER_CALL_USD = 10 * INPUT_USD + 5 * OUTPUT_USD  # what the fake bills
MAX_TOKENS = 5
SLOTS = 16
ENGINE_CONCURRENCY = 4  # fewer than the slots: calls wait at the engine's limiter


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def worst_case_bound_usd(body: dict[str, object]) -> float:
    """An upper bound of what the server reserves for a request: its body's
    bytes as prompt tokens plus max_tokens."""
    return len(json.dumps(body)) * INPUT_USD + MAX_TOKENS * OUTPUT_USD


def test_spend_never_passes_the_cap_and_a_rerun_pays_only_for_the_items_not_run(tmp_path):
    items = [f"item-{i:03d}" for i in range(200)]
    cap = 20.5 * PER_CALL_USD
    with FakeOpenAI(latency_s=0.05) as fake:
        engine = OpenAIEngine(
            fake.base_url, "gpt-4o-mini", api_key_env=None, max_concurrency=ENGINE_CONCURRENCY
        )
        with BatchScheduler(engine=engine, cache_dir=tmp_path / "cache", max_cost_usd=cap) as scheduler:
            results = scheduler(Ask, SLOTS, items, batch_size=SLOTS, max_tokens=MAX_TOKENS)
            summary = scheduler.last_summary
        arrivals = fake.chat_arrivals()
        sent = len(arrivals)
        assert summary.cost_usd == pytest.approx(sent * PER_CALL_USD)
        assert summary.cost_usd <= cap, f"spent {summary.cost_usd} over the cap {cap}"
        # The cap is used up to less than one call's worst case.
        assert cap - summary.cost_usd < max(worst_case_bound_usd(a.body) for a in arrivals)
        answered = [r for r in results if isinstance(r, str)]
        stopped = [r for r in results if isinstance(r, BudgetExceeded)]
        assert len(answered) == sent
        assert len(answered) + len(stopped) == len(items)
        message = str(stopped[0])
        assert f"max_cost_usd {cap:.6f}" in message, message
        assert "spent" in message and "reserved" in message, message
        assert summary.budget_exceeded == len(stopped)

        engine = OpenAIEngine(
            fake.base_url, "gpt-4o-mini", api_key_env=None, max_concurrency=ENGINE_CONCURRENCY
        )
        with BatchScheduler(engine=engine, cache_dir=tmp_path / "cache", max_cost_usd=1.0) as scheduler:
            again = scheduler(Ask, SLOTS, items, batch_size=SLOTS, max_tokens=MAX_TOKENS)
            resumed = scheduler.last_summary
        assert all(isinstance(r, str) and item in r for item, r in zip(items, again))
        assert len(fake.chat_arrivals()) == len(items), "nothing paid twice"
        assert resumed.cache_hits == sent
        assert resumed.cost_usd == pytest.approx(len(stopped) * PER_CALL_USD)


@pytest.mark.filterwarnings("ignore::symbatcher.RepeatedFailureWarning")
def test_a_call_whose_worst_case_alone_passes_the_cap_is_not_sent():
    with FakeOpenAI() as fake:
        engine = OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None)
        # No max_tokens: the model's output ceiling (16,384 tokens) is reserved.
        with BatchScheduler(engine=engine, max_cost_usd=0.001) as scheduler:
            results = scheduler(Ask, 2, ["a", "b", "c"], batch_size=2)
            summary = scheduler.last_summary
        assert fake.chat_arrivals() == []
        assert all(isinstance(r, BudgetExceeded) for r in results), results
        assert "the next call needs up to 0.0098" in str(results[0]), results[0]
        assert summary.cost_usd == 0.0 and summary.budget_exceeded == 3


@pytest.mark.parametrize("cap", [-1.0, float("nan"), float("inf")])
def test_a_bad_cap_is_refused_by_the_server_naming_the_field(cap):
    with BatchScheduler(engine="echo", max_cost_usd=cap) as scheduler:
        with pytest.raises(JobError, match="max_cost_usd"):
            scheduler(Ask, 1, ["x"], batch_size=1)
