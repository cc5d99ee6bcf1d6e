"""The fingerprint of a run, kept beside its output as OUT.symbatcher.json,
so that a re-run resumes only the job that wrote the output.

It holds the input file's size, modification time and a SHA-256 of its
first and last MiB (for a saved dataset, a directory: the total size, the
latest time and a hash over each file's name, first and last MiB), the
expression, the kwargs (canonical JSON), the engine choice of each kind
(--engine, --embedding-engine) and the input column. A re-run whose fingerprint differs stops before running anything
(exit status 2) with a message naming what changed; --force goes on and
rewrites the fingerprint. An output written before fingerprints (no
sidecar) resumes with a one-line notice and gets one.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import Any

VERSION = 1
#: Bytes hashed at each end of the input file.
HASHED_BYTES = 1 << 20


def sidecar_path(output: str) -> str:
    return output + ".symbatcher.json"


def fingerprint(
    input_path: str,
    expression: str,
    kwargs: dict[str, Any],
    engine: str | None,
    input_column: str | None,
    embedding_engine: str | None = None,
) -> dict[str, Any]:
    # A sidecar written before `embedding_engine` was kept has none: read as
    # the default (None), so such an output resumes with the default.
    return {
        "version": VERSION,
        "input": {"path": os.path.abspath(input_path), **_input_fingerprint(input_path)},
        "expression": expression,
        "kwargs": canonical_json(kwargs),
        "engine": engine,
        "embedding_engine": embedding_engine,
        "input_column": input_column,
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _input_fingerprint(path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    if os.path.isdir(path):
        size, mtime_ns = 0, 0
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                stat = os.stat(full)
                size += stat.st_size
                mtime_ns = max(mtime_ns, stat.st_mtime_ns)
                digest.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
                _hash_ends(full, stat.st_size, digest)
    else:
        stat = os.stat(path)
        size, mtime_ns = stat.st_size, stat.st_mtime_ns
        _hash_ends(path, size, digest)
    return {"size": size, "mtime_ns": mtime_ns, "sha256_head_tail": digest.hexdigest()}


def _hash_ends(path: str, size: int, digest: Any) -> None:
    with open(path, "rb") as f:
        digest.update(f.read(HASHED_BYTES))
        if size > HASHED_BYTES:
            f.seek(max(HASHED_BYTES, size - HASHED_BYTES))
            digest.update(f.read(HASHED_BYTES))


def read_sidecar(output: str) -> dict[str, Any] | None:
    """The fingerprint kept beside `output`, None when there is none (or it
    cannot be read)."""
    try:
        with open(sidecar_path(output), encoding="utf-8") as f:
            kept = json.load(f)
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) else None


def write_sidecar(output: str, current: dict[str, Any]) -> None:
    tmp = sidecar_path(output) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(current, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, sidecar_path(output))


def changes(kept: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between the fingerprint an output was written with and
    the current one, in words; empty when they match."""
    found = []
    old_input, new_input = kept.get("input") or {}, current["input"]
    if old_input.get("size") != new_input["size"]:
        found.append(f"the input file changed (size {old_input.get('size')} -> {new_input['size']})")
    elif old_input.get("sha256_head_tail") != new_input["sha256_head_tail"]:
        found.append("the input file changed (the content of its first or last MiB)")
    elif old_input.get("mtime_ns") != new_input["mtime_ns"]:
        found.append(
            "the input file changed (modified "
            f"{_time(old_input.get('mtime_ns'))} -> {_time(new_input['mtime_ns'])})"
        )
    if kept.get("expression") != current["expression"]:
        found.append(f"the expression changed ({kept.get('expression')} -> {current['expression']})")
    if kept.get("kwargs") != current["kwargs"]:
        found.append(f"--kwargs changed ({kept.get('kwargs')} -> {current['kwargs']})")
    if kept.get("engine") != current["engine"]:
        found.append(f"--engine changed ({_name(kept.get('engine'))} -> {_name(current['engine'])})")
    if kept.get("embedding_engine") != current["embedding_engine"]:
        found.append(
            "--embedding-engine changed "
            f"({_name(kept.get('embedding_engine'))} -> {_name(current['embedding_engine'])})"
        )
    if kept.get("input_column") != current["input_column"]:
        found.append(
            f"--input-column changed ({_name(kept.get('input_column'))} -> {_name(current['input_column'])})"
        )
    return found


def _name(value: Any) -> str:
    return "the default" if value is None else str(value)


def _time(mtime_ns: Any) -> str:
    if not isinstance(mtime_ns, int):
        return str(mtime_ns)
    moment = datetime.datetime.fromtimestamp(mtime_ns / 1e9, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
