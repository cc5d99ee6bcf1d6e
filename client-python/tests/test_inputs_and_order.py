"""Inputs of different shapes, result order, kwargs, and engine-call batching."""

from __future__ import annotations

import dataclasses
import math
import threading
import time

from symai import Expression, Symbol

from symbatcher import BatchEngine, BatchScheduler

# --- expressions ---------------------------------------------------------------


class DictInputExpression(Expression):
    def forward(self, input, **kwargs):
        text = input["text"]
        language = input["language"]
        max_length = input.get("max_length", 100)
        answer = Symbol(text).query(f"Translate this {language} text", **kwargs).value
        return f"{max_length}|{answer}"


class JitterExpression(Expression):
    """Sleeps a pseudo-random 0-4 ms so that items finish out of order."""

    def forward(self, input, **kwargs):
        time.sleep(((input * 7919) % 5) / 1000.0)
        return f"{input}|" + Symbol(str(input)).query("Tag the item", **kwargs).value


class PrefixedExpression(Expression):
    """Needs constructor state: only works when the given instance itself is used."""

    def __init__(self, prefix: str = "default-prefix"):
        super().__init__()
        self.prefix = prefix

    def forward(self, input, **kwargs):
        return self.prefix + ":" + Symbol(input).query("Prefix step", **kwargs).value


class KwargsExpression(Expression):
    def forward(self, input, **kwargs):
        answer = Symbol(input).query("Kwargs step", **kwargs).value
        return f"t={kwargs.get('temperature')}|{answer}"


class ThreeCallsExpression(Expression):
    """Three chained engine calls per item."""

    def forward(self, input, **kwargs):
        first = Symbol(input).query("Step one", **kwargs).value
        second = Symbol(first).query("Step two", **kwargs).value
        return Symbol(second).query("Step three", **kwargs).value


class TwoCallsExpression(Expression):
    def forward(self, input, **kwargs):
        time.sleep(0.02)  # let all worker slots pick up an item before the first call
        a = Symbol(input).query("Call A", **kwargs).value
        b = Symbol(input).query("Call B", **kwargs).value
        return a + "||" + b


class MaybeFailExpression(Expression):
    def forward(self, input, **kwargs):
        if input.startswith("fail"):
            raise RuntimeError(f"{input} failed on purpose")
        return Symbol(input).query("Count me", **kwargs).value


# --- engines ---------------------------------------------------------------------


class RecordingEngine(BatchEngine):
    """Replies 'rec: <prompt>' and records every batch it receives."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.batches: list[list[str]] = []
        self.call_kwargs: list[dict] = []
        self.call_messages: list[list] = []

    def forward(self, calls):
        with self.lock:
            self.batches.append([c.prompt for c in calls])
            self.call_kwargs.extend(dict(c.kwargs) for c in calls)
            self.call_messages.extend(list(c.messages) for c in calls)
        return ["rec: " + c.prompt for c in calls]


# --- tests -------------------------------------------------------------------------


def test_dict_inputs(scheduler, assert_echo):
    dataset = [
        {"text": "Hello world", "language": "English", "max_length": 50},
        {"text": "Bonjour monde", "language": "French"},
        {"text": "Hola mundo", "language": "Spanish", "max_length": 75},
    ]
    results = scheduler(expr=DictInputExpression, num_workers=3, dataset=dataset, batch_size=2)
    assert len(results) == 3
    expected_lengths = ["50", "100", "75"]
    for item, length, result in zip(dataset, expected_lengths, results):
        head, answer = result.split("|", 1)
        assert head == length
        assert_echo(answer, item["text"], f"Translate this {item['language']} text")


def test_duplicate_inputs(scheduler, assert_echo, make_query_expr):
    dataset = ["dup-x", "dup-x", "dup-y", "dup-x", "dup-y"]
    results = scheduler(
        expr=make_query_expr("Echo dup"), num_workers=3, dataset=dataset, batch_size=2
    )
    assert len(results) == 5
    for item, result in zip(dataset, results):
        assert_echo(result, item, "Echo dup")
    assert results[0] == results[1] == results[3]
    assert results[2] == results[4]
    assert results[0] != results[2]
    assert scheduler.last_summary.items == 5
    assert scheduler.last_summary.engine_calls == 5


def test_empty_dataset(scheduler, query_expr_class):
    start = time.monotonic()
    results = scheduler(expr=query_expr_class, num_workers=4, dataset=[], batch_size=3)
    elapsed = time.monotonic() - start
    assert results == []
    assert elapsed < 2.0, f"empty dataset took {elapsed:.2f}s"


def test_order_preserved_under_jitter(scheduler):
    n = 300
    dataset = list(range(n))
    results = scheduler(expr=JitterExpression, num_workers=16, dataset=dataset, batch_size=8)
    assert len(results) == n
    for i, result in enumerate(results):
        assert isinstance(result, str), (i, result)
        head, answer = result.split("|", 1)
        assert head == str(i), (i, result)
        assert answer.startswith("echo: ")
        assert f"\n{i}\n" in answer, (i, answer)
    summary = scheduler.last_summary
    assert summary.items == n
    assert summary.succeeded == n


def test_instance_passed_as_expr(scheduler, assert_echo):
    expr = PrefixedExpression(prefix="custom-prefix")
    dataset = ["inst-1", "inst-2", "inst-3"]
    results = scheduler(expr=expr, num_workers=2, dataset=dataset, batch_size=2)
    for item, result in zip(dataset, results):
        assert result.startswith("custom-prefix:echo: "), result
        assert_echo(result[len("custom-prefix:") :], item, "Prefix step")
    assert len(results) == 3


def test_class_passed_as_expr_is_instantiated_without_args(scheduler):
    results = scheduler(expr=PrefixedExpression, num_workers=1, dataset=["cls-1"], batch_size=1)
    assert results[0].startswith("default-prefix:echo: "), results[0]


def test_kwargs_reach_forward_and_engine_calls():
    engine = RecordingEngine()
    dataset = ["kw-1", "kw-2", "kw-3"]
    with BatchScheduler(engine=engine) as s:
        results = s(
            expr=KwargsExpression,
            num_workers=2,
            dataset=dataset,
            batch_size=2,
            temperature=0.7,
        )
    assert len(results) == 3
    for item, result in zip(dataset, results):
        assert isinstance(result, str), result
        assert result.startswith("t=0.7|rec: "), result
        assert item in result
    assert len(engine.call_kwargs) == 3
    for kwargs in engine.call_kwargs:
        assert kwargs.get("temperature") == 0.7, kwargs


def test_engine_calls_expose_prompt_and_messages():
    engine = RecordingEngine()
    with BatchScheduler(engine=engine) as s:
        s(expr=KwargsExpression, num_workers=1, dataset=["msg-item"], batch_size=1)
    assert len(engine.batches) == 1
    (prompt,) = engine.batches[0]
    assert "msg-item" in prompt and "Kwargs step" in prompt
    (messages,) = engine.call_messages
    assert isinstance(messages, list)
    for m in messages:
        assert set(m) >= {"role", "content"}, m
    # The item travels to the engine in the prompt; when messages are given they carry it too.
    if messages:
        assert any("msg-item" in str(m["content"]) for m in messages), messages


def test_several_engine_calls_per_item(scheduler):
    dataset = ["chain-a", "chain-b", "chain-c", "chain-d"]
    results = scheduler(expr=ThreeCallsExpression, num_workers=4, dataset=dataset, batch_size=4)
    assert len(results) == 4
    for item, result in zip(dataset, results):
        assert result.startswith("echo: ")
        assert result.count("echo: ") == 3, result
        assert item in result
        for step in ("Step one", "Step two", "Step three"):
            assert step in result
        for other in dataset:
            if other != item:
                assert other not in result
    assert scheduler.last_summary.engine_calls == 12


def test_batches_never_exceed_batch_size_and_all_calls_arrive():
    engine = RecordingEngine()
    dataset = [f"bs-{i:02d}" for i in range(20)]
    batch_size = 3
    with BatchScheduler(engine=engine, max_queue_delay_ms=200) as s:
        results = s(
            expr=TwoCallsExpression, num_workers=8, dataset=dataset, batch_size=batch_size
        )
        summary = s.last_summary
    assert len(results) == 20
    for item, result in zip(dataset, results):
        a, b = result.split("||")
        assert a.startswith("rec: ") and item in a and "Call A" in a
        assert b.startswith("rec: ") and item in b and "Call B" in b
    sizes = [len(b) for b in engine.batches]
    assert sum(sizes) == 40
    assert all(1 <= n <= batch_size for n in sizes), sizes
    # Calls of concurrently running items were gathered into shared batches.
    assert max(sizes) >= 2, sizes
    assert summary.engine_calls == 40
    assert summary.engine_batches == len(sizes)
    assert math.isclose(summary.mean_batch_size, 40 / len(sizes), rel_tol=1e-6)


def test_last_summary_counts(scheduler):
    dataset = ["ok-1", "fail-2", "ok-3", "ok-4", "fail-5", "ok-6", "ok-7", "ok-8", "ok-9", "ok-10"]
    results = scheduler(expr=MaybeFailExpression, num_workers=4, dataset=dataset, batch_size=3)
    assert isinstance(results[1], RuntimeError) and "fail-2 failed on purpose" in str(results[1])
    assert isinstance(results[4], RuntimeError) and "fail-5 failed on purpose" in str(results[4])
    assert sum(isinstance(r, str) and r.startswith("echo: ") for r in results) == 8

    summary = scheduler.last_summary
    assert type(summary).__name__ == "JobSummary"
    assert dataclasses.is_dataclass(summary)
    assert summary.items == 10
    assert summary.succeeded == 8
    assert summary.failed == 2
    assert summary.engine_calls == 8
    assert math.ceil(8 / 3) <= summary.engine_batches <= 8
    assert math.isclose(
        summary.mean_batch_size, summary.engine_calls / summary.engine_batches, rel_tol=1e-6
    )
    assert summary.requeued == 0
    assert summary.wall_seconds > 0
    assert summary.engine_seconds >= 0
    assert summary.mean_queue_wait_ms >= 0


class MetadataEngine(BatchEngine):
    """Replies with (text, metadata) pairs."""

    def forward(self, calls):
        return [(f"ok {i}", {"usage": {"prompt_tokens": len(c.prompt)}}) for i, c in enumerate(calls)]


class ReturnsMetadata(Expression):
    def forward(self, input, **kwargs):
        value, metadata = Symbol(input).query("Count", return_metadata=True, **kwargs).value
        return {"value": value, "metadata": metadata}


def test_engine_metadata_reaches_symai_with_the_reply():
    with BatchScheduler(engine=MetadataEngine()) as scheduler:
        results = scheduler(ReturnsMetadata, 2, ["abc", "defg"], batch_size=2)
    for item, result in zip(["abc", "defg"], results):
        assert not isinstance(result, BaseException), result
        assert result["value"].startswith("ok ")
        usage = result["metadata"]["usage"]
        assert usage["prompt_tokens"] == len(f"Data:\n{item}\nContext: Count\nAnswer:")
