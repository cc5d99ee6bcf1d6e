"""Turning a sample job's results, its summary and the server's Status into
an `Estimate` (see docs/cost.md, "Estimate before you run")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from symbatcher.client._estimate import Estimate, ModeEstimate, SampleMeasures
from symbatcher.client._estimate_figures import (
    BATCH_PRICE_SHARE,
    DEFAULT_WINDOW_S,
    OnlineLimits,
    duration,
    extrapolate,
    online_seconds,
)
from symbatcher.client._estimate_sample import SampleDraw
from symbatcher.client._summary import ItemUsage, JobSummary
from symbatcher.v1 import status_pb2

#: Engine kinds that answer through a provider's batch API, and those that
#: send a request per call.
BATCH_KINDS = ("openai-batch",)
ONLINE_KINDS = ("openai", "anthropic")
#: Engine kinds whose jobs use the call cache unless they set `cache`
#: (the server's rule: engines that call a provider).
CACHED_KINDS = BATCH_KINDS + ONLINE_KINDS


@dataclass(frozen=True)
class EstimateContext:
    """What the scheduler knows besides the sample job: its options and
    the server's engines."""

    #: The job's `cache` option ("" for the server's choice).
    cache: str
    #: The engine the job ran on (the server's default when it named none).
    engine: str
    num_workers: int
    status: status_pb2.StatusResponse
    #: Whether a `BatchEngine` served from this process asks to be cached.
    local_engine_cached: bool = False
    #: Completion window of the provider batch engine, in seconds.
    batch_window_s: float = DEFAULT_WINDOW_S


def sample_reuse(context: EstimateContext, kind: str) -> tuple[bool, str]:
    """Whether the run gets the sample's replies from the call cache, and why."""
    if not context.status.cache.dir:
        return False, "the server keeps no call cache: the run pays for the sample's items again"
    if context.cache == "off":
        return False, "cache='off': the run pays for the sample's items again"
    if context.cache == "refresh":
        return False, "cache='refresh': the run sends the sample's calls again"
    if context.cache == "use" or kind in CACHED_KINDS or (kind == "python" and context.local_engine_cached):
        return True, "its replies are in the call cache: the run pays nothing for them"
    return False, (
        f"engine {context.engine!r} ({kind or 'unknown'}) is not cached by default "
        "(cache='use' caches it): the run pays for the sample's items again"
    )


def _engine(status: status_pb2.StatusResponse, name: str) -> status_pb2.EngineStatus | None:
    return next((e for e in status.engines if e.name == name), None)


def _of_kind(status: status_pb2.StatusResponse, kinds: Sequence[str]) -> status_pb2.EngineStatus | None:
    found = [e for e in status.engines if e.kind in kinds]
    return found[0] if len(found) == 1 else None


def measure(draw: SampleDraw, usages: Mapping[int, ItemUsage], results: Sequence[object], summary: JobSummary) -> SampleMeasures:
    """Per-item means of the sample (items without usage made no call)."""
    count = len(draw.indices)
    usage = [usages.get(i, ItemUsage()) for i in range(count)]
    failures = [r for r in results if isinstance(r, BaseException)]
    return SampleMeasures(
        indices=draw.indices,
        failed=len(failures),
        strata=len(draw.strata),
        by_size=draw.by_size,
        calls_per_item=sum(u.calls for u in usage) / count,
        steps=max((u.calls for u in usage), default=0),
        prompt_tokens_per_item=sum(u.prompt_tokens for u in usage) / count,
        completion_tokens_per_item=sum(u.completion_tokens for u in usage) / count,
        cost_per_item_usd=sum(u.cost_usd for u in usage) / count,
        cost_usd=summary.cost_usd,
        unpriced_calls=summary.unpriced_calls,
        cached_calls=summary.cache_hits + summary.coalesced_calls,
        seconds=summary.wall_seconds,
        latency_p50_ms=summary.engine_latency_p50_ms,
        engine=summary.engine,
        first_error=f"{type(failures[0]).__name__}: {failures[0]}" if failures else "",
    )


def steady_rate(finished: Sequence[float], num_workers: int) -> float | None:
    """Items per second of a sample job once running: results after the
    first over the time from the first to the last (the job's start, and the
    slots' first wait, left out). None when every item could run at once
    (no more items than slots): their pace says nothing of the slots'."""
    if len(finished) <= num_workers:
        return None
    span = max(finished) - min(finished)
    return (len(finished) - 1) / span if span > 0 else None


def build(
    draw: SampleDraw,
    usages: Mapping[int, ItemUsage],
    results: Sequence[object],
    summary: JobSummary,
    context: EstimateContext,
    finished: Sequence[float] = (),
) -> Estimate:
    """The estimate of the whole dataset from its sample job (`finished`:
    when each of its results with usage arrived, in seconds)."""
    sample = measure(draw, usages, results, summary)
    engine = _engine(context.status, context.engine)
    kind = engine.kind if engine is not None else ""
    reused, note = sample_reuse(context, kind)
    count = len(draw.indices)
    to_run = draw.total - count if reused else draw.total
    used = [usages.get(i, ItemUsage()) for i in range(count)]
    fresh = [1 - (u.cache_hits + u.coalesced) / u.calls if u.calls else 1.0 for u in used]
    cost = extrapolate(draw, [u.cost_usd for u in used], reused, fresh)
    sampled_batch = kind in BATCH_KINDS
    online_engine = engine if not sampled_batch else _of_kind(context.status, ONLINE_KINDS)
    batch_engine = engine if sampled_batch else _of_kind(context.status, BATCH_KINDS)
    # The sample ran in one mode; the other mode's price is the batch share of it, or the reverse.
    to_online = 1 / BATCH_PRICE_SHARE if sampled_batch else 1.0
    to_batch = 1.0 if sampled_batch else BATCH_PRICE_SHARE
    tokens = sample.prompt_tokens_per_item + sample.completion_tokens_per_item
    latency_s = None
    if online_engine is not None and not sampled_batch and sample.latency_p50_ms:
        latency_s = sample.latency_p50_ms / 1000
    elif online_engine is not None and online_engine.calls and online_engine.latency.p50_ms:
        latency_s = online_engine.latency.p50_ms / 1000
    limits = OnlineLimits()
    if online_engine is not None:
        concurrency = online_engine.concurrency_limit or online_engine.max_concurrency
        limits = OnlineLimits(online_engine.rpm, online_engine.tpm, concurrency)
    seconds, basis = online_seconds(
        items=to_run,
        calls_per_item=sample.calls_per_item,
        tokens_per_item=tokens,
        num_workers=context.num_workers,
        limits=limits,
        sample_items_per_s=None if sampled_batch else steady_rate(finished, context.num_workers),
        call_latency_s=latency_s,
    )
    online = ModeEstimate(
        mode="online",
        engine=online_engine.name if online_engine is not None else "",
        cost_usd=cost.total * to_online,
        cost_range_usd=(cost.low * to_online, cost.high * to_online),
        seconds=seconds,
        time_basis=basis,
    )
    batch = None
    if batch_engine is not None:
        steps = max(1, sample.steps)
        if sampled_batch:
            turnaround = sample.seconds / steps
            basis = f"{steps} provider batch{'es' if steps != 1 else ''} in a row, {duration(turnaround)} each as the sample's took"
        else:
            turnaround = context.batch_window_s
            basis = (
                f"at most {steps} provider batch{'es' if steps != 1 else ''} in a row of the {duration(turnaround)} completion "
                "window each; none measured"
            )
        batch = ModeEstimate(
            mode="batch",
            engine=batch_engine.name,
            cost_usd=cost.total * to_batch,
            cost_range_usd=(cost.low * to_batch, cost.high * to_batch),
            seconds=steps * turnaround if to_run else 0.0,
            time_basis=basis,
        )
    return Estimate(
        items=draw.total,
        to_run=to_run,
        sample=sample,
        sample_reused=reused,
        reuse_note=note,
        online=online,
        batch=batch,
        mode="batch" if sampled_batch else "online",
    )
