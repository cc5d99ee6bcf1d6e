"""The call cache and in-flight coalescing, against the loopback fake OpenAI
server (which records every request): a re-run sends nothing, repeated items
are sent once, identical calls in flight share one request, echo is cached
only when asked, symai's own engine by default, and the summary counts hits,
coalesced calls and savings."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI
from mock_symai_engines import MockEngine, registered
from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIEngine, make_channel
from symbatcher.cli.status import describe
from symbatcher.v1 import status_pb2, status_pb2_grpc

#: gpt-4o-mini in the built-in price table: 0.15 and 0.60 USD per million
#: tokens; the fake answers every request with 10 prompt and 5 completion tokens.
MODEL = "gpt-4o-mini"
PER_CALL_USD = (10 * 0.15 + 5 * 0.60) / 1e6


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def engine(fake: FakeOpenAI, concurrency: int = 16) -> OpenAIEngine:
    return OpenAIEngine(fake.base_url, MODEL, api_key_env=None, max_concurrency=concurrency)


def test_a_second_run_of_a_1000_item_job_sends_no_request(fake, tmp_path):
    items = [f"item-{i:04d}" for i in range(1000)]
    with BatchScheduler(engine=engine(fake), cache_dir=tmp_path / "cache") as scheduler:
        first = scheduler(Ask, 16, items, batch_size=16)
        first_summary = scheduler.last_summary
    assert len(fake.chat_arrivals()) == 1000
    assert first_summary.cache_hits == 0
    assert first_summary.cost_usd == pytest.approx(1000 * PER_CALL_USD)

    with BatchScheduler(engine=engine(fake), cache_dir=tmp_path / "cache") as scheduler:
        second = scheduler(Ask, 16, items, batch_size=16)
        summary = scheduler.last_summary
    assert len(fake.chat_arrivals()) == 1000, "the second run sent requests"
    assert second == first
    assert all(item in result for item, result in zip(items, second))
    assert summary.cache_hits == 1000
    assert summary.cost_usd == 0.0
    assert (summary.saved_prompt_tokens, summary.saved_completion_tokens) == (10_000, 5_000)
    assert summary.saved_cost_usd == pytest.approx(1000 * PER_CALL_USD)


def test_ten_distinct_items_repeated_100_times_send_ten_requests(fake, tmp_path):
    items = [f"distinct-{i}" for i in range(10)] * 100
    with BatchScheduler(engine=engine(fake), cache_dir=tmp_path / "cache") as scheduler:
        results = scheduler(Ask, 16, items, batch_size=16)
        summary = scheduler.last_summary
        with make_channel(scheduler.address) as channel:
            status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest())
    assert len(fake.chat_arrivals()) == 10
    assert sorted(a.content for a in fake.chat_arrivals()) == sorted(
        {a.content for a in fake.chat_arrivals()}
    ), "each distinct request once"
    assert all(item in result for item, result in zip(items, results))
    assert summary.cache_hits + summary.coalesced_calls == 990
    assert summary.cost_usd == pytest.approx(10 * PER_CALL_USD)
    # Status, and `symbatcher status`, count the cache's replies and hits.
    assert status.cache.dir == str(tmp_path / "cache")
    assert status.cache.entries == 10
    assert status.cache.hits + status.cache.coalesced == 990
    text = describe(status, scheduler.address)
    assert f"call cache {tmp_path / 'cache'}: 10 replies" in text


def test_identical_calls_in_flight_are_sent_once_without_reading_the_cache(tmp_path):
    # "refresh" never reads the cache: only coalescing can spare requests.
    with FakeOpenAI(latency_s=0.5) as fake:
        items = [f"same-{i}" for i in range(5)] * 6
        with BatchScheduler(
            engine=engine(fake), cache="refresh", cache_dir=tmp_path / "cache"
        ) as scheduler:
            results = scheduler(Ask, 30, items, batch_size=30)
            summary = scheduler.last_summary
        assert len(fake.chat_arrivals()) == 5
    assert all(item in result for item, result in zip(items, results))
    assert summary.coalesced_calls == 25
    assert summary.cache_hits == 0


def test_cache_off_sends_every_call(fake, tmp_path):
    items = ["again"] * 5
    with BatchScheduler(engine=engine(fake), cache="off", cache_dir=tmp_path / "cache") as scheduler:
        scheduler(Ask, 1, items, batch_size=1)
        summary = scheduler.last_summary
    assert len(fake.chat_arrivals()) == 5
    assert summary.cache_hits == summary.coalesced_calls == 0


def test_echo_is_cached_only_when_asked(tmp_path):
    items = ["repeat"] * 4
    with BatchScheduler(engine="echo", cache_dir=tmp_path / "cache") as scheduler:
        scheduler(Ask, 1, items, batch_size=1)
        default = scheduler.last_summary
    with BatchScheduler(engine="echo", cache="use", cache_dir=tmp_path / "cache") as scheduler:
        results = scheduler(Ask, 1, items, batch_size=1)
        asked = scheduler.last_summary
    assert default.cache_hits == default.coalesced_calls == 0
    assert asked.cache_hits == 3, "the first call is sent, the others hit"
    assert all(result.startswith("echo: ") and "repeat" in result for result in results)


def test_a_bad_cache_mode_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="cache: must be 'use', 'refresh' or 'off'"):
        BatchScheduler(engine="echo", cache="always")


class AskWithMetadata(Expression):
    def forward(self, input, **kwargs):
        value, metadata = Symbol(input).query("Answer briefly", return_metadata=True, **kwargs).value
        return value, metadata


def test_symais_own_engine_uses_the_cache_by_default_and_a_hit_gets_its_json_form(tmp_path):
    data = [f"question {i}" for i in range(8)]
    with registered(MockEngine()) as engine:
        # BatchScheduler() serves symai's registered engine as a SymaiEngine.
        with BatchScheduler(cache_dir=tmp_path) as scheduler:
            first = scheduler(AskWithMetadata, 4, data)
        assert len(engine.inputs) == len(data)
        # A re-run (a new scheduler and server, the same cache) pays nothing twice.
        with BatchScheduler(cache_dir=tmp_path) as scheduler:
            second = scheduler(AskWithMetadata, 4, data)
            summary = scheduler.last_summary
        assert len(engine.inputs) == len(data), "the re-run called the engine"
    assert summary is not None and summary.cache_hits == len(data)
    for (live_value, live_meta), (hit_value, hit_meta) in zip(first, second):
        # The same text and token usage; the hit says it was cached.
        assert hit_value == live_value
        assert "cached" not in live_meta and hit_meta["cached"] is True
        assert hit_meta["usage"] == live_meta["usage"]


def test_an_explicit_symai_engine_finds_its_calls_in_the_cache_on_a_rerun(tmp_path):
    from symbatcher import SymaiEngine

    data = [f"question {i}" for i in range(4)]
    with registered(MockEngine()) as engine:
        for _ in range(2):
            with BatchScheduler(engine=SymaiEngine(), cache_dir=tmp_path) as scheduler:
                scheduler(AskWithMetadata, 4, data)
                summary = scheduler.last_summary
        assert len(engine.inputs) == len(data), "the re-run called the engine"
    assert summary is not None and summary.cache_hits == len(data)
    assert summary.engine.startswith("symai:"), summary.engine
