"""Thread slots: one OS thread per slot, as the original library's thread
pool; forward() may block on anything. The slot threads of a worker share
one CPU unless told otherwise (see `_affinity`)."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import queue
import threading
import time

from symbatcher.v1 import worker_pb2
from symbatcher.worker._affinity import Placement
from symbatcher.worker._interceptor import install_in_context
from symbatcher.worker._slots import STOP, ItemRunner, Queued, Reply, ReplyBox, Slots

log = logging.getLogger("symbatcher.worker")


class _Slot:
    """One slot thread as `ThreadSlots` counts it (fields under its lock)."""

    __slots__ = ("queue", "thread", "silent_after", "silent_at", "retired", "counted_as")

    def __init__(self) -> None:
        #: Where the slot, while it waits for an item, gets the next one.
        self.queue: queue.SimpleQueue[Queued] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        #: Its item's job's max_queue_delay, in seconds
        #: (`ItemRunner.silent_after`).
        self.silent_after = 0.0
        #: When it goes silent if it keeps running without a call (monotonic
        #: time); a slot not started yet never does.
        self.silent_at = math.inf
        #: Given up on (`ThreadSlots.replace`): never counted again.
        self.retired = False
        #: The delay it is counted under (`_RunningSlots.add`); infinite
        #: for a slot not handed anything yet.
        self.counted_as = math.inf


class _QueueBox(ReplyBox):
    """A thread's reply box; `owner` counts the wait when the thread is a
    slot (not a thread that forward() started)."""

    __slots__ = ("_queue", "_owner")

    def __init__(self, owner: tuple[ThreadSlots, _Slot] | None) -> None:
        self._queue: queue.SimpleQueue[Reply] = queue.SimpleQueue()
        self._owner = owner

    def deliver(self, value: Reply) -> None:
        if self._owner is not None:
            self._owner[0].woken(self._owner[1])
        self._queue.put(value)

    def wait(self) -> Reply:
        if self._owner is not None:
            self._owner[0].leave(self._owner[1])
        return self._queue.get()


class _RunningSlots:
    """The counted slots, grouped by the delay after which each goes silent
    (its job's max_queue_delay; infinite for one not handed anything yet),
    each group in the order its slots were handed something. Within a
    group the last handed goes silent last, so whether any counted slot is
    not silent yet takes a look at one slot per group, however many run."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[float, dict[_Slot, None]] = {}

    def add(self, slot: _Slot, delay: float) -> None:
        slot.counted_as = delay
        self._groups.setdefault(delay, {})[slot] = None

    def discard(self, slot: _Slot) -> None:
        group = self._groups.get(slot.counted_as)
        if group is not None and group.pop(slot, 0) is None and not group:
            del self._groups[slot.counted_as]

    def any_speaking(self, now: float) -> bool:
        """Whether some counted slot is not silent at `now`."""
        return any(next(reversed(group)).silent_at > now for group in self._groups.values())


class ThreadSlots(Slots):
    """Slot threads, counted while they may run (`_running`): a slot stops
    counting when it waits for an engine reply (or `symbatcher.sleep`) or
    for an item, and counts again from the moment its reply or item is
    handed to it (not from when it gets the GIL back). When the last
    counted slot that may still post soon starts to wait, the runner hears
    it (`ItemRunner.slots_waiting`) and sends what the slots posted in one
    message: the connection's loop does not take the GIL from running slots
    for each post, and the engine calls of a round reach the server
    together, as with greenlet slots.

    A slot that has run for longer than its item's job's max_queue_delay
    since it was last handed something (CPU work, a blocking sleep, a hang)
    is silent: as on the server, which forms a batch without waiting for
    such a run, it holds back nobody's posts, until it is handed its next
    reply or item. Before that, the runner's flush tick sends what the
    others posted. A slot given up on (`replace`) no longer counts at all.

    The threads of slots given up on are bounded: at most `max_stuck` may
    be left running at once (default: as many as the slots). Past it,
    `replace` refuses and sets `exhausted`: the stuck slot keeps its place
    (its run stays unacknowledged, so the server counts that slot busy), and
    a worker process under a supervisor is replaced as a whole
    (`WorkerRuntime(replace_when_stuck=True)`), which ends every thread.

    So that the count is exact, queued assignments wait in `_backlog`, and
    an assignment for a waiting slot goes into that slot's own queue: no
    running slot can take an item handed to a waiting one."""

    on_loop = False
    can_replace = True

    def __init__(
        self,
        runner: ItemRunner,
        count: int,
        name: str,
        placement: Placement | None = None,
        max_stuck: int | None = None,
    ) -> None:
        super().__init__(runner, count, name)
        #: The CPU every slot thread pins itself to as it starts (None: any).
        self.placement = placement
        #: Most threads of slots given up on that may still run at once.
        self.max_stuck = count if max_stuck is None else max_stuck
        if self.max_stuck < 0:
            raise ValueError(f"max_stuck: must be >= 0, got {self.max_stuck}")
        #: Threads of slots given up on that still run (on the loop).
        self.stuck = 0
        #: Set once `replace` refused for want of room under `max_stuck`.
        self.exhausted = False
        self._threads: list[threading.Thread] = []
        #: Slots given up on: each ends after its current forward() returns.
        self._retired: set[threading.Thread] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Slot threads (not given up on) that have not ended yet, and the
        #: future `join` waits on until there are none.
        self._live = 0
        self._all_ended: asyncio.Future[None] | None = None
        #: Under `_lock`: the slots that may run (see the class doc), by
        #: their delay and the order they were last handed an item or a
        #: reply; the assignments no slot has taken; and the slots that
        #: wait for one.
        self._running: _RunningSlots = _RunningSlots()
        self._backlog: collections.deque[Queued] = collections.deque()
        self._waiting: collections.deque[_Slot] = collections.deque()
        self._lock = threading.Lock()
        #: `slot` is set in slot threads: their `_Slot`.
        self._local = threading.local()

    def _hand(self, slot: _Slot, now: float) -> None:
        """Under `_lock`: `slot` was handed an item or a reply at `now`: it
        counts until it waits again, or goes silent."""
        if slot.retired:
            return
        slot.silent_at = now + slot.silent_after
        self._running.discard(slot)
        self._running.add(slot, slot.silent_after)  # the most recently handed last

    def _stop_counting(self, slot: _Slot) -> bool:
        """Under `_lock`: `slot` waits (or ends) from now on; whether no
        counted slot may post soon any more, so what was posted should go."""
        self._running.discard(slot)
        return not self._holds_back(time.monotonic())

    def _holds_back(self, now: float) -> bool:
        """Under `_lock`: whether some counted slot is not silent at `now`."""
        return self._running.any_speaking(now)

    def _silent_after(self, assignment: Queued) -> float:
        return 0.0 if assignment is STOP else self._runner.silent_after(assignment)

    def woken(self, slot: _Slot) -> None:
        """A waiting slot is handed its engine reply."""
        with self._lock:
            self._hand(slot, time.monotonic())

    def leave(self, slot: _Slot) -> None:
        """The calling slot waits from now on (or ends); the last one to
        wait (of those that may post soon) tells the runner."""
        with self._lock:
            last = self._stop_counting(slot)
        if last:
            self._runner.slots_waiting()

    def _next(self, slot: _Slot) -> Queued:
        """The calling slot's next assignment: the oldest queued, or else
        the next one assigned, handed to its own queue."""
        with self._lock:
            if self._backlog:
                assignment = self._backlog.popleft()
                slot.silent_after = self._silent_after(assignment)
                self._hand(slot, time.monotonic())
                return assignment
            self._waiting.append(slot)
            last = self._stop_counting(slot)
        if last:
            self._runner.slots_waiting()
        return slot.queue.get()

    def start(self) -> None:
        """Counts every slot, then has a thread of its own start their
        threads: a thread's start waits for the thread to run (about 0.2 ms
        each), so the loop goes on registering and reading assignments
        meanwhile, and the first slots take items while the last start
        (queued ones wait in `_backlog`)."""
        self._loop = asyncio.get_running_loop()
        self._all_ended = self._loop.create_future()
        # Every slot counts before any runs, so that the first to wait is
        # not taken for the last.
        slots = [_Slot() for _ in range(self._count)]
        with self._lock:
            for slot in slots:
                self._running.add(slot, math.inf)
        for slot in slots:
            self._new_thread(slot)
        threading.Thread(
            target=self._start_all, args=(slots,), name=f"{self._name}-slot-starter", daemon=True
        ).start()

    def _start_all(self, slots: list[_Slot]) -> None:
        """On the starter thread: starts the slots' threads one after
        another. Past the first that cannot start (the system's thread
        limit), the rest are uncounted on the loop, and the slots that
        started serve every item."""
        for n, slot in enumerate(slots):
            assert slot.thread is not None
            try:
                slot.thread.start()
            except RuntimeError as err:
                assert self._loop is not None
                if not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._not_started, slots[n:], err)
                return

    def _not_started(self, slots: list[_Slot], err: RuntimeError) -> None:
        """On the loop: the threads of these slots could not start."""
        started = self._count - len(slots)
        log.warning(
            "started %d of %d thread slots: %s; the %d started serve every item",
            started, self._count, err, started,
        )
        threads = {slot.thread for slot in slots}
        with self._lock:
            for slot in slots:
                self._running.discard(slot)
            last = not self._holds_back(time.monotonic())
        self._threads = [t for t in self._threads if t not in threads]
        self._uncount_live(len(slots))
        if last:  # the slots that started all wait: what they posted goes
            self._runner.slots_waiting()

    def _new_thread(self, slot: _Slot) -> threading.Thread:
        """The thread of `slot` (already counted in `_running`), not
        started yet; counted live (it is to run)."""
        n = len(self._threads)
        thread = threading.Thread(
            target=self._run_slot, args=(slot,), name=f"{self._name}-slot-{n}", daemon=True
        )
        slot.thread = thread
        self._live += 1
        self._threads.append(thread)
        return thread

    def _start_one(self, slot: _Slot) -> None:
        """Starts the thread of `slot`, already counted in `_running`."""
        self._new_thread(slot).start()

    def _run_slot(self, slot: _Slot) -> None:
        try:
            self._slot(slot)
        finally:
            if self.placement is not None:
                self.placement.forget_calling_thread()
            self.leave(slot)
            assert self._loop is not None
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._slot_ended, threading.current_thread())

    def _slot_ended(self, thread: threading.Thread) -> None:
        """On the loop: a slot thread returned (a retired one counts when
        it is given up on)."""
        if thread in self._retired:
            self._retired.discard(thread)
            self.stuck -= 1
            return
        self._uncount_live(1)

    def _uncount_live(self, n: int) -> None:
        """On the loop: `n` slot threads ended (or never started)."""
        self._live -= n
        if self._live == 0 and self._all_ended is not None and not self._all_ended.done():
            self._all_ended.set_result(None)

    def current(self) -> object:
        return getattr(self._local, "slot", None)

    def replace(self, slot: object) -> bool:
        # A thread cannot be stopped from outside: it is left to finish its
        # forward() and then exits, counted no more; a new thread serves
        # the queue meanwhile.
        if not isinstance(slot, _Slot) or slot.retired or self._stopping:
            return False
        if self.stuck >= self.max_stuck:
            self.exhausted = True
            return False
        assert slot.thread is not None
        self.stuck += 1
        self._retired.add(slot.thread)
        self._live -= 1  # not waited for any more
        new = _Slot()
        with self._lock:
            slot.retired = True
            self._running.discard(slot)
            self._running.add(new, math.inf)
        # Threads that ended need no join: dropped here, where the list
        # grows past the slot count, so that it stays as long as the threads
        # that still run (starting the slots stays linear in their number).
        self._threads = [t for t in self._threads if t.is_alive()]
        self._start_one(new)
        return True

    def _enqueue(self, assignment: Queued) -> None:
        with self._lock:
            if not self._waiting:
                self._backlog.append(assignment)
                return
            slot = self._waiting.popleft()
            slot.silent_after = self._silent_after(assignment)
            self._hand(slot, time.monotonic())
        slot.queue.put(assignment)

    def reply_box(self) -> ReplyBox:
        slot = getattr(self._local, "slot", None)
        return _QueueBox((self, slot) if slot is not None else None)

    def _take_queued(self) -> list[worker_pb2.Assignment]:
        with self._lock:
            taken = [a for a in self._backlog if a is not STOP]
            self._backlog.clear()
        return taken

    def _put_stop(self) -> None:
        self._enqueue(STOP)

    async def join(self, timeout: float) -> None:
        # Slots given up on are not waited for: their run is already
        # acknowledged, and their forward() may never return.
        if self._all_ended is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._all_ended), timeout)
        except asyncio.TimeoutError:
            return
        for thread in self._threads:
            if thread not in self._retired:
                thread.join()  # past its last line already: returns at once

    def _slot(self, slot: _Slot) -> None:
        if self.placement is not None:
            self.placement.pin_calling_thread()
        install_in_context()
        self._local.slot = slot
        while True:
            assignment = self._next(slot)
            if assignment is STOP:
                return
            if self._stopping:  # taken just as the queue was emptied
                self._runner.give_back([assignment])
                return
            outcome = self._runner.run_item(assignment)
            self._runner.post_result(assignment.task_id, outcome)
            if slot.retired:
                return  # replaced while stuck; its replacement serves on
