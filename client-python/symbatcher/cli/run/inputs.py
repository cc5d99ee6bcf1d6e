"""The input readers of `symbatcher run`: JSONL, CSV, Parquet and a Hugging
Face `datasets` dataset saved to disk (`save_to_disk`).

Each reader reads its file lazily, on the job's reader thread, only as fast as
the job advances: JSONL and CSV a line (row) at a time, Parquet a record batch
at a time (pyarrow), a saved dataset a slice at a time (memory-mapped Arrow).
An item's *index* is its row's position from 0 (for JSONL the line's, blank
lines included), so it stays the same from run to run. The reader yields the
items to run, records each one's index and id in `inputs` (by job index), and
sets aside the rows it cannot read in `malformed` for the writer.
"""

from __future__ import annotations

import abc
import collections
import csv
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from symbatcher.cli.run.resume import IndexSet

FORMATS = ("jsonl", "csv", "parquet", "hf")
#: Rows read from a Parquet file or a saved dataset at once.
READ_ROWS = 1024
NO_ID = object()
DATASETS_MISSING = (
    "reading a saved Hugging Face dataset needs the `datasets` package: "
    "pip install 'symbatcher[datasets]'"
)


@dataclass
class ItemInfo:
    """What the reader learned about one submitted item."""

    index: int
    id: Any


class _Malformed:
    """A row that cannot be read; its message goes in an InputError line."""

    def __init__(self, message: str) -> None:
        self.message = message


class InputReader(abc.ABC):
    """Reads one input file; subclasses provide `_rows` and `count`."""

    #: What an index counts, for messages ("line", "row").
    unit = "row"

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = IndexSet()
        self.inputs: dict[int, ItemInfo] = {}
        self.malformed: collections.deque[tuple[int, str]] = collections.deque()
        #: The column (key) run as the input, None for JSONL's default rule.
        self.input_column: str | None = None
        self._id_column: str | None = None

    def columns(self) -> list[str]:
        """The columns read: the input column, and the id column if any."""
        names = [self.input_column or "input"]
        if self._id_column and self._id_column not in names:
            names.append(self._id_column)
        return names

    @abc.abstractmethod
    def _rows(self) -> Iterator[tuple[int, Any, Any]]:
        """(index, input or _Malformed, id or NO_ID) for every row to run
        (done rows may be skipped here already, or not)."""

    @abc.abstractmethod
    def count_pending(self, done: IndexSet) -> int:
        """The rows a run skipping `done` has to run."""

    def __iter__(self) -> Iterator[Any]:
        submitted = 0
        for index, item, item_id in self._rows():
            if index in self.done:
                continue
            if isinstance(item, _Malformed):
                self.malformed.append((index, item.message))
                continue
            self.inputs[submitted] = ItemInfo(index, item_id)
            submitted += 1
            yield item


class JsonlReader(InputReader):
    """One JSON value per line. With no input column, an object with an
    "input" key is run as its "input" and any other value is the input
    itself; with one, an object's value of that key is the input. An
    object's id key ("id" by default) is echoed. Blank lines are skipped."""

    unit = "line"

    def __init__(self, path: str, input_column: str | None, id_column: str | None) -> None:
        super().__init__(path)
        self.input_column = input_column
        self._id_column = id_column or "id"

    def count_pending(self, done: IndexSet) -> int:
        pending = 0
        with open(self.path, "rb") as f:
            for index, raw in enumerate(f):
                if index not in done and raw.strip():
                    pending += 1
        return pending

    def _rows(self) -> Iterator[tuple[int, Any, Any]]:
        column = self.input_column
        with open(self.path, "rb") as f:
            for index, raw in enumerate(f):
                if index in self.done or not raw.strip():
                    continue
                try:
                    value = json.loads(raw.rstrip(b"\r\n"))
                except ValueError as exc:  # also invalid UTF-8
                    yield index, _Malformed(f"invalid JSON: {exc}"), NO_ID
                    continue
                item, item_id = value, NO_ID
                if isinstance(value, dict):
                    item_id = value.get(self._id_column, NO_ID)
                    if column is None:
                        if "input" in value:
                            item = value["input"]
                    elif column in value:
                        item = value[column]
                    else:
                        item = _Malformed(f"no key {column!r} (--input-column)")
                elif column is not None:
                    item = _Malformed(f"not an object with the key {column!r} (--input-column)")
                yield index, item, item_id


class CsvReader(InputReader):
    """A CSV file with a header row, streamed with the csv module. Values are
    strings; an empty field is the empty string."""

    def __init__(self, path: str, input_column: str | None, id_column: str | None) -> None:
        super().__init__(path)
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with self._open() as f:
            header = next(csv.reader(f), None)
        if not header:
            raise ValueError(f"--input: {path}: an empty CSV file (no header row)")
        self.input_column, self._id_column = choose_columns(path, header, input_column, id_column)

    def _open(self) -> Any:
        return open(self.path, newline="", encoding="utf-8-sig")

    def count_pending(self, done: IndexSet) -> int:
        with self._open() as f:
            rows = sum(1 for row in csv.reader(f) if row) - 1  # as DictReader: no blank rows
        return max(rows, 0) - done.count_below(max(rows, 0))

    def _rows(self) -> Iterator[tuple[int, Any, Any]]:
        column, id_column = self.input_column, self._id_column
        with self._open() as f:
            for index, row in enumerate(csv.DictReader(f)):
                if index in self.done:
                    continue
                item_id = row.get(id_column, NO_ID) if id_column else NO_ID
                yield index, row.get(column), item_id


class ParquetReader(InputReader):
    """A Parquet file, read a record batch at a time (only the input and id
    columns), so memory stays bounded whatever the file's size."""

    def __init__(self, path: str, input_column: str | None, id_column: str | None) -> None:
        super().__init__(path)
        import pyarrow.parquet as pq

        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow.ArrowInvalid and friends
            raise ValueError(f"--input: {path}: not a Parquet file: {exc}") from None
        names = list(self._file.schema_arrow.names)
        self.input_column, self._id_column = choose_columns(path, names, input_column, id_column)

    def count_pending(self, done: IndexSet) -> int:
        rows = int(self._file.metadata.num_rows)
        return rows - done.count_below(rows)

    def _rows(self) -> Iterator[tuple[int, Any, Any]]:
        index = 0
        for batch in self._file.iter_batches(batch_size=READ_ROWS, columns=self.columns()):
            inputs = batch.column(self.input_column).to_pylist()
            ids = batch.column(self._id_column).to_pylist() if self._id_column else None
            for offset, item in enumerate(inputs):
                yield index, item, ids[offset] if ids is not None else NO_ID
                index += 1


class DatasetReader(InputReader):
    """A Hugging Face `datasets` Dataset saved with `save_to_disk`: memory-
    mapped Arrow, read a slice at a time."""

    def __init__(self, path: str, input_column: str | None, id_column: str | None) -> None:
        super().__init__(path)
        try:
            import datasets
        except ImportError:
            raise ValueError(f"--input: {path}: {DATASETS_MISSING}") from None
        try:
            dataset = datasets.load_from_disk(path)
        except FileNotFoundError as exc:
            raise ValueError(f"--input: {path}: not a saved dataset ({exc})") from None
        if isinstance(dataset, datasets.DatasetDict):
            splits = ", ".join(dataset)
            raise ValueError(
                f"--input: {path} holds the splits {splits}: give one split's directory "
                f"(e.g. {os.path.join(path, next(iter(dataset), 'train'))})"
            )
        self._dataset = dataset
        self.input_column, self._id_column = choose_columns(
            path, list(dataset.column_names), input_column, id_column
        )

    def count_pending(self, done: IndexSet) -> int:
        rows = len(self._dataset)
        return rows - done.count_below(rows)

    def _rows(self) -> Iterator[tuple[int, Any, Any]]:
        table = self._dataset.select_columns(self.columns())
        index = 0
        for batch in table.iter(batch_size=READ_ROWS):
            inputs = batch[self.input_column]
            ids = batch[self._id_column] if self._id_column else None
            for offset, item in enumerate(inputs):
                yield index, item, ids[offset] if ids is not None else NO_ID
                index += 1


def choose_columns(
    path: str, columns: Sequence[str], input_column: str | None, id_column: str | None
) -> tuple[str, str | None]:
    """The input column (`input_column`, else "input", else the only one
    but the id column) and the id column (`id_column`, else "id" when there
    is one)."""
    listed = ", ".join(repr(c) for c in columns)
    others = [c for c in columns if c != (id_column or "id")]
    if input_column is not None:
        if input_column not in columns:
            raise ValueError(f"--input-column: {path} has no column {input_column!r}; its columns: {listed}")
        chosen = input_column
    elif "input" in columns:
        chosen = "input"
    elif len(columns) == 1:
        chosen = columns[0]
    elif len(others) == 1:
        chosen = others[0]
    else:
        raise ValueError(
            f"--input: {path} has the columns {listed} and none is named 'input': "
            "choose one with --input-column NAME"
        )
    if id_column is not None:
        if id_column not in columns:
            raise ValueError(f"--id-column: {path} has no column {id_column!r}; its columns: {listed}")
        return chosen, id_column
    return chosen, "id" if "id" in columns and chosen != "id" else None


def input_format(path: str, requested: str | None) -> str:
    """`requested`, else a directory's "hf", else by extension (JSONL when
    the extension says nothing else)."""
    if requested:
        return requested
    if os.path.isdir(path):
        return "hf"
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return "jsonl"


def open_input(path: str, fmt: str | None, input_column: str | None, id_column: str | None) -> InputReader:
    """The reader of `path`; ValueError (for exit status 2) when it cannot
    be read as asked."""
    chosen = input_format(path, fmt)
    if chosen != "hf" and not os.path.isfile(path):
        raise ValueError(f"--input: no such file: {path}")
    if chosen == "hf" and not os.path.isdir(path):
        raise ValueError(f"--input: a saved dataset is a directory (save_to_disk): {path}")
    readers: dict[str, type[JsonlReader] | type[CsvReader] | type[ParquetReader] | type[DatasetReader]] = {
        "jsonl": JsonlReader, "csv": CsvReader, "parquet": ParquetReader, "hf": DatasetReader,
    }
    return readers[chosen](path, input_column, id_column)
