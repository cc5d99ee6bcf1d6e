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
        )

    @property
    def items_per_second(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def describe(self) -> str:
        """One line: throughput, failures and batching."""
        return (
            f"{self.items} items in {self.wall_seconds:.2f}s ({self.items_per_second:,.0f} items/s), "
            f"{self.failed} failed, {self.engine_calls} engine calls in {self.engine_batches} "
            f"batches (mean batch size {self.mean_batch_size:.1f})"
        )
