"""The server's `openai-batch` engine through `BatchScheduler`, with real
Python worker slots, against a loopback fake of OpenAI's Files and Batches
endpoints (`fake_openai_batch.FakeOpenAIBatch`): a two-step `forward()`
goes through the provider's batches, every request once, with the replies
the online engine gives; a re-run attaches to the recorded batches instead of
submitting them again; the engine's settings are checked in Python."""

from __future__ import annotations

import pytest
from fake_openai_batch import FakeOpenAIBatch
from helpers import wait_until
from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIBatchEngine, OpenAIEngine, ServerStartError


class SummarizeThenJudge(Expression):
    def forward(self, input, **kwargs):
        summary = Symbol(input).query("Summarize", **kwargs).value
        return Symbol(summary).query("Judge", **kwargs).value


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBATCHER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_two_step_forward_goes_through_provider_batches_and_a_rerun_submits_nothing(cache_dir):
    items = [f"item-{i:02d}" for i in range(12)]
    with FakeOpenAIBatch() as fake:
        engine = OpenAIBatchEngine(
            fake.base_url, "fake-1", api_key_env=None, poll_interval_s=0.005, poll_max_interval_s=0.02
        )
        with BatchScheduler(engine=engine) as scheduler:
            results = scheduler(SummarizeThenJudge, 12, items)
            summary = scheduler.last_summary
        first_run = [list(ids) for ids in fake.submitted]
        with BatchScheduler(engine=engine) as scheduler:
            again = scheduler(SummarizeThenJudge, 12, items)

    # One provider batch per step of forward(): the first step's batch waits
    # for every item the client is still sending, the second for every item
    # to park on its second call. Every request is submitted once.
    assert len(first_run) == 2, [len(ids) for ids in first_run]
    assert [len(ids) for ids in first_run] == [12, 12]
    assert sum(len(ids) for ids in first_run) == 24
    assert len({i for ids in first_run for i in ids}) == 24
    assert fake.submitted == first_run, "the re-run waits for the recorded batches"
    for item, result in zip(items, results):
        assert isinstance(result, str) and result.startswith("reply to: "), result
        assert result.count("reply to: ") == 2 and item in result, (item, result)
    assert again == results
    assert summary.engine_calls == 24
    assert (summary.prompt_tokens, summary.completion_tokens) == (240, 120)
    assert (cache_dir / "batches.redb").exists()


class QuickOrTwoSteps(Expression):
    def forward(self, input, **kwargs):
        if input == "quick":
            return "done at once"
        return SummarizeThenJudge()(input, **kwargs)


def test_leaving_a_stream_cancels_the_provider_batch_its_items_wait_on(cache_dir):
    with FakeOpenAIBatch() as fake:
        fake.hold = True
        engine = OpenAIBatchEngine(
            fake.base_url, "fake-1", api_key_env=None, poll_interval_s=0.005, poll_max_interval_s=0.02
        )
        with BatchScheduler(engine=engine) as scheduler:
            stream = scheduler.stream(QuickOrTwoSteps, 4, ["quick", "a", "b", "c"])
            index, result = next(stream)
            assert (index, result) == (0, "done at once")
            wait_until(lambda: len(fake.submitted) == 1, 30, "the first step's batch")
            assert sorted(len(ids) for ids in fake.submitted) == [3]
            stream.close()  # the job is cancelled: nobody waits on the batch
            wait_until(lambda: fake.cancels == 1, 30, "the batch cancelled on the provider")
            wait_until(lambda: fake.batches["batch-1"]["status"] == "cancelled", 30, "the batch to end cancelled")
        assert len(fake.submitted) == 1, "nothing is submitted again"
        assert fake.cancels == 1


def test_batch_engine_settings_are_checked_by_the_server():
    # Python checks no values: the embedded server refuses them, naming the field.
    with pytest.raises(ServerStartError, match="max_requests_per_batch"):
        BatchScheduler(engine=OpenAIBatchEngine(max_requests_per_batch=50_001, api_key_env=None))
    with pytest.raises(ServerStartError, match="poll_max_interval_ms"):
        BatchScheduler(engine=OpenAIBatchEngine(poll_interval_s=5, poll_max_interval_s=1, api_key_env=None))
    engine = OpenAIBatchEngine(fallback=OpenAIEngine("http://127.0.0.1:9/v1", "m"))
    args = engine.server_args()
    assert 'fallback = "openai"' in args[1]
    assert "--openai-base-url" in args
