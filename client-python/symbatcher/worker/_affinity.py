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

A pinned thread cannot be moved by the kernel, so two busy processes pinned
to one core would share it while another idles: `Placement.check`, run by
the worker every `REBALANCE_S` or so, moves the slots to a less busy CPU
when other work keeps theirs busy at two checks in a row (one busy moment
of the event loop's thread on the slots' core is not enough).

Linux only (`os.sched_setaffinity`, /proc); elsewhere, or when the process
may use a single CPU anyway, nothing is pinned.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("symbatcher.worker")

#: How often a worker looks at the load of its slots' CPU, in seconds (each
#: wait drawn between 0.75 and 1.25 times it, so that two crowded workers
#: seldom move at the same moment).
REBALANCE_S = 2.0
#: The share of a core that other threads must keep busy on the slots' CPU
#: before the slots move ...
CROWDED = 0.3
#: ... to a CPU at least this share of a core less busy than that.
MARGIN = 0.2


def _allowed() -> list[int]:
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def _stat_fields(path: str, *fields: int) -> list[int] | None:
    """Fields (1-based, as in proc(5)) of a /proc .../stat file, read once,
    or None when it cannot be read. Counted after the command name, which
    may hold spaces and is closed by the last ')' (field 2)."""
    try:
        with open(path) as stat:
            values = stat.read().rsplit(")", 1)[1].split()
        return [int(values[field - 3]) for field in fields]
    except (OSError, ValueError, IndexError):
        return None


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on now (Linux), else None."""
    processor = _stat_fields("/proc/thread-self/stat", 39)
    return processor[0] if processor else None


def slot_cpu(index: int | None = None) -> int | None:
    """The CPU for this process's thread slots: the `index`-th (modulo their
    number) of the CPUs the process may use, so that the processes of one
    supervisor spread over the cores; without `index`, the CPU the calling
    thread runs on now. None when the process may use a single CPU or the
    platform cannot pin threads."""
    allowed = _allowed()
    if len(allowed) < 2:
        return None
    if index is not None:
        return allowed[index % len(allowed)]
    current = _current_cpu()
    return current if current in allowed else allowed[0]


def _cpu_ticks() -> dict[int, tuple[int, int]]:
    """Busy and total clock ticks of every CPU since boot (/proc/stat)."""
    ticks: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu":
                continue
            fields = [int(x) for x in rest.split()]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            total = sum(fields[:8])  # guest time is counted in user already
            ticks[int(name[3:])] = (total - idle, total)
    return ticks


def _thread_ticks(native_id: int) -> int:
    """User + system clock ticks of one of this process's threads (0 once it
    ended)."""
    times = _stat_fields(f"/proc/self/task/{native_id}/stat", 14, 15)  # utime, stime
    return sum(times) if times else 0


def less_crowded(busy: dict[int, float], ours: float, cpu: int) -> int | None:
    """Where the slots should go, given each allowed CPU's busy share of the
    last interval (`busy`), the share of it the slots used (`ours`, all on
    `cpu`): the least busy CPU when other threads kept `cpu` at least
    CROWDED busy and that CPU is MARGIN less busy than they were; else None."""
    others = busy.get(cpu, 0.0) - ours
    if others < CROWDED:
        return None
    target = min((c for c in busy if c != cpu), key=lambda c: (busy[c], c), default=None)
    if target is None or busy[target] > others - MARGIN:
        return None
    return target


class Placement:
    """The CPU a worker's thread slots share, and the slot threads on it."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self._lock = threading.Lock()
        self._threads: set[int] = set()
        self._last: tuple[dict[int, tuple[int, int]], dict[int, int]] | None = None
        #: Whether the last check found the CPU crowded.
        self._crowded = False

    def pin_calling_thread(self) -> None:
        """Called by a slot thread as it starts: pins it to the CPU."""
        native_id = threading.get_native_id()
        with self._lock:
            self._threads.add(native_id)
            cpu = self.cpu
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as err:  # the CPU went offline, or a cpuset changed
            log.debug("slot thread not pinned to CPU %d: %s", cpu, err)

    def forget_calling_thread(self) -> None:
        """Called by a slot thread as it ends."""
        with self._lock:
            self._threads.discard(threading.get_native_id())

    def check(self) -> int | None:
        """Moves the slots when other work crowds their CPU (see
        `less_crowded`) over the last two intervals; returns the new CPU, or
        None. The first call only takes the readings the next one compares
        against."""
        allowed = set(_allowed())
        with self._lock:
            threads = list(self._threads)
            cpu = self.cpu
        try:
            cpus = _cpu_ticks()
        except (OSError, ValueError, IndexError):
            return None
        mine = {t: _thread_ticks(t) for t in threads}
        last, self._last = self._last, (cpus, mine)
        if last is None:
            return None
        before_cpus, before_mine = last
        busy: dict[int, float] = {}
        for c, (used, total) in cpus.items():
            if c in allowed and c in before_cpus and total > before_cpus[c][1]:
                busy[c] = (used - before_cpus[c][0]) / (total - before_cpus[c][1])
        if cpu not in busy:
            return None
        span = cpus[cpu][1] - before_cpus[cpu][1]
        # A slot thread started since the last reading spent all its ticks since.
        ours = sum(mine[t] - before_mine.get(t, 0) for t in mine) / span
        target = less_crowded(busy, min(ours, busy[cpu]), cpu)
        crowded_before, self._crowded = self._crowded, target is not None
        if target is None or not crowded_before:
            return None
        self._crowded = False
        with self._lock:
            self.cpu = target
            threads = list(self._threads)
        for native_id in threads:
            try:
                os.sched_setaffinity(native_id, {target})
            except OSError:
                pass  # ended meanwhile
        self._last = None  # measure afresh on the new CPU
        log.info(
            "thread slots moved from CPU %d to CPU %d: other work kept %.0f%% of it busy",
            cpu, target, 100 * (busy[cpu] - ours),
        )
        return target
