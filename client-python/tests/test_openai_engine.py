"""The server's `openai` engine against a real HTTP server on loopback
(`fake_openai.FakeOpenAI`), driven through `BatchScheduler`: one request per
engine call, results by index with no cross-talk, usage as symai metadata,
provider errors as the item's exception, retries and tokens in the summary,
timeouts, the API key kept out of logs and Status, and named engines from a
config file."""

from __future__ import annotations

import time

import grpc
import pytest
from fake_openai import FakeOpenAI
from symai import Expression, Symbol

from symbatcher import BatchScheduler, EngineError, OpenAIEngine, ServerStartError, make_channel
from symbatcher.v1 import status_pb2, status_pb2_grpc


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


class AskWithUsage(Expression):
    def forward(self, input, **kwargs):
        value, metadata = Symbol(input).query("Answer briefly", return_metadata=True, **kwargs).value
        return {"value": value, "usage": metadata.get("usage"), "model": metadata.get("model")}


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def test_every_item_gets_the_reply_to_its_own_request(fake):
    items = [f"item-{i:03d}" for i in range(24)]
    engine = OpenAIEngine(fake.base_url, "fake-1", api_key_env=None)
    with BatchScheduler(engine=engine) as scheduler:
        results = scheduler(Ask, 8, items, batch_size=4, temperature=0.25)
        summary = scheduler.last_summary

    for item, result in zip(items, results):
        assert isinstance(result, str) and result.startswith("reply to: "), result
        assert item in result, (item, result)
        others = [other for other in items if other != item and other in result]
        assert not others, f"{item} got a reply mentioning {others}"
    arrivals = fake.chat_arrivals()
    assert len(arrivals) == 24, "one request per engine call"
    for arrival in arrivals:
        assert arrival.body["model"] == "fake-1"
        assert arrival.body["temperature"] == 0.25
        assert arrival.body["messages"][-1]["role"] == "user"
        assert "Answer briefly" in arrival.content
        assert arrival.authorization is None
    assert summary.engine_calls == 24
    assert (summary.prompt_tokens, summary.completion_tokens) == (240, 120)
    assert summary.failed_engine_calls == 0
    assert 0 < summary.engine_latency_p50_ms <= summary.engine_latency_p99_ms


def test_token_usage_is_metadata_on_the_symai_result(fake):
    with BatchScheduler(engine=OpenAIEngine(fake.base_url, "fake-2", api_key_env=None)) as scheduler:
        results = scheduler(AskWithUsage, 2, ["a", "b"], batch_size=2)
    for result in results:
        assert not isinstance(result, BaseException), result
        assert result["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        assert result["model"] == "fake-2"


def test_a_400_is_that_items_exception_with_the_providers_message(fake):
    with BatchScheduler(engine=OpenAIEngine(fake.base_url, "m", api_key_env=None)) as scheduler:
        results = scheduler(Ask, 3, ["fine-1", "broken [400]", "fine-2"], batch_size=3)
        summary = scheduler.last_summary
    assert "fine-1" in results[0] and "fine-2" in results[2]
    assert isinstance(results[1], EngineError), results[1]
    assert "provider says: cannot handle" in str(results[1])
    assert "HTTP 400" in str(results[1])
    assert summary.failed == 1 and summary.failed_engine_calls == 1


def test_retries_and_429s_are_counted_in_the_summary(fake):
    items = ["x [429-once]", "y [500-once]", "z [429-once]", "plain"]
    with BatchScheduler(engine=OpenAIEngine(fake.base_url, "m", api_key_env=None)) as scheduler:
        results = scheduler(Ask, 4, items, batch_size=4)
        summary = scheduler.last_summary
    assert all(isinstance(r, str) and r.startswith("reply to: ") for r in results), results
    assert (summary.retries, summary.rate_limited) == (3, 2)
    assert len(fake.chat_arrivals()) == 7
    assert "3 retries (2 rate-limited)" in summary.describe()


def test_a_hang_becomes_a_timeout_error(fake):
    engine = OpenAIEngine(fake.base_url, "m", api_key_env=None, timeout_s=0.5, max_retries=0)
    with BatchScheduler(engine=engine) as scheduler:
        started = time.monotonic()
        results = scheduler(Ask, 2, ["stuck [hang]", "quick"], batch_size=2)
        elapsed = time.monotonic() - started
    assert isinstance(results[0], EngineError), results[0]
    assert "within the timeout of 0.5s" in str(results[0])
    assert results[1].startswith("reply to: ")
    assert 0.5 <= elapsed < 5, elapsed


def test_the_api_key_is_used_but_never_in_logs_or_status(fake, monkeypatch):
    key = "sk-test-PLEASE-DO-NOT-LEAK-9876"
    monkeypatch.setenv("SYMBATCHER_TEST_API_KEY", key)
    monkeypatch.setenv("SYMBATCHER_LOG", "debug")
    engine = OpenAIEngine(fake.base_url, "m", api_key_env="SYMBATCHER_TEST_API_KEY", rpm=6000)
    scheduler = BatchScheduler(engine=engine)
    server = scheduler._owned.server
    try:
        results = scheduler(Ask, 3, ["one", "two [429-once]", "three [400]"], batch_size=3)
        with make_channel(scheduler.address) as channel:
            status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest())
    finally:
        scheduler.cleanup()
    assert isinstance(results[2], EngineError)
    assert key not in str(results[2])
    assert {a.authorization for a in fake.chat_arrivals()} == {f"Bearer {key}"}
    engine_status = next(e for e in status.engines if e.name == "openai")
    assert (engine_status.kind, engine_status.rpm, engine_status.retries) == ("openai", 6000, 1)
    assert key not in str(status)
    logs = server.stderr_tail
    assert "engine configured" in logs and "retrying" in logs, logs
    assert key not in logs
    assert "PLEASE-DO-NOT-LEAK" not in logs


def test_named_engines_come_from_a_config_file(fake, tmp_path):
    config = tmp_path / "symbatcher.toml"
    config.write_text(
        'default_engine = "main"\n'
        "[engines.main]\n"
        f'kind = "openai"\nbase_url = "{fake.base_url}"\nmodel = "model-main"\napi_key_env = ""\n'
        "[engines.other]\n"
        f'kind = "openai"\nbase_url = "{fake.base_url}"\nmodel = "model-other"\napi_key_env = ""\n'
        "rpm = 600\n"
    )
    with BatchScheduler(server_args=["--config", str(config)]) as scheduler:
        default_results = scheduler(AskWithUsage, 2, ["d1", "d2"], batch_size=2)
    with BatchScheduler(engine="other", server_args=["--config", str(config)]) as scheduler:
        named_results = scheduler(AskWithUsage, 2, ["n1", "n2"], batch_size=2)
    assert {r["model"] for r in default_results} == {"model-main"}
    assert {r["model"] for r in named_results} == {"model-other"}
    by_item = {a.content.split("\n")[1]: a.body["model"] for a in fake.chat_arrivals()}
    assert by_item == {"d1": "model-main", "d2": "model-main", "n1": "model-other", "n2": "model-other"}


def test_a_bad_config_file_fails_startup_naming_the_field(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[engines.gpt]\nkind = "openai"\napi_key_env = ""\nrpm = -5\n')
    with pytest.raises(ServerStartError) as info:
        BatchScheduler(server_args=["--config", str(config)])
    message = str(info.value)
    assert f"{config}: engines.gpt.rpm:" in message, message


def test_openai_engine_settings_become_the_servers_flags():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIEngine("localhost:8000", "m")
    with pytest.raises(ValueError, match="rpm"):
        OpenAIEngine("http://h/v1", "m", rpm=0)
    with pytest.raises(TypeError, match="max_retries: must be an integer"):
        OpenAIEngine("http://h/v1", "m", max_retries="5")
    args = OpenAIEngine("http://h/v1", "m", api_key_env=None, rpm=60, strict=True).server_args()
    assert args[args.index("--openai-api-key-env") + 1] == ""
    assert "--openai-strict" in args and "--openai-rpm=60" in args
    # No cap unless one is set; a set one is passed on exactly.
    assert not any(a.startswith("--openai-max-concurrency") for a in args)
    capped = OpenAIEngine("http://h/v1", "m", max_concurrency=10).server_args()
    assert "--openai-max-concurrency=10" in capped
    with pytest.raises(TypeError, match="max_concurrency: must be an integer"):
        OpenAIEngine("http://h/v1", "m", max_concurrency="10")
