"""What an earlier run left in the output: the indices already done.

A JSONL output is read line by line (`load_output`); a CSV or Parquet output
by its index and error columns (`symbatcher.cli.run.tables.load_table`).
"""

from __future__ import annotations

import json
import os
import sys


class IndexSet:
    """A set of small non-negative ints as a bitmap (10 M indices: 1.25 MB)."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._count = 0
        #: How many of the indices are failed results (set by the loaders).
        self.failed = 0

    def add(self, index: int) -> None:
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self._count += 1

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._count

    def count_below(self, limit: int) -> int:
        """How many of the indices are < `limit`."""
        whole, rest = divmod(limit, 8)
        count = int.from_bytes(self._bits[:whole], "little").bit_count()
        if rest and whole < len(self._bits):
            count += (self._bits[whole] & ((1 << rest) - 1)).bit_count()
        return count


def load_output(path: str, *, retry_failed: bool = False) -> IndexSet:
    """The indices already in the JSONL output `path`. Drops a partial last
    line (left by a crash); with `retry_failed`, also drops error lines
    (rewriting the file)."""
    done = IndexSet()
    if not os.path.exists(path):
        return done
    keep_errors = not retry_failed
    rewrite = None if keep_errors else open(path + ".tmp", "wb")
    with open(path, "rb+") as f:
        offset = 0
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                print(f"symbatcher run: {path}:{number}: dropping a partial last line", file=sys.stderr)
                f.truncate(offset)
                break
            offset += len(raw)
            try:
                record = json.loads(raw)
                index = record["index"]
                failed = "error" in record
                if not isinstance(index, int) or index < 0:
                    raise ValueError("bad index")
            except (ValueError, KeyError, TypeError):
                print(f"symbatcher run: {path}:{number}: not a result line; ignored", file=sys.stderr)
                continue
            if failed and not keep_errors:
                continue
            done.add(index)
            done.failed += failed
            if rewrite is not None:
                rewrite.write(raw)
    if rewrite is not None:
        rewrite.close()
        os.replace(path + ".tmp", path)
    return done
