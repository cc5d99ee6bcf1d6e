"""The original library's scenarios, run against the Rust server."""

from __future__ import annotations

import math
import threading
import time

import pytest
from symai import Expression, Symbol

from symbatcher import BatchEngine, BatchScheduler, EchoEngine, EngineError

SUMMARIZE = "Summarize this input"


# --- expressions (module level: identified by import path) -------------------


class SimpleExpression(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query(SUMMARIZE, **kwargs).value


class InnerExpression(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Inner step", **kwargs).value


class NestedExpression(Expression):
    def forward(self, input, **kwargs):
        return "nested(" + InnerExpression().forward(input, **kwargs) + ")"


class DoubleNestedExpression(Expression):
    def forward(self, input, **kwargs):
        return "double(" + NestedExpression().forward(input, **kwargs) + ")"


class ConditionalExpression(Expression):
    """Even: one query. Odd multiple of 3: two queries. Other odd: no query."""

    def forward(self, input, **kwargs):
        n = int(input)
        if n % 2 == 0:
            return "even:" + Symbol(f"number {n}").query("Describe even", **kwargs).value
        if n % 3 == 0:
            first = Symbol(f"number {n}").query("First look", **kwargs).value
            second = Symbol(f"number {n}").query("Second look", **kwargs).value
            return "odd3:" + first + "|" + second
        return f"skipped:{n}"


class PausedExpression(Expression):
    """A short pause first, so that every worker slot holds an item before any call."""

    def forward(self, input, **kwargs):
        time.sleep(0.02)
        return Symbol(input).query(SUMMARIZE, **kwargs).value


class SlowExpression(Expression):
    def forward(self, input, **kwargs):
        time.sleep(0.2)
        return Symbol(input).query("Slow step", **kwargs).value


class SleepOnlyExpression(Expression):
    def forward(self, input, **kwargs):
        time.sleep(0.2)
        return f"slept:{input}"


class FailsBeforeQueryExpression(Expression):
    def forward(self, input, **kwargs):
        if input == "bad-item":
            raise ValueError(f"refusing {input}")
        return Symbol(input).query(SUMMARIZE, **kwargs).value


# --- engines -----------------------------------------------------------------


class BoomEngine(BatchEngine):
    """Raises (failing the whole batch) when any call in the batch mentions 'boom'."""

    def forward(self, calls):
        if any("boom" in c.prompt for c in calls):
            raise RuntimeError("boom engine exploded")
        return ["ok: " + c.prompt for c in calls]


class PartialFailEngine(BatchEngine):
    """Fails only the calls that mention 'poison', by returning an exception for them."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.batch_sizes: list[int] = []

    def forward(self, calls):
        with self.lock:
            self.batch_sizes.append(len(calls))
        out = []
        for c in calls:
            if "poison" in c.prompt:
                out.append(ValueError("poisoned call rejected"))
            else:
                out.append("ok: " + c.prompt)
        return out


# --- scenarios -----------------------------------------------------------------


def test_simple_expression_exact_echo(scheduler):
    results = scheduler(expr=SimpleExpression, num_workers=2, dataset=["hello"], batch_size=2)
    assert results == ["echo: Data:\nhello\nContext: Summarize this input\nAnswer:"]


def test_simple_expression_many_items(scheduler, assert_echo):
    dataset = ["item-alpha", "item-beta", "item-gamma"]
    results = scheduler(expr=SimpleExpression, num_workers=2, dataset=dataset, batch_size=2)
    assert isinstance(results, list)
    assert len(results) == len(dataset)
    for item, result in zip(dataset, results):
        assert_echo(result, item, SUMMARIZE)


def test_nested_expression(scheduler, assert_echo):
    dataset = ["nest-one", "nest-two", "nest-three", "nest-four"]
    results = scheduler(expr=NestedExpression, num_workers=3, dataset=dataset, batch_size=2)
    assert len(results) == len(dataset)
    for item, result in zip(dataset, results):
        assert result.startswith("nested(echo: ") and result.endswith(")"), result
        assert_echo(result[len("nested(") : -1], item, "Inner step")


def test_double_nested_expression(scheduler, assert_echo):
    dataset = ["deep-one", "deep-two", "deep-three"]
    results = scheduler(expr=DoubleNestedExpression, num_workers=3, dataset=dataset, batch_size=3)
    assert len(results) == len(dataset)
    for item, result in zip(dataset, results):
        prefix = "double(nested("
        assert result.startswith(prefix) and result.endswith("))"), result
        assert_echo(result[len(prefix) : -2], item, "Inner step")


def test_conditional_expression(scheduler, assert_echo):
    dataset = list(range(12))
    results = scheduler(expr=ConditionalExpression, num_workers=4, dataset=dataset, batch_size=3)
    assert len(results) == len(dataset)
    expected_calls = 0
    for n, result in zip(dataset, results):
        if n % 2 == 0:
            expected_calls += 1
            assert result.startswith("even:echo: "), result
            assert_echo(result[len("even:") :], f"number {n}\n", "Describe even")
        elif n % 3 == 0:
            expected_calls += 2
            assert result.startswith("odd3:"), result
            first, second = result[len("odd3:") :].split("|")
            assert_echo(first, f"number {n}\n", "First look")
            assert_echo(second, f"number {n}\n", "Second look")
        else:
            assert result == f"skipped:{n}"
    summary = scheduler.last_summary
    assert summary.items == len(dataset)
    assert summary.succeeded == len(dataset)
    assert summary.failed == 0
    assert summary.engine_calls == expected_calls


def test_slow_expression_runs_items_concurrently(scheduler, assert_echo):
    # Warm up so that nothing one-off is counted in the timing below.
    scheduler(expr=SimpleExpression, num_workers=1, dataset=["warm-up"], batch_size=1)
    dataset = [f"slow-{i}" for i in range(8)]
    start = time.monotonic()
    results = scheduler(expr=SlowExpression, num_workers=8, dataset=dataset, batch_size=8)
    elapsed = time.monotonic() - start
    for item, result in zip(dataset, results):
        assert_echo(result, item, "Slow step")
    assert len(results) == 8
    # Serially this is 8 * 0.2 s = 1.6 s.
    assert elapsed < 1.0, f"8 slow items on 8 workers took {elapsed:.2f}s"


def test_slow_expression_respects_num_workers(scheduler):
    # With 2 worker slots, 6 items of 0.2 s cannot finish faster than 3 rounds.
    dataset = [f"s{i}" for i in range(6)]
    start = time.monotonic()
    results = scheduler(expr=SleepOnlyExpression, num_workers=2, dataset=dataset, batch_size=2)
    elapsed = time.monotonic() - start
    assert results == [f"slept:s{i}" for i in range(6)]
    assert elapsed >= 0.55, f"6 items x 0.2s on 2 workers took only {elapsed:.2f}s"


@pytest.mark.parametrize("num_workers", [1, 2, 8])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_workers_and_batch_size_variations(scheduler, assert_echo, num_workers, batch_size):
    dataset = [f"var-{num_workers}-{batch_size}-{i}" for i in range(10)]
    results = scheduler(
        expr=SimpleExpression, num_workers=num_workers, dataset=dataset, batch_size=batch_size
    )
    assert len(results) == len(dataset)
    for item, result in zip(dataset, results):
        assert_echo(result, item + "\n", SUMMARIZE)
    summary = scheduler.last_summary
    assert summary.items == 10
    assert summary.succeeded == 10
    assert summary.engine_calls == 10
    assert summary.engine_batches >= math.ceil(10 / batch_size)
    assert summary.mean_batch_size <= batch_size


def test_expression_raising_before_engine_call(scheduler, assert_echo):
    dataset = ["good-one", "bad-item", "good-two", "good-three"]
    results = scheduler(
        expr=FailsBeforeQueryExpression, num_workers=2, dataset=dataset, batch_size=2
    )
    assert len(results) == 4
    assert isinstance(results[1], ValueError)
    assert "refusing bad-item" in str(results[1])
    for i in (0, 2, 3):
        assert_echo(results[i], dataset[i], SUMMARIZE)
    summary = scheduler.last_summary
    assert summary.succeeded == 3
    assert summary.failed == 1
    assert summary.engine_calls == 3


def test_engine_error_fails_only_its_batch():
    dataset = ["fine-a", "boom-item", "fine-c", "fine-d"]
    with BatchScheduler(engine=BoomEngine()) as s:
        results = s(expr=SimpleExpression, num_workers=2, dataset=dataset, batch_size=1)
    assert len(results) == 4
    assert isinstance(results[1], EngineError)
    assert "boom engine exploded" in str(results[1])
    for i in (0, 2, 3):
        assert isinstance(results[i], str), results[i]
        assert results[i].startswith("ok: "), results[i]
        assert dataset[i] in results[i]


def test_engine_returning_exception_fails_only_that_item():
    engine = PartialFailEngine()
    dataset = ["clean-1", "poison-2", "clean-3", "clean-4"]
    with BatchScheduler(engine=engine, max_queue_delay_ms=200) as s:
        results = s(expr=SimpleExpression, num_workers=4, dataset=dataset, batch_size=4)
    assert len(results) == 4
    assert isinstance(results[1], EngineError)
    assert "poisoned call rejected" in str(results[1])
    for i in (0, 2, 3):
        assert isinstance(results[i], str), results[i]
        assert results[i].startswith("ok: ") and dataset[i] in results[i]
    assert sum(engine.batch_sizes) == 4
    assert all(1 <= n <= 4 for n in engine.batch_sizes)


def test_echo_engine_batches_calls_under_latency(assert_echo):
    # A serial engine (concurrency 1) with 100 ms per batch: unbatched, 16 calls
    # take >= 1.6 s; batched by 16 they take about one round trip.
    dataset = [f"lat-{i}" for i in range(16)]
    with BatchScheduler(engine=EchoEngine(latency_ms=100), max_queue_delay_ms=300) as s:
        s(expr=SimpleExpression, num_workers=1, dataset=["warm"], batch_size=1)
        start = time.monotonic()
        results = s(expr=PausedExpression, num_workers=16, dataset=dataset, batch_size=16)
        elapsed = time.monotonic() - start
        summary = s.last_summary
    for item, result in zip(dataset, results):
        assert_echo(result, item + "\n", SUMMARIZE)
    assert summary.engine_calls == 16
    assert summary.engine_batches < 16
    assert summary.mean_batch_size > 1
    assert elapsed < 1.0, f"16 calls in batches of 16 took {elapsed:.2f}s"


def test_echo_engine_latency_is_per_batch_and_serial_by_default():
    # batch_size=1 forces one call per batch; with concurrency 1, 4 batches of
    # 100 ms each cannot complete in less than 0.4 s.
    dataset = [f"ser-{i}" for i in range(4)]
    with BatchScheduler(engine=EchoEngine(latency_ms=100)) as s:
        start = time.monotonic()
        results = s(expr=SimpleExpression, num_workers=4, dataset=dataset, batch_size=1)
        elapsed = time.monotonic() - start
        summary = s.last_summary
    assert all(r.startswith("echo: ") for r in results)
    assert summary.engine_batches == 4
    assert elapsed >= 0.38, f"4 serial 100 ms batches took only {elapsed:.2f}s"


def test_echo_engine_max_concurrency_overlaps_batches():
    dataset = [f"conc-{i}" for i in range(4)]
    with BatchScheduler(engine=EchoEngine(latency_ms=200, max_concurrency=4)) as s:
        s(expr=SimpleExpression, num_workers=1, dataset=["warm"], batch_size=1)
        start = time.monotonic()
        results = s(expr=SimpleExpression, num_workers=4, dataset=dataset, batch_size=1)
        elapsed = time.monotonic() - start
    assert all(r.startswith("echo: ") for r in results)
    # Serially this would be 4 * 0.2 s = 0.8 s.
    assert elapsed < 0.6, f"4 concurrent 200 ms batches took {elapsed:.2f}s"
