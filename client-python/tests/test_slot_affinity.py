"""Thread slots share one CPU (`pin_slots`, on by default): every slot
thread of a worker is confined to the same core, so the GIL passes between
them without waking a thread on another core. Greenlet slots run on the
loop's thread and are not pinned; `pin_slots=False` leaves thread slots free.
Slots whose CPU other work keeps busy move to a less busy one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pytest
from symai import Expression

from symbatcher import BatchScheduler
from symbatcher.worker import _affinity
from symbatcher.cli.supervisor import _child_argv

ALLOWED = sorted(os.sched_getaffinity(0))


class SlotCpus(Expression):
    def forward(self, input, **kwargs):
        return sorted(os.sched_getaffinity(0))


def _cpu_sets(scheduler: BatchScheduler) -> set[tuple[int, ...]]:
    return {tuple(cpus) for cpus in scheduler(SlotCpus, 8, list(range(32)), batch_size=4)}


def test_thread_slots_share_one_of_the_process_cpus(scheduler):
    cpu_sets = _cpu_sets(scheduler)
    if len(ALLOWED) >= 2:
        assert len(cpu_sets) == 1, cpu_sets
        (cpus,) = cpu_sets
        assert len(cpus) == 1 and cpus[0] in ALLOWED, cpus
    else:  # one CPU: nothing to pin
        assert cpu_sets == {tuple(ALLOWED)}


def test_pin_slots_false_leaves_thread_slots_on_every_cpu():
    with BatchScheduler(engine="echo", pin_slots=False) as scheduler:
        assert _cpu_sets(scheduler) == {tuple(ALLOWED)}


def test_greenlet_slots_are_not_pinned():
    with BatchScheduler(engine="echo", slots="greenlet") as scheduler:
        assert _cpu_sets(scheduler) == {tuple(ALLOWED)}


def test_slot_cpu_spreads_indices_over_the_allowed_cpus():
    if len(ALLOWED) >= 2:
        assert [_affinity.slot_cpu(k) for k in range(len(ALLOWED) + 1)] == [*ALLOWED, ALLOWED[0]]
        assert _affinity.slot_cpu() in ALLOWED
    else:
        assert _affinity.slot_cpu(0) is None and _affinity.slot_cpu() is None


def test_the_supervisor_gives_each_child_its_cpu_index_or_passes_the_opt_out():
    args = argparse.Namespace(
        expressions=["m:E"], server="h:1", concurrency=4, slots="thread", app_dir=".",
        grace=30.0, connect_timeout=0.0, log_level="INFO", allow_pickle=False, prefetch=None,
        pin_slots=True, token_file=None, tls=False, tls_ca=None, tls_client_cert=None,
        tls_client_key=None, max_stuck_threads=None,
    )
    argv = _child_argv(args, "w-1", 1)
    assert argv[argv.index("--slot-cpu-index") + 1] == "1"
    args.pin_slots = False
    argv = _child_argv(args, "w-1", 1)
    assert "--no-pin-slots" in argv and "--slot-cpu-index" not in argv


class BusySlotCpus(Expression):
    """Keeps its slot's CPU busy for `seconds`, then reports where it ran."""

    def forward(self, input, seconds=0.05, **kwargs):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass
        return sorted(os.sched_getaffinity(0))


def test_less_crowded_moves_only_off_a_cpu_that_others_keep_busy():
    # Others use 0.5 of CPU 0 beside the slots' 0.5: CPU 1 at 0.1 is clearly less busy.
    assert _affinity.less_crowded({0: 1.0, 1: 0.1}, ours=0.5, cpu=0) == 1
    # The slots alone keep their CPU busy: they stay.
    assert _affinity.less_crowded({0: 1.0, 1: 0.0}, ours=0.95, cpu=0) is None
    # Others use 0.5 of CPU 0 but every other CPU is as busy: nowhere better.
    assert _affinity.less_crowded({0: 1.0, 1: 0.45}, ours=0.5, cpu=0) is None
    # The least busy of several CPUs.
    assert _affinity.less_crowded({0: 0.9, 1: 0.5, 2: 0.0, 3: 0.2}, ours=0.2, cpu=0) == 2


def test_a_placement_moves_only_after_two_crowded_checks_in_a_row(monkeypatch):
    # Cumulative (busy, total) ticks of CPUs 0 and 1 at each check; the
    # placement has no slot thread, so all of CPU 0's load is other work.
    readings = iter([
        {0: (0, 0), 1: (0, 0)},
        {0: (100, 100), 1: (10, 100)},  # CPU 0 full, CPU 1 at 10%: crowded once
        {0: (110, 200), 1: (20, 200)},  # CPU 0 at 10%: not crowded
        {0: (210, 300), 1: (30, 300)},  # crowded once more
        {0: (310, 400), 1: (40, 400)},  # and again: move to CPU 1
    ])
    monkeypatch.setattr(_affinity, "_cpu_ticks", lambda: next(readings))
    monkeypatch.setattr(_affinity, "_allowed", lambda: [0, 1])
    placement = _affinity.Placement(0)
    assert [placement.check() for _ in range(5)] == [None, None, None, None, 1]
    assert placement.cpu == 1


@pytest.fixture
def busy_cpu():
    """Another process that keeps one allowed CPU busy: (that CPU, the process)."""
    if len(ALLOWED) < 2:
        pytest.fail("this test needs a process allowed on 2 CPUs or more")
    cpu = ALLOWED[0]
    hog = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"]
    )
    try:
        yield cpu
    finally:
        hog.kill()
        hog.wait()


def test_slots_move_off_a_cpu_another_process_keeps_busy(busy_cpu, monkeypatch):
    # The slots start on the hog's CPU, and are checked every ~0.2 s.
    monkeypatch.setattr(_affinity, "slot_cpu", lambda index=None: busy_cpu)
    monkeypatch.setattr(_affinity, "REBALANCE_S", 0.2)
    with BatchScheduler(engine="echo") as scheduler:
        started = time.monotonic()
        cpu_sets = scheduler(BusySlotCpus, 2, list(range(40)), batch_size=2)
    assert cpu_sets[0] == [busy_cpu], cpu_sets[0]  # started pinned there
    assert all(len(cpus) == 1 for cpus in cpu_sets), cpu_sets
    assert cpu_sets[-1] != [busy_cpu], (cpu_sets, time.monotonic() - started)
