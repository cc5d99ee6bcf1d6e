"""`EngineProcess`: a `SymaiEngine(process=True)` served from a Python process
of its own (`_engine_process_main`), started and stopped by the scheduler
that uses it.

Why a process: symai's engine is Python, and every call it makes costs its
process CPU (the HTTP client, the engine's stream, the thread hand-offs).
Served from the scheduler's process, that work takes the same interpreter
lock as the worker slots running forward(), and with many slots the lock,
not the engine's latency, bounds the run. In a process of its own it has a
lock of its own.

What crosses: the symai engine object is pickled once, at start
(`SymaiEngine.symai_engine_pickle`; None: symai's configured engine, built
in the engine process). Calls reach it as
any engine process outside the slots' process sees them, the chat messages
the worker rendered and the call's kwargs, and answers come back in their
JSON form (see `SymaiEngine`).

Lifetime: the engine process ends when its standard input closes, so it ends
with the scheduler (`stop`) and with this process, however this process
ends. It runs in a session of its own: a Ctrl-C in the terminal reaches only
this process, which decides. One that ends on its own while it is in use is
started again (at most `MAX_RESTARTS` times): the server keeps its calls for
its `--engine-reconnect-grace-ms` (30 s by default) and sends them to the new
one.
"""

from __future__ import annotations

import json
import logging
import pickle
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from symbatcher._errors import SymbatcherError
from symbatcher.wire._channel import Connection

if TYPE_CHECKING:
    from symbatcher.engines._symai_engine import SymaiEngine

log = logging.getLogger("symbatcher.engine")

#: How long `start` waits for the engine process to register its engine.
START_TIMEOUT_S = 120.0
#: How long `stop` waits for it to end once told to (its batches running
#: get `_engine_connection.STOP_GRACE_S` of it) before it is killed.
STOP_TIMEOUT_S = 10.0
#: How many times an engine process that ended on its own is started again.
MAX_RESTARTS = 3


@dataclass(frozen=True)
class EngineProcessSpec:
    """What the engine process needs besides its engine."""

    address: str
    connection: Connection
    name: str
    concurrency: int | None
    max_concurrency: int | None
    reply_each: bool
    #: The starting process's import path, so that the engine's class (and
    #: whatever it imports) is found here as it is there.
    sys_path: list[str]


class EngineProcess:
    """Serves `engine` (a `SymaiEngine` with `process=True`) under `name` to the
    server at `address`, reached as `connection` says, from a process of its
    own."""

    def __init__(self, engine: SymaiEngine, address: str, connection: Connection, name: str) -> None:
        self.engine = engine
        self._spec = EngineProcessSpec(
            address=address,
            connection=connection,
            name=name,
            concurrency=engine.concurrency,
            max_concurrency=engine.max_concurrency,
            reply_each=engine.reply_each,
            sys_path=list(sys.path),
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Starts the engine process and returns once the server registered
        its engine. SymbatcherError with the engine process's own error when
        it could not (its traceback, if any, went to this process's stderr);
        TypeError naming `engine` when the engine cannot be sent to it."""
        self._launch(timeout)
        self._watcher = threading.Thread(target=self._watch, name="engine-process-watch", daemon=True)
        self._watcher.start()

    def _launch(self, timeout: float) -> None:
        # Before anything starts: TypeError naming `engine` when it cannot go.
        engine = self.engine.symai_engine_pickle()
        proc = subprocess.Popen(
            [sys.executable, "-m", "symbatcher.engines._engine_process_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Out of the terminal's process group: Ctrl-C is for the process
            # that started it, which decides when it ends.
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        try:
            pickle.dump(self._spec, proc.stdin)
            proc.stdin.write(engine)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it ended already: its status says why, below
        line = _first_line(proc.stdout, timeout)
        message = _parse(line)
        if message.get("ready") is True:
            return
        if line is None and proc.poll() is None:
            error = f"it did not register its engine within {timeout:.0f} s"
        else:
            error = str(message.get("error") or f"it exited with status {proc.wait()} (its output is above)")
        self._end(proc)
        raise SymbatcherError(f"engine {self._spec.name!r}: its engine process failed to start: {error}")

    def _watch(self) -> None:
        """Starts the engine process again when it ends on its own."""
        while not self._stopping.is_set():
            proc = self._proc
            assert proc is not None
            status = proc.wait()
            if self._stopping.is_set():
                return
            if self.restarts >= MAX_RESTARTS:
                log.error(
                    "engine %r: its engine process exited with status %s, %d times; not starting it again: "
                    "its calls fail once the server's --engine-reconnect-grace-ms is over",
                    self._spec.name, status, self.restarts + 1,
                )
                return
            self.restarts += 1
            log.warning(
                "engine %r: its engine process exited with status %s; starting it again (%d of %d)",
                self._spec.name, status, self.restarts, MAX_RESTARTS,
            )
            try:
                self._launch(START_TIMEOUT_S)
            except SymbatcherError as err:
                log.error("%s", err)
                return
            if self._stopping.is_set() and self._proc is not None:
                self._end(self._proc)  # stopped while this one started
                return

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ends the engine process: its running calls get a grace period,
        then it is killed if it has not ended."""
        self._stopping.set()
        if self._proc is not None:
            self._end(self._proc, timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout)

    @staticmethod
    def _end(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> None:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _first_line(stdout: IO[bytes], timeout: float) -> str | None:
    """The first line the engine process writes ('' when it ends first),
    or None when it writes none within `timeout` seconds."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        try:
            lines.put(stdout.readline().decode("utf-8", "replace"))
        except (OSError, ValueError):
            lines.put("")

    threading.Thread(target=read, name="engine-process-start", daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        return lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        return None


def _parse(line: str | None) -> dict[str, object]:
    if not line:
        return {}
    try:
        message = json.loads(line)
    except ValueError:
        return {"error": f"unexpected output: {line.strip()[:200]!r}"}
    return message if isinstance(message, dict) else {}
