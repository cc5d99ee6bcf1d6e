"""A worker: one `WorkerService.Work` connection whose slots (threads or
greenlets, see `_slots`) run forward() for the items the server assigns, and
whose engine calls go back to the server to be batched."""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import json
import logging
import random
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Final, NamedTuple

import grpc

from symbatcher.worker import _affinity
from symbatcher.wire import _codec, _limits
from symbatcher.wire._channel import Connection
from symbatcher.worker._handoff import HANDOFF, PROCESS_TOKEN
from symbatcher._errors import (
    EncodingError,
    EngineError,
    RunCancelledError,
    RunParked,
    SymbatcherError,
)
from symbatcher.wire._rpc_errors import call_error, from_item_error, from_rpc_error
from symbatcher.worker._interceptor import bind_slot
from symbatcher.worker._served_job import (
    DEFAULT_MAX_QUEUE_DELAY_S,
    ExpressionFactory,
    ServedJob,
)
from symbatcher.worker._slot_kinds import make_slots
from symbatcher.worker._slots import ReplyBox, Slots
from symbatcher.v1 import common_pb2, worker_pb2, worker_pb2_grpc

log = logging.getLogger("symbatcher.worker")



class _Signal(enum.Enum):
    """What the writer is told besides messages to send."""

    STOP = "stop"
    HEARTBEAT = "heartbeat"


_STOP: Final = _Signal.STOP
_HEARTBEAT: Final = _Signal.HEARTBEAT


class _Start(NamedTuple):
    """A run its slot started, at `time.monotonic()` `at`: the server
    counts its start from then (`WorkerUpdate.started_ms_ago`), not from when
    the writer sends it."""

    task_id: int
    at: float


#: What the writer sends: a run's result, an engine call, a drain, a run
#: that started, or a signal.
_Outgoing = worker_pb2.WorkResult | worker_pb2.WorkerEngineCall | worker_pb2.DrainWorker | _Start | _Signal
#: The most `WorkerUpdate.started_ms_ago` holds (a uint32).
_MAX_MS_AGO: Final = 2**32 - 1

#: How often the worker's loop sends a message to the server (a Heartbeat
#: when it has nothing else to send). A loop that sends nothing for four
#: declared intervals (`declared_heartbeat_s`; 2 s for greenlet slots) is
#: stalled on the server: a greenlet slot whose forward() blocks the loop
#: that long (time.sleep, CPU work, I/O that does not yield) loses every run
#: this worker holds to other workers.
HEARTBEAT_INTERVAL_S = 0.5

#: The longest heartbeat interval a worker declares (the server takes up to
#: 60 s).
MAX_DECLARED_HEARTBEAT_S = 15.0


def declared_heartbeat_s(on_loop: bool, slots: int) -> float:
    """The heartbeat interval a worker declares: the server holds it stalled
    after four of them without a message. Its loop sends a message every
    HEARTBEAT_INTERVAL_S while it runs; with thread slots, though, the loop's
    thread must win the GIL from the slots' threads first, and when many of
    them run at once (replies to a whole batch arriving together) that wait
    grows by about a switch interval (`sys.getswitchinterval()`, 5 ms) per
    running thread: 1,000 thread slots kept a busy machine's loop silent
    past 2 s, and the server moved every run of a healthy worker. So a
    worker of thread slots declares half a switch interval per slot (its
    stall then takes twice the GIL's round through every slot), at least
    HEARTBEAT_INTERVAL_S: 0.5 s up to 200 slots, 2.5 s (stalled after 10 s)
    at 1,000. Greenlet slots run on the loop's thread, where a forward()
    that does not yield is what the heartbeat is there to catch: they
    declare HEARTBEAT_INTERVAL_S."""
    if on_loop:
        return HEARTBEAT_INTERVAL_S
    per_slot = sys.getswitchinterval() / 2
    return min(MAX_DECLARED_HEARTBEAT_S, max(HEARTBEAT_INTERVAL_S, slots * per_slot))

#: How long a cancelled run's forward() may take to return before a thread
#: slot gives up on it and a new thread takes its place.
CANCEL_GRACE_S = 1.0

#: How long a thread slot's post (run started, engine call, result) may wait
#: for the other slots before it is sent anyway; checked every half of it, so
#: a post waits at most about 1.5 times this (`WorkerRuntime._post_from_slot`).
FLUSH_AFTER_S = 0.02

class WorkerRuntime:
    """Serves `expressions` (name -> factory of an Expression instance) with
    `concurrency` slots over one connection to the server at `address`,
    reached as `connection` says (token, TLS): whoever starts the worker
    builds it and passes it in (a BatchScheduler passes its own to its local
    slots); None takes the defaults from the environment (`Connection.create`).

    The connection runs on the asyncio loop that calls `open()`: one
    task reads assignments and engine replies, one writes results and engine
    calls, coalescing whatever the slots produced since the last write into one
    message. Slots only append to a deque and, when no write is already
    pending, wake the writer.

    `slots` is "thread" (one OS thread per slot) or "greenlet" (every slot a
    greenlet on the loop's thread; see `_slots`). Thread slots share one CPU
    (`_affinity`) unless `pin_slots` is False: the `slot_cpu_index`-th of the
    process's CPUs (a supervisor's child), else the one the process runs on,
    until other work keeps it busy and they move to a less busy one.

    Each expression's factory is called once per job, with the job's kwargs,
    by the first slot that runs one of its items; the job's items in all the
    slots share that instance (as the original library shared one instance
    per call). A factory that fails fails every item of that job here.
    """

    def __init__(
        self,
        address: str,
        *,
        expressions: dict[str, ExpressionFactory],
        concurrency: int,
        prefetch: int | None = None,
        name: str = "worker",
        slots: str = "thread",
        connection: Connection | None = None,
        allow_pickle: bool = False,
        pin_slots: bool = True,
        slot_cpu_index: int | None = None,
        max_stuck_threads: int | None = None,
        replace_when_stuck: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {concurrency}")
        # By default as many items wait in the worker as run in it, so a slot
        # that finishes starts its next item at once.
        self._prefetch = concurrency if prefetch is None else prefetch
        if self._prefetch < 0:
            raise ValueError(f"prefetch: must be >= 0, got {self._prefetch}")
        self._address = address
        self._connection = connection if connection is not None else Connection.create()
        self._allow_pickle = allow_pickle
        self._expressions = dict(expressions)
        self._concurrency = concurrency
        self._name = name
        cpu = _affinity.slot_cpu(slot_cpu_index) if pin_slots and slots == "thread" else None
        #: The CPU the thread slots share (None: not pinned), checked on the
        #: loop every `_affinity.REBALANCE_S` or so (`_rebalance`).
        self._placement = _affinity.Placement(cpu) if cpu is not None else None
        self._rebalance_timer: asyncio.TimerHandle | None = None
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        #: When the writer last wrote a message (loop time.monotonic()).
        self._last_write = 0.0
        self._slots: Slots = make_slots(
            slots, self, concurrency, name, self._placement, max_stuck_threads
        )
        #: At the cap of stuck threads (`_thread_slots.ThreadSlots`): disconnect,
        #: so that the process's supervisor replaces it (`exhausted`).
        self._replace_when_stuck = replace_when_stuck
        #: Set when thread slots stuck in forward() reached their cap.
        self.exhausted = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._wake: asyncio.Event | None = None
        self._wake_pending = False
        self._flush_armed = False
        #: When the oldest post of a thread slot not yet written was made.
        self._posted_at: float | None = None
        #: Engine calls posted since the writer last woke, and how many of
        #: them make a batch (the least `call_batch_size` of the jobs here).
        self._unsent_calls = 0
        self._batch_calls = 1
        self._calls_lock = threading.Lock()
        self._jobs: dict[int, ServedJob] = {}
        #: Engine calls (and `symbatcher.sleep`s, `pause`) waiting for
        #: their reply: call id -> (run, box).
        self._pending: dict[int, tuple[int, ReplyBox]] = {}
        #: Runs in a slot now: task id -> the slot (see `Slots.current`).
        self._running: dict[int, object] = {}
        #: Runs assigned here whose result has not been sent yet.
        self._assigned: set[int] = set()
        #: Runs the server cancelled that have not been acknowledged yet.
        self._cancelled: set[int] = set()
        #: Runs given up on (their slot replaced): their result is not sent.
        self._abandoned: set[int] = set()
        #: Runs the server parked (a call answered ERROR_KIND_PARKED): over
        #: on the server, so whatever their forward() still returns is dropped.
        self._parked: set[int] = set()
        self._call_ids = itertools.count(1)
        self._closing = False
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.StreamStreamCall = None
        self._tasks: list[asyncio.Task[None]] = []
        self.worker_id = 0
        #: Thread slots replaced because their forward() ignored a cancellation.
        self.slots_replaced = 0
        self.error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------

    async def open(self) -> None:
        """Connects and registers on the running loop, then starts the slots."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._channel = self._connection.aio_channel(self._address)
        self._call = worker_pb2_grpc.WorkerServiceStub(self._channel).Work()
        register = worker_pb2.RegisterWorker(
            name=self._name,
            expressions=list(self._expressions),
            concurrency=self._concurrency,
            prefetch=self._prefetch,
            process_token=PROCESS_TOKEN,
            replays=True,
            heartbeat_interval_ms=round(declared_heartbeat_s(self._slots.on_loop, self._concurrency) * 1000),
        )
        try:
            try:
                await self._call.write(worker_pb2.WorkerMessage(register=register))
                first = await self._call.read()
            except grpc.RpcError as err:
                raise from_rpc_error(await call_error(self._call, err), address=self._address) from None
            if first is grpc.aio.EOF or first.WhichOneof("kind") != "registered":
                raise SymbatcherError("server closed the worker stream during registration")
        except BaseException:
            self._call.cancel()
            await self._channel.close()
            raise
        self.worker_id = first.registered.worker_id
        self._last_write = time.monotonic()
        self._slots.start()
        self._rebalance()
        self._heartbeat()
        self._tasks = [
            self._loop.create_task(self._write_loop()),
            self._loop.create_task(self._read_loop()),
        ]

    def stop(self) -> None:
        """Disconnects (from any thread): items queued here are given back to
        the server, and items still running are re-queued by it."""
        if self._closing:
            return
        self._closing = True
        if self._wake is None:  # never connected
            self._slots.stop()
            return
        assert self._loop is not None
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop or self._loop.is_closed():
            self._stop_on_loop()
        else:
            self._loop.call_soon_threadsafe(self._stop_on_loop)

    def _rebalance(self) -> None:
        """On the loop, until the connection closes: moves the pinned thread
        slots off a CPU that other work keeps busy (`_affinity.Placement`)."""
        if self._placement is None or self._closing:
            return
        self._placement.check()
        assert self._loop is not None
        delay = _affinity.REBALANCE_S * random.uniform(0.75, 1.25)
        self._rebalance_timer = self._loop.call_later(delay, self._rebalance)

    def _heartbeat(self) -> None:
        """On the loop, until the connection closes: every
        HEARTBEAT_INTERVAL_S, has the writer send a Heartbeat unless it wrote
        something in the last half interval. It runs only while the loop
        does, which is what the server learns from it."""
        if self._closing:
            return
        if time.monotonic() - self._last_write >= HEARTBEAT_INTERVAL_S / 2:
            self._post(_HEARTBEAT)
        assert self._loop is not None
        self._heartbeat_timer = self._loop.call_later(HEARTBEAT_INTERVAL_S, self._heartbeat)

    def _stop_on_loop(self) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        if self._rebalance_timer is not None:
            self._rebalance_timer.cancel()
        self.give_back(self._slots.stop())
        self._fail_pending(SymbatcherError("worker stopped"))
        self._post(_STOP)

    async def drain(self, timeout: float = 30.0) -> None:
        """Stops gracefully (on the connection's loop): tells the server to
        assign nothing more and gives back the assigned items not yet started
        (the server hands them to other workers without counting an attempt);
        items running in the slots finish and their results are sent (for at
        most `timeout` seconds); then disconnects."""
        self.give_back(self._slots.stop())
        deadline = time.monotonic() + timeout
        await self._slots.join(timeout)
        self.stop()
        await self.closed(timeout=max(1.0, deadline - time.monotonic()))

    async def finished(self) -> None:
        """Waits (on the connection's loop) until the connection ends, for any
        reason; `error` then says why, if it failed."""
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def closed(self, timeout: float = 5.0) -> None:
        """After stop(): waits (on the connection's loop) for the stream to
        end and the slots to stop, up to `timeout` seconds for each."""
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        await self._slots.join(timeout)
        # The connection is over: let go of the channel and the stream, so
        # that the reference cycles of its finished tasks do not hold them
        # (grpc.aio stops its poller thread once no channel is left).
        self._call = None
        self._channel = None

    # -- connection (on the loop) ------------------------------------------

    def _post(self, message: _Outgoing) -> None:
        """Queues a message for the writer and wakes it (unless a wake is
        pending)."""
        self._outbox.append(message)
        self._wake_writer()

    def _post_from_slot(self, message: _Outgoing, call: bool = False) -> None:
        """Queues a slot's message (`call`: an engine call). Greenlet slots
        wake the writer at once (it runs when every slot waits anyway). A
        thread slot's message waits until every slot waits or runs silent
        (`slots_waiting`: a slot silent for longer than its job's
        max_queue_delay holds nothing back, see `ThreadSlots`), until a
        batch's worth of engine calls waits (`JobInfo.call_batch_size`, for
        processes with more slots than a batch holds), or about
        FLUSH_AFTER_S (`_flush_tick`) when some slot keeps running and is
        not silent yet (a forward() blocked on other I/O): each wake takes
        the GIL from the running slots, and the calls of one batch go out
        together."""
        if self._slots.on_loop:
            self._outbox.append(message)
            self._wake_writer()
            return
        if self._posted_at is None:
            self._posted_at = time.monotonic()
        self._outbox.append(message)
        if call:
            with self._calls_lock:
                self._unsent_calls += 1
                full = self._unsent_calls >= self._batch_calls
            if full:
                self._wake_writer()

    def slots_waiting(self) -> None:
        """Every thread slot waits or runs silent: sends what they posted."""
        if self._outbox and not self._closing:
            self._wake_writer()

    def silent_after(self, assignment: worker_pb2.Assignment) -> float:
        """See `ItemRunner.silent_after`: its job's max_queue_delay."""
        job = self._jobs.get(assignment.job_id)
        return job.silent_after if job is not None else DEFAULT_MAX_QUEUE_DELAY_S

    def _wake_writer(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            assert self._loop is not None and self._wake is not None
            if self._slots.on_loop:
                self._wake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake.set)

    def _arm_flush_tick(self) -> None:
        """On the loop: while thread slots have work or posts not yet
        written, checks every half FLUSH_AFTER_S for posts that waited
        longer than it."""
        if not self._flush_armed and not self._slots.on_loop:
            assert self._loop is not None
            self._flush_armed = True
            self._loop.call_later(FLUSH_AFTER_S / 2, self._flush_tick)

    def _flush_tick(self) -> None:
        self._flush_armed = False
        if self._closing:
            return
        posted_at = self._posted_at
        if posted_at is not None and time.monotonic() - posted_at >= FLUSH_AFTER_S:
            self._wake_writer()
        # Until the last post is written: while a slot runs without an
        # engine call and is not silent yet, the others' last results may
        # wait for this tick alone.
        if self._assigned or posted_at is not None:
            self._arm_flush_tick()

    async def _write_loop(self) -> None:
        assert self._wake is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._wake_pending = False
                self._posted_at = None
                with self._calls_lock:
                    self._unsent_calls = 0
                results: list[worker_pb2.WorkResult] = []
                calls: list[worker_pb2.WorkerEngineCall] = []
                started: list[_Start] = []
                drain: worker_pb2.DrainWorker | None = None
                stop = False
                heartbeat = False
                while self._outbox:
                    message = self._outbox.popleft()
                    if message is _STOP:
                        stop = True
                    elif message is _HEARTBEAT:
                        heartbeat = True
                    elif isinstance(message, _Start):
                        started.append(message)
                    elif isinstance(message, worker_pb2.WorkResult):
                        results.append(message)
                    elif isinstance(message, worker_pb2.DrainWorker):
                        drain = drain or worker_pb2.DrainWorker()
                        drain.unstarted_task_ids.extend(message.unstarted_task_ids)
                    else:
                        calls.append(message)
                # The server handles an update's started runs, then its calls,
                # then its results: it never sees a slot's result before the
                # start of the run that slot took next, nor a run's result
                # before its calls. A drain goes after the starts it follows.
                if drain is not None:
                    if started:
                        update = _started_update(started)
                        await self._call.write(worker_pb2.WorkerMessage(update=update))
                        started = []
                    await self._call.write(worker_pb2.WorkerMessage(drain=drain))
                # Most often one message; several when the calls and results
                # do not fit in one (each part below the message limit).
                parts: list[list[worker_pb2.WorkerEngineCall | worker_pb2.WorkResult]] = (
                    list(_limits.split([*calls, *results])) or [[]]
                )
                for part in parts:
                    update = _started_update(started)
                    update.calls.extend(m for m in part if isinstance(m, worker_pb2.WorkerEngineCall))
                    update.results.extend(m for m in part if isinstance(m, worker_pb2.WorkResult))
                    started = []
                    if update.started_task_ids or update.calls or update.results:
                        await self._call.write(worker_pb2.WorkerMessage(update=update))
                        heartbeat = False
                if heartbeat and drain is None:
                    await self._call.write(worker_pb2.WorkerMessage(heartbeat=worker_pb2.Heartbeat()))
                self._last_write = time.monotonic()
                if stop:
                    await self._call.done_writing()
                    return
        except (grpc.RpcError, asyncio.InvalidStateError) as err:
            # The reader sees the same failure and reports it.
            log.debug("worker stream closed while writing: %s", err)

    async def _read_loop(self) -> None:
        try:
            while True:
                command = await self._call.read()
                if command is grpc.aio.EOF:
                    if not self._closing:
                        log.warning("the server closed the worker connection")
                    break
                self._handle(command)
        except grpc.RpcError as err:
            if not self._closing:
                self.error = from_rpc_error(err, address=self._address)
                log.warning("worker connection lost: %s", self.error)
        finally:
            self._fail_pending(self.error or SymbatcherError("worker connection closed"))
            if not self._closing:
                self._closing = True
                self._slots.stop()
                self._post(_STOP)  # the writer has nothing left to write to
            if self._channel is not None:
                await self._channel.close()

    def _handle(self, command: worker_pb2.WorkerCommand) -> None:
        kind = command.WhichOneof("kind")
        if kind == "assignments":
            for assignment in command.assignments.assignments:
                self._assigned.add(assignment.task_id)
                self._slots.assign(assignment)
            self._arm_flush_tick()
        elif kind == "replies":
            for reply in command.replies.replies:
                entry = self._pending.pop(reply.call_id, None)
                if entry is not None:
                    entry[1].deliver(reply)
        elif kind == "job":
            info = command.job
            local = HANDOFF.get((self._address, info.job_id))
            kwargs = local.kwargs if local is not None else json.loads(info.kwargs_json or "{}")
            self._jobs[info.job_id] = ServedJob(info=info, kwargs=kwargs, local=local)
            self._batch_calls = self._least_batch()
        elif kind == "job_finished":
            self._jobs.pop(command.job_finished.job_id, None)
            self._batch_calls = self._least_batch()
        elif kind == "cancel":
            self._cancel(command.cancel.task_ids)

    def _least_batch(self) -> int:
        """How many engine calls make a batch for every job here (1 when a
        job's server does not say)."""
        return min((max(job.info.call_batch_size, 1) for job in self._jobs.values()), default=1)

    def _cancel(self, task_ids: Iterable[int]) -> None:
        """The server ended these runs (their job ended, or they timed out):
        their engine calls fail at once, so a forward() waiting on one
        returns; a run still queued is never started. Either way each run is
        acknowledged with one result, which frees its slot on the server."""
        # A run that finished already was acknowledged by its result.
        cancelled = {task_id for task_id in task_ids if task_id in self._assigned}
        if not cancelled:
            return
        self._cancelled |= cancelled
        for call_id, (owner, box) in list(self._pending.items()):
            if owner in cancelled and self._pending.pop(call_id, None) is not None:
                box.deliver(RunCancelledError(f"run {owner} was cancelled by the server"))
        if self._slots.can_replace:
            assert self._loop is not None
            for task_id in cancelled & self._running.keys():
                self._loop.call_later(CANCEL_GRACE_S, self._give_up_on, task_id)

    def _give_up_on(self, task_id: int) -> None:
        """A cancelled run whose forward() did not return within the grace
        (CPU work, a sleep, a call symbatcher cannot interrupt): its slot is
        replaced and the run acknowledged now; the stuck thread ends when
        its forward() returns, and its result is dropped."""
        slot = self._running.get(task_id)
        if slot is None or self._closing:
            return
        if not self._slots.replace(slot):
            if getattr(self._slots, "exhausted", False) and not self.exhausted:
                self._stuck_cap_reached(task_id)
            return
        self._running.pop(task_id, None)  # not this slot's run any more
        self.slots_replaced += 1
        log.warning(
            "run %d ignored its cancellation for %.1f s: its slot was replaced "
            "(%d so far); the stuck thread ends when its forward() returns",
            task_id, CANCEL_GRACE_S, self.slots_replaced,
        )
        self._abandoned.add(task_id)
        self._cancelled.discard(task_id)
        self._assigned.discard(task_id)
        self._post(worker_pb2.WorkResult(task_id=task_id, outcome=_cancelled_outcome(task_id)))

    def _stuck_cap_reached(self, task_id: int) -> None:
        """Too many threads are stuck in forward()s given up on: no more
        are left behind. With `replace_when_stuck` the worker disconnects
        (the server re-queues its runs) so that its process is replaced,
        which ends them all; else this slot stays stuck with its run."""
        self.exhausted = True
        log.error(
            "run %d ignored its cancellation, and %d threads of slots given up on still run "
            "(the cap): %s",
            task_id, getattr(self._slots, "stuck", 0),
            "this worker process disconnects to be replaced" if self._replace_when_stuck
            else "its slot stays stuck until its forward() returns",
        )
        if self._replace_when_stuck:
            self.stop()

    def _fail_pending(self, err: BaseException) -> None:
        for call_id in list(self._pending):
            entry = self._pending.pop(call_id, None)
            if entry is not None:
                entry[1].deliver(err)

    # -- engine calls (from slots, via the interceptor) -------------------

    def call_engine(
        self,
        task_id: int,
        prompt: str,
        messages: list[dict[str, object]],
        kwargs: dict[str, object],
        local_ref: str = "",
    ) -> tuple[str, dict[str, object]]:
        messages_json = json.dumps(messages, ensure_ascii=False) if messages else ""
        kwargs_json = json.dumps(kwargs, ensure_ascii=False) if kwargs else ""
        _limits.check_call(prompt, messages_json, kwargs_json)
        call = common_pb2.EngineCall(
            prompt=prompt,
            messages_json=messages_json,
            kwargs_json=kwargs_json,
            local_ref=local_ref,
        )
        reply, metadata = self._send_call(task_id, call)
        return reply.text, metadata

    def call_embedding(
        self,
        task_id: int,
        inputs: list[str],
        kwargs: dict[str, object],
        local_ref: str = "",
    ) -> tuple[list[list[float]], dict[str, object]]:
        """An embedding call: one vector per input, in input order."""
        kwargs_json = json.dumps(kwargs, ensure_ascii=False) if kwargs else ""
        _limits.check_call("".join(inputs), "", kwargs_json)
        call = common_pb2.EngineCall(
            kind=common_pb2.CALL_KIND_EMBEDDING,
            inputs=inputs,
            kwargs_json=kwargs_json,
            local_ref=local_ref,
        )
        reply, metadata = self._send_call(task_id, call)
        vectors = [list(vector.values) for vector in reply.embeddings.vectors]
        if len(vectors) != len(inputs):
            raise SymbatcherError(
                f"the embedding engine answered {len(vectors)} vectors for {len(inputs)} inputs"
            )
        return vectors, metadata

    def _send_call(
        self, task_id: int, call: common_pb2.EngineCall
    ) -> tuple[common_pb2.EngineReply, dict[str, object]]:
        """Sends `call` for run `task_id` and waits for its reply (its error raised)."""
        if self._closing:
            raise SymbatcherError("worker stopped")
        if task_id in self._cancelled:
            raise RunCancelledError(f"run {task_id} was cancelled by the server")
        call_id = next(self._call_ids)
        call.call_id = call_id
        box = self._slots.reply_box()
        self._pending[call_id] = (task_id, box)
        self._post_from_slot(worker_pb2.WorkerEngineCall(task_id=task_id, call=call), call=True)
        reply = box.wait()
        if isinstance(reply, BaseException):
            raise reply
        assert reply is not None, "an engine call's box gets its reply or an error"
        if reply.WhichOneof("outcome") == "error":
            if reply.error.kind == common_pb2.ERROR_KIND_PARKED:
                # The server ended the run; its item runs again once the
                # call is answered.
                self._parked.add(task_id)
                raise RunParked(reply.error.message)
            raise from_item_error(reply.error)
        metadata = json.loads(reply.metadata_json) if reply.metadata_json else {}
        return reply, metadata

    def pause(self, task_id: int, seconds: float) -> None:
        """`symbatcher.sleep` in a slot: waits `seconds` as for an engine
        reply, delivered by a timer on the loop instead of the server. The
        slot waits meanwhile (a thread slot holds back no post, a greenlet
        slot lets the others run), and the run's cancellation ends the wait
        with RunCancelledError."""
        if self._closing:
            raise SymbatcherError("worker stopped")
        call_id = next(self._call_ids)
        box = self._slots.reply_box()
        self._pending[call_id] = (task_id, box)
        if task_id in self._cancelled and self._pending.pop(call_id, None) is not None:
            raise RunCancelledError(f"run {task_id} was cancelled by the server")
        assert self._loop is not None
        when = self._loop.time() + seconds
        if self._slots.on_loop:
            self._loop.call_at(when, self._end_pause, call_id)
        else:
            self._loop.call_soon_threadsafe(self._loop.call_at, when, self._end_pause, call_id)
        reply = box.wait()
        if isinstance(reply, BaseException):
            raise reply

    def _end_pause(self, call_id: int) -> None:
        entry = self._pending.pop(call_id, None)
        if entry is not None:
            entry[1].deliver(None)

    # -- items (from slots) ----------------------------------------------

    def post_result(self, task_id: int, outcome: common_pb2.Outcome | None) -> None:
        """Sends a run's outcome; None for a run that parked, which the
        server ended already."""
        if outcome is None:
            self._parked.discard(task_id)
            self._cancelled.discard(task_id)
            self._assigned.discard(task_id)
            self._abandoned.discard(task_id)
            return
        if task_id in self._abandoned:
            self._abandoned.discard(task_id)  # acknowledged when given up on
            return
        self._cancelled.discard(task_id)
        self._assigned.discard(task_id)
        self._post_from_slot(worker_pb2.WorkResult(task_id=task_id, outcome=outcome))

    def give_back(self, assignments: list[worker_pb2.Assignment]) -> None:
        """Tells the server this worker is draining, returning `assignments`
        (not started) to it."""
        if self._wake is None:
            return  # never connected
        task_ids = []
        for assignment in assignments:
            if assignment.task_id in self._cancelled:
                # Not the server's any more: acknowledge the cancellation.
                self.post_result(assignment.task_id, _cancelled_outcome(assignment.task_id))
            else:
                self._assigned.discard(assignment.task_id)
                task_ids.append(assignment.task_id)
        self._post(worker_pb2.DrainWorker(unstarted_task_ids=task_ids))

    def run_item(self, assignment: worker_pb2.Assignment) -> common_pb2.Outcome | None:
        """Runs forward() for one assignment (telling the server it started);
        returns its Outcome, or None when the run parked (`RunParked`). A run
        cancelled while queued is not started."""
        task_id = assignment.task_id
        if task_id in self._cancelled:
            return _cancelled_outcome(task_id)
        self._running[task_id] = self._slots.current()
        self._post_from_slot(_Start(task_id, time.monotonic()))
        try:
            return self._run(assignment)
        finally:
            self._running.pop(task_id, None)

    def _run(self, assignment: worker_pb2.Assignment) -> common_pb2.Outcome | None:
        job = self._jobs.get(assignment.job_id)
        if job is None:
            err = SymbatcherError(f"no JobInfo for job {assignment.job_id}")
            return _error_outcome(err, common_pb2.ERROR_KIND_ENCODING)
        local = job.local
        try:
            item = self._item(assignment, job)
        except Exception as exc:
            return _error_outcome(exc, common_pb2.ERROR_KIND_ENCODING)
        try:
            instance = job.expression(self._expressions[job.info.expression])
            bind_slot(
                self,
                assignment.task_id,
                job.info.engine_wants_messages,
                job.info.has_embedding_engine,
            )
            try:
                value = instance.forward(input=item, **job.kwargs)
            finally:
                bind_slot(None)
        except RunParked:
            return None
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            if assignment.task_id in self._parked:
                return None  # forward() caught RunParked and raised something else
            if assignment.task_id in self._cancelled:
                # The server ended the run and gave its item a result of its
                # own (e.g. BudgetExceeded): nothing is handed over here, so
                # that result is the one the client sees.
                return _cancelled_outcome(assignment.task_id)
            # Whatever forward() raises is its item's result; the slot lives on.
            kind = (
                common_pb2.ERROR_KIND_ENGINE
                if isinstance(exc, EngineError)
                else common_pb2.ERROR_KIND_USER
            )
            # A result handed over in this process keeps its traceback on the
            # exception object: no text to format for it.
            outcome = _error_outcome(exc, kind, with_traceback=local is None)
            if local is not None:
                local.put_result(assignment.index, exc)
                outcome.local_only = True
            return outcome
        if assignment.task_id in self._parked:
            return None  # forward() caught RunParked: the item runs again
        if local is not None:
            local.put_result(assignment.index, value)
            return common_pb2.Outcome(local_only=True)
        try:
            return _limits.result_outcome(_codec.encode(value, job.info.codec), assignment.index)
        except EncodingError as exc:
            hint = (
                "return JSON values (or run the job with codec='pickle' on a trusted network)"
                if job.info.codec != _codec.PICKLE
                else "return picklable values"
            )
            err = EncodingError(f"result of item {assignment.index} cannot be sent: {exc}; {hint}")
            return _error_outcome(err, common_pb2.ERROR_KIND_ENCODING)

    def _item(self, assignment: worker_pb2.Assignment, job: ServedJob) -> object:
        if job.local is not None:
            found, item = job.local.item(assignment.index)
            if found:
                return item
        if assignment.local_only:
            raise EncodingError(
                f"item {assignment.index} is not serializable and exists only in the "
                "client's process; run the job with local workers or make the item JSON"
            )
        try:
            return _codec.decode(assignment.payload, job.info.codec, allow_pickle=self._allow_pickle)
        except Exception as exc:
            raise EncodingError(f"item {assignment.index} cannot be decoded: {exc}") from exc


def _started_update(started: list[_Start]) -> worker_pb2.WorkerUpdate:
    """A WorkerUpdate starting these runs, each with how long ago its slot
    started it."""
    now = time.monotonic()
    return worker_pb2.WorkerUpdate(
        started_task_ids=[start.task_id for start in started],
        started_ms_ago=[min(_MAX_MS_AGO, max(0, int((now - start.at) * 1000))) for start in started],
    )


def _cancelled_outcome(task_id: int) -> common_pb2.Outcome:
    """The acknowledgement of a cancelled run (the server ignores its content)."""
    err = RunCancelledError(f"run {task_id} was cancelled by the server")
    return _error_outcome(err, common_pb2.ERROR_KIND_CANCELLED)


def _error_outcome(
    exc: BaseException, kind: common_pb2.ErrorKind, *, with_traceback: bool = True
) -> common_pb2.Outcome:
    return common_pb2.Outcome(
        error=common_pb2.ItemError(
            kind=kind,
            type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)) if with_traceback else "",
        )
    )
