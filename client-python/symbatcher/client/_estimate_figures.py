"""The arithmetic of an estimate: totals from a stratified sample with their
range, and the time of a run online and through a provider batch.

Totals (docs/cost.md, "Estimate before you run"), over the items still to
run (all, or those not sampled when the sample's replies are reused):

cost follows the prompt's length, and the size (`item_size`) of every item
is known (a stream's is measured as it is read), so the sample's cost per
unit of size carries over:

- strata of input size (several sampled items each, of similar sizes): the
  separate ratio estimator, sum_h R_h * X_h, with R_h the stratum's sampled
  cost per unit of size and X_h the summed size of its items still to run
  (a stratum whose sampled items have no size: (N_h or N_h - n_h) * mean_h);
- strata of one sampled item (a stream's stretches, whose items' sizes
  differ widely, where a ratio through zero would misprice the fixed part of
  a prompt): the regression estimator, a * N + b * X, with the line a + b *
  size fitted to the whole sample by least squares.

The range is the 95% interval of the prediction, +/- 1.96 * sqrt(sum_h N_h
(N_h - n_h) s_h^2 / n_h), with s_h the spread of what the estimator leaves
unexplained in the stratum's sample (the residuals y - R_h x); for the
regression estimator, N (N - n) s^2 / n with s^2 the residuals' spread
around the line (n - 2 degrees of freedom).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from symbatcher.client._estimate_sample import SampleDraw

#: Two-sided 95% normal quantile.
Z_95 = 1.96
#: Share of the online price a provider batch costs (OpenAI's and Anthropic's
#: Batch APIs: half; the server's built-in `batch_discount` of 0.5).
BATCH_PRICE_SHARE = 0.5
#: A provider batch's turnaround when none was measured: OpenAI's completion
#: window, an upper bound.
DEFAULT_WINDOW_S = 24 * 3600.0


@dataclass(frozen=True)
class Extrapolated:
    """A total over the items still to run, and its 95% range."""

    total: float
    low: float
    high: float


def _variance(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares intercept and slope of ys on xs (a flat line when the
    xs do not vary)."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def extrapolate(draw: SampleDraw, values: Sequence[float], reused: bool) -> Extrapolated:
    """The total of `values` (one per sampled item, in `draw.indices` order)
    over the dataset's items still to run: all of them, or those not sampled
    when the sample's replies are `reused`."""
    if any(len(stratum.drawn) < 2 for stratum in draw.strata):
        return _by_regression(draw, values, reused)
    total = 0.0
    variance = 0.0
    for stratum in draw.strata:
        n = len(stratum.drawn)
        ys = [values[p] for p in stratum.drawn]
        xs = [draw.sizes[p] for p in stratum.drawn]
        if sum(xs) > 0:
            rate = sum(ys) / sum(xs)
            total += rate * (stratum.item_sizes - (sum(xs) if reused else 0))
            residuals = [y - rate * x for x, y in zip(xs, ys)]
        else:
            total += (stratum.size - n if reused else stratum.size) * sum(ys) / n
            residuals = ys
        variance += stratum.size * (stratum.size - n) * _variance(residuals) / n
    return _interval(total, variance)


def _by_regression(draw: SampleDraw, values: Sequence[float], reused: bool) -> Extrapolated:
    """Strata of one sampled item (a stream's stretches): one line a + b *
    size through the whole sample, summed over the items still to run."""
    n = len(values)
    intercept, slope = _line(draw.sizes, values)
    items = draw.total - (n if reused else 0)
    sizes = sum(s.item_sizes for s in draw.strata) - (sum(draw.sizes) if reused else 0)
    residuals = [y - intercept - slope * x for x, y in zip(draw.sizes, values)]
    spread = sum(e * e for e in residuals) / (n - 2) if n > 2 else _variance(values)
    return _interval(intercept * items + slope * sizes, draw.total * (draw.total - n) * spread / n)


def _interval(total: float, variance: float) -> Extrapolated:
    half = Z_95 * math.sqrt(variance)
    return Extrapolated(total, max(0.0, total - half), total + half)


@dataclass(frozen=True)
class OnlineLimits:
    """What bounds an online engine's pace (its Status): requests and tokens
    per minute, and requests at once (0: none)."""

    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0


def online_seconds(
    *,
    items: int,
    calls_per_item: float,
    tokens_per_item: float,
    num_workers: int,
    limits: OnlineLimits,
    sample_items_per_s: float | None,
    call_latency_s: float | None,
) -> tuple[float | None, str]:
    """Seconds to run `items` online, and what bounds them: the slowest of
    the pace the sample ran at with the same slots (or, unmeasured, the slots
    each waiting on one call at a time), the engine's rpm, tpm and requests
    at once. None when nothing measured bounds it."""
    calls = items * calls_per_item
    bounds: list[tuple[float, str]] = []
    if sample_items_per_s:
        bounds.append((items / sample_items_per_s, f"{sample_items_per_s:,.1f} items/s as the sample ran"))
    elif call_latency_s:
        bounds.append((calls * call_latency_s / num_workers, f"{num_workers} slots at {call_latency_s:.2f} s a call"))
    if limits.rpm:
        bounds.append((calls / limits.rpm * 60, f"the engine's rpm {limits.rpm:,}"))
    if limits.tpm:
        bounds.append((items * tokens_per_item / limits.tpm * 60, f"the engine's tpm {limits.tpm:,}"))
    if limits.concurrency and call_latency_s:
        bounds.append(
            (calls * call_latency_s / limits.concurrency, f"{limits.concurrency} requests at once")
        )
    if not bounds:
        return None, "no online call measured"
    return max(bounds)


def window_seconds(window: str) -> float:
    """A completion window ("24h", "90m") in seconds; the default when not
    of that form."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", window)
    if not match:
        return DEFAULT_WINDOW_S
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * unit


def duration(seconds: float) -> str:
    """`45s`, `12m 5s`, `3h 20m`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"
