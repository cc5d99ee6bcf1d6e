"""A BatchScheduler leaves no thread behind: after `cleanup()` the process
has the same Python threads (threading.enumerate) and the same OS threads
(/proc/self/task) as before the scheduler was built, whatever it ran:
thread slots, a BatchEngine served from this process, a progress bar, a
dataset read from a generator.

Python threads are counted right after `cleanup()`. OS threads are counted
once they settle (up to 5 s): grpc's core ends its own threads
asynchronously after the last channel is released.

Each case runs in a fresh interpreter, so that nothing an earlier test left
running is counted, and nothing started on first use hides in "before"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading, time
    from symai import Expression, Symbol
    from symbatcher import BatchEngine, BatchScheduler

    class Ask(Expression):
        def forward(self, input, **kwargs):
            return Symbol(input).query("Answer", **kwargs).value

    class Upper(BatchEngine):
        max_concurrency = 2

        def forward(self, calls):
            return [call.prompt.upper() for call in calls]

    def counts():
        return (
            sorted(t.name for t in threading.enumerate()),
            len(os.listdir("/proc/self/task")),
        )

    engine_kind, slots = sys.argv[1], sys.argv[2]
    before = counts()
    engine = Upper() if engine_kind == "batch-engine" else "echo"
    scheduler = BatchScheduler(engine=engine, progress=True, slots=slots)
    results = scheduler(Ask, 8, [f"item-{i}" for i in range(40)], batch_size=4)
    streamed = sorted(scheduler.stream(Ask, 4, (f"gen-{i}" for i in range(30)), batch_size=4))
    during = counts()
    scheduler.cleanup()
    python_after = counts()[0]
    # grpc's core ends its own threads on a thread of its own once cleanup()
    # released the last channel: wait a moment for the OS count to settle.
    deadline = time.monotonic() + 5
    while counts()[1] > before[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    after = [python_after, counts()[1]]
    print(json.dumps({
        "before": before, "during": during, "after": after,
        "results": len(results), "streamed": len(streamed),
        "sample": str(results[0]),
    }))
    """
)


@pytest.mark.parametrize(
    ("engine", "slots"),
    [("batch-engine", "thread"), ("echo", "thread"), ("echo", "greenlet")],
)
def test_cleanup_leaves_as_many_threads_as_before_the_scheduler(engine, slots):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, engine, slots],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["results"] == 40 and report["streamed"] == 30, report
    expected = "ITEM-0" if engine == "batch-engine" else "item-0"
    assert expected in report["sample"], report["sample"]
    before_names, before_os = report["before"]
    during_names, during_os = report["during"]
    after_names, after_os = report["after"]
    # The scheduler did run threads of its own (so the count can tell).
    assert during_os > before_os, report
    assert after_names == before_names, report
    assert after_os == before_os, report
