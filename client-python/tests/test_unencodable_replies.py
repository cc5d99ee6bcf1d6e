"""A reply the wire cannot carry (text with a lone surrogate, a number too
large for a float) fails its own call with an error naming why, whichever
way the engine answers: whole batches (`forward`) or one call at a time
(`forward_each`). Every call of the batch still gets its reply: before,
such a reply raised in the engine connection and left the batch unanswered,
so its items waited forever. The last test: whatever else fails while a
batch is served, the batch still ends, failing the calls it left unanswered.
"""

from __future__ import annotations

import pytest
from symai import Expression, Symbol

from symbatcher import BatchEngine, BatchScheduler, EngineCall, EngineError
from symbatcher.engines import _engine_connection

LONE_SURROGATE = "half an emoji \ud83d"


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def _reply(call: EngineCall) -> str:
    return LONE_SURROGATE if "bad" in call.prompt else "fine"


class WholeBatches(BatchEngine):
    def forward(self, calls):
        return [_reply(call) for call in calls]


class EachCall(WholeBatches):
    answers_per_call = True

    def forward_each(self, calls, answer):
        for i, call in enumerate(calls):
            answer(i, _reply(call))


class Embed(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).embed(**kwargs).value


class TooLargeNumbers(BatchEngine):
    """An embedding engine whose vector for "bad" holds an int no float can hold."""

    call_kind = "embedding"

    def forward(self, calls):
        return [[[10**400] if "bad" in text else [1.0] for text in call.inputs] for call in calls]


def _check(results: list[object]) -> None:
    assert results[0] == "fine" and results[2] == "fine", results
    error = results[1]
    assert isinstance(error, EngineError), error
    assert "reply cannot be sent: UnicodeEncodeError" in str(error), error
    assert "surrogates not allowed" in str(error), error


def _run(call_with_timeout, expression, workers: int, items: list[str], **scheduler_kwargs) -> list[object]:
    """The results of `items` on a scheduler made with `scheduler_kwargs`,
    failing the test (instead of hanging) past 60 s."""
    scheduler = BatchScheduler(**scheduler_kwargs)
    try:
        return call_with_timeout(lambda: scheduler(expression, workers, items, batch_size=3), 60)
    finally:
        scheduler.cleanup()


ITEMS = ["good 0", "bad 1", "good 2"]


def test_a_reply_the_wire_cannot_carry_fails_only_its_call_in_a_whole_batch(call_with_timeout):
    _check(_run(call_with_timeout, Ask, 1, ITEMS, engine=WholeBatches()))


def test_a_reply_the_wire_cannot_carry_fails_only_its_call_when_sent_ahead(call_with_timeout):
    _check(_run(call_with_timeout, Ask, 3, ITEMS, engine=EachCall()))


def test_a_vector_the_wire_cannot_carry_fails_only_its_call(call_with_timeout):
    results = _run(call_with_timeout, Embed, 3, ITEMS, engine="echo", embedding_engine=TooLargeNumbers())
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException), results
    assert isinstance(results[1], EngineError), results[1]
    assert "reply cannot be sent: OverflowError" in str(results[1]), results[1]


def test_a_failure_outside_the_engine_fails_the_batch_instead_of_leaving_it_waiting(
    call_with_timeout, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args, **kwargs):
        raise LookupError("serving broke")

    monkeypatch.setattr(_engine_connection, "serve_batch", broken)
    results = _run(call_with_timeout, Ask, 2, ["good 0", "good 1"], engine=WholeBatches())
    assert all(isinstance(r, EngineError) and "serving broke" in str(r) for r in results), results
