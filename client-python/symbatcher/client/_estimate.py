"""`Estimate`: what a run over a dataset will cost and take, from a sample
(`BatchScheduler.estimate`)."""

from __future__ import annotations

from dataclasses import dataclass

from symbatcher._usd import usd
from symbatcher.client._estimate_figures import duration


@dataclass(frozen=True)
class ModeEstimate:
    """Cost and time of the run in one mode: "online" (a request per call,
    under the engine's rpm, tpm and concurrency) or "batch" (a provider
    batch per step of forward(), at the batch price)."""

    mode: str
    #: The engine that would answer ("" when the server has none for the mode).
    engine: str
    #: US dollars the run will pay (the point figure).
    cost_usd: float
    #: 95% range of `cost_usd`, from the sample's spread.
    cost_range_usd: tuple[float, float]
    #: Seconds the run will take; None when nothing measured bounds it.
    seconds: float | None
    #: What `seconds` rests on (the bound that dominates, or the batch
    #: turnaround used and where it comes from).
    time_basis: str

    def describe(self) -> str:
        """`online $1.23 ($1.10-$1.36), about 4m 10s (12.0 items/s as the sample ran)`."""
        low, high = self.cost_range_usd
        when = "time unknown" if self.seconds is None else f"about {duration(self.seconds)}"
        return f"{self.mode} {usd(self.cost_usd)} ({usd(low)}-{usd(high)}), {when} ({self.time_basis})"


@dataclass(frozen=True)
class SampleMeasures:
    """What the sample measured, per item unless said otherwise."""

    #: Dataset indices of the sampled items, increasing.
    indices: tuple[int, ...]
    failed: int
    #: Strata the sample was drawn from, and whether by input size (else by
    #: position in a stream).
    strata: int
    by_size: bool
    calls_per_item: float
    #: Most engine calls one item made (forward()'s steps, one after another).
    steps: int
    prompt_tokens_per_item: float
    completion_tokens_per_item: float
    cost_per_item_usd: float
    #: US dollars the sample's requests cost (already spent).
    cost_usd: float
    #: Calls of models with no price (their cost is in no figure).
    unpriced_calls: int
    #: Calls answered from the call cache or by an identical call in flight
    #: (free, as they will be for the run: the figures count them so).
    cached_calls: int
    seconds: float
    #: Engine call latency (median), in ms.
    latency_p50_ms: float
    #: The engine that answered the sample.
    engine: str
    #: The first failed item's error, "" when none failed.
    first_error: str = ""

    @property
    def items(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Estimate:
    """Cost and time of running a dataset, from a sample run as a normal job.

    `cost_usd`, `cost_range_usd` and `seconds` are those of the mode this
    scheduler's engine runs in (`mode`); `online` and `batch` give both where
    the server has a provider batch engine (`batch` is None otherwise).
    Costs are what the run will pay: when the sample's replies are reused
    from the call cache (`sample_reused`), the sampled items cost nothing
    again and `to_run` leaves them out.
    """

    #: Items in the dataset.
    items: int
    #: Items the run will pay for.
    to_run: int
    sample: SampleMeasures
    sample_reused: bool
    #: Why the sample's replies are reused, or are not.
    reuse_note: str
    online: ModeEstimate
    batch: ModeEstimate | None
    #: "online" or "batch": the mode of this scheduler's engine.
    mode: str

    @property
    def chosen(self) -> ModeEstimate:
        """The estimate of `mode`."""
        if self.mode == "batch" and self.batch is not None:
            return self.batch
        return self.online

    @property
    def cost_usd(self) -> float:
        return self.chosen.cost_usd

    @property
    def cost_range_usd(self) -> tuple[float, float]:
        return self.chosen.cost_range_usd

    @property
    def seconds(self) -> float | None:
        return self.chosen.seconds

    def describe(self) -> str:
        """One line: the dataset, the sample, and each mode's cost and time."""
        sample = self.sample
        drawn = "size strata" if sample.by_size else "stretches of the stream"
        text = (
            f"estimate for {self.items:,} items ({self.to_run:,} to pay for): sample of {sample.items} "
            f"across {sample.strata} {drawn} cost {usd(sample.cost_usd)} in {duration(sample.seconds)}"
            f" ({self.reuse_note}); per item {sample.calls_per_item:.2f} calls, "
            f"{sample.prompt_tokens_per_item:,.0f}+{sample.completion_tokens_per_item:,.0f} tokens, "
            f"{usd(sample.cost_per_item_usd)}"
        )
        if sample.failed:
            text += f"; {sample.failed} sample items failed (first: {sample.first_error})"
        if sample.cached_calls:
            text += f"; {sample.cached_calls} sample calls were in the call cache already (free for the run too)"
        if sample.unpriced_calls:
            text += f"; {sample.unpriced_calls} calls of models with no price, not counted"
        for mode in (self.online, self.batch):
            if mode is not None:
                mark = " [this engine]" if mode is self.chosen and self.batch is not None else ""
                text += f"; {mode.describe()}{mark}"
        return text
