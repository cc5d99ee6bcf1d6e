"""The kinds of slots (`slots="thread"` or `"greenlet"`) and the one place
that builds them."""

from __future__ import annotations

from symbatcher.worker._affinity import Placement
from symbatcher.worker._greenlet_slots import GreenletSlots
from symbatcher.worker._slots import ItemRunner, Slots
from symbatcher.worker._thread_slots import ThreadSlots

#: The kinds `slots=` accepts.
SLOT_KINDS = ("thread", "greenlet")


def check_kind(kind: str) -> str:
    """`kind` if it names a kind of slots; else a ValueError naming `slots`."""
    if kind not in SLOT_KINDS:
        raise ValueError(f"slots: must be one of {', '.join(map(repr, SLOT_KINDS))}, got {kind!r}")
    return kind


def make_slots(
    kind: str,
    runner: ItemRunner,
    count: int,
    name: str,
    placement: Placement | None = None,
    max_stuck: int | None = None,
) -> Slots:
    """`placement`: the CPU thread slots share (None: any); greenlets run on
    the loop's thread and ignore it, as they do `max_stuck` (see
    `ThreadSlots`)."""
    if check_kind(kind) == "greenlet":
        return GreenletSlots(runner, count, name)
    return ThreadSlots(runner, count, name, placement, max_stuck)
