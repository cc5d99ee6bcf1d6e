"""The arithmetic of an estimate: totals from a stratified sample with their
range, and the time of a run online and through a provider batch.

Totals (docs/cost.md, "Estimate before you run") are over the items still
to run (all, or those not sampled when the sample's replies are reused). An
item's cost follows the prompt's length, and the size (`item_size`) of every item
is known (a stream's is measured as it is read), so the regression
estimator carries the sample over to them: a * N + b * X, with N the items
still to run, X their summed size, and the line a + b * size fitted to the
sample by least squares. The intercept prices the part of a prompt that
every item shares (the instruction, symai's template), the slope the part
that grows with the input; when cost does not follow size the slope is about
0 and the estimate is the sample's mean times N. The sample is drawn in
proportion from every stratum, so the plain fit weighs strata rightly.
Sampled calls answered from the call cache (an earlier run or estimate sent
them) are free for the run too: the line is fitted to the items whose calls
were all sent, and the total scaled by the share of the sample's calls that
were sent, as the items still to run are likely cached in that share.

The range is the 95% interval of the prediction, +/- 1.96 * sqrt(sum_h N_h
(N_h - n_h) s_h^2 / n_h), with s_h the spread, within stratum h, of the
residuals y - a - b * size. When the strata hold a single sampled item (a
stream's stretches), N (N - n) s^2 / n, with s^2 the residuals' spread
(n - 2 degrees of freedom), as for a simple random sample; scaled by the
share sent, whose binomial spread is added.
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


def extrapolate(
    draw: SampleDraw, values: Sequence[float], reused: bool, fresh: Sequence[float] | None = None
) -> Extrapolated:
    """The total of `values` (one per sampled item, in `draw.indices` order)
    over the dataset's items still to run: all of them, or those not sampled
    when the sample's replies are `reused` (see the module). `fresh`: the
    share of each sampled item's calls that were sent (not answered from the
    cache); the line is fitted to the items sent whole, and the total scaled
    by the sample's share of calls sent."""
    n = len(values)
    fresh = fresh if fresh is not None else [1.0] * n
    fitted = [p for p in range(n) if fresh[p] >= 1.0]
    if len(fitted) < 2:
        # (Almost) every sampled call came from the cache: the run will pay as little.
        fitted = list(range(n))
    intercept, slope = _line([draw.sizes[p] for p in fitted], [values[p] for p in fitted])
    items = draw.total - (n if reused else 0)
    sizes = sum(s.item_sizes for s in draw.strata) - (sum(draw.sizes) if reused else 0)
    residual = {p: values[p] - intercept - slope * draw.sizes[p] for p in fitted}
    kept = [[p for p in stratum.drawn if p in residual] for stratum in draw.strata]
    if all(len(k) >= 2 for k in kept):
        variance = 0.0
        for stratum, k in zip(draw.strata, kept):
            spread = _variance([residual[p] for p in k])
            variance += stratum.size * (stratum.size - len(k)) * spread / len(k)
    else:
        m = len(residual)
        spread = sum(e * e for e in residual.values()) / (m - 2) if m > 2 else _variance(values)
        variance = draw.total * (draw.total - m) * spread / m
    total = intercept * items + slope * sizes
    share = sum(fresh) / n
    # The share sent is itself a sample's: its binomial spread widens the range.
    share_variance = share * (1 - share) / n * (1 - n / draw.total)
    return _interval(total * share, share**2 * variance + total**2 * share_variance)


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
