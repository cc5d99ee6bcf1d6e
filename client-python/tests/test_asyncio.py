"""aforward / astream inside a running event loop, without blocking it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time

import pytest
from symai import Expression, Symbol

from helpers import server_status, wait_until
from symbatcher import BatchScheduler, EchoEngine, SymbatcherError


class Tag(Expression):
    def forward(self, input, **kwargs):
        return Symbol(str(input)).query("Tag", **kwargs).value


class Double(Expression):
    def forward(self, input, **kwargs):
        return input * 2


async def _max_tick_gap(work, interval: float = 0.005):
    """Runs `work` while a ticker task on the same loop records the longest
    gap between its ticks: how long the loop was blocked at most."""
    gaps = []
    done = asyncio.Event()

    async def ticker():
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(interval)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done.set()
        await tick
    return result, max(gaps), len(gaps)


def test_aforward_does_not_block_the_running_loop():
    # 40 ms per engine batch: the job takes a while, so a blocked loop shows.
    # A full collection of the heap that the whole test session imported
    # (symai, every test module) stops every thread for up to seconds here:
    # that is the collector, not the loop waiting on aforward. Objects alive
    # now are left out of collections while the test measures.
    gc.collect()
    gc.freeze()
    try:
        with BatchScheduler(engine=EchoEngine(latency_ms=40)) as s:

            async def main():
                return await _max_tick_gap(s.aforward(Tag, 8, [f"a{i}" for i in range(128)], batch_size=8))

            results, max_gap, ticks = asyncio.run(main())
    finally:
        gc.unfreeze()
    assert len(results) == 128
    assert all(r.startswith("echo: ") and f"a{i}" in r for i, r in enumerate(results))
    # 16 batches of 40 ms: at least 640 ms, during which the loop kept ticking
    # (a blocking call would stop it for all of that).
    assert ticks >= 40
    assert max_gap < 0.3, f"the loop was blocked for {max_gap:.3f}s"


def test_astream_inside_a_running_loop_with_an_async_dataset(scheduler):
    async def numbers(n):
        for i in range(n):
            if i % 50 == 0:
                await asyncio.sleep(0)  # the dataset itself awaits on the caller's loop
            yield i

    async def main():
        got = {}
        async for index, value in scheduler.astream(Double, 4, numbers(500)):
            got[index] = value
        return got

    got = asyncio.run(main())
    assert got == {i: 2 * i for i in range(500)}


def test_astream_ordered_and_aforward_with_a_generator(scheduler):
    async def main():
        ordered = [i async for i, _ in scheduler.astream(Double, 4, iter(range(300)), ordered=True)]
        results = await scheduler.aforward(Double, 4, (i for i in range(300)))
        return ordered, results

    ordered, results = asyncio.run(main())
    assert ordered == list(range(300))
    assert results == [2 * i for i in range(300)]


def test_concurrent_astreams_on_one_loop(scheduler):
    async def collect(offset):
        return {i: v async for i, v in scheduler.astream(Double, 2, range(offset, offset + 200))}

    async def main():
        return await asyncio.gather(collect(0), collect(1000), scheduler.aforward(Double, 2, [7, 8]))

    a, b, c = asyncio.run(main())
    assert a == {i: 2 * (i) for i in range(200)}
    assert b == {i: 2 * (1000 + i) for i in range(200)}
    assert c == [14, 16]


def test_leaving_astream_early_cancels_the_job(scheduler):
    async def main():
        got = []
        async with contextlib.aclosing(scheduler.astream(Double, 2, iter(range(10**9)))) as stream:
            async for pair in stream:
                got.append(pair)
                if len(got) == 100:
                    break
        return got, await scheduler.aforward(Double, 2, [1, 2])

    got, after = asyncio.run(main())
    assert len(got) == 100
    assert after == [2, 4]
    wait_until(lambda: not server_status(scheduler.address).jobs, 5, "the server to drop the job")


def test_cancelling_aforward_cancels_the_job():
    with BatchScheduler(engine=EchoEngine(latency_ms=50)) as s:

        async def main():
            task = asyncio.create_task(s.aforward(Tag, 2, [f"c{i}" for i in range(200)], batch_size=2))
            await asyncio.sleep(0.3)
            assert len(server_status(s.address).jobs) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.to_thread(
                wait_until, lambda: not server_status(s.address).jobs, 5, "the job's cancellation"
            )
            return await s.aforward(Tag, 2, ["after"])

        after = asyncio.run(main())
    assert "after" in after[0]


def test_async_forms_on_the_scheduler_main_loop():
    # The original main_loop machinery: the caller runs the loop in a thread,
    # and coroutines on that very loop await the scheduler.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=BatchScheduler.start_loop, args=(loop,), daemon=True)
    thread.start()
    try:
        s = BatchScheduler(engine="echo", main_loop=loop)

        async def on_main_loop():
            results = await s.aforward(Double, 2, [1, 2, 3])
            streamed = sorted([pair async for pair in s.astream(Double, 2, range(5))])
            # The blocking form refuses to run on the loop it would block.
            with pytest.raises(SymbatcherError, match="aforward"):
                s.forward(Double, 2, [1])
            return results, streamed

        results, streamed = asyncio.run_coroutine_threadsafe(on_main_loop(), loop).result(30)
        assert results == [2, 4, 6]
        assert streamed == [(i, 2 * i) for i in range(5)]
        s.cleanup()
    finally:
        BatchScheduler.close_loop(loop, thread)
