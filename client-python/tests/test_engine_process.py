"""`SymaiEngine(process=True)`: symai's engine served from a process of its
own, started with the scheduler and ended with it (`engines/_engine_process`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from process_engines import DiesOnceEngine, PidEngine, UnpicklesBadly
from symai import Expression, Symbol

from symbatcher import BatchScheduler, SymaiEngine, SymbatcherError
from mock_symai_engines import MockEngine, registered


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly").value


def _answered(results: list[object]) -> tuple[set[int], list[str]]:
    """The processes that answered, and the answers without their pid."""
    assert all(isinstance(r, str) for r in results), results
    pairs = [str(r).split("|", 1) for r in results]
    return {int(pid) for pid, _ in pairs}, [text for _, text in pairs]


def test_calls_are_answered_in_another_process_with_the_same_answers():
    items = [f"q{i}" for i in range(12)]
    with BatchScheduler(engine=SymaiEngine(engine=PidEngine()), cache="off") as here:
        pids_here, answers_here = _answered(here(Ask, 4, items))
    with BatchScheduler(engine=SymaiEngine(engine=PidEngine(), process=True), cache="off") as scheduler:
        pids, answers = _answered(scheduler(Ask, 4, items))
        assert all(os.path.exists(f"/proc/{pid}") for pid in pids)
        # A session of its own: a Ctrl-C in the terminal does not reach it.
        assert all(os.getsid(pid) != os.getsid(0) for pid in pids)
    assert pids_here == {os.getpid()}
    assert len(pids) == 1 and os.getpid() not in pids
    assert answers == answers_here
    # The engine process ends with its scheduler.
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_an_engine_process_that_dies_is_started_again_and_no_call_is_lost(tmp_path):
    marker = str(tmp_path / "died")
    items = [f"q{i}" for i in range(8)]
    engine = SymaiEngine(engine=DiesOnceEngine(marker), process=True)
    with BatchScheduler(engine=engine, cache="off") as scheduler:
        pids, answers = _answered(scheduler(Ask, 4, items))
        restarts = scheduler._owned.engine_process.restarts
    assert os.path.exists(marker)
    assert restarts == 1
    assert len(pids) == 1
    assert [a.split("\n")[1] for a in answers] == items


def test_an_engine_process_that_cannot_start_says_why():
    with pytest.raises(SymbatcherError, match=r"engine process failed to start: .*refuses to be unpickled"):
        BatchScheduler(engine=SymaiEngine(engine=UnpicklesBadly(), process=True))
    assert not [t for t in threading.enumerate() if t.name.startswith("engine-process")]


def test_an_engine_that_cannot_reach_a_process_is_refused_naming_the_field():
    with pytest.raises(TypeError, match=r"^engine: .*MockEngine cannot be pickled"):
        SymaiEngine(engine=MockEngine(), process=True)
    in_main = type("InMain", (PidEngine,), {"__module__": "__main__"})
    with pytest.raises(TypeError, match=r"^engine: .*cannot import InMain from __main__"):
        SymaiEngine(engine=in_main(), process=True)
    with pytest.raises(TypeError, match=r"^process: must be True or False, got str"):
        SymaiEngine(process="yes")  # type: ignore[arg-type]
    # Served here, any engine object goes.
    assert SymaiEngine(engine=MockEngine()).process is False


_KILLED_PARENT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = {path!r}
    from process_engines import PidEngine
    from symai import Expression, Symbol
    from symbatcher import BatchScheduler, SymaiEngine

    class Ask(Expression):
        def forward(self, input, **kwargs):
            return Symbol(input).query("Answer briefly").value

    engine = SymaiEngine(engine=PidEngine(), process=True)
    scheduler = BatchScheduler(address={address!r}, engine=engine, cache="off")
    print(scheduler(Ask, 1, ["q"])[0].split("|")[0], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_the_engine_process_ends_when_the_process_that_started_it_is_killed():
    # The server stays up: only the end of the engine process's standard
    # input can end it.
    with BatchScheduler(engine="echo") as server:
        script = _KILLED_PARENT.format(path=[os.path.dirname(__file__)], address=server.address)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == -9, done.stderr
        pid = int(done.stdout.strip())
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}"), "the engine process outlived the process that started it"


def test_without_an_engine_given_it_serves_the_one_symai_has_here():
    # Registered in this process: pickled into the engine process.
    with registered(PidEngine()):
        with BatchScheduler(engine=SymaiEngine(process=True), cache="off") as scheduler:
            pids, answers = _answered(scheduler(Ask, 2, ["q0", "q1"]))
            name = scheduler.last_summary.engine
    assert len(pids) == 1 and os.getpid() not in pids
    assert name == "symai:PidEngine"
    # One that cannot go there is refused before any process starts.
    with registered(MockEngine()):
        with pytest.raises(TypeError, match=r"^engine: .*MockEngine cannot be pickled"):
            BatchScheduler(engine=SymaiEngine(process=True))
