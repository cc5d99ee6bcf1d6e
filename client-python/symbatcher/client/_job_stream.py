"""The client side of one job: a `BatchService.Batch` stream on grpc's asyncio
API.

Flow control is credit based and end to end. A job's writer may send item `i`
only while `i < consumed + window`, where `consumed` counts the results its
consumer is done with (it calls `take()` for the next ones) and `window` is
the window the server accepted the job with. So, whatever the dataset's length:

- the source is asked for a chunk only when there is credit for it, and
  nothing reads the dataset ahead of the job;
- the in-process handoff (`JobObjects`) holds at most `window` items;
- with `ordered=True`, the reorder buffer holds at most `window` results: a
  slow item lets the job run at most `window` items past it, then the writer
  waits until that item finishes and is delivered;
- a consumer that stops taking stops the writer, then the server (whose own
  window of `window` items per job is then never exceeded), then the workers.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
import grpc

from symbatcher.wire import _codec, _limits
from symbatcher.worker._handoff import HANDOFF, JobObjects
from symbatcher._errors import EncodingError, JobError, SymbatcherError
from symbatcher.wire._rpc_errors import call_error, from_item_error, from_rpc_error
from symbatcher.client._failure_streak import FailureStreak
from symbatcher.client._job_options import JobOptions
from symbatcher.client._sources import ItemSource
from symbatcher.client._summary import ItemUsage, JobSummary
from symbatcher.v1 import batch_pb2, batch_pb2_grpc

#: Why a client refuses a pickled result (only a JobOptions built without
#: BatchScheduler can ask it to).
PICKLE_REFUSED_HERE = (
    "the result is pickled, and this client unpickles only with allow_pickle=True "
    "(BatchScheduler(codec='pickle', allow_pickle=True)): unpickling runs code"
)

#: Items per ItemChunk, and the payload bytes after which a chunk is split.
CHUNK_ITEMS = 256
CHUNK_BYTES = 1 << 20


def unsendable(index: int, exc: EncodingError, codec: int) -> str:
    """The message of an item that cannot be encoded, in a job without
    local slots."""
    fix = "pass picklable items" if codec == _codec.PICKLE else "pass JSON items (str, number, bool, None, list, dict)"
    return (
        f"item {index} cannot be sent to a remote worker: {exc}; {fix}, "
        "or run the job with local workers (num_workers > 0), which run such items in this process"
    )


class JobStream:
    """The client's side of one job: its `BatchService.Batch` stream. `await start()`, then `await take()` until it returns
    None (the job is done and `summary` is set); `await close()` always, which
    cancels the job if it has not finished. All methods run on one loop."""

    def __init__(
        self,
        stub: batch_pb2_grpc.BatchServiceStub,
        *,
        expression: str,
        source: ItemSource,
        kwargs: dict[str, object],
        options: JobOptions,
        kwargs_json: str,
        address: str = "",
        ordered: bool = False,
        local_only: bool = False,
        local_slots: bool = True,
        failure_streak: FailureStreak | None = None,
    ) -> None:
        self._stub = stub
        #: Says so when the first items all fail alike before any engine call.
        self._failure_streak = failure_streak
        #: US dollars of the requests sent for the items delivered so far.
        self.cost_usd = 0.0
        #: Every item runs in this process's slots only (kwargs that are not
        #: JSON reach no other process).
        self._local_only = local_only
        #: Whether this process serves the job with slots of its own: only
        #: they can run an item that cannot be encoded for other processes.
        self._local_slots = local_slots
        self._expression = expression
        self._source = source
        self._kwargs = kwargs
        self._kwargs_json = kwargs_json
        self._options = options
        self._codec = _codec.codec_from_name(options.codec)
        self._address = address
        self._ordered = ordered
        self._call: grpc.aio.StreamStreamCall = None
        self._local: JobObjects | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Results ready for the consumer, in the order they will be taken.
        self._ready: collections.deque[tuple[int, object]] = collections.deque()
        #: ordered: results waiting for an earlier index.
        self._held: dict[int, object] = {}
        self._next_index = 0
        self._delivered = 0
        self._taken = 0
        self._results_changed = asyncio.Event()
        self._credit_changed = asyncio.Event()
        self._error: BaseException | None = None
        self._finished = False
        self.job_id = 0
        self.window = 0
        self.sent = 0
        #: Items failed here, never sent: too large for a message.
        self.failed_unsent = 0
        self.summary: JobSummary | None = None

    # -- the consumer's side ---------------------------------------------

    async def start(self) -> None:
        """Opens the stream and waits until the server accepts the job."""
        spec = self._spec()
        self._call = self._stub.Batch()
        try:
            await self._call.write(spec)
            first = await self._call.read()
        except grpc.RpcError as err:
            raise from_rpc_error(await call_error(self._call, err), address=self._address) from None
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "accepted":
            raise JobError("server closed the job stream before accepting it")
        self.job_id = first.accepted.job_id
        self.window = first.accepted.window
        if self.window < 1:
            raise JobError("server accepted the job without a window")
        self._local = HANDOFF.open((self._address, self.job_id), self._kwargs)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_items(), name=f"symbatcher-job-{self.job_id}-writer"),
            loop.create_task(self._read_results(), name=f"symbatcher-job-{self.job_id}-reader"),
        ]

    async def take(self) -> list[tuple[int, object]] | None:
        """The results ready now (waiting for at least one), as `(index,
        value)` pairs; None once the job is done. Raises the job's error after
        the results that arrived before it.

        Calling take() again says the consumer is done with the previous
        chunk: only then do its items stop counting against the window."""
        if self._taken:
            self._delivered += self._taken
            self._taken = 0
            self._credit_changed.set()
        while True:
            if self._ready:
                out = list(self._ready)
                self._ready.clear()
                self._taken = len(out)
                return out
            if self._error is not None:
                raise self._error
            if self._finished:
                return None
            self._results_changed.clear()
            await self._results_changed.wait()

    async def close(self) -> None:
        """Ends the job: cancels it on the server if it has not finished, and
        releases what the client holds for it."""
        try:
            if self._tasks:
                if self.summary is not None and self._finished:
                    # Finished: the writer is done or about to be.
                    await asyncio.wait(self._tasks, timeout=1.0)
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._call is not None and not self._call.done():
                self._call.cancel()
        finally:
            self._source.close()
            if self.job_id:
                HANDOFF.close((self._address, self.job_id))
            self._ready.clear()
            self._held.clear()

    # -- the stream's side -------------------------------------------------

    def _spec(self) -> batch_pb2.BatchRequest:
        return batch_pb2.BatchRequest(
            spec=self._options.spec(self._expression, self._kwargs_json)
        )

    def _fail(self, err: BaseException) -> None:
        if self._error is None:
            self._error = err
        self._results_changed.set()

    async def _write_items(self) -> None:
        try:
            while True:
                room = self._delivered + self.window - self.sent
                if room <= 0:
                    self._credit_changed.clear()
                    await self._credit_changed.wait()
                    continue
                items = await self._source.next_chunk(min(room, CHUNK_ITEMS))
                if not items:
                    break
                for chunk in self._encode(items):
                    await self._call.write(
                        batch_pb2.BatchRequest(items=batch_pb2.ItemChunk(items=chunk))
                    )
            await self._call.write(batch_pb2.BatchRequest(end=batch_pb2.EndOfInput()))
            await self._call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the stream ended; the reader reports why
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # The dataset raised: the job ends with its exception.
            self._fail(exc)
            self._call.cancel()

    def _encode(self, items: list[object]) -> Iterator[list[batch_pb2.Item]]:
        """`items` as ItemChunks below the message limit. An item whose payload
        alone is over it is not sent: an EncodingError takes its place. So
        does an item that cannot be encoded at all when no slot of this
        process serves the job (with local slots, it runs in one of them)."""
        assert self._local is not None
        limit = _limits.payload_limit()
        chunk: list[batch_pb2.Item] = []
        size = 0
        for item in items:
            index = self.sent
            self.sent = index + 1
            if self._local_only:
                self._local.put_item(index, item)
                chunk.append(batch_pb2.Item(index=index, local_only=True))
                continue
            try:
                payload = _codec.encode(item, self._codec)
            except EncodingError as exc:
                if not self._local_slots:
                    # No worker could ever run it: it fails now, alone,
                    # instead of waiting in the server's queue.
                    self._fail_unsent(index, unsendable(index, exc, self._codec))
                    continue
                # Only a worker in this process can run it; others report why.
                self._local.put_item(index, item)
                chunk.append(batch_pb2.Item(index=index, local_only=True))
                continue
            if len(payload) > limit:
                self._fail_unsent(index, _limits.too_large(f"item {index}", len(payload)))
                continue
            if chunk and size + len(payload) + _limits.ENTRY_BYTES > limit:
                yield chunk
                chunk, size = [], 0
            self._local.put_item(index, item)
            chunk.append(batch_pb2.Item(index=index, payload=payload))
            size += len(payload) + _limits.ENTRY_BYTES
            if size >= CHUNK_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    def _fail_unsent(self, index: int, message: str) -> None:
        self.failed_unsent += 1
        self._accept(index, EncodingError(message))
        self._results_changed.set()

    async def _read_results(self) -> None:
        try:
            while True:
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    break
                kind = response.WhichOneof("kind")
                if kind == "results":
                    on_usage = self._options.on_usage
                    for result in response.results.results:
                        if on_usage is not None and result.HasField("usage"):
                            on_usage(result.index, ItemUsage.from_pb(result.usage))
                        value = self._value(result)
                        self.cost_usd += result.usage.cost_usd
                        if self._failure_streak is not None:
                            self._failure_streak.see(value, result.usage.calls)
                        self._accept(result.index, value)
                    self._results_changed.set()
                elif kind == "summary":
                    # The server never saw the items failed here.
                    response.summary.items += self.failed_unsent
                    response.summary.failed += self.failed_unsent
                    self.summary = JobSummary.from_pb(response.summary)
                    if self._failure_streak is not None:
                        self._failure_streak.finish(self.summary.items)
            if self.summary is None:
                self._fail(JobError("job stream ended without a summary"))
        except grpc.RpcError as err:
            if self._error is None:
                self._fail(from_rpc_error(err, address=self._address))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug here must not hang the consumer
            self._fail(SymbatcherError(f"job {self.job_id}: reading results failed: {exc!r}"))
        finally:
            self._finished = True
            self._results_changed.set()

    def _accept(self, index: int, value: object) -> None:
        if not self._ordered:
            self._ready.append((index, value))
            return
        self._held[index] = value
        while self._next_index in self._held:
            self._ready.append((self._next_index, self._held.pop(self._next_index)))
            self._next_index += 1

    def _value(self, result: batch_pb2.ItemResult) -> object:
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
            return _codec.decode(
                outcome.payload, self._codec, allow_pickle=self._options.allow_pickle,
                refused=PICKLE_REFUSED_HERE,
            )
        except Exception as exc:
            return EncodingError(f"result of item {result.index}: {exc}")
