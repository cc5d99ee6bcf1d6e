"""stream(): any iterable in, (index, result) out as items finish, in bounded
memory; ordered=True; early exit; errors from the dataset."""

from __future__ import annotations

import itertools
import threading
import time

import psutil
import pytest
from symai import Expression

from symbatcher import BatchScheduler


class Length(Expression):
    """No engine call: the cheapest item, so that streaming itself is measured."""

    def forward(self, input, **kwargs):
        return len(input)


class Double(Expression):
    def forward(self, input, **kwargs):
        return input * 2


class SlowFirst(Expression):
    """Item 0 takes a while; every other item is instant."""

    def forward(self, input, **kwargs):
        if input == 0:
            time.sleep(0.8)
        return input


class Jitter(Expression):
    """Later items finish first: completion order differs from dataset order."""

    def forward(self, input, **kwargs):
        time.sleep(0.002 * (7 - input % 8))
        return input


class Counted:
    """An iterable that records how many items were read from it."""

    def __init__(self, items):
        self._items = items
        self.read = 0

    def __iter__(self):
        for item in self._items:
            self.read += 1
            yield item


class PeakRss:
    """Samples the peak resident set size of some processes in a thread."""

    def __init__(self, *pids: int, interval: float = 0.02) -> None:
        self._procs = [psutil.Process(pid) for pid in pids]
        self.peaks = [p.memory_info().rss for p in self._procs]
        self.start = list(self.peaks)
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for i, proc in enumerate(self._procs):
                self.peaks[i] = max(self.peaks[i], proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


MiB = 1 << 20


def test_generator_of_200k_items_streams_in_bounded_memory():
    n = 200_000
    pad = "x" * 500  # 200k items of ~500 bytes: ~100 MiB if anything held them all
    dataset = Counted(f"{i:08d}{pad}" for i in range(n))
    with BatchScheduler(engine="echo") as s:
        # Warm up (imports, channels) before taking the baseline.
        list(s.stream(Length, 4, (pad for _ in range(2000))))
        seen = 0
        total = 0
        max_ahead = 0
        with PeakRss(psutil.Process().pid, s.server_pid) as rss:
            for index, value in s.stream(Length, 8, dataset, batch_size=32):
                seen += 1
                total += index
                assert value == 508
                max_ahead = max(max_ahead, dataset.read - seen)
        summary = s.last_summary
    assert seen == n and total == n * (n - 1) // 2  # every index exactly once
    assert summary is not None and summary.items == n and summary.failed == 0
    # The dataset is read only as the job advances: never more than the
    # window (4096 by default) ahead of what the consumer took.
    assert max_ahead <= 4096 + 256, max_ahead
    client_growth = (rss.peaks[0] - rss.start[0]) / MiB
    print(f"client start {rss.start[0] / MiB:.0f} MiB, peak {rss.peaks[0] / MiB:.0f} MiB; server peak {rss.peaks[1] / MiB:.0f} MiB")
    server_peak = rss.peaks[1] / MiB
    assert client_growth < 60, f"client RSS grew by {client_growth:.0f} MiB"
    assert server_peak < 60, f"server peak RSS {server_peak:.0f} MiB"


def test_a_small_window_bounds_items_in_flight(scheduler):
    with BatchScheduler(engine="echo", window=32) as s:
        dataset = Counted(range(3000))
        max_ahead = 0
        seen = 0
        for _index, _value in s.stream(Double, 4, dataset):
            seen += 1
            max_ahead = max(max_ahead, dataset.read - seen)
    assert seen == 3000
    assert max_ahead <= 32


def test_ordered_yields_in_dataset_order(scheduler):
    got = list(scheduler.stream(Jitter, 8, iter(range(400)), batch_size=4, ordered=True))
    assert [index for index, _ in got] == list(range(400))
    assert [value for _, value in got] == list(range(400))
    # Unordered, the same job yields in completion order, which differs.
    unordered = [i for i, _ in scheduler.stream(Jitter, 8, iter(range(400)), batch_size=4)]
    assert sorted(unordered) == list(range(400))
    assert unordered != list(range(400))


def test_ordered_slow_item_holds_the_reorder_buffer_within_the_window():
    window = 64
    with BatchScheduler(engine="echo", window=window) as s:
        dataset = Counted(range(1000))
        first_yield_at = None
        read_at_first_yield = None
        start = time.monotonic()
        out = []
        for index, value in s.stream(SlowFirst, 4, dataset, ordered=True):
            if first_yield_at is None:
                first_yield_at = time.monotonic() - start
                read_at_first_yield = dataset.read
            out.append(index)
    assert out == list(range(1000))
    # Nothing is yielded before the slow item; meanwhile the job ran ahead by
    # at most one window and then waited for it.
    assert first_yield_at >= 0.7
    assert read_at_first_yield <= window


def test_stream_yields_before_the_dataset_ends(scheduler):
    # An endless generator: results arrive while it is still being read.
    got = []
    for index, value in scheduler.stream(Double, 4, itertools.count()):
        got.append((index, value))
        if len(got) == 500:
            break
    assert len({i for i, _ in got}) == 500
    assert all(v == 2 * i for i, v in got)
    # Breaking out cancelled that job; the scheduler keeps working.
    assert scheduler(Double, 2, [1, 2, 3]) == [2, 4, 6]


def test_dataset_exception_ends_the_stream_with_it(scheduler):
    class BadData(Exception):
        pass

    def dataset():
        yield from range(50)
        raise BadData("row 50 is corrupt")

    got = []
    with pytest.raises(BadData, match="row 50 is corrupt"):
        for pair in scheduler.stream(Double, 2, dataset()):
            got.append(pair)
    assert len(got) <= 50
    assert scheduler(Double, 2, [5]) == [10]


def test_stream_validates_arguments_when_called(scheduler):
    with pytest.raises(ValueError, match="num_workers"):
        scheduler.stream(Double, -1, [1])
    with pytest.raises(TypeError, match="batch_size"):
        scheduler.stream(Double, 1, [1], batch_size="2")
    # Values are the server's to check: its refusal names the field when
    # the job starts, at the first result asked for.
    with pytest.raises(ValueError, match="^batch_size: must be between 1 and 4096, got 0"):
        next(scheduler.stream(Double, 1, [1], batch_size=0))
    with pytest.raises(TypeError, match="dataset"):
        scheduler.stream(Double, 1, 42)
    with pytest.raises(ValueError, match="embedded"):
        scheduler.stream(Double, 0, [1])


def test_stream_failed_items_are_exceptions_in_place(scheduler):
    class Picky(Expression):
        def forward(self, input, **kwargs):
            if input % 10 == 3:
                raise ValueError(f"bad {input}")
            return input

    results = dict(scheduler.stream(Picky, 4, iter(range(100))))
    assert len(results) == 100
    for i, value in results.items():
        if i % 10 == 3:
            assert isinstance(value, ValueError) and str(value) == f"bad {i}"
        else:
            assert value == i
    assert scheduler.last_summary.failed == 10


def test_stream_empty_dataset(scheduler):
    assert list(scheduler.stream(Double, 2, iter([]))) == []
    assert scheduler.last_summary.items == 0
