"""Thread slots share one CPU (`pin_slots`, on by default): every slot
thread of a worker is confined to the same core, so the GIL passes between
them without waking a thread on another core. Greenlet slots run on the
loop's thread and are not pinned; `pin_slots=False` leaves thread slots free."""

from __future__ import annotations

import argparse
import os

from symai import Expression

from symbatcher import BatchScheduler, _affinity
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
        pin_slots=True, token_file=None, tls=False, tls_ca=None,
    )
    argv = _child_argv(args, "w-1", 1)
    assert argv[argv.index("--slot-cpu-index") + 1] == "1"
    args.pin_slots = False
    argv = _child_argv(args, "w-1", 1)
    assert "--no-pin-slots" in argv and "--slot-cpu-index" not in argv
