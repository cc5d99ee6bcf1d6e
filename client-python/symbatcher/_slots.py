"""How a worker runs its items: slot threads, or greenlets on the connection's
loop.

A slot takes the next assignment, runs it with `ItemRunner.run_item` (which
calls forward()), and hands the outcome to `ItemRunner.post_result`. While
forward() waits for an engine reply, the slot waits on a reply box that the
connection fills when the server answers.

- `ThreadSlots` (the default): one OS thread per slot, as the original
  library's thread pool. forward() may block on anything. The slot threads
  of a worker share one CPU unless told otherwise (see `_affinity`).
- `GreenletSlots`: every slot is a greenlet on the connection's own event-loop
  thread. An engine call switches to the loop, which runs the other slots and
  the connection until the reply comes; no OS thread switch or GIL hand-off
  per call, which makes a worker process noticeably faster when forward() is
  Python work plus engine calls. Anything else that blocks inside forward()
  (file or network I/O, time.sleep, engines symbatcher does not intercept)
  blocks every slot of the process.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from abc import ABC, abstractmethod
from typing import Any, Protocol

import greenlet

from symbatcher._affinity import Placement
from symbatcher._errors import SymbatcherError
from symbatcher._interceptor import install_in_context

#: The kinds `slots=` accepts.
SLOT_KINDS = ("thread", "greenlet")

_STOP = object()


class ItemRunner(Protocol):
    """What slots need from the worker connection."""

    def run_item(self, assignment: Any) -> Any: ...

    def post_result(self, task_id: int, outcome: Any) -> None: ...

    def give_back(self, assignments: list[Any]) -> None:
        """Returns assignments the slots will not start to the server."""

    def slots_waiting(self) -> None:
        """Every slot now waits (for an engine reply or an item): what the
        slots posted since the last write should go now (see `ThreadSlots`)."""


class ReplyBox(ABC):
    """Where one engine call's reply (or the error that replaces it) lands."""

    @abstractmethod
    def deliver(self, value: Any) -> None:
        """Called on the connection's loop."""

    @abstractmethod
    def wait(self) -> Any:
        """Called by the slot that made the call; returns what was delivered."""


class Slots(ABC):
    """A worker's slots and the queue of items assigned to them."""

    #: Whether slots run on the connection's loop thread.
    on_loop: bool
    #: Whether a slot stuck in a forward() can be replaced (`replace`).
    can_replace: bool = False

    def __init__(self, runner: ItemRunner, count: int, name: str) -> None:
        self._runner = runner
        self._count = count
        self._name = name
        self._stopping = False

    @abstractmethod
    def start(self) -> None:
        """Starts the slots (on the connection's loop)."""

    def assign(self, assignment: Any) -> None:
        """Queues an item (on the connection's loop); once stopping, gives
        it back instead."""
        if self._stopping:
            self._runner.give_back([assignment])
        else:
            self._enqueue(assignment)

    @abstractmethod
    def _enqueue(self, assignment: Any) -> None: ...

    @abstractmethod
    def reply_box(self) -> ReplyBox:
        """A box for one engine call, made by the slot that calls."""

    def stop(self) -> list[Any]:
        """Each slot stops after its current item; returns the queued
        assignments, which no slot will start (one that a slot takes while
        stopping is handed to `ItemRunner.give_back`). Called on the
        connection's loop, or before it runs; later calls return []."""
        if self._stopping:
            return []
        self._stopping = True
        unstarted = self._take_queued()
        for _ in range(self._count):
            self._put_stop()
        return unstarted

    @abstractmethod
    def _take_queued(self) -> list[Any]:
        """Empties the assignment queue."""

    @abstractmethod
    def _put_stop(self) -> None:
        """Queues one slot's stop signal."""

    @abstractmethod
    async def join(self, timeout: float) -> None:
        """Waits (on the loop) up to `timeout` seconds for the slots to stop."""

    def current(self) -> Any:
        """The slot the caller runs in (what `replace` takes)."""
        return None

    def replace(self, slot: Any) -> bool:
        """Gives up on `slot`, stuck in a forward() that ignores its
        cancellation: it stops after that forward() returns, and a new slot
        takes its place. False where the slot kind cannot do that."""
        return False


def check_kind(kind: str) -> str:
    """`kind` if it names a kind of slots; else a ValueError naming `slots`."""
    if kind not in SLOT_KINDS:
        raise ValueError(f"slots: must be one of {', '.join(map(repr, SLOT_KINDS))}, got {kind!r}")
    return kind


def make_slots(
    kind: str, runner: ItemRunner, count: int, name: str, placement: Placement | None = None
) -> Slots:
    """`placement`: the CPU thread slots share (None: any); greenlets run on
    the loop's thread and ignore it."""
    if check_kind(kind) == "greenlet":
        return GreenletSlots(runner, count, name)
    return ThreadSlots(runner, count, name, placement)


# -- threads -----------------------------------------------------------------


class _QueueBox(ReplyBox):
    """A thread's reply box; `slots` counts the wait when the thread is a
    slot (not a thread that forward() started)."""

    __slots__ = ("_queue", "_slots")

    def __init__(self, slots: ThreadSlots | None) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._slots = slots

    def deliver(self, value: Any) -> None:
        if self._slots is not None:
            self._slots.woken()
        self._queue.put(value)

    def wait(self) -> Any:
        if self._slots is not None:
            self._slots.leave()
        return self._queue.get()


class ThreadSlots(Slots):
    """Slot threads, counted while they may run (`_busy`): a slot stops
    counting when it waits for an engine reply or for an item, and counts
    again from the moment its reply or item is handed to it (not from when
    it gets the GIL back). When the count falls to zero the runner hears it
    (`ItemRunner.slots_waiting`) and sends what the slots posted in one
    message: the connection's loop does not take the GIL from running slots
    for each post, and the engine calls of a round reach the server
    together, as with greenlet slots.

    So that the count is exact, queued assignments wait in `_backlog`, and
    an assignment for a waiting slot goes into that slot's own queue: no
    running slot can take an item handed to a waiting one. A slot given up
    on (`replace`) counts until its thread ends; meanwhile the runner's
    flush tick sends what the others post."""

    on_loop = False
    can_replace = True

    def __init__(
        self, runner: ItemRunner, count: int, name: str, placement: Placement | None = None
    ) -> None:
        super().__init__(runner, count, name)
        #: The CPU every slot thread pins itself to as it starts (None: any).
        self.placement = placement
        self._threads: list[threading.Thread] = []
        #: Slots given up on: each ends after its current forward() returns.
        self._retired: set[threading.Thread] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Slot threads (not given up on) that have not ended yet, and the
        #: future `join` waits on until there are none.
        self._live = 0
        self._all_ended: asyncio.Future[None] | None = None
        #: Under `_lock`: how many slots may run (see the class doc), the
        #: assignments no slot has taken, and the queues of the slots that
        #: wait for one.
        self._busy = 0
        self._backlog: collections.deque[Any] = collections.deque()
        self._waiting: collections.deque[queue.SimpleQueue[Any]] = collections.deque()
        self._lock = threading.Lock()
        #: `slot` is set in slot threads.
        self._local = threading.local()

    def woken(self) -> None:
        """A waiting slot is handed its engine reply."""
        with self._lock:
            self._busy += 1

    def leave(self) -> None:
        """The calling slot waits from now on (or ends); the last one to
        wait tells the runner."""
        with self._lock:
            self._busy -= 1
            last = self._busy == 0
        if last:
            self._runner.slots_waiting()

    def _next(self, mine: queue.SimpleQueue[Any]) -> Any:
        """The calling slot's next assignment: the oldest queued, or else
        the next one assigned, handed to `mine`, its own queue."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            self._waiting.append(mine)
            self._busy -= 1
            last = self._busy == 0
        if last:
            self._runner.slots_waiting()
        return mine.get()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._all_ended = self._loop.create_future()
        # Every slot counts before any runs, so that the first to wait is
        # not taken for the last.
        with self._lock:
            self._busy += self._count
        for _ in range(self._count):
            self._start_one()

    def _start_one(self) -> None:
        """Starts a slot thread, already counted in `_busy`."""
        n = len(self._threads)
        slot = threading.Thread(target=self._run_slot, name=f"{self._name}-slot-{n}", daemon=True)
        self._live += 1
        slot.start()
        self._threads.append(slot)

    def _run_slot(self) -> None:
        try:
            self._slot()
        finally:
            if self.placement is not None:
                self.placement.forget_calling_thread()
            self.leave()
            assert self._loop is not None
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._slot_ended, threading.current_thread())

    def _slot_ended(self, slot: threading.Thread) -> None:
        """On the loop: a slot thread returned (a retired one counts when
        it is given up on)."""
        if slot in self._retired:
            return
        self._live -= 1
        if self._live == 0 and self._all_ended is not None and not self._all_ended.done():
            self._all_ended.set_result(None)

    def current(self) -> Any:
        return threading.current_thread()

    def replace(self, slot: Any) -> bool:
        # A thread cannot be stopped from outside: it is left to finish its
        # forward() and then exits; a new thread serves the queue meanwhile.
        if slot in self._retired or self._stopping:
            return False
        self._retired.add(slot)
        self._live -= 1  # not waited for any more
        with self._lock:
            self._busy += 1
        self._start_one()
        return True

    def _enqueue(self, assignment: Any) -> None:
        with self._lock:
            if not self._waiting:
                self._backlog.append(assignment)
                return
            slot_queue = self._waiting.popleft()
            self._busy += 1
        slot_queue.put(assignment)

    def reply_box(self) -> ReplyBox:
        return _QueueBox(self if getattr(self._local, "slot", False) else None)

    def _take_queued(self) -> list[Any]:
        with self._lock:
            taken = [a for a in self._backlog if a is not _STOP]
            self._backlog.clear()
        return taken

    def _put_stop(self) -> None:
        self._enqueue(_STOP)

    async def join(self, timeout: float) -> None:
        # Slots given up on are not waited for: their run is already
        # acknowledged, and their forward() may never return.
        if self._all_ended is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._all_ended), timeout)
        except asyncio.TimeoutError:
            return
        for slot in self._threads:
            if slot not in self._retired:
                slot.join()  # past its last line already: returns at once

    def _slot(self) -> None:
        if self.placement is not None:
            self.placement.pin_calling_thread()
        install_in_context()
        self._local.slot = True
        mine: queue.SimpleQueue[Any] = queue.SimpleQueue()
        while True:
            assignment = self._next(mine)
            if assignment is _STOP:
                return
            if self._stopping:  # taken just as the queue was emptied
                self._runner.give_back([assignment])
                return
            outcome = self._runner.run_item(assignment)
            self._runner.post_result(assignment.task_id, outcome)
            if threading.current_thread() in self._retired:
                return  # replaced while stuck; its replacement serves on


# -- greenlets ---------------------------------------------------------------


class _FutureBox(ReplyBox):
    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    def deliver(self, value: Any) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def wait(self) -> Any:
        # Back to the slot's task, which awaits the future and switches
        # here again with its result.
        return greenlet.getcurrent().parent.switch(self._future)


class GreenletSlots(Slots):
    on_loop = True

    def __init__(self, runner: ItemRunner, count: int, name: str) -> None:
        super().__init__(runner, count, name)
        self._queue: asyncio.Queue[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._tasks = [
            self._loop.create_task(self._slot(), name=f"{self._name}-slot-{n}")
            for n in range(self._count)
        ]

    def _enqueue(self, assignment: Any) -> None:
        assert self._queue is not None, "start() first"
        self._queue.put_nowait(assignment)

    def reply_box(self) -> ReplyBox:
        assert self._loop is not None, "start() first"
        if greenlet.getcurrent().parent is None:
            # Not a slot's greenlet: a thread that forward() started.
            raise SymbatcherError(
                "with greenlet slots, engine calls must be made by forward() itself, "
                "not by threads it starts; use thread slots for that"
            )
        return _FutureBox(self._loop.create_future())

    def _take_queued(self) -> list[Any]:
        taken: list[Any] = []
        while self._queue is not None and not self._queue.empty():
            assignment = self._queue.get_nowait()
            if assignment is not _STOP:
                taken.append(assignment)
        return taken

    def _put_stop(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(_STOP)

    async def join(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(timeout, 0.001))

    async def _slot(self) -> None:
        assert self._queue is not None

        def run(assignment: Any) -> Any:
            # A new greenlet starts in an empty context: route its engine
            # calls first.
            install_in_context()
            return self._runner.run_item(assignment)

        while True:
            assignment = await self._queue.get()
            if assignment is _STOP:
                return
            item_run = greenlet.greenlet(run)
            value = item_run.switch(assignment)
            # Until forward() returns, what the greenlet hands back is a
            # future it waits for.
            while not item_run.dead:
                try:
                    reply = await value
                except asyncio.CancelledError:
                    item_run.throw(asyncio.CancelledError())  # unwinds forward()
                    raise
                value = item_run.switch(reply)
            self._runner.post_result(assignment.task_id, value)
            # Let the loop run between items even when the queue is full and
            # forward() made no engine call: the connection (results out,
            # replies in) and signal handlers must not wait for the queue to
            # empty.
            await asyncio.sleep(0)
