"""The in-process handoff: lets a client and a worker in the same process
pass Python objects without encoding them.

When a job's client lives in the worker's process, the worker takes the
original objects from the handoff, so a local job behaves exactly like a
thread pool: arbitrary items in, arbitrary results and the raised exception
objects out.
"""

from __future__ import annotations

import threading
import uuid

#: A job as seen from one process: (server address, job id).
JobKey = tuple[str, int]


class JobObjects:
    """The Python objects of one job whose client runs in this process.
    Items live from the client's send to the client's receipt of their
    result; results from the worker's finish to that receipt."""

    def __init__(self, kwargs: dict[str, object]) -> None:
        self.kwargs = kwargs
        self._items: dict[int, object] = {}
        self._results: dict[int, object] = {}

    def put_item(self, index: int, item: object) -> None:
        self._items[index] = item

    def item(self, index: int) -> tuple[bool, object]:
        if index in self._items:
            return True, self._items[index]
        return False, None

    def put_result(self, index: int, value: object) -> None:
        self._results[index] = value

    def take_result(self, index: int) -> tuple[bool, object]:
        self._items.pop(index, None)
        if index in self._results:
            return True, self._results.pop(index)
        return False, None


class Handoff:
    """Process-wide table of the jobs whose clients run in this process, so
    that workers in the same process can find their objects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[JobKey, JobObjects] = {}

    def open(self, key: JobKey, kwargs: dict[str, object]) -> JobObjects:
        job = JobObjects(kwargs)
        with self._lock:
            self._jobs[key] = job
        return job

    def close(self, key: JobKey) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def get(self, key: JobKey) -> JobObjects | None:
        return self._jobs.get(key)


HANDOFF = Handoff()

#: This process, as its workers register it and its jobs name it: items only
#: this process can read (`local_only`) go only to workers with this token.
PROCESS_TOKEN = uuid.uuid4().hex
