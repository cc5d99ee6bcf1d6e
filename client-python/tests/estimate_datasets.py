"""Synthetic datasets whose prompt lengths differ widely, for the estimate's
test and bench (`bench/estimate_accuracy.py`): each item is a distinct text
of a drawn length, so that the fake provider's usage (which grows with the
prompt) differs from item to item."""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_CHARS = 20_000


def _text(index: int, length: int) -> str:
    head = f"item {index}: "
    return head + "lorem ipsum " * (max(0, length - len(head)) // 12)


def _lengths(name: str, count: int, rng: random.Random) -> list[int]:
    draws: dict[str, Callable[[], float]] = {
        "uniform": lambda: rng.uniform(20, 4_000),
        "lognormal": lambda: rng.lognormvariate(5.7, 1.2),
        "bimodal": lambda: rng.uniform(50, 150) if rng.random() < 0.9 else rng.uniform(3_000, 6_000),
        "heavy-tail": lambda: 50 * rng.paretovariate(1.8),
    }
    if name == "sorted":
        return sorted(_lengths("lognormal", count, rng))
    return [min(MAX_CHARS, max(20, round(draws[name]()))) for _ in range(count)]


#: The five datasets: one of them sorted by length.
NAMES = ("uniform", "lognormal", "bimodal", "heavy-tail", "sorted")


def dataset(name: str, count: int, seed: int = 1) -> list[str]:
    """`count` distinct texts whose lengths follow `name`'s distribution."""
    rng = random.Random(f"{name}-{seed}")
    return [_text(i, length) for i, length in enumerate(_lengths(name, count, rng))]
