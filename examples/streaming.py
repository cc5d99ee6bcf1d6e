"""Streaming: a generator of reviews through `scheduler.stream()`.

`stream()` yields `(index, result)` as items finish. The generator is read a
chunk at a time, only as fast as the job advances (at most `window` items in
flight, 4096 by default), so memory stays flat however long the dataset is.
`ordered=True` yields in dataset order instead.

    python examples/streaming.py [N]     # N = 20000 by default; try 1000000
"""

import resource
import sys
import time

from summarize import Summarize
from symbatcher import BatchScheduler


def reviews(n):
    """Made one at a time, never held in a list."""
    for i in range(n):
        yield f"Review #{i}: the product {'works' if i % 3 else 'broke'} after {i % 30} days."


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    # The built-in echo engine, chosen explicitly: no API key needed.
    with BatchScheduler(engine="echo") as scheduler:
        # Completion order; a failed item's result is its exception.
        start = time.perf_counter()
        first = None
        for index, result in scheduler.stream(Summarize, 32, reviews(n), batch_size=32):
            if first is None:
                first = (index, result, time.perf_counter() - start)
        print(f"first result after {first[2]:.2f}s: item {first[0]} -> {first[1]!r}")
        print(scheduler.last_summary.describe())
        # ru_maxrss is in KiB on Linux: the peak of this whole process.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"client RSS peak {peak:.0f} MiB for {n:,} items (flat in N)")

        # Dataset order, from an endless generator: stop whenever you like;
        # leaving the loop cancels the job.
        for index, result in scheduler.stream(
            Summarize, 8, reviews(10**12), batch_size=8, ordered=True
        ):
            print(index, result.splitlines()[1])
            if index == 4:
                break


if __name__ == "__main__":
    main()
