"""The server's `anthropic-batch` engine through `BatchScheduler`, with real
Python worker slots, against loopback fakes of Anthropic's Message Batches
API (`fake_anthropic_batch.FakeAnthropicBatch`) and Messages API
(`fake_anthropic.FakeAnthropic`): a two-step `forward()` goes through one
Message Batch per step, with the online engine's replies at half its cost; a
re-run attaches to the recorded batches; expired requests go to the online
fallback; leaving a stream cancels the batch; the server checks the
settings."""

from __future__ import annotations

import pytest
from fake_anthropic import FakeAnthropic
from fake_anthropic_batch import FakeAnthropicBatch
from helpers import wait_until
from symai import Expression, Symbol

from symbatcher import AnthropicBatchEngine, AnthropicEngine, BatchScheduler, ServerStartError

POLL = {"poll_interval_s": 0.005, "poll_max_interval_s": 0.02}


class SummarizeThenJudge(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize", **kwargs).value
        return Symbol(summary).query("Judge", **kwargs).value


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBATCHER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_two_step_forward_is_two_message_batches_with_the_online_replies_at_half_the_cost(cache_dir):
    items = [f"item-{i:02d}" for i in range(12)]
    with FakeAnthropicBatch(api_key="sk-ant-fake") as fake, FakeAnthropic(api_key="sk-ant-fake") as online, \
            pytest.MonkeyPatch.context() as env:  # fmt: skip
        env.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-fake")
        engine = AnthropicBatchEngine(fake.base_url, api_key_env="FAKE_ANTHROPIC_KEY", **POLL)
        with BatchScheduler(engine=engine) as scheduler:
            results = scheduler(SummarizeThenJudge, 12, items)
            summary = scheduler.last_summary
        first_run = [list(ids) for ids in fake.submitted]
        with BatchScheduler(engine=engine) as scheduler:
            again = scheduler(SummarizeThenJudge, 12, items)
        direct_engine = AnthropicEngine(online.base_url, api_key_env="FAKE_ANTHROPIC_KEY")
        with BatchScheduler(engine=direct_engine, cache="off") as scheduler:
            direct = scheduler(SummarizeThenJudge, 12, items)
            online_summary = scheduler.last_summary

    assert [len(ids) for ids in first_run] == [12, 12], "one Message Batch per step of forward()"
    assert len({i for ids in first_run for i in ids}) == 24
    assert fake.submitted == first_run, "the re-run waits for the recorded batches"
    assert results == direct, "the batch engine answers as the online one"
    assert again == results
    for item, result in zip(items, results):
        assert isinstance(result, str) and result.count("reply to: ") == 2 and item in result, result
    params = fake.batches["msgbatch_0001"]["requests"][0]["params"]
    assert params["model"] == "claude-sonnet-4-5" and params["max_tokens"] == 4096
    assert (summary.prompt_tokens, summary.completion_tokens) == (240, 120)
    assert online_summary.cost_usd > 0
    assert summary.cost_usd == pytest.approx(online_summary.cost_usd / 2), "half the online price"
    assert (cache_dir / "batches.redb").exists()


def test_expired_requests_go_to_the_online_fallback(cache_dir):
    with FakeAnthropicBatch() as fake, FakeAnthropic() as online:
        fallback = AnthropicEngine(online.base_url, api_key_env=None, name="claude-online")
        engine = AnthropicBatchEngine(fake.base_url, api_key_env=None, fallback=fallback, **POLL)
        with BatchScheduler(engine=engine) as scheduler:
            results = scheduler(SummarizeThenJudge, 2, ["[expire] late", "on time"])
        online_texts = [r.text for r in online.arrivals]

    assert all(isinstance(r, str) and r.count("reply to: ") == 2 for r in results), results
    assert len(online_texts) == 2 and all("[expire] late" in t for t in online_texts), online_texts
    assert sum(len(ids) for ids in fake.submitted) == 4, "nothing went into a batch twice"


class QuickOrTwoSteps(Expression):
    def forward(self, input, **kwargs):
        if input == "quick":
            return "done at once"
        return SummarizeThenJudge()(input, **kwargs)


def test_leaving_a_stream_cancels_the_message_batch_its_items_wait_on(cache_dir):
    with FakeAnthropicBatch(hold=True) as fake:
        engine = AnthropicBatchEngine(fake.base_url, api_key_env=None, **POLL)
        with BatchScheduler(engine=engine) as scheduler:
            stream = scheduler.stream(QuickOrTwoSteps, 4, ["quick", "a", "b", "c"])
            assert next(stream) == (0, "done at once")
            wait_until(lambda: len(fake.submitted) == 1, 30, "the first step's batch")
            assert [len(ids) for ids in fake.submitted] == [3]
            stream.close()  # the job is cancelled: nobody waits on the batch
            wait_until(lambda: fake.cancels == 1, 30, "the batch cancelled on the provider")
            wait_until(lambda: fake.batches["msgbatch_0001"]["status"] == "ended", 30, "the batch to end")
        assert len(fake.submitted) == 1, "nothing is submitted again"
        assert {r["result"]["type"] for r in fake.batches["msgbatch_0001"]["results"]} == {"canceled"}


def test_anthropic_batch_settings_are_checked_by_the_server():
    with pytest.raises(ServerStartError, match="max_requests_per_batch"):
        BatchScheduler(engine=AnthropicBatchEngine(max_requests_per_batch=100_001, api_key_env=None))
    with pytest.raises(ServerStartError, match="fallback"):
        BatchScheduler(engine=AnthropicBatchEngine(fallback="nowhere", api_key_env=None))
    toml = AnthropicBatchEngine(fallback=AnthropicEngine(name="claude-online"), max_tokens=64).server_args()[1]
    assert 'fallback = "claude-online"' in toml and 'kind = "anthropic"' in toml and "max_tokens = 64" in toml
    assert toml.count("default_engine") == 1
