"""Drawing an estimate's sample across a dataset.

A sized dataset (a list, tuple, any `Sequence`) is stratified by input size:
its indices are ordered by the size of their item (`item_size`) and cut into
strata of nearly equal count, and each stratum gives the same share of the
sample, drawn at random within it (proportional allocation). The summed size
of each stratum is kept, for the regression estimator (`_estimate_figures`). A dataset read
as a stream (a generator, a file reader) has no sizes known ahead: given its
`total` count, it is cut by position into as many strata as the sample has
items, and one item is drawn at random from each (so the sample spans the
whole stream, not its head); only the items drawn are kept, and the summed
size of each stretch (the stream is read to its `total`-th item).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Default sample: this share of the dataset, at least `MIN_SAMPLE` items
#: (or all of them when fewer).
DEFAULT_FRACTION = 0.01
MIN_SAMPLE = 50
#: Items per size stratum (so each stratum's spread can be measured), and
#: the most strata.
ITEMS_PER_STRATUM = 5
MAX_STRATA = 10


@dataclass(frozen=True)
class Stratum:
    """One stratum: the dataset's items in it, the sample's positions (into
    `SampleDraw.indices`) drawn from it, and the summed size of all its items
    (`item_size`)."""

    size: int
    drawn: tuple[int, ...]
    item_sizes: int


@dataclass(frozen=True)
class SampleDraw:
    """The sample: dataset indices in increasing order, their items and
    sizes, and the strata they were drawn from (`by_size`: strata of input
    size; else of position in a stream)."""

    total: int
    indices: tuple[int, ...]
    items: tuple[object, ...]
    strata: tuple[Stratum, ...]
    by_size: bool
    sizes: tuple[int, ...] = ()


def sample_count(sample: int | float | None, total: int) -> int:
    """Items to draw from `total`: `sample` is a count (int >= 1) or a share
    (a float in (0, 1]); None: 1% with at least 50. ValueError or TypeError
    naming `sample` otherwise."""
    if sample is None:
        wanted = max(MIN_SAMPLE, math.ceil(total * DEFAULT_FRACTION))
    elif isinstance(sample, bool) or not isinstance(sample, (int, float)):
        raise TypeError(f"sample: must be a count (int) or a share (float), got {type(sample).__name__}")
    elif isinstance(sample, int):
        if sample < 1:
            raise ValueError(f"sample: a count must be at least 1, got {sample}")
        wanted = sample
    else:
        if not 0 < sample <= 1:
            raise ValueError(f"sample: a share must be in (0, 1], got {sample}")
        wanted = max(1, math.ceil(total * sample))
    return min(wanted, total)


def item_size(item: object) -> int:
    """The size an item is stratified by: its length as text."""
    if isinstance(item, (str, bytes)):
        return len(item)
    return len(str(item))


def draw(dataset: Iterable[object], sample: int | float | None, total: int | None, seed: int | None) -> SampleDraw:
    """Draws the sample from `dataset` (see the module), at random (`seed`
    None) or repeatably. A dataset without `len()` needs `total`; a stream
    shorter than `total` is an error."""
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 1):
        raise ValueError(f"total: must be the dataset's item count (an int >= 1), got {total!r}")
    rng = random.Random(seed)
    if isinstance(dataset, Sequence) and not isinstance(dataset, (str, bytes)):
        if total is not None and total != len(dataset):
            raise ValueError(f"total: the dataset has {len(dataset)} items, not {total}")
        return _draw_by_size(dataset, sample, rng)
    if total is None:
        raise ValueError(
            f"total: a dataset without len() ({type(dataset).__name__}) is read as a stream; "
            "pass total=<its item count> so the sample can be drawn across all of it"
        )
    return _draw_from_stream(dataset, sample, total, rng)


def _split(count: int, parts: int) -> list[int]:
    """`count` cut into `parts` nearly equal whole numbers."""
    base, extra = divmod(count, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _draw_by_size(dataset: Sequence[object], sample: int | float | None, rng: random.Random) -> SampleDraw:
    total = len(dataset)
    if total == 0:
        raise ValueError("dataset: is empty, there is nothing to estimate")
    count = sample_count(sample, total)
    sizes_of = [item_size(item) for item in dataset]
    ordered = sorted(range(total), key=sizes_of.__getitem__)
    parts = max(1, min(MAX_STRATA, count // ITEMS_PER_STRATUM))
    chosen: list[tuple[int, int]] = []  # (dataset index, stratum)
    start = 0
    sizes = _split(total, parts)
    summed: list[int] = []
    for stratum, (size, wanted) in enumerate(zip(sizes, _split(count, parts))):
        members = ordered[start : start + size]
        start += size
        summed.append(sum(sizes_of[i] for i in members))
        chosen += [(index, stratum) for index in rng.sample(members, wanted)]
    chosen.sort()
    drawn: list[list[int]] = [[] for _ in range(parts)]
    for position, (_, stratum) in enumerate(chosen):
        drawn[stratum].append(position)
    return SampleDraw(
        total=total,
        indices=tuple(index for index, _ in chosen),
        items=tuple(dataset[index] for index, _ in chosen),
        strata=tuple(Stratum(size, tuple(d), x) for size, d, x in zip(sizes, drawn, summed)),
        by_size=True,
        sizes=tuple(sizes_of[index] for index, _ in chosen),
    )


def _draw_from_stream(dataset: Iterable[object], sample: int | float | None, total: int, rng: random.Random) -> SampleDraw:
    count = sample_count(sample, total)
    lengths = _split(total, count)
    wanted: list[int] = []
    start = 0
    for length in lengths:
        wanted.append(start + rng.randrange(length))
        start += length
    items: list[object] = []
    sizes: list[int] = []
    summed = [0] * count
    stretch, stretch_end, seen = 0, lengths[0], 0
    for item in dataset:
        if seen == stretch_end:
            stretch += 1
            stretch_end += lengths[stretch]
        size = item_size(item)
        summed[stretch] += size
        if seen == wanted[stretch]:
            items.append(item)
            sizes.append(size)
        seen += 1
        if seen == total:
            break
    if seen < total:
        raise ValueError(f"total: the dataset ended after {seen} items, fewer than total={total}")
    return SampleDraw(
        total=total,
        indices=tuple(wanted),
        items=tuple(items),
        strata=tuple(Stratum(length, (p,), x) for p, (length, x) in enumerate(zip(lengths, summed))),
        by_size=False,
        sizes=tuple(sizes),
    )
