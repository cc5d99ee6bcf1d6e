"""Show what a symbatcher server is doing: its workers, engines, engine-call
queues and jobs, and the jobs that ended lately (the server keeps the last
100 for an hour by default: --keep-finished-jobs, --keep-finished-jobs-ms).

    symbatcher status --server HOST:PORT [--json] [--watch SECONDS]

The text form is for people; `--json` prints the `StatusService.Status`
response as JSON (protobuf's JSON mapping: camelCase keys, 64-bit counters as
strings) for scripts. `--watch` prints a fresh snapshot every SECONDS until
Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import grpc
from google.protobuf import json_format

from symbatcher.cli import connect
from symbatcher.v1 import status_pb2, status_pb2_grpc
from symbatcher._usd import usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--server", default=os.environ.get("SYMBATCHER_SERVER"), metavar="HOST:PORT",
        help="server address (default: $SYMBATCHER_SERVER)",
    )
    parser.add_argument("--json", action="store_true", help="print the Status response as JSON")
    parser.add_argument(
        "--watch", type=float, default=None, metavar="SECONDS",
        help="print a fresh snapshot every SECONDS until Ctrl-C",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS",
        help="how long to wait for the server's answer (default 5)",
    )
    connect.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not args.server:
        print("symbatcher status: --server HOST:PORT is required (or set SYMBATCHER_SERVER)", file=sys.stderr)
        return 2
    if args.watch is not None and args.watch <= 0:
        print(f"symbatcher status: --watch: must be > 0 seconds, got {args.watch}", file=sys.stderr)
        return 2
    try:
        connection = connect.connection(args)
    except ValueError as exc:
        print(f"symbatcher status: {exc}", file=sys.stderr)
        return 2
    with connection.channel(args.server) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        try:
            while True:
                try:
                    response = stub.Status(status_pb2.StatusRequest(), timeout=args.timeout)
                except grpc.RpcError as err:
                    print(
                        f"symbatcher status: no answer from the server at {args.server}: "
                        f"{err.code().name}: {err.details()}",
                        file=sys.stderr,
                    )
                    return 1
                if args.json:
                    print(json.dumps(json_format.MessageToDict(response), indent=2))
                else:
                    print(describe(response, args.server))
                if args.watch is None:
                    return 0
                sys.stdout.flush()
                time.sleep(args.watch)
                print()
        except KeyboardInterrupt:
            return 0


def describe(status: status_pb2.StatusResponse, address: str) -> str:
    """The snapshot as text, a section per kind of thing."""
    lines = [f"server {address} · up {_duration(status.uptime_seconds)}"]
    if status.default_engine:
        lines.append(
            f"default engine {status.default_engine} ({status.default_engine_source}); "
            "jobs may name another"
        )
    if status.default_embedding_engine:
        lines.append(f"default embedding engine {status.default_embedding_engine}")
    lines.append(f"workers ({len(status.workers)})")
    for w in status.workers:
        state = " · draining" if w.draining else ""
        # `running` counts the items assigned to it: in its slots or queued there.
        lines.append(
            f"  {w.name} [id {w.worker_id}] {w.concurrency} slots + {w.prefetch} queued"
            f" · {w.running} items assigned{state} · serves {', '.join(w.expressions)}"
        )
    lines.append(f"engines ({len(status.engines)})")
    for e in status.engines:
        lines.extend(_engine(e))
    waiting = [q for q in status.queues if q.waiting]
    if waiting:
        lines.append("engine calls waiting for a batch")
        for q in waiting:
            model = f" model {q.model}" if q.model else ""
            lines.append(f"  {q.engine}{model}: {q.waiting:,}")
    if status.provider_batches:
        lines.append(f"provider batches ({len(status.provider_batches)})")
        for b in status.provider_batches:
            lines.append(
                f"  {b.batch_id} ({b.engine}): {b.state} · {b.completed:,}/{b.total:,} done"
                f" · {b.failed:,} failed"
            )
    lines.append(f"jobs ({len(status.jobs)})")
    for j in status.jobs:
        engine = f" on {j.engine}" if j.engine else ""
        if j.embedding_engine:
            engine += f" (embedding: {j.embedding_engine})"
        more = "" if j.input_closed else " (input still arriving)"
        parked = f" · {j.parked:,} parked on a provider batch" if j.parked else ""
        lines.append(
            f"  job {j.job_id} {j.expression}{engine}: {j.completed:,} done ({j.failed:,} failed)"
            f" · {j.running:,} running · {j.queued:,} queued{parked} · {j.received:,} received{more}"
        )
        spend = f"    cost {usd(j.cost_usd)}"
        if j.max_cost_usd:
            spend += f" of a {usd(j.max_cost_usd)} cap"
        saved = j.saved
        spend += (
            f" · {saved.cache_hits:,} cache hits, {saved.coalesced:,} coalesced calls"
            f" saved {saved.prompt_tokens + saved.completion_tokens:,} tokens ({usd(saved.cost_usd)})"
        )
        lines.append(spend)
    if status.finished_jobs:
        lines.append(f"ended jobs ({len(status.finished_jobs)}), the newest first")
        now = time.time()
        for j in status.finished_jobs:
            lines.extend(_ended_job(j, now))
    lines.append(_cache(status.cache))
    return "\n".join(lines)


_ENDED = {
    status_pb2.JOB_STATE_FINISHED: "finished",
    status_pb2.JOB_STATE_FAILED: "failed",
    status_pb2.JOB_STATE_CANCELLED: "cancelled (its client went away)",
}


def _ended_job(j: status_pb2.JobStatus, now: float) -> list[str]:
    """An ended job: how and when it ended, its final counts and cost."""
    engine = f" on {j.engine}" if j.engine else ""
    state = _ENDED.get(j.state, status_pb2.JobState.Name(j.state))
    ended = j.ended_unix_ms / 1000
    stamp = time.strftime("%H:%M:%S UTC", time.gmtime(ended))
    ago = _duration(max(0.0, now - ended))
    lines = [
        f"  job {j.job_id} {j.expression}{engine}: {state} {ago} ago ({stamp}) after"
        f" {j.wall_seconds:.1f}s · {j.completed:,} done ({j.failed:,} failed)"
        f" of {j.received:,} received · cost {usd(j.cost_usd)}"
    ]
    if j.error:
        lines.append(f"    error: {j.error}")
    return lines


def _cache(c: status_pb2.CacheStatus) -> str:
    served = f"{c.hits:,} hits, {c.coalesced:,} coalesced calls since start"
    if not c.dir:
        return f"call cache: none on disk (identical calls in flight are sent once) · {served}"
    return (
        f"call cache {c.dir}: {c.entries:,} replies, {c.bytes / 2**20:.1f} of "
        f"{c.max_bytes / 2**20:,.0f} MiB · {served}"
    )


def _engine(e: status_pb2.EngineStatus) -> list[str]:
    head = f"  {e.name} ({e.kind}"
    if e.call_kind == "embedding":
        head += ", embedding calls"
    if e.model:
        head += f", model {e.model}"
    if e.rpm:
        head += f", {e.rpm:,} rpm"
    if e.tpm:
        head += f", {e.tpm:,} tpm"
    # 0: no cap; batches in flight follow the slots calling the engine.
    cap = e.max_concurrency or "no cap"
    head += (
        f"): {e.calls:,} calls in {e.batches:,} batches · {e.failed_calls:,} failed calls"
        f" · batches in flight {e.in_flight}/{cap}"
    )
    if e.reconnecting:
        head += " · disconnected: its calls wait for it to register again"
    lines = [head]
    if e.kind in ("openai", "anthropic"):
        lines.append(
            # 0: no limit (no max_concurrency, and no 429 has set one).
            f"    requests in flight {e.requests_in_flight} (limit now {e.concurrency_limit or 'unlimited'})"
            f" · {_waiting(e)} · retries {e.retries:,} · 429s {e.rate_limited:,}"
        )
    if e.prompt_tokens or e.completion_tokens:
        lines.append(f"    tokens {e.prompt_tokens:,} prompt + {e.completion_tokens:,} completion")
    if e.latency.count:
        lat = e.latency
        lines.append(
            f"    latency p50 {lat.p50_ms:.1f} ms · p90 {lat.p90_ms:.1f} ms"
            f" · p99 {lat.p99_ms:.1f} ms · max {lat.max_ms:.1f} ms"
        )
    return lines


def _waiting(e: status_pb2.EngineStatus) -> str:
    """The requests the engine's limiter holds back, and what holds them: the
    concurrency limit when it is full, else the rpm/tpm budget."""
    if not e.requests_waiting:
        return "none waiting"
    if e.concurrency_limit and e.requests_in_flight >= e.concurrency_limit:
        cause = "a free place under the concurrency limit"
    elif e.rpm or e.tpm:
        cause = "the rate limit (rpm/tpm)"
    else:
        cause = "the provider's pause (its rate-limit headers)"
    return f"{e.requests_waiting} waiting for {cause}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
