"""An expression that cannot run fails at once, and a job whose first items
all fail alike before any engine call says so once, at the user's line."""

from __future__ import annotations

import warnings

import pytest
from symai import Expression, Symbol

from symbatcher import BatchScheduler, EchoEngine, RepeatedFailureWarning


class NoInput(Expression):
    def forward(self, text, **kwargs):  # no `input` parameter
        return text


class AlwaysFails(Expression):
    def forward(self, input, **kwargs):
        raise ValueError("the prompt template is missing")


class FailsDifferently(Expression):
    def forward(self, input, **kwargs):
        raise ValueError(f"bad item {input}")


class AsksThenFails(Expression):
    def forward(self, input, **kwargs):
        Symbol(input).query("say it")
        raise ValueError("after the engine call")


def shout(input):
    return input.upper()


@pytest.fixture(scope="module")
def scheduler():
    with BatchScheduler(engine=EchoEngine()) as scheduler:
        yield scheduler


def test_a_forward_without_input_is_a_type_error_before_any_item_runs(scheduler):
    with pytest.raises(TypeError, match=r"NoInput.forward\(\) cannot be called as forward\(input=item, \*\*kwargs\): missing a required argument: 'text'"):
        scheduler(NoInput, 4, ["a", "b"])
    assert scheduler.last_summary is None, "no job was submitted"
    with pytest.raises(TypeError, match="def forward\\(self, input, \\*\\*kwargs\\)"):
        list(scheduler.stream(NoInput(), 4, ["a"]))


def test_a_function_or_a_string_is_not_an_expression(scheduler):
    with pytest.raises(TypeError, match="expr: must be an Expression class.*got a function"):
        scheduler(shout, 4, ["a"])
    with pytest.raises(TypeError, match="expr: must be an Expression class.*got a str"):
        scheduler("mymodule:Summarize", 4, ["a"])


def test_items_that_all_fail_alike_warn_once_at_the_callers_line(scheduler):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = scheduler(AlwaysFails, 8, list(range(200)), batch_size=8)  # the line warned about
    assert all(isinstance(r, ValueError) for r in results) and len(results) == 200
    repeated = [w for w in caught if issubclass(w.category, RepeatedFailureWarning)]
    assert len(repeated) == 1, [str(w.message) for w in caught]
    message = str(repeated[0].message)
    assert "ValueError: the prompt template is missing" in message and "the first 10 items" in message
    assert repeated[0].filename == __file__
    assert "the line warned about" in open(__file__).read().splitlines()[repeated[0].lineno - 1]


def test_a_small_job_whose_every_item_failed_alike_warns_too(scheduler):
    with pytest.warns(RepeatedFailureWarning, match="the first 3 items"):
        scheduler(AlwaysFails, 2, ["a", "b", "c"])


def test_different_errors_or_errors_after_engine_calls_do_not_warn(scheduler):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduler(FailsDifferently, 4, list(range(30)))
        results = scheduler(AsksThenFails, 4, [f"x{i}" for i in range(30)])
    assert all(isinstance(r, ValueError) for r in results)
    assert not [w for w in caught if issubclass(w.category, RepeatedFailureWarning)]


def test_progress_shows_the_cost_so_far_and_small_costs_are_not_rounded_away(capfd):
    from fake_openai import FakeOpenAI

    from symbatcher import OpenAIEngine

    with FakeOpenAI() as fake, BatchScheduler(
        engine=OpenAIEngine(fake.base_url, "gpt-4o-mini", api_key_env=None), progress=True, cache="off"
    ) as priced:
        priced(AsksThenSays, 4, [f"p{i}" for i in range(8)])
        summary = priced.last_summary
    bar = capfd.readouterr().err
    assert summary.cost_usd > 0
    # 8 calls of 10 prompt + 5 completion tokens at gpt-4o-mini's built-in price.
    assert "cost=$0.0000360" in bar, bar
    assert "cost $0.0000360" in summary.describe(), summary.describe()


class AsksThenSays(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("say it").value
