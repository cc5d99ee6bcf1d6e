"""Thread slots send what they post (run starts, engine calls, results) when
the last running slot starts to wait, so that a round's engine calls leave in
one message; a slot that keeps running (a forward() blocked on other I/O)
holds the others' posts back for about `FLUSH_AFTER_S` at most, and not at
all once it is silent (test_long_items.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from symai import Expression, Symbol

from symbatcher import BatchScheduler
from symbatcher.worker._thread_slots import ThreadSlots
from symbatcher.worker._runtime import FLUSH_AFTER_S


class _Round:
    """An ItemRunner whose items each wait for one reply; `slots_waiting`
    records how many replies were awaited each time the runner heard that
    every slot waits, and a server thread then answers them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.boxes: list[Any] = []
        self.heard: list[int] = []
        self.answer = threading.Event()
        self.slots: ThreadSlots | None = None

    def run_item(self, assignment: Any) -> Any:
        assert self.slots is not None
        box = self.slots.reply_box()
        with self.lock:
            self.boxes.append(box)
        return box.wait()

    def post_result(self, task_id: int, outcome: Any) -> None:
        pass

    def give_back(self, assignments: list[Any]) -> None:
        pass

    def silent_after(self, assignment: Any) -> float:
        return 60.0

    def slots_waiting(self) -> None:
        with self.lock:
            self.heard.append(len(self.boxes))
        self.answer.set()

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.answer.wait(0.05):
                continue
            self.answer.clear()
            with self.lock:
                boxes, self.boxes = self.boxes, []
            for box in boxes:
                box.deliver("reply")


class _Assignment:
    def __init__(self, task_id: int) -> None:
        self.task_id = task_id


def test_the_last_slot_to_wait_tells_the_runner_once_per_round():
    runner = _Round()
    stop = threading.Event()
    server = threading.Thread(target=runner.serve, args=(stop,))
    server.start()

    async def main() -> None:
        slots = ThreadSlots(runner, 4, "round")
        runner.slots = slots
        # Queued before the slots start: each slot takes one item, and the
        # next four wait for their replies' round.
        for task_id in range(8):
            slots.assign(_Assignment(task_id))
        slots.start()
        deadline = time.monotonic() + 10
        while len(runner.heard) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        slots.stop()
        await slots.join(5)

    try:
        asyncio.run(main())
    finally:
        stop.set()
        server.join()
    # Two rounds of four calls, each heard when its fourth slot waited (not
    # when a slot woke by its reply had not run yet), then once more when
    # every slot waited for an item; and never while a slot could run.
    assert runner.heard[:3] == [4, 4, 0], runner.heard


class _SleepOrAsk(Expression):
    """Item 0 sleeps (no engine call) for `sleep` seconds; the others ask the
    engine once."""

    def forward(self, input, sleep=0.0, **kwargs):
        if input == 0:
            time.sleep(sleep)
            return "slept"
        return Symbol(str(input)).query("Tag this", **kwargs).value


def test_a_slot_blocked_outside_the_engine_does_not_hold_the_others_calls():
    sleep = 2.0
    done: dict[int, float] = {}
    with BatchScheduler(engine="echo", slots="thread") as scheduler:
        start = time.monotonic()
        for index, value in scheduler.stream(_SleepOrAsk, 4, range(4), batch_size=1, sleep=sleep):
            assert not isinstance(value, BaseException), value
            done[index] = time.monotonic() - start
    assert done[0] >= sleep
    # The asking items' calls went out on the flush tick while item 0 slept.
    slowest = max(done[i] for i in (1, 2, 3))
    assert slowest < 20 * FLUSH_AFTER_S + 0.5, done


class _Stuck(Expression):
    """Sleeps `input` seconds ("stuck": STUCK_S, ignoring its cancellation)."""

    def forward(self, input, **kwargs):
        time.sleep(STUCK_S if input == "stuck" else float(input))
        return input


STUCK_S = 4.0


def test_the_last_results_leave_while_a_slot_given_up_on_is_still_stuck():
    # The stuck run times out (1 s) and its slot is given up on a second
    # later; that thread sleeps on until its forward() returns at 4 s. The
    # last results (at about 2.2 s) must not wait for it: the stuck slot
    # went silent after its job's max_queue_delay and, given up on, counts
    # no more, so they leave when the other slot waits (or on the flush
    # tick). Held back, they would wait for the stuck thread, or for the
    # server to time them out (about 3.2 s).
    items = ["stuck"] + [0.1] * 24
    with BatchScheduler(engine="echo", slots="thread", item_timeout_s=1.0) as scheduler:
        start = time.monotonic()
        results = scheduler(_Stuck, 2, items, batch_size=2)
        elapsed = time.monotonic() - start
    try:
        assert isinstance(results[0], TimeoutError), results[0]
        assert results[1:] == items[1:]
        assert elapsed < 2.9, f"the last results waited: {elapsed:.2f}s"
    finally:
        # Let the stuck thread end here, not in a later test's thread count.
        deadline = time.monotonic() + STUCK_S + 2
        while any(t.name.endswith("-slot-0") and t.is_alive() for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the stuck slot thread never ended"
            time.sleep(0.05)


def test_counted_slots_speak_until_the_last_of_each_delay_goes_silent():
    """`_RunningSlots` answers as a scan of every counted slot would, from
    one slot per max_queue_delay: slots handed something later go silent
    later within a delay, not across delays."""
    import math

    from symbatcher.worker._thread_slots import _RunningSlots, _Slot

    running = _RunningSlots()

    def hand(delay: float, at: float) -> _Slot:
        slot = _Slot()
        slot.silent_after = delay
        slot.silent_at = at + delay
        running.add(slot, delay)
        return slot

    short = [hand(0.01, at) for at in (0.0, 1.0, 2.0)]  # silent at 0.01, 1.01, 2.01
    long_one = hand(5.0, 0.5)  # silent at 5.5
    assert running.any_speaking(5.0)
    running.discard(long_one)
    assert running.any_speaking(2.0) and not running.any_speaking(2.01)
    running.discard(short[2])
    assert not running.any_speaking(1.01) and running.any_speaking(1.0)
    running.discard(short[2])  # twice: no effect
    unstarted = _Slot()
    running.add(unstarted, math.inf)  # never handed anything: speaks until it waits
    assert running.any_speaking(1e9)
    for slot in (unstarted, short[0], short[1]):
        running.discard(slot)
    assert not running.any_speaking(0.0)


class _Tagged(Expression):
    def forward(self, input, **kwargs):
        return {"input": input, "reply": Symbol(str(input)).query("Tag this", **kwargs).value}


def test_slots_whose_threads_cannot_start_are_left_out_and_lose_nothing(monkeypatch, caplog):
    # The system's thread limit is reached at the third slot: the two slots
    # that started serve every item, and the three others are not waited for
    # when the call ends (the slots' join would wait 5 s for each thread it
    # counts).
    start = threading.Thread.start
    started: list[str] = []

    def limited_start(self: threading.Thread) -> None:
        if "-slot-" in self.name and not self.name.endswith("-slot-starter"):
            if len(started) == 2:
                raise RuntimeError("can't start new thread")
            started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", limited_start)
    with caplog.at_level("WARNING", logger="symbatcher.worker"):
        with BatchScheduler(engine="echo") as scheduler:
            begin = time.monotonic()
            results = scheduler(_Tagged, 5, range(20), batch_size=4)
            took = time.monotonic() - begin
    assert [r["input"] for r in results] == list(range(20)), results
    assert all(r["reply"].startswith("echo: ") for r in results), results
    assert len(started) == 2, started
    assert "started 2 of 5 thread slots: can't start new thread" in caplog.text, caplog.text
    assert took < 4, f"the call took {took:.1f} s: its end waited for slots that never started"
