"""Where a job's items come from.

A job never materialises its dataset: its writer asks the source for the next
chunk only when the job has room for more items (see `JobStream`'s credit), so a
generator of ten million items is read a chunk at a time, as fast as the job
advances. Reading happens off the job's event loop (a plain iterable is read
on a thread of its own, an async iterable on the loop that owns it), so a slow
dataset never stalls the streams of the job and its local workers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

#: A chunk is returned early once reading it has taken this long, so that a
#: slow dataset (one item per network round trip) still starts the job at once.
CHUNK_TIME_BUDGET_S = 0.02


class ItemSource(Protocol):
    """The dataset of one job, read in order."""

    async def next_chunk(self, limit: int) -> list[object]:
        """Up to `limit` (>= 1) next items; an empty list once exhausted.
        Raises what the dataset raised."""
        ...

    def close(self) -> None:
        """Releases what the source holds (its reader thread)."""
        ...


class SequenceSource:
    """A list, tuple or range: sliced on the loop (no reading cost)."""

    def __init__(self, items: Sequence[object]) -> None:
        self._items = items
        self._position = 0

    def __len__(self) -> int:
        return len(self._items)

    async def next_chunk(self, limit: int) -> list[object]:
        start = self._position
        chunk = list(self._items[start : start + limit])
        self._position += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class IteratorSource:
    """Any iterable, read a chunk at a time on one thread of its own."""

    def __init__(self, iterable: Iterable[object]) -> None:
        self._iterator: Iterator[object] = iter(iterable)
        self._executor: ThreadPoolExecutor | None = None
        self._exhausted = False

    async def next_chunk(self, limit: int) -> list[object]:
        if self._exhausted:
            return []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="symbatcher-dataset")
        loop = asyncio.get_running_loop()
        chunk = await loop.run_in_executor(self._executor, self._read, limit)
        if not chunk:
            self._exhausted = True
        return chunk

    def _read(self, limit: int) -> list[object]:
        deadline = time.monotonic() + CHUNK_TIME_BUDGET_S
        chunk: list[object] = []
        for item in self._iterator:
            chunk.append(item)
            if len(chunk) >= limit or time.monotonic() >= deadline:
                break
        return chunk

    def close(self) -> None:
        if self._executor is not None:
            # A read blocked in the dataset must not block the caller.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class AsyncIteratorSource:
    """An async iterable, read on the event loop that owns it: `owner`, set
    when the async form starts on the caller's loop, which may be another loop
    than the job's (the scheduler's own)."""

    def __init__(self, iterable: AsyncIterable[object]) -> None:
        self._iterator: AsyncIterator[object] = aiter(iterable)
        self.owner: asyncio.AbstractEventLoop | None = None
        self._exhausted = False

    async def next_chunk(self, limit: int) -> list[object]:
        if self._exhausted:
            return []
        owner = self.owner
        if owner is None or asyncio.get_running_loop() is owner:
            chunk = await self._read(limit)
        else:
            future = asyncio.run_coroutine_threadsafe(self._read(limit), owner)
            chunk = await asyncio.wrap_future(future)
        if not chunk:
            self._exhausted = True
        return chunk

    async def _read(self, limit: int) -> list[object]:
        deadline = time.monotonic() + CHUNK_TIME_BUDGET_S
        chunk: list[object] = []
        async for item in _take(self._iterator, limit):
            chunk.append(item)
            if time.monotonic() >= deadline:
                break
        return chunk

    def close(self) -> None:
        pass


async def _take(iterator: AsyncIterator[object], limit: int) -> AsyncIterator[object]:
    for _ in itertools.repeat(None, limit):
        try:
            yield await anext(iterator)
        except StopAsyncIteration:
            return


def source_for(dataset: object, *, async_ok: bool = False) -> ItemSource:
    """The source reading `dataset`: a sequence, any iterable, or (for the
    async forms) an async iterable."""
    if isinstance(dataset, (list, tuple, range)):
        return SequenceSource(dataset)
    if isinstance(dataset, AsyncIterable):
        if not async_ok:
            raise TypeError(
                "dataset: an async iterable needs the async forms (aforward, astream)"
            )
        return AsyncIteratorSource(dataset)
    if isinstance(dataset, (str, bytes, dict)) or not isinstance(dataset, Iterable):
        raise TypeError(
            f"dataset: expected an iterable of items (list, generator, ...), got "
            f"{type(dataset).__name__}"
        )
    return IteratorSource(dataset)
