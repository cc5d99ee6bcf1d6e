"""Concurrency follows the slots: with 64 worker slots each making one call
that takes 300 ms, every engine's defaults let all 64 calls run at once, and
only a limit the user sets holds them back, exactly.

- `OpenAIEngine`: the loopback fake OpenAI server counts the requests it holds
  at once;
- symai's own engine (registered as "neurosymbolic", served as a
  `SymaiEngine` by `BatchScheduler()`): the engine counts its concurrent
  `forward()` calls;
- a `BatchEngine` subclass: it counts its concurrent batches.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fake_openai import FakeOpenAI
from mock_symai_engines import ANSWER_PREFIX, MockEngine, registered
from symai import Expression, Symbol

from symbatcher import BatchEngine, BatchScheduler, OpenAIEngine, SymaiEngine

SLOTS = 64
LATENCY_S = 0.3


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


class Peak:
    """Counts what runs at once and the most that ever did. Each entry then
    waits (up to 10 s) until `hold_for` run at once, or for LATENCY_S when
    that many already did: a slow machine that starts the slots over more
    than LATENCY_S cannot hide calls that the engine lets run together."""

    def __init__(self, hold_for: int) -> None:
        self._lock = threading.Condition()
        self.hold_for = hold_for
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self._lock.notify_all()
            self._lock.wait_for(lambda: self.peak >= self.hold_for, timeout=10)

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self.now -= 1


class SlowSymaiEngine(MockEngine):
    """A symai engine whose every call takes LATENCY_S, counting its
    concurrent forward() calls (`Peak` holds each until `hold_for` ran)."""

    def __init__(self, hold_for: int = SLOTS) -> None:
        super().__init__()
        self.running = Peak(hold_for)

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        with self.running:
            time.sleep(LATENCY_S)
            return super().forward(argument)


class SlowBatchEngine(BatchEngine):
    """A BatchEngine whose every batch takes LATENCY_S, counting its
    concurrent batches."""

    def __init__(self, max_concurrency: int | None = None) -> None:
        self.max_concurrency = max_concurrency
        self.running = Peak(max_concurrency or SLOTS)

    def forward(self, calls):
        with self.running:
            time.sleep(LATENCY_S)
            return [f"slow: {call.prompt}" for call in calls]


def items(n: int = SLOTS) -> list[str]:
    return [f"question {i}" for i in range(n)]


@pytest.mark.parametrize("max_concurrency, expected", [(None, SLOTS), (10, 10)])
def test_openai_engine_sends_every_slots_request_at_once_unless_capped(max_concurrency, expected):
    with FakeOpenAI(latency_s=LATENCY_S) as fake:
        engine = OpenAIEngine(fake.base_url, "m", api_key_env=None, max_concurrency=max_concurrency)
        with BatchScheduler(engine=engine) as scheduler:
            results = scheduler(Ask, SLOTS, items())
        assert all(isinstance(r, str) and r.startswith("reply to: ") for r in results), results[:3]
        assert len(fake.chat_arrivals()) == SLOTS
        assert fake.peak_in_flight == expected


def test_symais_engine_runs_as_many_calls_at_once_as_there_are_slots():
    with registered(SlowSymaiEngine()) as engine, BatchScheduler() as scheduler:
        results = scheduler(Ask, SLOTS, items())
        summary = scheduler.last_summary
    assert all(isinstance(r, str) and r.startswith(ANSWER_PREFIX) for r in results), results[:3]
    assert summary is not None and summary.engine.startswith("symai:SlowSymaiEngine")
    assert engine.running.peak == SLOTS


def test_a_symai_engines_caps_are_kept_exactly():
    engine = SlowSymaiEngine(hold_for=10)
    with BatchScheduler(engine=SymaiEngine(engine=engine, concurrency=10)) as scheduler:
        results = scheduler(Ask, SLOTS, items())
    assert not [r for r in results if isinstance(r, BaseException)]
    assert engine.running.peak == 10


@pytest.mark.parametrize("max_concurrency, expected", [(None, SLOTS), (3, 3)])
def test_a_batch_engine_answers_a_batch_per_slot_at_once_unless_capped(max_concurrency, expected):
    engine = SlowBatchEngine(max_concurrency)
    with BatchScheduler(engine=engine) as scheduler:
        # One call per batch: each slot's call is a batch of its own.
        results = scheduler(Ask, SLOTS, items(), batch_size=1)
    assert all(isinstance(r, str) and r.startswith("slow: ") for r in results), results[:3]
    assert engine.running.peak == expected

