"""CSV and Parquet outputs of `symbatcher run`: rows in index order, a
journal for crashes, and the merge that makes a resumed run's file whole.

Columns: index, id, result, error_type, error_message, prompt_tokens,
completion_tokens, calls, cache_hits, coalesced, unpriced_calls, cost. An id
or result that is not a string is written as JSON; the usage columns are
empty (null) for an item whose engine calls reported no usage.

How a run writes OUT (OUT.csv or OUT.parquet), so that nothing is lost and
nothing is written twice, whatever stops it:

- The job runs ordered (the scheduler's reorder buffer, at most the job's
  window of results), so this run's rows arrive in index order.
- Each record is appended to the journal OUT.journal.jsonl (JSONL lines as
  the JSONL output writes them, whole lines, flushed within a second): the
  durable record of the run.
- Each row also goes to OUT.partial, a CSV or Parquet file written as rows
  arrive (Parquet one row group per ROW_GROUP_ROWS rows), never the whole
  table in memory.
- On exit (done, Ctrl-C, a failed job) the run finalizes: with no OUT yet,
  OUT.partial becomes OUT (a rename); with an OUT from earlier runs, OUT and
  the journal (both in index order) are merged into OUT.tmp, which replaces
  OUT. Then the journal and the partial file go.
- After a crash (SIGKILL, a power cut) OUT.partial may be unreadable (a
  Parquet file is only readable once its footer is written), but the journal
  holds every row that reached it: the next run first merges the journal
  into OUT (dropping a partial last line), then resumes from OUT. The merge
  keeps one row per index, so a crash between replacing OUT and removing the
  journal writes nothing twice.
"""

from __future__ import annotations

import array
import csv
import heapq
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from symbatcher.wire._codec import json_default
from symbatcher.cli.run.outputs import JsonlOutput
from symbatcher.cli.run.resume import IndexSet

TABLE_FORMATS = ("csv", "parquet")
USAGE_COLUMNS = ("prompt_tokens", "completion_tokens", "calls", "cache_hits", "coalesced", "unpriced_calls")
COLUMNS = ("index", "id", "result", "error_type", "error_message", *USAGE_COLUMNS, "cost")
#: Rows per Parquet row group (and per write of a CSV file).
ROW_GROUP_ROWS = 8192

Row = dict[str, Any]


def output_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return "jsonl"


def journal_path(path: str) -> str:
    return path + ".journal.jsonl"


def partial_path(path: str) -> str:
    return path + ".partial"


def row_of(record: dict[str, Any]) -> Row:
    """The table row of a JSONL record."""
    error = record.get("error")
    usage = record.get("usage")
    row: Row = {
        "index": record["index"],
        "id": _text(record["id"]) if "id" in record else None,
        "result": _text(record["result"]) if "result" in record else None,
        "error_type": error["type"] if error else None,
        "error_message": error["message"] if error else None,
    }
    for name in USAGE_COLUMNS:
        row[name] = usage.get(name, 0) if usage is not None else None
    row["cost"] = record.get("cost")
    return row


def _text(value: Any) -> str:
    if isinstance(value, str):
        try:
            value.encode()
            return value
        except UnicodeEncodeError:  # a lone surrogate: ASCII escapes
            return json.dumps(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=json_default)
    except (TypeError, ValueError):
        return json.dumps(value, default=json_default)


def _index(row: Row) -> int:
    return int(row["index"])


# -- writing and reading whole tables ------------------------------------------


class CsvRows:
    """Writes rows to a CSV file with a header row."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def write(self, rows: list[Row]) -> None:
        self._writer.writerows(["" if row[c] is None else row[c] for c in COLUMNS] for row in rows)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ParquetRows:
    """Writes rows to a Parquet file, one row group per write()."""

    def __init__(self, path: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        int64, text = pa.int64(), pa.string()
        self._schema = pa.schema(
            [("index", int64), ("id", text), ("result", text), ("error_type", text), ("error_message", text)]
            + [(name, int64) for name in USAGE_COLUMNS]
            + [("cost", pa.float64())]
        )
        self._writer = pq.ParquetWriter(path, self._schema)

    def write(self, rows: list[Row]) -> None:
        if rows:
            pa = self._pa
            columns = [_arrow_column(pa, field.type, [row[field.name] for row in rows]) for field in self._schema]
            self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def _arrow_column(pa: Any, kind: Any, values: list[Any]) -> Any:
    """An Arrow array of int64, float64 or string values (None: null), made
    from its buffers: `pa.array(list)` would import pandas (some 60 MiB of
    resident memory) when it is installed."""
    validity = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value is not None:
            validity[i >> 3] |= 1 << (i & 7)
    if kind == pa.string():
        offsets, data = array.array("i", [0]), bytearray()
        for value in values:
            if value is not None:
                data += str(value).encode()
            offsets.append(len(data))
        buffers = [pa.py_buffer(offsets), pa.py_buffer(data)]
    else:
        typecode, cast = ("q", int) if kind == pa.int64() else ("d", float)
        buffers = [pa.py_buffer(array.array(typecode, [cast(v) if v is not None else 0 for v in values]))]
    return pa.Array.from_buffers(kind, len(values), [pa.py_buffer(validity), *buffers])


def table_writer(path: str, fmt: str) -> CsvRows | ParquetRows:
    return CsvRows(path) if fmt == "csv" else ParquetRows(path)


def read_rows(path: str, fmt: str, columns: list[str] | None = None) -> Iterator[Row]:
    """The rows of a CSV or Parquet output, streamed (CSV values are strings)."""
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
        yield from batch.to_pylist()


def load_table(path: str, fmt: str) -> IndexSet:
    """The indices already in the CSV or Parquet output `path`."""
    done = IndexSet()
    if os.path.exists(path):
        for row in read_rows(path, fmt, ["index", "error_type"]):
            done.add(_index(row))
            done.failed += bool(row["error_type"])
    return done


def rewrite(path: str, fmt: str, extra: Iterable[Row] = (), *, drop_errors: bool = False) -> int:
    """Replaces `path` by its rows merged with `extra` (both in index order;
    one row per index, the first kept), without the error rows when
    `drop_errors`. Streams: one row group in memory. Returns the rows added."""
    old: Iterable[Row] = read_rows(path, fmt) if os.path.exists(path) else ()
    if drop_errors:
        old = (row for row in old if not row["error_type"])
    added = 0

    def counted(rows: Iterable[Row]) -> Iterator[Row]:
        nonlocal added
        for row in rows:
            added += 1
            yield row

    tmp = path + ".tmp"
    writer = table_writer(tmp, fmt)
    try:
        chunk: list[Row] = []
        last = -1
        for row in heapq.merge(old, counted(extra), key=_index):
            index = _index(row)
            if index == last:
                added -= 1  # a row of the journal already in the file
                continue
            last = index
            chunk.append(row)
            if len(chunk) >= ROW_GROUP_ROWS:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
    finally:
        writer.close()
    os.replace(tmp, path)
    return added


def journal_rows(path: str) -> Iterator[Row]:
    """The rows of a journal in index order, streamed: whole lines only (a
    crash may leave half a line). Should they not be in order (they are:
    the job runs ordered), they are sorted in memory."""
    last, in_order = -1, True
    for index, _ in _journal_lines(path):
        in_order = in_order and index > last
        last = index
    rows = (row_of(record) for _, record in _journal_lines(path))
    yield from rows if in_order else sorted(rows, key=_index)


def _journal_lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
                index = record["index"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(index, int) and index >= 0:
                yield index, record


def recover(path: str, fmt: str) -> None:
    """Merges the journal a crashed run left into `path`."""
    journal = journal_path(path)
    if not os.path.exists(journal):
        return
    added = rewrite(path, fmt, journal_rows(journal))
    print(
        f"symbatcher run: {path}: added {added} results of an interrupted run from {journal}",
        file=sys.stderr,
    )
    _remove(partial_path(path))
    _remove(journal)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class TableOutput:
    """The CSV or Parquet output of a run: journal, partial file, finalize
    on close (see the module's docstring). Records must come in index
    order."""

    def __init__(self, path: str, fmt: str, on_open: Callable[[], None] = lambda: None) -> None:
        self._path = path
        self._fmt = fmt
        self._journal = JsonlOutput(journal_path(path), on_open)
        self._rows: list[Row] = []
        self._writer: CsvRows | ParquetRows | None = None

    @property
    def written(self) -> int:
        return self._journal.written

    def add(self, record: dict[str, Any]) -> None:
        self._journal.add(record)  # first: it turns an unwritable result into an error
        self._rows.append(row_of(record))
        if len(self._rows) >= ROW_GROUP_ROWS:
            self._write_rows()

    def _write_rows(self) -> None:
        if self._writer is None:
            self._writer = table_writer(partial_path(self._path), self._fmt)
        self._writer.write(self._rows)
        self._rows = []

    def flush_due(self) -> None:
        self._journal.flush_due()

    def flush(self) -> None:
        self._journal.flush()

    def close(self) -> None:
        self._journal.close()
        if not self._journal.opened:
            return  # nothing was written
        self._write_rows()
        assert self._writer is not None
        self._writer.close()
        if os.path.exists(self._path):
            rewrite(self._path, self._fmt, journal_rows(journal_path(self._path)))
        else:
            os.replace(partial_path(self._path), self._path)
        _remove(partial_path(self._path))
        _remove(journal_path(self._path))
