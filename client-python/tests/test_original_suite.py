"""The original library's own test scenarios (its test_batchscheduler.py and
test_batchscheduler_error.py), rewritten for this package and run the way its
users ran them: a mock engine registered with symai under "neurosymbolic",
and a plain `BatchScheduler()` with no engine named. Every answer must come
from that engine, not from the echo fallback."""

from __future__ import annotations

import time
import warnings

import pytest
from symai import Expression, Symbol

from mock_symai_engines import ANSWER_PREFIX, MockBatchEngine, MockEngine, registered
from symbatcher import BatchScheduler, EngineError
from symbatcher.engines._default_engine import EchoFallbackWarning

SUMMARIZE = "Summarize this input"


class Summarize(Expression):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def forward(self, input, **kwargs):
        return Symbol(input).query(SUMMARIZE, **kwargs).value


class Elaborate(Expression):
    """One nested expression, then a query on its answer: two calls per item."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Summarize()

    def forward(self, input, **kwargs):
        first = self.inner(input, **kwargs)
        return Symbol(first).query("Elaborate on this result", **kwargs).value


class Combine(Expression):
    """Two nested expressions and a final query: four calls per item."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.summarize = Summarize()
        self.elaborate = Elaborate()

    def forward(self, input, **kwargs):
        a = self.summarize(input, **kwargs)
        b = self.elaborate(input, **kwargs)
        return Symbol(f"{a} and {b}").query("Combine these results", **kwargs).value


class LongOrShort(Expression):
    def forward(self, input, **kwargs):
        if len(input) > 10:
            return Symbol(input).query("Analyze this long input", **kwargs).value
        return Symbol(input).query("Briefly comment on this short input", **kwargs).value


class Slow(Expression):
    """Sleeps `delay` seconds (a constructor argument) before its query."""

    def __init__(self, delay=5, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def forward(self, input, **kwargs):
        time.sleep(self.delay)
        return Symbol(input).query(f"Process this input after a {self.delay} second delay", **kwargs).value


class FailsEverySecondCall(Expression):
    """Fails its 2nd and 4th forward() calls: state kept on the instance."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def forward(self, input, **kwargs):
        self.calls += 1
        if self.calls % 2 == 0:
            raise ValueError("Simulated expression error")
        return Symbol(input).query("Process this input without error", **kwargs).value


@pytest.fixture
def mock_engine():
    with registered(MockEngine()) as engine:
        yield engine


@pytest.fixture
def scheduler(mock_engine):
    """A plain BatchScheduler(): no engine named. With an engine registered
    in symai it must not fall back to echo, and so must not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", EchoFallbackWarning)
        with BatchScheduler() as s:
            yield s


def answered(result, *fragments):
    assert isinstance(result, str) and result.startswith(ANSWER_PREFIX), result
    for fragment in fragments:
        assert fragment in result, (fragment, result)


def test_simple_batch(scheduler, mock_engine):
    results = scheduler(expr=Summarize, num_workers=2, dataset=["test1", "test2", "test3"])
    for i, result in enumerate(results, 1):
        answered(result, f"test{i}", SUMMARIZE)
    assert len(mock_engine.inputs) == 3
    assert scheduler.last_summary.engine.startswith("symai:MockEngine")


def test_nested_batch(scheduler, mock_engine):
    results = scheduler(expr=Elaborate, num_workers=2, dataset=["nested1", "nested2"])
    for i, result in enumerate(results, 1):
        answered(result, f"nested{i}", "Elaborate on this result", SUMMARIZE)
    assert len(mock_engine.inputs) == 4


def test_double_nested_batch(scheduler):
    results = scheduler(expr=Combine, num_workers=2, dataset=["nested1", "nested2", "nested3"])
    for i, result in enumerate(results, 1):
        answered(result, f"nested{i}", "Combine these results", SUMMARIZE, "Elaborate on this result")
    assert scheduler.last_summary.engine_calls == 3 * 4


def test_conditional_batch(scheduler):
    results = scheduler(
        LongOrShort, 2, ["short", "this is a long input", "short+", "yet another long input"], batch_size=2
    )
    answered(results[0], "Briefly comment on this short input")
    answered(results[1], "Analyze this long input")
    answered(results[2], "Briefly comment on this short input")
    answered(results[3], "Analyze this long input")


def test_slow_batch_takes_its_delay_from_the_constructor(scheduler):
    start = time.monotonic()
    results = scheduler(Slow, 3, ["slow1", "slow2", "slow3"], batch_size=2, delay=0.3)
    elapsed = time.monotonic() - start
    for i, result in enumerate(results, 1):
        answered(result, f"slow{i}", "after a 0.3 second delay")
    assert elapsed < 0.9, f"3 slots should sleep together, took {elapsed:.2f}s"


@pytest.mark.parametrize("num_workers,batch_size", [(3, 2), (2, 3), (4, 1), (1, 4)])
def test_workers_and_batch_size_variations(scheduler, num_workers, batch_size):
    items = [f"test{i}" for i in range(6)]
    results = scheduler(Elaborate, num_workers, items, batch_size=batch_size)
    for item, result in zip(items, results):
        answered(result, item, "Elaborate on this result")
    summary = scheduler.last_summary
    assert summary.engine_calls == 12
    assert summary.mean_batch_size <= batch_size


def test_expression_errors_stay_in_place(scheduler):
    # One slot: the shared instance's 2nd and 4th calls are items 1 and 3.
    results = scheduler(FailsEverySecondCall, 1, ["test1", "error", "test3", "error", "test5"])
    for i in (0, 2, 4):
        answered(results[i], "Process this input without error")
    for i in (1, 3):
        assert isinstance(results[i], ValueError) and str(results[i]) == "Simulated expression error"


def test_a_batch_engine_error_fails_the_items_of_that_batch():
    with registered(MockBatchEngine()) as engine, BatchScheduler() as scheduler:
        results = scheduler(Summarize, 2, ["test1", "error", "test3", "test4", "error"], batch_size=2)
    message = "Simulated engine error for the entire batch"
    # The original returned the message in place; here it is an EngineError whose text it is.
    for i in (1, 4):
        assert isinstance(results[i], EngineError) and str(results[i]) == message, results[i]
    failed = [i for i, r in enumerate(results) if isinstance(r, EngineError)]
    for i, result in enumerate(results):
        if i not in failed:
            answered(result, f"test{i + 1}", SUMMARIZE)
    # Every batch was at most 2 calls, and a failed batch failed all its calls.
    assert max(engine.batch_sizes) <= 2
    assert len(failed) == sum(engine.failed_batch_sizes)
    assert scheduler.last_summary.failed == len(failed) >= 2
