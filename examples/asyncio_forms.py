"""asyncio: `await scheduler.aforward(...)` and `async for ... in scheduler.astream(...)`
inside a running event loop, which keeps serving other tasks meanwhile.

The scheduler runs its job streams on its own loop (a thread); the async forms
await it from yours without blocking. A dataset may also be an async iterable
(read on your loop).

    python examples/asyncio_forms.py
"""

import asyncio
import contextlib
import time

from summarize import Sentiment, Summarize
from symbatcher import BatchScheduler, EchoEngine


async def heartbeat(stop: asyncio.Event) -> int:
    """Another task on the same loop: it keeps ticking while the jobs run."""
    ticks = 0
    while not stop.is_set():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def reviews_from_a_feed(n):
    """An async dataset, e.g. rows from an async database driver."""
    for i in range(n):
        if i % 10 == 0:
            await asyncio.sleep(0)
        yield "" if i % 10 == 0 else f"Review #{i}: {'great' if i % 2 else 'poor'}"


async def main() -> None:
    # 20 ms per engine batch, like a fast LLM endpoint.
    with BatchScheduler(engine=EchoEngine(latency_ms=20)) as scheduler:
        stop = asyncio.Event()
        ticker = asyncio.create_task(heartbeat(stop))
        start = time.perf_counter()

        results = await scheduler.aforward(Summarize, 16, [f"text {i}" for i in range(200)], batch_size=16)
        print(f"aforward: {len(results)} results in dataset order, first: {results[0]!r}")

        failed = 0
        async with contextlib.aclosing(
            scheduler.astream(Sentiment, 16, reviews_from_a_feed(300), batch_size=16)
        ) as stream:
            async for index, result in stream:
                if isinstance(result, Exception):
                    failed += 1  # the empty reviews: ValueError in place
        print(f"astream: 300 results as they finished, {failed} failed (empty reviews)")

        # Two jobs at once on one loop: they share the server's workers fairly.
        a, b = await asyncio.gather(
            scheduler.aforward(Summarize, 8, [f"a{i}" for i in range(100)], batch_size=8),
            scheduler.aforward(Summarize, 8, [f"b{i}" for i in range(100)], batch_size=8),
        )
        print(f"gather: {len(a)} + {len(b)} results")

        stop.set()
        ticks = await ticker
        elapsed = time.perf_counter() - start
        print(f"meanwhile the loop ran the heartbeat {ticks} times in {elapsed:.1f}s "
              f"(~{elapsed / 0.01:.0f} if never blocked)")


if __name__ == "__main__":
    asyncio.run(main())
