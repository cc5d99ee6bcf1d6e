"""Result types."""

from __future__ import annotations

from dataclasses import dataclass, field

from symbatcher.v1 import batch_pb2, common_pb2
from symbatcher._usd import usd


@dataclass(frozen=True)
class StepRoutes:
    """The requests of one step of forward() (its n-th engine call), by
    the way they went: provider batch or online."""

    step: int
    batch_calls: int
    online_calls: int
    #: What they cost, in US dollars.
    cost_usd: float
    #: What the same requests would have cost all online.
    online_cost_usd: float

    @property
    def saved_usd(self) -> float:
        """What going by batch saved against all online."""
        return self.online_cost_usd - self.cost_usd

    @classmethod
    def from_pb(cls, pb: batch_pb2.StepRoutes) -> StepRoutes:
        return cls(
            step=pb.step,
            batch_calls=pb.batch_calls,
            online_calls=pb.online_calls,
            cost_usd=pb.cost_usd,
            online_cost_usd=pb.online_cost_usd,
        )

    def describe(self) -> str:
        """E.g. "step 2: 900 by batch, 100 online, saved $0.45 (45% of $1.00 all online)"."""
        text = f"step {self.step}: {self.batch_calls:,} by batch, {self.online_calls:,} online"
        if self.online_cost_usd > 0:
            share = self.saved_usd / self.online_cost_usd
            text += (
                f", saved {usd(self.saved_usd)} ({share:.0%} of {usd(self.online_cost_usd)} "
                "all online)"
            )
        return text


@dataclass(frozen=True)
class JobSummary:
    """What the server reports when a job ends."""

    items: int
    succeeded: int
    failed: int
    #: Engine calls of every kind (`embedding_calls` of them embedding
    #: calls, `chat_calls` the others).
    engine_calls: int
    engine_batches: int
    mean_batch_size: float
    requeued: int
    wall_seconds: float
    engine_seconds: float
    mean_queue_wait_ms: float
    #: Engine requests sent again after a 429, 5xx, timeout or connection error.
    retries: int = 0
    #: Engine responses that were 429 Too Many Requests.
    rate_limited: int = 0
    #: Tokens the engines reported (`usage`) for this job's calls.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Engine calls answered with an error.
    failed_engine_calls: int = 0
    #: Engine call latency (batch sent to reply, retries included), in ms.
    engine_latency_p50_ms: float = 0.0
    engine_latency_p90_ms: float = 0.0
    engine_latency_p99_ms: float = 0.0
    engine_latency_max_ms: float = 0.0
    #: The engine that answered the job's calls ("echo", "openai", a config
    #: file's name, "symai:<EngineClass>:<model>" for symai's own engine, ...).
    engine: str = ""
    #: The engine that answered the job's embedding calls ("": none).
    embedding_engine: str = ""
    #: Cost in US dollars of the requests sent for the job (priced models).
    cost_usd: float = 0.0
    #: Requests sent whose model has no price (not in `cost_usd`).
    unpriced_calls: int = 0
    #: Calls answered from the call cache, and by an identical call in flight.
    cache_hits: int = 0
    coalesced_calls: int = 0
    #: Tokens and US dollars those calls did not spend.
    saved_prompt_tokens: int = 0
    saved_completion_tokens: int = 0
    saved_cost_usd: float = 0.0
    #: Items that failed with `BudgetExceeded` (the job reached `max_cost_usd`).
    budget_exceeded: int = 0
    #: Requests sent per step of forward(), by provider batch or online.
    steps: tuple[StepRoutes, ...] = field(default_factory=tuple)
    #: Of `engine_calls`, the embedding calls (`Symbol.embed`, ...).
    embedding_calls: int = 0
    #: Of `cost_usd`, what was billed twice: a hedged provider batch's copies
    #: of calls answered online, completed by the provider all the same.
    billed_twice_usd: float = 0.0

    @classmethod
    def from_pb(cls, pb: batch_pb2.JobSummary) -> JobSummary:
        return cls(
            items=pb.items,
            succeeded=pb.succeeded,
            failed=pb.failed,
            engine_calls=pb.engine_calls,
            engine_batches=pb.engine_batches,
            mean_batch_size=pb.mean_batch_size,
            requeued=pb.requeued,
            wall_seconds=pb.wall_seconds,
            engine_seconds=pb.engine_seconds,
            mean_queue_wait_ms=pb.mean_queue_wait_ms,
            retries=pb.retries,
            rate_limited=pb.rate_limited,
            prompt_tokens=pb.prompt_tokens,
            completion_tokens=pb.completion_tokens,
            failed_engine_calls=pb.failed_engine_calls,
            engine_latency_p50_ms=pb.engine_latency.p50_ms,
            engine_latency_p90_ms=pb.engine_latency.p90_ms,
            engine_latency_p99_ms=pb.engine_latency.p99_ms,
            engine_latency_max_ms=pb.engine_latency.max_ms,
            engine=pb.engine,
            embedding_engine=pb.embedding_engine,
            cost_usd=pb.cost_usd,
            unpriced_calls=pb.unpriced_calls,
            cache_hits=pb.saved.cache_hits,
            coalesced_calls=pb.saved.coalesced,
            saved_prompt_tokens=pb.saved.prompt_tokens,
            saved_completion_tokens=pb.saved.completion_tokens,
            saved_cost_usd=pb.saved.cost_usd,
            budget_exceeded=pb.budget_exceeded,
            steps=tuple(StepRoutes.from_pb(s) for s in pb.steps),
            embedding_calls=pb.embedding_calls,
            billed_twice_usd=pb.billed_twice_usd,
        )

    @property
    def chat_calls(self) -> int:
        """Of `engine_calls`, the chat (neurosymbolic) calls."""
        return self.engine_calls - self.embedding_calls

    @property
    def items_per_second(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def describe(self) -> str:
        """One line: throughput, failures and batching (with retries, tokens
        and engine latency when the engine reports them)."""
        text = (
            f"{self.items} items in {self.wall_seconds:.2f}s ({self.items_per_second:,.0f} items/s), "
            f"{self.failed} failed, {self.engine_calls} engine calls{self._calls_by_kind()} in "
            f"{self.engine_batches} batches (mean batch size {self.mean_batch_size:.1f})"
        )
        if self.engine:
            text += f", engine {self.engine}"
        if self.embedding_engine:
            text += f", embedding engine {self.embedding_engine}"
        if self.retries or self.rate_limited:
            text += f", {self.retries} retries ({self.rate_limited} rate-limited)"
        if self.prompt_tokens or self.completion_tokens:
            text += f", {self.prompt_tokens:,}+{self.completion_tokens:,} tokens"
        if self.retries or self.prompt_tokens or self.completion_tokens:
            text += (
                f", engine latency p50 {self.engine_latency_p50_ms:,.0f} ms"
                f" p99 {self.engine_latency_p99_ms:,.0f} ms"
            )
        if self.cost_usd or self.unpriced_calls:
            text += f", cost {usd(self.cost_usd)}"
            if self.unpriced_calls:
                text += f" (+{self.unpriced_calls} calls of models with no price)"
            if self.billed_twice_usd:
                text += f", of which {usd(self.billed_twice_usd)} billed twice (hedged batch copies)"
        if self.cache_hits or self.coalesced_calls:
            text += (
                f", {self.cache_hits} cache hits and {self.coalesced_calls} coalesced calls "
                f"saved {usd(self.saved_cost_usd)}"
            )
        if self.budget_exceeded:
            text += f", {self.budget_exceeded} items stopped by the spend cap"
        if any(s.batch_calls for s in self.steps):
            text += "; " + "; ".join(s.describe() for s in self.steps)
        return text

    def _calls_by_kind(self) -> str:
        """" (2 chat, 3 embedding)" once any call embeds; "" otherwise."""
        if not self.embedding_calls:
            return ""
        return f" ({self.chat_calls} chat, {self.embedding_calls} embedding)"


@dataclass(frozen=True)
class ItemUsage:
    """Tokens and cost of one item's engine calls (`Usage` of its result)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: US dollars of the requests sent for it (cache hits cost nothing).
    cost_usd: float = 0.0
    calls: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    unpriced_calls: int = 0

    @classmethod
    def from_pb(cls, pb: common_pb2.Usage) -> ItemUsage:
        return cls(
            prompt_tokens=pb.prompt_tokens,
            completion_tokens=pb.completion_tokens,
            cost_usd=pb.cost_usd,
            calls=pb.calls,
            cache_hits=pb.cache_hits,
            coalesced=pb.coalesced,
            unpriced_calls=pb.unpriced_calls,
        )
