"""How a worker runs its items: the slots' common frame.

A slot takes the next assignment, runs it with `ItemRunner.run_item` (which
calls forward()), and hands the outcome to `ItemRunner.post_result`. While
forward() waits for an engine reply, the slot waits on a reply box that the
connection fills when the server answers.

Two kinds (`_slot_kinds.make_slots`):

- `ThreadSlots` (`_thread_slots`, the default): one OS thread per slot, as
  the original library's thread pool. forward() may block on anything. The
  slot threads of a worker share one CPU unless told otherwise (see
  `_affinity`).
- `GreenletSlots` (`_greenlet_slots`): every slot is a greenlet on the
  connection's own event-loop thread. An engine call switches to the loop,
  which runs the other slots and the connection until the reply comes; no
  OS thread switch or GIL hand-off per call, which makes a worker process
  noticeably faster when forward() is Python work plus engine calls.
  Anything else that blocks inside forward() (file or network I/O,
  time.sleep, engines symbatcher does not intercept) blocks every slot of
  the process; `symbatcher.sleep` waits on the loop instead, as an engine
  call does.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import Literal, Protocol

from symbatcher.v1 import common_pb2, worker_pb2


class _Signal(enum.Enum):
    STOP = "stop"


#: A slot's stop signal, queued behind the assignments.
STOP: Literal[_Signal.STOP] = _Signal.STOP
#: What a slot takes from its queue: an item to run, or its stop signal.
Queued = worker_pb2.Assignment | Literal[_Signal.STOP]
#: What lands in a reply box: an engine call's reply, the error that
#: replaces it, or None (the end of a `symbatcher.sleep`).
Reply = common_pb2.EngineReply | BaseException | None


class ItemRunner(Protocol):
    """What slots need from the worker connection."""

    def run_item(self, assignment: worker_pb2.Assignment) -> common_pb2.Outcome | None: ...

    def post_result(self, task_id: int, outcome: common_pb2.Outcome | None) -> None: ...

    def give_back(self, assignments: list[worker_pb2.Assignment]) -> None:
        """Returns assignments the slots will not start to the server."""

    def slots_waiting(self) -> None:
        """Every slot now waits (for an engine reply or an item), or runs
        silent: what the slots posted since the last write should go now
        (see `ThreadSlots`)."""

    def silent_after(self, assignment: worker_pb2.Assignment) -> float:
        """Seconds a run of `assignment` may go without an engine call and
        still hold back the other slots' posts: its job's max_queue_delay
        (see `ThreadSlots`)."""


class ReplyBox(ABC):
    """Where one engine call's reply (or the error that replaces it) lands."""

    @abstractmethod
    def deliver(self, value: Reply) -> None:
        """Called on the connection's loop."""

    @abstractmethod
    def wait(self) -> Reply:
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

    def assign(self, assignment: worker_pb2.Assignment) -> None:
        """Queues an item (on the connection's loop); once stopping, gives
        it back instead."""
        if self._stopping:
            self._runner.give_back([assignment])
        else:
            self._enqueue(assignment)

    @abstractmethod
    def _enqueue(self, assignment: Queued) -> None: ...

    @abstractmethod
    def reply_box(self) -> ReplyBox:
        """A box for one engine call, made by the slot that calls."""

    def stop(self) -> list[worker_pb2.Assignment]:
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
    def _take_queued(self) -> list[worker_pb2.Assignment]:
        """Empties the assignment queue."""

    @abstractmethod
    def _put_stop(self) -> None:
        """Queues one slot's stop signal."""

    @abstractmethod
    async def join(self, timeout: float) -> None:
        """Waits (on the loop) up to `timeout` seconds for the slots to stop."""

    def current(self) -> object:
        """The slot the caller runs in (what `replace` takes)."""
        return None

    def replace(self, slot: object) -> bool:
        """Gives up on `slot`, stuck in a forward() that ignores its
        cancellation: it stops after that forward() returns, and a new slot
        takes its place. False where the slot kind cannot do that."""
        return False
