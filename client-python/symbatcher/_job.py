"""The client side of one job: a `BatchService.Batch` stream on grpc's asyncio
API. Items go out in chunks as fast as the server's window and HTTP/2 flow
control allow; results come back as they finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from symbatcher import _codec
from symbatcher._codec import HANDOFF, LocalJob
from symbatcher._errors import EncodingError, JobError, from_item_error, from_rpc_error
from symbatcher._types import JobSummary
from symbatcher.v1 import batch_pb2, batch_pb2_grpc

#: Items per ItemChunk, and the payload bytes after which a chunk is sent early.
CHUNK_ITEMS = 256
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class JobOptions:
    """Per-job settings sent in the JobSpec (0 and "" take server defaults)."""

    batch_size: int = 5
    max_queue_delay_ms: int = 0
    engine: str = ""
    codec: str = "json"
    window: int = 0
    worker_wait_ms: int = 0
    max_attempts: int = 0


class Job:
    """One job's stream. Iterate `results()` for `(index, value)` pairs in
    completion order; `summary` is set once the stream ends."""

    def __init__(
        self,
        stub: batch_pb2_grpc.BatchServiceStub,
        *,
        expression: str,
        dataset: Iterable[Any],
        kwargs: dict[str, Any],
        options: JobOptions,
        kwargs_json: str,
        address: str = "",
    ) -> None:
        self._stub = stub
        self._expression = expression
        self._dataset = dataset
        self._kwargs = kwargs
        self._kwargs_json = kwargs_json
        self._options = options
        self._codec = _codec.codec_from_name(options.codec)
        self._address = address
        self.job_id = 0
        self._local: LocalJob | None = None
        self.sent = 0
        self.input_done = False
        self.summary: JobSummary | None = None

    def _spec(self) -> batch_pb2.BatchRequest:
        o = self._options
        return batch_pb2.BatchRequest(
            spec=batch_pb2.JobSpec(
                expression=self._expression,
                batch_size=o.batch_size,
                max_queue_delay_ms=o.max_queue_delay_ms,
                kwargs_json=self._kwargs_json,
                codec=self._codec,
                engine=o.engine,
                window=o.window,
                max_attempts=o.max_attempts,
                worker_wait_ms=o.worker_wait_ms,
            )
        )

    async def results(self) -> AsyncIterator[tuple[int, Any]]:
        call = self._stub.Batch()
        writer: asyncio.Task[None] | None = None
        try:
            await call.write(self._spec())
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("kind") != "accepted":
                raise JobError("server closed the job stream before accepting it")
            self.job_id = first.accepted.job_id
            self._local = HANDOFF.open((self._address, self.job_id), self._kwargs)
            writer = asyncio.create_task(self._write_items(call))
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    break
                kind = response.WhichOneof("kind")
                if kind == "results":
                    for result in response.results.results:
                        yield result.index, self._value(result)
                elif kind == "summary":
                    self.summary = JobSummary.from_pb(response.summary)
            if writer.done() and writer.exception() is not None:
                raise writer.exception()  # type: ignore[misc]
            if self.summary is None:
                raise JobError("job stream ended without a summary")
        except grpc.RpcError as err:
            if writer is not None and writer.done() and not writer.cancelled():
                exc = writer.exception()
                if exc is not None and not isinstance(exc, grpc.RpcError):
                    raise exc from err
            raise from_rpc_error(err, address=self._address) from None
        finally:
            if writer is not None and not writer.done():
                writer.cancel()
            if self.summary is None:
                call.cancel()
            if self.job_id:
                HANDOFF.close((self._address, self.job_id))

    def _chunks(self) -> Iterator[list[batch_pb2.Item]]:
        assert self._local is not None
        chunk: list[batch_pb2.Item] = []
        size = 0
        for index, item in enumerate(self._dataset):
            self._local.put_item(index, item)
            try:
                payload = _codec.encode(item, self._codec)
                chunk.append(batch_pb2.Item(index=index, payload=payload))
                size += len(payload)
            except EncodingError:
                # Only a worker in this process can run it; others report why.
                chunk.append(batch_pb2.Item(index=index, local_only=True))
            self.sent = index + 1
            if len(chunk) >= CHUNK_ITEMS or size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    async def _write_items(self, call: Any) -> None:
        for chunk in self._chunks():
            await call.write(batch_pb2.BatchRequest(items=batch_pb2.ItemChunk(items=chunk)))
        self.input_done = True
        await call.write(batch_pb2.BatchRequest(end=batch_pb2.EndOfInput()))
        await call.done_writing()

    def _value(self, result: batch_pb2.ItemResult) -> Any:
        assert self._local is not None
        found, value = self._local.take_result(result.index)
        if found:
            return value
        outcome = result.outcome
        if outcome.WhichOneof("value") == "error":
            return from_item_error(outcome.error)
        if outcome.local_only:
            return EncodingError(f"result of item {result.index} stayed in its worker's process")
        try:
            return _codec.decode(outcome.payload, self._codec)
        except Exception as exc:
            return EncodingError(f"result of item {result.index}: {exc}")
