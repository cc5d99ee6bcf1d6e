"""The floor bench/latency.py measures in-process batching against: an ideal
batcher in the caller's process, with no server, no gRPC and no cache.

The user's own `ThreadPoolExecutor(W)` runs forward() as in the baseline, but
symai's neurosymbolic engine is `HandOffEngine`: each call is handed to one
batcher thread, which takes every call queued at that moment (the batch) and
starts each on a pool of engine threads running the real engine, as
`SymaiEngine` runs the calls of a batch; the engine thread hands the answer
straight back to the calling thread. Per call that is three thread hand-offs
(caller to batcher, batcher to engine thread, engine thread to caller) and
no other work: what any batcher that sends symai's calls from threads of the
caller's process pays at least, with the engine in that process.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from symai.backend.base import Engine


class HandOffEngine(Engine):
    """symai's neurosymbolic engine for the ideal batcher: hands each call
    to the batcher thread and waits for the engine thread's answer."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._calls: queue.SimpleQueue[tuple[Any, Future[Any]]] = queue.SimpleQueue()
        # As many engine threads as calls may be in flight (it grows on demand).
        self._pool = ThreadPoolExecutor(4096, thread_name_prefix="symai-engine")
        threading.Thread(target=self._batcher, name="engine-batcher", daemon=True).start()

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument: Any) -> None:
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument: Any) -> Any:
        answer: Future[Any] = Future()
        self._calls.put((argument, answer))
        return answer.result()

    def _batcher(self) -> None:
        while True:
            batch = [self._calls.get()]
            while True:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            for argument, answer in batch:
                self._pool.submit(self._call, argument, answer)

    def _call(self, argument: Any, answer: Future[Any]) -> None:
        try:
            self.engine.prepare(argument)
            answer.set_result(self.engine.forward(argument))
        except Exception as exc:  # noqa: BLE001 - the call's own failure
            answer.set_exception(exc)
