"""The event loops a BatchScheduler runs its jobs on: its own, in a thread
of its own, or the caller's (`main_loop`)."""

from __future__ import annotations

import asyncio
import threading


def start_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Runs `loop` forever in the calling thread (a Thread target); once
    stopped, ends the threads of its default executor."""
    asyncio.set_event_loop(loop)
    loop.run_forever()
    loop.run_until_complete(loop.shutdown_default_executor())


def close_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Stops a loop started with `start_loop`, joins its thread, closes it."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
