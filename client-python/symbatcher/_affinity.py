"""Which CPU a process's thread slots share.

Thread slots hold one GIL: only one of them runs Python code at a time, and
each engine call hands the GIL from one slot thread to the next. When those
threads may run on any CPU, most hand-offs wake a thread on another core,
which costs more than the switch itself on small and virtual machines
(BENCHMARKS.md, "What bounds thread slots"). Confined to one CPU, every
hand-off is a switch on the same core. The price: native code that releases
the GIL inside forward() (and threads that forward() starts, which inherit
the confinement) no longer spreads over several cores; `pin_slots=False`
(`--no-pin-slots`) keeps the slots free for that.

Linux only (`os.sched_setaffinity`); elsewhere, or when the process may use
a single CPU anyway, nothing is pinned.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("symbatcher.worker")


def _allowed() -> list[int]:
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on now (Linux), else None."""
    try:
        with open("/proc/thread-self/stat") as stat:
            # Field 39 (processor), counted after the command name, which may
            # hold spaces and is closed by the last ')'.
            return int(stat.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def slot_cpu(index: int | None = None) -> int | None:
    """The CPU for this process's thread slots: the `index`-th (modulo their
    number) of the CPUs the process may use, so that the processes of one
    supervisor spread over the cores; without `index`, the CPU the calling
    thread runs on now (the kernel spreads busy processes). None when the
    process may use a single CPU or the platform cannot pin threads."""
    allowed = _allowed()
    if len(allowed) < 2:
        return None
    if index is not None:
        return allowed[index % len(allowed)]
    current = _current_cpu()
    return current if current in allowed else allowed[0]


def pin_current_thread(cpu: int) -> None:
    """Confines the calling thread to `cpu` (a slot thread at its start)."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as err:  # the CPU went offline, or a cpuset changed
        log.debug("slot thread not pinned to CPU %d: %s", cpu, err)
