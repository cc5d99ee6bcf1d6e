"""The Python API takes a Hugging Face `datasets` dataset as it takes any
iterable: its rows are read as the job advances, a window's worth ahead at
most, never all at once. Skipped when `datasets` is not installed
(`pip install 'symbatcher[datasets]'`)."""

from __future__ import annotations

import pytest
from symai import Expression, Symbol

from symbatcher import BatchScheduler

datasets = pytest.importorskip("datasets")

N = 2000
WINDOW = 64


class Label(Expression):
    """A dataset's item is its row: a dict of the columns."""

    def forward(self, input, **kwargs):
        return Symbol(input["text"]).query("Label", **kwargs).value


def consume(dataset, produced) -> int:
    """Streams `dataset`; returns the most rows read ahead of the results
    seen (`produced()` counts the rows read so far)."""
    most_ahead = 0
    seen = set()
    with BatchScheduler(engine="echo", window=WINDOW) as scheduler:
        for count, (index, result) in enumerate(scheduler.stream(Label, 4, dataset, batch_size=8), 1):
            assert result.startswith("echo: ") and f"\nt{index}\n" in result, result
            seen.add(index)
            most_ahead = max(most_ahead, produced() - count)
    assert seen == set(range(N))
    return most_ahead


def test_an_iterable_dataset_is_read_as_the_job_advances():
    read = 0

    def rows():
        nonlocal read
        for i in range(N):
            read += 1
            yield {"text": f"t{i}"}

    dataset = datasets.IterableDataset.from_generator(rows)
    most_ahead = consume(dataset, lambda: read)
    assert read == N
    assert most_ahead <= 2 * WINDOW, f"{most_ahead} rows read ahead of the results"


def test_a_dataset_is_read_as_the_job_advances():
    read = 0

    def count(batch):
        nonlocal read
        read += len(batch["text"])
        return batch

    dataset = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(N)]})
    dataset.set_transform(count)
    most_ahead = consume(dataset, lambda: read)
    assert read == N
    assert most_ahead <= 2 * WINDOW, f"{most_ahead} rows read ahead of the results"
