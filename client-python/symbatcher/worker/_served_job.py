"""`ServedJob`: a job as a worker serves it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from symbatcher.v1 import worker_pb2
from symbatcher.worker._handoff import JobObjects

#: The max_queue_delay of a job whose server does not send it
#: (`JobInfo.max_queue_delay_ms` unset): the server's default. A thread slot
#: that runs this long without an engine call holds back no other slot's
#: posts (`_thread_slots.ThreadSlots`).
DEFAULT_MAX_QUEUE_DELAY_S = 0.05


class ServedExpression(Protocol):
    """What a worker needs of an Expression instance: its forward()."""

    def forward(self, *, input: object, **kwargs: object) -> object: ...


#: Builds the Expression instance that serves one job, from the job's kwargs.
ExpressionFactory = Callable[[dict[str, object]], ServedExpression]


@dataclass
class ServedJob:
    """A job as one worker serves it: its JobInfo, its kwargs, and the one
    Expression instance its slots in this process share."""

    info: worker_pb2.JobInfo
    kwargs: dict[str, object]
    #: Set when the job's client runs in this process.
    local: JobObjects | None
    #: The job's one Expression instance in this process, shared by the slots.
    instance: ServedExpression | None = None
    #: Why building it failed; every item of the job fails with it.
    build_error: BaseException | None = None
    built: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def silent_after(self) -> float:
        """Its max_queue_delay in seconds (the server's default when its
        server does not say)."""
        if not self.info.HasField("max_queue_delay_ms"):
            return DEFAULT_MAX_QUEUE_DELAY_S
        return self.info.max_queue_delay_ms / 1000

    def expression(self, factory: ExpressionFactory) -> ServedExpression:
        """The job's instance, built by the first slot that needs it."""
        with self.lock:
            if not self.built:
                try:
                    self.instance = factory(self.kwargs)
                except Exception as exc:  # noqa: BLE001 - reported per item
                    self.build_error = exc
                self.built = True
        if self.build_error is not None:
            raise self.build_error
        # Served as the factory built it: a factory that returned None fails
        # each item when forward() is looked up on it.
        return cast(ServedExpression, self.instance)
