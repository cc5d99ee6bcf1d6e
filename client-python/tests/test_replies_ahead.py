"""Replies sent ahead: an engine served from Python answers each call of a
batch as soon as it is ready (`BatchEngine.forward_each`), so no item waits
for the slowest call of its batch. Each test holds one call until another
call's item has finished, which only a reply sent ahead makes possible: with
whole-batch answers the held call gives up after HOLD_S and says so.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from symai import Expression, Symbol
from symai.backend.base import Engine

from symbatcher import BatchEngine, BatchScheduler, EngineCall, SymaiEngine

HOLD_S = 20.0


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


class AskTogether(Ask):
    """Two items call together (a barrier), so that their calls share a batch."""

    barrier = threading.Barrier(2)

    def forward(self, input, **kwargs):
        self.barrier.wait(HOLD_S)
        return super().forward(input, **kwargs)


def _is_slow(call: EngineCall) -> bool:
    return "slow" in call.prompt + json.dumps(call.messages)


class HoldingEngine(BatchEngine):
    """Answers a call that mentions "fast" at once, and holds one that
    mentions "slow" until `release` is set (at most HOLD_S)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batch_sizes: list[int] = []

    def forward(self, calls):  # the whole batch at once: holds every call
        return [self._reply(call) for call in sorted(calls, key=_is_slow)]

    def forward_each(self, calls, answer):
        self.batch_sizes.append(len(calls))
        order = sorted(range(len(calls)), key=lambda i: _is_slow(calls[i]))
        for i in order:
            answer(i, self._reply(calls[i]))

    def _reply(self, call: EngineCall) -> str:
        if not _is_slow(call):
            return "fast reply"
        return "slow reply, released" if self.release.wait(HOLD_S) else "slow reply, timed out"


def test_an_item_finishes_while_another_call_of_its_batch_is_still_running():
    engine = HoldingEngine()
    AskTogether.barrier.reset()
    with BatchScheduler(engine=engine, max_queue_delay_ms=10_000) as scheduler:
        results = {}
        for index, result in scheduler.stream(AskTogether, 2, ["slow question", "fast question"], batch_size=2):
            results[index] = result
            if result == "fast reply":
                engine.release.set()
    assert engine.batch_sizes == [2], "both calls must share one batch for this test to say anything"
    assert results == {0: "slow reply, released", 1: "fast reply"}


class GateEngine(Engine):
    """A symai engine: a call whose input mentions "slow" waits until
    `release` is set (at most HOLD_S)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument: Any) -> None:
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        if "slow" not in str(argument.prop.prepared_input):
            return ["fast reply"], {}
        released = self.release.wait(HOLD_S)
        return ["slow reply, released" if released else "slow reply, timed out"], {}


def test_symai_engine_answers_each_call_as_soon_as_symais_engine_returns():
    gate = GateEngine()
    engine = SymaiEngine(engine=gate)
    calls = [
        EngineCall(prompt="slow", messages=[{"role": "user", "content": "slow"}]),
        EngineCall(prompt="fast", messages=[{"role": "user", "content": "fast"}]),
    ]
    answers: list[tuple[int, object]] = []

    def answer(i: int, reply: object) -> None:
        answers.append((i, reply))
        if i == 1:
            gate.release.set()

    try:
        engine.forward_each(calls, answer)
    finally:
        engine.close()
    assert [i for i, _ in answers] == [1, 0]
    assert answers[1][1][0] == "slow reply, released"
    assert engine.answers_per_call


class ThreadNoting(GateEngine):
    """Notes the thread each call runs on, and the engine connection's
    threads alive meanwhile (its pool's threads are named "engine-...")."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.connection_threads: set[str] = set()

    def forward(self, argument: Any) -> tuple[list[str], dict[str, Any]]:
        self.threads.append(threading.current_thread().name)
        alive = {t.name for t in threading.enumerate() if t.name.startswith("engine-")}
        self.connection_threads.update(alive)
        return ["reply"], {}


def test_a_symai_engine_batch_starts_from_the_connection_without_a_thread_waiting_on_it():
    # Each call runs on SymaiEngine's own pool; the batch is started from
    # the connection's loop, so no thread of the connection's pool runs (or
    # waits on) a batch: one thread hand-off less per batch.
    noting = ThreadNoting()
    engine = SymaiEngine(engine=noting)
    items = [f"question {i}" for i in range(24)]
    with BatchScheduler(engine=engine) as scheduler:
        results = scheduler(Ask, 8, items, batch_size=4)
    assert results == ["reply"] * 24
    assert len(noting.threads) == 24
    assert all(name.startswith("symai-engine") for name in noting.threads), set(noting.threads)
    assert noting.connection_threads == set()


def test_a_closed_symai_engine_fails_each_call_of_a_batch_it_is_handed():
    from symbatcher.engines._batch_engine import start_batch
    from symbatcher.v1 import common_pb2, engine_pb2

    engine = SymaiEngine(engine=GateEngine())
    engine.engine()  # resolved, as registering it does
    engine.close()
    batch = engine_pb2.EngineBatch(
        batch_id=3, calls=[common_pb2.EngineCall(call_id=20, prompt="a"), common_pb2.EngineCall(call_id=21, prompt="b")]
    )
    sent: list[engine_pb2.EngineBatchResult] = []
    started = start_batch(engine, batch, sent.append)
    assert started is not None and started.done()
    replies = [reply for result in sent for reply in result.replies]
    assert sorted(reply.call_id for reply in replies) == [20, 21]
    assert all("cannot schedule new futures after shutdown" in reply.error.message for reply in replies)


def test_symai_engine_lets_calls_wait_for_a_batch_only_for_an_engine_that_takes_batches():
    class Batching(GateEngine):
        allows_batching = True

    assert SymaiEngine(engine=GateEngine()).answers_per_call
    assert not SymaiEngine(engine=Batching()).answers_per_call


class Unfinished(BatchEngine):
    """Answers only its batch's first call, then returns."""

    def forward(self, calls):
        raise AssertionError("forward_each is used")

    def forward_each(self, calls, answer):
        answer(0, "first")


def test_calls_that_forward_each_leaves_unanswered_fail_naming_it():
    AskTogether.barrier.reset()
    with BatchScheduler(engine=Unfinished(), max_queue_delay_ms=10_000) as scheduler:
        results = scheduler(AskTogether, 2, ["one", "two"], batch_size=2)
    assert "first" in results
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1, results
    assert "forward_each returned without answering 1 of 2 calls" in str(failed[0])


def test_symai_engine_with_reply_each_false_answers_whole_batches():
    import pytest

    whole = SymaiEngine(engine=GateEngine(), reply_each=False)
    assert not whole.answers_per_call
    assert not whole._answers_each()
    with pytest.raises(TypeError, match="reply_each: must be True or False, got str"):
        SymaiEngine(engine=GateEngine(), reply_each="no")  # type: ignore[arg-type]


def test_with_reply_each_false_a_batch_answers_when_its_slowest_call_returns():
    from symbatcher.engines._batch_engine import serve_batch
    from symbatcher.v1 import common_pb2, engine_pb2

    gate = GateEngine()
    batch = engine_pb2.EngineBatch(
        batch_id=1,
        calls=[
            common_pb2.EngineCall(call_id=10, prompt="slow", messages_json='[{"role": "user", "content": "slow"}]'),
            common_pb2.EngineCall(call_id=11, prompt="fast", messages_json='[{"role": "user", "content": "fast"}]'),
        ],
    )
    sent: list[engine_pb2.EngineBatchResult] = []
    gate.release.set()  # nothing waits: the test is about what is sent
    for reply_each, expected in ((True, [(True, 1), (True, 1)]), (False, [(False, 2)])):
        engine = SymaiEngine(engine=gate, reply_each=reply_each)
        sent.clear()
        try:
            serve_batch(engine, batch, sent.append)
        finally:
            engine.close()
        assert [(r.partial, len(r.replies)) for r in sent] == expected


def _written(results: int, replies_ahead: bool) -> list:
    """The messages an engine connection's writer sends for `results` ready
    at once (10,000 characters each), to a server that takes replies ahead
    or not."""
    import asyncio

    from symbatcher.engines._engine_connection import EngineConnection
    from symbatcher.v1 import engine_pb2

    class Channel:  # what the engine's stub is built from; no call is made on it
        def stream_stream(self, *args: object, **kwargs: object) -> None:
            return None

    class Stream:
        def __init__(self) -> None:
            self.messages: list[engine_pb2.EngineWorkerMessage] = []

        async def write(self, message: engine_pb2.EngineWorkerMessage) -> None:
            self.messages.append(message)

    async def main() -> list:
        connection = EngineConnection(Channel(), HoldingEngine(), "e")  # type: ignore[arg-type]
        stream = Stream()
        connection._call = stream
        connection._replies_ahead = replies_ahead
        connection._loop = asyncio.get_running_loop()
        writer = asyncio.get_running_loop().create_task(connection._write())
        for call_id in range(results):
            result = engine_pb2.EngineBatchResult(batch_id=call_id + 1)
            result.replies.add(call_id=call_id, text="x" * 10_000)
            connection._send(result)
        while sum(len(m.results.results) or 1 for m in stream.messages) < results:
            await asyncio.sleep(0.01)
        writer.cancel()
        return stream.messages

    return asyncio.run(main())


def test_an_older_server_gets_each_batch_whole_in_a_message_of_its_own():
    from symbatcher.engines._batch_engine import serve_batch
    from symbatcher.v1 import common_pb2, engine_pb2

    messages = _written(3, replies_ahead=False)
    assert [m.WhichOneof("kind") for m in messages] == ["result"] * 3
    batch = engine_pb2.EngineBatch(
        batch_id=1,
        calls=[common_pb2.EngineCall(call_id=10, prompt="fast"), common_pb2.EngineCall(call_id=11, prompt="fast")],
    )
    sent: list[engine_pb2.EngineBatchResult] = []
    serve_batch(HoldingEngine(), batch, sent.append, ahead=False)
    assert [(r.partial, len(r.replies)) for r in sent] == [(False, 2)]


def test_replies_ready_together_leave_in_as_few_messages_as_the_limit_allows(monkeypatch):
    from symbatcher.wire import _settings

    limit = 65536
    monkeypatch.setattr(_settings, "MAX_MESSAGE_BYTES", limit)
    messages = _written(16, replies_ahead=True)  # 160 kB of replies, ready at once
    sizes = [m.ByteSize() for m in messages]
    assert all(size <= limit for size in sizes), sizes
    assert 3 <= len(messages) <= 5, sizes
    ids = [r.call_id for m in messages for res in (m.results.results or [m.result]) for r in res.replies]
    assert ids == list(range(16))
