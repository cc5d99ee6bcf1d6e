"""The server's `anthropic` engine against a loopback fake of Anthropic's
Messages API (`fake_anthropic.FakeAnthropic`), driven through
`BatchScheduler(engine=AnthropicEngine(...))`: symai's system message in
`system`, the headers, replies with usage and cost per item, 429 and 529
refusals retried with none lost and the rpm held, a 400 as the item's
exception, and the API key kept out of logs."""

from __future__ import annotations

import dataclasses

import pytest
from fake_anthropic import FakeAnthropic
from symai import Expression, Symbol

from symbatcher import AnthropicEngine, BatchScheduler, EngineError, ItemUsage


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


class AskWithContext(Expression):
    """A query with a static context: symai renders a system message."""

    @property
    def static_context(self) -> str:
        return "You answer in one word."

    def forward(self, input, **kwargs):
        return self.query(f"Answer briefly: {input}", **kwargs).value


def run(engine: AnthropicEngine, items: list[str], slots: int = 8) -> tuple[list, object, dict[int, ItemUsage]]:
    usage: dict[int, ItemUsage] = {}
    with BatchScheduler(engine=engine, cache="off") as scheduler:
        scheduler._options = dataclasses.replace(scheduler._options, on_usage=usage.__setitem__)
        results = scheduler(Ask, slots, items, batch_size=8)
        return results, scheduler.last_summary, usage


def test_symais_system_message_goes_into_system_with_the_headers_and_usage(monkeypatch):
    key = "sk-ant-test-PLEASE-DO-NOT-LEAK-1234"
    monkeypatch.setenv("SYMBATCHER_TEST_ANTHROPIC_KEY", key)
    monkeypatch.setenv("SYMBATCHER_LOG", "debug")
    with FakeAnthropic(api_key=key) as fake:
        engine = AnthropicEngine(fake.base_url, "claude-sonnet-4-5", api_key_env="SYMBATCHER_TEST_ANTHROPIC_KEY")
        scheduler = BatchScheduler(engine=engine, cache="off")
        server = scheduler._owned.server
        try:
            results = scheduler(AskWithContext, 4, ["one", "two [529-once]", "three"], batch_size=4)
            summary = scheduler.last_summary
        finally:
            scheduler.cleanup()
        arrivals = fake.arrivals
    assert [r.startswith("reply to: ") for r in results] == [True] * 3, results
    for request in arrivals:
        assert request.path == "/v1/messages"
        assert request.headers["x-api-key"] == key
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        assert request.body["max_tokens"] == 4096
        roles = [m["role"] for m in request.body["messages"]]
        assert "system" not in roles, roles
        assert roles[-1] == "user"
        assert "Answer briefly" in request.text
    # symai renders a system message: it went into `system`, not `messages`.
    assert all("You answer in one word." in r.body.get("system", "") for r in arrivals), arrivals[0].body
    assert summary.engine_calls == 3 and summary.retries == 1 and summary.failed_engine_calls == 0
    assert (summary.prompt_tokens, summary.completion_tokens) == (30, 15)
    assert summary.cost_usd == pytest.approx(3 * (10 * 3 + 5 * 15) / 1e6)
    logs = server.stderr_tail
    assert "engine configured" in logs and "retrying" in logs, logs
    assert key not in logs and "PLEASE-DO-NOT-LEAK" not in logs


def test_refusals_are_retried_with_none_lost_the_rpm_held_and_cost_per_item():
    # Scaled: 200 items, every 5th request refused (429, 529 in turn) with
    # retry-after 1 s, rpm 3,000. The full size is bench/anthropic_refusals.py.
    with FakeAnthropic(refuse_every=5, retry_after_s=1) as fake:
        engine = AnthropicEngine(fake.base_url, "claude-haiku-4-5", api_key_env=None, rpm=3000)
        items = [f"item-{i:04d}" for i in range(200)]
        results, summary, usage = run(engine, items, slots=32)
        arrivals = list(fake.arrivals)
        peak = fake.peak_in(2.0)
    lost = [r for r in results if not (isinstance(r, str) and r.startswith("reply to: "))]
    assert not lost, lost[:3]
    assert all(item in result for item, result in zip(items, results))
    refused = [a for a in arrivals if a.status != 200]
    assert {a.status for a in refused} == {429, 529}
    assert len(arrivals) == 200 + len(refused)
    assert summary.retries == summary.rate_limited == len(refused)
    # 50 a second over any 2 s, plus the limiter's burst (100 ms of the rate
    # and the first), plus 3 for the jitter of arrival times at the fake.
    assert peak <= 100 + 5 + 1 + 3, peak
    per_item = (10 * 1.0 + 5 * 5.0) / 1e6
    assert sorted(usage) == list(range(200))
    for item_usage in usage.values():
        assert (item_usage.prompt_tokens, item_usage.completion_tokens, item_usage.calls) == (10, 5, 1)
        assert item_usage.cost_usd == pytest.approx(per_item)
    assert summary.cost_usd == pytest.approx(200 * per_item)


def test_a_400_is_that_items_exception_naming_the_request():
    with FakeAnthropic() as fake:
        engine = AnthropicEngine(fake.base_url, "claude-sonnet-4-5", api_key_env=None)
        results, summary, _ = run(engine, ["fine", "broken [400]"])
    assert results[0].startswith("reply to: ")
    assert isinstance(results[1], EngineError), results[1]
    message = str(results[1])
    assert "HTTP 400" in message and "(POST /v1/messages)" in message, message
    assert "invalid_request_error: provider says: cannot handle" in message, message
    assert summary.failed_engine_calls == 1 and summary.retries == 0


def test_anthropic_engine_settings_become_a_config_table():
    with pytest.raises(ValueError, match="base_url"):
        AnthropicEngine("api.anthropic.com")
    with pytest.raises(ValueError, match="rpm"):
        AnthropicEngine(rpm=0)
    with pytest.raises(TypeError, match="max_tokens: must be an integer"):
        AnthropicEngine(max_tokens="5")  # type: ignore[arg-type]
    table = AnthropicEngine(model="claude-haiku-4-5", rpm=50, max_tokens=256).engine_toml()
    assert 'kind = "anthropic"' in table and 'base_url = "https://api.anthropic.com"' in table
    assert 'api_key_env = "ANTHROPIC_API_KEY"' in table
    assert "rpm = 50" in table and "max_tokens = 256" in table and "tpm" not in table
    assert AnthropicEngine(api_key_env=None).server_args()[0] == "--config-toml"
