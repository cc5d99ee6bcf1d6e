"""Greenlet slots: every slot a greenlet on the connection's own event-loop
thread. An engine call switches to the loop, which runs the other slots and
the connection until the reply comes; no OS thread switch or GIL hand-off
per call. Anything else that blocks inside forward() blocks every slot of
the process; `symbatcher.sleep` waits on the loop instead."""

from __future__ import annotations

import asyncio

import greenlet

from symbatcher._errors import SymbatcherError
from symbatcher.v1 import common_pb2, worker_pb2
from symbatcher.worker._interceptor import install_in_context
from symbatcher.worker._slots import STOP, ItemRunner, Queued, Reply, ReplyBox, Slots


class _FutureBox(ReplyBox):
    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Reply]) -> None:
        self._future = future

    def deliver(self, value: Reply) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def wait(self) -> Reply:
        # Back to the slot's task, which awaits the future and switches
        # here again with its result.
        reply: Reply = greenlet.getcurrent().parent.switch(self._future)
        return reply


class GreenletSlots(Slots):
    on_loop = True

    def __init__(self, runner: ItemRunner, count: int, name: str) -> None:
        super().__init__(runner, count, name)
        self._queue: asyncio.Queue[Queued] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._tasks = [
            self._loop.create_task(self._slot(), name=f"{self._name}-slot-{n}")
            for n in range(self._count)
        ]

    def _enqueue(self, assignment: Queued) -> None:
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

    def _take_queued(self) -> list[worker_pb2.Assignment]:
        taken: list[worker_pb2.Assignment] = []
        while self._queue is not None and not self._queue.empty():
            assignment = self._queue.get_nowait()
            if assignment is not STOP:
                taken.append(assignment)
        return taken

    def _put_stop(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(STOP)

    async def join(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(timeout, 0.001))

    async def _slot(self) -> None:
        assert self._queue is not None

        def run(assignment: worker_pb2.Assignment) -> common_pb2.Outcome | None:
            # A new greenlet starts in an empty context: route its engine
            # calls first.
            install_in_context()
            return self._runner.run_item(assignment)

        while True:
            assignment = await self._queue.get()
            if assignment is STOP:
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
