"""Result types."""

from __future__ import annotations

from dataclasses import dataclass

from symbatcher.v1 import batch_pb2


@dataclass(frozen=True)
class JobSummary:
    """What the server reports when a job ends."""

    items: int
    succeeded: int
    failed: int
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
        )

    @property
    def items_per_second(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def describe(self) -> str:
        """One line: throughput, failures and batching (with retries, tokens
        and engine latency when the engine reports them)."""
        text = (
            f"{self.items} items in {self.wall_seconds:.2f}s ({self.items_per_second:,.0f} items/s), "
            f"{self.failed} failed, {self.engine_calls} engine calls in {self.engine_batches} "
            f"batches (mean batch size {self.mean_batch_size:.1f})"
        )
        if self.engine:
            text += f", engine {self.engine}"
        if self.retries or self.rate_limited:
            text += f", {self.retries} retries ({self.rate_limited} rate-limited)"
        if self.prompt_tokens or self.completion_tokens:
            text += f", {self.prompt_tokens:,}+{self.completion_tokens:,} tokens"
        if self.retries or self.prompt_tokens or self.completion_tokens:
            text += (
                f", engine latency p50 {self.engine_latency_p50_ms:,.0f} ms"
                f" p99 {self.engine_latency_p99_ms:,.0f} ms"
            )
        return text
