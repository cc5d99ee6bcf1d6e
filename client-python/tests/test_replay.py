"""Replay: a run whose engine call waits on a provider batch gives its slot
back, and its item runs again from the start once the call is answered, its
earlier calls answered from the replies the server kept. Against the loopback
fake of OpenAI's Files and Batches endpoints (`fake_openai_batch`) and its
online twin (`fake_openai`), with real Python worker slots: one step of a
two-call forward() is one provider batch whatever `num_workers` is."""

from __future__ import annotations

import collections
import threading

import pytest
from fake_openai import FakeOpenAI
from fake_openai_batch import FakeOpenAIBatch
from helpers import server_status, standalone_server, wait_until
from symai import Expression, Symbol

from symbatcher import BatchScheduler, OpenAIBatchEngine, OpenAIEngine


class SummarizeThenJudge(Expression):
    """Two engine calls, the second built from the first's answer; counts
    how often forward() starts for each item (replay runs it again)."""

    starts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def forward(self, input, **kwargs):
        with self.lock:
            SummarizeThenJudge.starts[input] += 1
        summary = Symbol(input).query("Summarize", **kwargs).value
        return Symbol(summary).query("Judge", **kwargs).value


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBATCHER_CACHE_DIR", str(tmp_path / "cache"))
    SummarizeThenJudge.starts.clear()
    return tmp_path / "cache"


def batch_engine(fake: FakeOpenAIBatch) -> OpenAIBatchEngine:
    return OpenAIBatchEngine(
        fake.base_url, "fake-1", api_key_env=None, poll_interval_s=0.005, poll_max_interval_s=0.02
    )


def test_2000_items_of_a_two_call_forward_on_8_slots_make_two_provider_batches(cache_dir):
    items = [f"item-{i:04d}" for i in range(2000)]
    with FakeOpenAIBatch() as fake:
        with BatchScheduler(engine=batch_engine(fake)) as scheduler:
            results = scheduler(SummarizeThenJudge, 8, items, batch_size=8)
            summary = scheduler.last_summary
    # The online engine's answers, on every 8th item (the fake answers the
    # same requests alike online and in batches).
    sample = items[::8]
    with FakeOpenAI() as online:
        engine = OpenAIEngine(online.base_url, "fake-1", api_key_env=None)
        with BatchScheduler(engine=engine, cache="off") as scheduler:
            expected = scheduler(SummarizeThenJudge, 8, sample, batch_size=8)

    # One provider batch per step of forward(), each with every item's call,
    # although only 8 slots ran the items.
    assert [len(ids) for ids in fake.submitted] == [2000, 2000]
    assert len({i for ids in fake.submitted for i in ids}) == 4000
    assert results[::8] == expected
    assert all(r.startswith("reply to: ") and r.count("reply to: ") == 2 for r in results)
    # Every item ran three times: to its first call, to its second, to its end;
    # the calls answered from the kept replies are no new engine calls.
    assert summary.engine_calls == 4000
    assert (summary.prompt_tokens, summary.completion_tokens) == (40_000, 20_000)
    assert summary.failed == 0 and summary.requeued == 0


def test_without_replay_each_run_holds_its_slot_and_a_step_goes_out_slots_at_a_time(cache_dir):
    items = [f"item-{i:02d}" for i in range(12)]
    with FakeOpenAIBatch() as fake:
        with BatchScheduler(engine=batch_engine(fake), replay=False) as scheduler:
            results = scheduler(SummarizeThenJudge, 4, items)
    sizes = [len(ids) for ids in fake.submitted]
    assert sum(sizes) == 24 and max(sizes) <= 4, sizes
    assert all(SummarizeThenJudge.starts[item] == 1 for item in items)
    assert all(isinstance(r, str) and r.count("reply to: ") == 2 for r in results)


class Swallows(Expression):
    """Catches everything its engine call raises, so replay cannot unwind it."""

    def forward(self, input, **kwargs):
        try:
            return Symbol(input).query("Summarize", **kwargs).value
        except BaseException as exc:  # noqa: BLE001 - the case under test
            return f"swallowed {type(exc).__name__}"


def test_a_forward_that_swallows_the_unwinding_still_gets_its_answer_on_the_next_run(cache_dir):
    # The swallowed run's result is dropped (the server had ended that run);
    # the item runs again once its call is answered, and that run's result
    # is the item's.
    with FakeOpenAIBatch() as fake:
        with BatchScheduler(engine=batch_engine(fake)) as scheduler:
            results = scheduler(Swallows, 2, ["a", "b", "c"])
    assert [len(ids) for ids in fake.submitted] == [3]
    for item, result in zip(["a", "b", "c"], results):
        assert result.startswith("reply to: ") and item in result, result
        assert "swallowed" not in result


def test_replay_must_be_a_bool():
    with pytest.raises(TypeError, match="replay"):
        BatchScheduler(engine="echo", replay="yes")  # type: ignore[arg-type]


def test_parked_items_hold_no_slot_and_status_shows_them(cache_dir):
    items = [f"item-{i}" for i in range(10)]
    with FakeOpenAIBatch() as fake:
        fake.hold = True  # the provider batch stays in progress
        with BatchScheduler(engine=batch_engine(fake)) as scheduler:
            done: list = []
            job = threading.Thread(target=lambda: done.append(scheduler(SummarizeThenJudge, 2, items)))
            job.start()
            # Two slots took all ten items to their first call, and gave back
            # their slots: every item is parked, none runs.
            status = wait_until(
                lambda: next((j for j in server_status(scheduler.address).jobs if j.parked == 10), None),
                30, "ten parked items",
            )
            assert (status.running, status.queued) == (0, 0)
            assert [len(ids) for ids in fake.submitted] == [10]
            assert all(w.running == 0 for w in server_status(scheduler.address).workers)
            fake.hold = False
            job.join(60)
    assert not job.is_alive()
    assert [r.count("reply to: ") for r in done[0]] == [2] * 10
    assert [len(ids) for ids in fake.submitted] == [10, 10]


class NewPromptEachRun(Expression):
    """Puts a counter into its prompt: no run repeats the request of the last."""

    runs = 0

    def forward(self, input, **kwargs):
        NewPromptEachRun.runs += 1
        return Symbol(f"{input} run {NewPromptEachRun.runs}").query("Summarize", **kwargs).value


def test_an_item_whose_requests_change_every_run_fails_after_100_runs(cache_dir):
    from symbatcher import EngineError

    with FakeOpenAIBatch() as fake:
        engine = OpenAIBatchEngine(
            fake.base_url, "fake-1", api_key_env=None, poll_interval_s=0.001, poll_max_interval_s=0.002
        )
        with BatchScheduler(engine=engine) as scheduler:
            [result] = scheduler(NewPromptEachRun, 1, ["x"])
    assert isinstance(result, EngineError), result
    assert "ran 100 times" in str(result) and "replay=False" in str(result)
    # A provider batch per run but the last, whose request is not sent.
    assert len(fake.submitted) == 99
    assert NewPromptEachRun.runs == 100


@pytest.mark.parametrize("slots", ["thread", "greenlet"])
def test_remote_worker_processes_replay_items_they_did_not_start(cache_dir, slots):
    # Two `symbatcher worker` processes of 2 slots each serve 60 items of a
    # two-call forward(): items move between processes as they park and run
    # again, and each step is still one provider batch.
    from remote_expressions import TwoCalls
    from test_remote_workers import start_workers, stop_workers

    with FakeOpenAIBatch() as fake:
        engine = batch_engine(fake)
        with standalone_server("--config-toml", engine.engine_toml(), "--cache-dir", str(cache_dir)) as server:
            workers = start_workers(
                server.address, "remote_expressions:TwoCalls", "--concurrency", "2",
                "--processes", "2", "--slots", slots,
            )  # fmt: skip
            try:
                wait_until(lambda: len(server_status(server.address).workers) == 2, 30, "two workers")
                with BatchScheduler(address=server.address, engine="openai-batch") as scheduler:
                    results = scheduler(TwoCalls, 0, [f"i{n}" for n in range(60)])
            finally:
                assert stop_workers(workers) == 0
    assert [len(ids) for ids in fake.submitted] == [60, 60]
    for n, result in enumerate(results):
        assert result["input"] == f"i{n}"
        assert [r.count("reply to: ") for r in result["replies"]] == [1, 1], result
        assert f"i{n}-a" in result["replies"][0] and f"i{n}-b" in result["replies"][1]
