"""One call of a `BatchScheduler` (forward, stream, aforward, astream): the
job, the local worker slots that serve it, and its progress bar.

A `JobHandle` lives on the scheduler's event loop. The scheduler's call forms
drive it from wherever the caller is: `forward` and `stream` from a thread
(one loop round trip per chunk of results, not per item), `aforward` and
`astream` from a coroutine on any loop, which awaits the scheduler's loop
without blocking its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from tqdm.auto import tqdm

from symbatcher._call_site import CallSite
from symbatcher._usd import usd
from symbatcher.client._failure_streak import FailureStreak
from symbatcher.client._job_options import JobOptions
from symbatcher.client._job_stream import JobStream
from symbatcher.client._sources import ItemSource
from symbatcher.client._summary import JobSummary
from symbatcher.wire._channel import Connection
from symbatcher.worker._runtime import WorkerRuntime
from symbatcher.worker._served_job import ExpressionFactory
from symbatcher.v1 import batch_pb2_grpc


class _ProgressBar(tqdm):  # type: ignore[misc]
    """tqdm without its monitor thread, which would outlive the scheduler."""

    monitor_interval = 0


class JobHandle:
    """What one call of a BatchScheduler drives: the job's stream
    (`JobStream`), the local worker slots that serve it, its progress bar.

    Runs `expression` (served by `factory` in `num_workers` local slots of
    kind `slots`, and by any remote worker registered under the same name) over `source`."""

    def __init__(
        self,
        *,
        address: str,
        connection: Connection,
        stub: Callable[[], batch_pb2_grpc.BatchServiceStub],
        expression: str,
        factory: ExpressionFactory,
        num_workers: int,
        slots: str,
        pin_slots: bool = True,
        source: ItemSource,
        kwargs: dict[str, object],
        kwargs_json: str,
        options: JobOptions,
        ordered: bool,
        progress: bool,
        total: int | None,
        local_only: bool = False,
        site: CallSite | None = None,
    ) -> None:
        self._address = address
        self._site = site
        self._connection = connection
        self._stub = stub
        self._expression = expression
        self._factory = factory
        self._num_workers = num_workers
        self._slots = slots
        self._pin_slots = pin_slots
        self._source = source
        self._kwargs = kwargs
        self._kwargs_json = kwargs_json
        self._local_only = local_only
        self._options = options
        self._ordered = ordered
        self._progress = progress
        self._total = total
        self._worker: WorkerRuntime | None = None
        self._job: JobStream | None = None
        self._bar: _ProgressBar | None = None
        self.failed = 0
        self.summary: JobSummary | None = None

    async def start(self) -> None:
        """Connects the local slots (if any), then opens the job."""
        if self._num_workers > 0:
            self._worker = WorkerRuntime(
                self._address,
                expressions={self._expression: self._factory},
                concurrency=self._num_workers,
                name=f"local-{os.getpid()}",
                slots=self._slots,
                pin_slots=self._pin_slots,
                connection=self._connection,
            )
            await self._worker.open()
        self._job = JobStream(
            self._stub(),
            expression=self._expression,
            source=self._source,
            kwargs=self._kwargs,
            options=self._options,
            kwargs_json=self._kwargs_json,
            address=self._address,
            ordered=self._ordered,
            local_only=self._local_only,
            local_slots=self._num_workers > 0,
            failure_streak=FailureStreak(self._site),
        )
        await self._job.start()
        self._bar = _ProgressBar(
            total=self._total,
            disable=not self._progress,
            unit="item",
            desc=self._expression.split(":")[-1].split("#")[0],
        )

    async def take(self) -> list[tuple[int, object]] | None:
        """The next results (see `JobStream.take`); None when the job is done."""
        assert self._job is not None and self._bar is not None, "start() first"
        chunk = await self._job.take()
        if chunk is None:
            self.summary = self._job.summary
            return None
        failed = sum(1 for _, value in chunk if isinstance(value, BaseException))
        self.failed += failed
        if failed or self._job.cost_usd:
            postfix: dict[str, object] = {"failed": self.failed} if self.failed else {}
            if self._job.cost_usd:
                postfix["cost"] = usd(self._job.cost_usd)
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(len(chunk))
        return chunk

    async def collect(self, results: list[object]) -> None:
        """Runs the whole job, placing each result at its index in `results`
        (grown as needed), then closes."""
        try:
            await self.start()
            while (chunk := await self.take()) is not None:
                for index, value in chunk:
                    if index >= len(results):
                        results.extend([None] * (index + 1 - len(results)))
                    results[index] = value
        finally:
            await self.close()

    async def close(self) -> None:
        """Ends the job (cancelling it if unfinished) and the local slots."""
        try:
            if self._job is not None:
                await self._job.close()
            else:
                self._source.close()
        finally:
            if self._bar is not None:
                self._bar.close()
            if self._worker is not None:
                self._worker.stop()
                await self._worker.closed()

