"""A worker: one `WorkerService.Work` connection whose slot threads run
forward() for the items the server assigns, and whose engine calls go back to
the server to be batched."""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from symbatcher import _codec
from symbatcher._codec import HANDOFF, LocalJob
from symbatcher._errors import EngineError, SymbatcherError, from_item_error, from_rpc_error
from symbatcher._interceptor import bind_slot, install_in_thread
from symbatcher.v1 import common_pb2, worker_pb2, worker_pb2_grpc

log = logging.getLogger("symbatcher.worker")

_STOP = object()

ExpressionFactory = Callable[[], Any]


@dataclass
class _Job:
    info: worker_pb2.JobInfo
    kwargs: dict[str, Any]
    #: Set when the job's client runs in this process.
    local: LocalJob | None


class WorkerRuntime:
    """Serves `expressions` (name -> factory of an Expression instance) with
    `concurrency` slot threads over one connection.

    A class factory is called once per slot thread, so each slot owns its
    instance; a factory that returns a shared instance shares it.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        expressions: dict[str, ExpressionFactory],
        concurrency: int,
        prefetch: int | None = None,
        name: str = "worker",
        address: str = "",
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {concurrency}")
        # By default as many items wait in the worker as run in it, so a slot
        # that finishes starts its next item at once.
        self._prefetch = concurrency if prefetch is None else prefetch
        if self._prefetch < 0:
            raise ValueError(f"prefetch: must be >= 0, got {self._prefetch}")
        self._stub = worker_pb2_grpc.WorkerServiceStub(channel)
        self._expressions = dict(expressions)
        self._concurrency = concurrency
        self._name = name
        self._address = address
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._assignments: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs: dict[int, _Job] = {}
        self._pending: dict[int, queue.SimpleQueue[Any]] = {}
        self._call_ids = itertools.count(1)
        self._registered = threading.Event()
        self._closing = False
        self._call: Any = None
        self._threads: list[threading.Thread] = []
        self.worker_id = 0
        self.error: BaseException | None = None
        self.done = threading.Event()

    # -- lifecycle -------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Connects, registers and starts the slot threads."""
        self._call = self._stub.Work(self._requests())
        reader = threading.Thread(target=self._read, name=f"{self._name}-reader", daemon=True)
        reader.start()
        self._threads.append(reader)
        if not self._registered.wait(timeout) or self.error is not None:
            self.stop()
            raise self.error or SymbatcherError("worker registration timed out")
        for n in range(self._concurrency):
            slot = threading.Thread(target=self._slot, name=f"{self._name}-slot-{n}", daemon=True)
            slot.start()
            self._threads.append(slot)

    def stop(self) -> None:
        """Disconnects; items still running here are re-queued by the server."""
        if self._closing:
            return
        self._closing = True
        self._outbox.put(_STOP)
        for _ in range(self._concurrency):
            self._assignments.put(_STOP)
        if self._call is not None:
            self._call.cancel()
        self._fail_pending(SymbatcherError("worker stopped"))

    def wait(self) -> None:
        """Blocks until the connection ends."""
        self.done.wait()

    # -- connection ------------------------------------------------------

    def _requests(self):
        yield worker_pb2.WorkerMessage(
            register=worker_pb2.RegisterWorker(
                name=self._name,
                expressions=list(self._expressions),
                concurrency=self._concurrency,
                prefetch=self._prefetch,
            )
        )
        stop = False
        while not stop:
            message = self._outbox.get()
            results: list[worker_pb2.WorkResult] = []
            calls: list[worker_pb2.WorkerEngineCall] = []
            # Coalesce everything already waiting into one message per kind.
            while True:
                if message is _STOP:
                    stop = True
                    break
                (results if isinstance(message, worker_pb2.WorkResult) else calls).append(message)
                try:
                    message = self._outbox.get_nowait()
                except queue.Empty:
                    break
            if calls:
                yield worker_pb2.WorkerMessage(
                    engine_calls=worker_pb2.WorkerEngineCallChunk(calls=calls)
                )
            if results:
                yield worker_pb2.WorkerMessage(results=worker_pb2.WorkResultChunk(results=results))

    def _read(self) -> None:
        try:
            for command in self._call:
                self._handle(command)
        except grpc.RpcError as err:
            if not self._closing:
                self.error = from_rpc_error(err, address=self._address)
                log.warning("worker connection lost: %s", self.error)
        finally:
            self._registered.set()
            self._fail_pending(self.error or SymbatcherError("worker connection closed"))
            if not self._closing:
                self._closing = True
                for _ in range(self._concurrency):
                    self._assignments.put(_STOP)
            self.done.set()

    def _handle(self, command: worker_pb2.WorkerCommand) -> None:
        kind = command.WhichOneof("kind")
        if kind == "assignments":
            for assignment in command.assignments.assignments:
                self._assignments.put(assignment)
        elif kind == "replies":
            for reply in command.replies.replies:
                box = self._pending.pop(reply.call_id, None)
                if box is not None:
                    box.put(reply)
        elif kind == "job":
            info = command.job
            local = HANDOFF.get((self._address, info.job_id))
            kwargs = local.kwargs if local is not None else json.loads(info.kwargs_json or "{}")
            self._jobs[info.job_id] = _Job(info=info, kwargs=kwargs, local=local)
        elif kind == "registered":
            self.worker_id = command.registered.worker_id
            self._registered.set()
        elif kind == "job_finished":
            self._jobs.pop(command.job_finished.job_id, None)
        # "cancel": the server already dropped those runs; their results are
        # ignored when they arrive, and a forward() cannot be interrupted.

    def _fail_pending(self, err: BaseException) -> None:
        for call_id in list(self._pending):
            box = self._pending.pop(call_id, None)
            if box is not None:
                box.put(err)

    # -- engine calls (from slot threads, via the interceptor) -----------

    def call_engine(
        self, task_id: int, prompt: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        if self._closing:
            raise SymbatcherError("worker stopped")
        call_id = next(self._call_ids)
        box: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending[call_id] = box
        self._outbox.put(
            worker_pb2.WorkerEngineCall(
                task_id=task_id,
                call=common_pb2.EngineCall(
                    call_id=call_id,
                    prompt=prompt,
                    messages_json=json.dumps(messages, ensure_ascii=False),
                    kwargs_json=json.dumps(kwargs, ensure_ascii=False),
                ),
            )
        )
        reply = box.get()
        if isinstance(reply, BaseException):
            raise reply
        if reply.WhichOneof("outcome") == "error":
            raise from_item_error(reply.error)
        metadata = json.loads(reply.metadata_json) if reply.metadata_json else {}
        return reply.text, metadata

    # -- slots -----------------------------------------------------------

    def _slot(self) -> None:
        install_in_thread()
        instances: dict[str, Any] = {}
        while True:
            assignment = self._assignments.get()
            if assignment is _STOP:
                return
            outcome = self._run(assignment, instances)
            self._outbox.put(worker_pb2.WorkResult(task_id=assignment.task_id, outcome=outcome))

    def _run(self, assignment: worker_pb2.Assignment, instances: dict[str, Any]) -> Any:
        job = self._jobs.get(assignment.job_id)
        if job is None:
            err = SymbatcherError(f"no JobInfo for job {assignment.job_id}")
            return _error_outcome(err, common_pb2.ERROR_KIND_ENCODING)
        local = job.local
        try:
            item = self._item(assignment, job)
            expression = job.info.expression
            instance = instances.get(expression)
            if instance is None:
                instance = instances[expression] = self._expressions[expression]()
            bind_slot(self, assignment.task_id)
            try:
                value = instance.forward(input=item, **job.kwargs)
            finally:
                bind_slot(None)
        except Exception as exc:
            kind = (
                common_pb2.ERROR_KIND_ENGINE
                if isinstance(exc, EngineError)
                else common_pb2.ERROR_KIND_USER
            )
            outcome = _error_outcome(exc, kind)
            if local is not None:
                local.put_result(assignment.index, exc)
                outcome.local_only = True
            return outcome
        if local is not None:
            local.put_result(assignment.index, value)
            return common_pb2.Outcome(local_only=True)
        try:
            return common_pb2.Outcome(payload=_codec.encode(value, job.info.codec))
        except SymbatcherError as exc:
            err = SymbatcherError(f"result of item {assignment.index}: {exc}")
            return _error_outcome(err, common_pb2.ERROR_KIND_ENCODING)

    def _item(self, assignment: worker_pb2.Assignment, job: _Job) -> Any:
        if job.local is not None:
            found, item = job.local.item(assignment.index)
            if found:
                return item
        if assignment.local_only:
            raise SymbatcherError(
                f"item {assignment.index} is not serializable and exists only in the "
                "client's process; run the job with local workers or make the item JSON"
            )
        return _codec.decode(assignment.payload, job.info.codec)


def _error_outcome(exc: BaseException, kind: int) -> common_pb2.Outcome:
    return common_pb2.Outcome(
        error=common_pb2.ItemError(
            kind=kind,
            type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
        )
    )
