"""Latency benchmark: symbatcher against the user's own thread pool when every
engine call waits on a real-looking engine.

A loopback OpenAI-compatible server (bench/slow_openai, a cargo example: one
tokio thread, so its CPU cost stays small at 2,500 requests/s) answers each
`/chat/completions` request after --latency-ms (200). Each item's forward()
makes one call, `Symbol(input).query("Answer briefly")`. For each number of
workers W it runs, alternating, in this one invocation, each contender in a
Python process of its own (as a user runs one of them, not all three side by
side: a second `BatchScheduler` in a process slows the first, and grpc.aio
hands the completions of every event loop but the first through that one):

- (a) `BatchScheduler(engine=OpenAIEngine(url, model, api_key_env=""))`, all
  defaults, `num_workers=W`: the server sends the requests;
- (b) `BatchScheduler()`, all defaults, with a symai engine registered as
  symai's neurosymbolic engine (`EngineRepository.register`): `NetworkEngine`
  (bench/network_engine.py), a plain symai `Engine` (no `allows_batching`)
  whose forward() sends one HTTP request to the same server per call. symbatcher serves it as a
  `SymaiEngine` from its process. It sends the call's processed input as
  the one user message (symai's chat engines would add their system message;
  leaving it out makes the baseline's engine cheaper, so the comparison
  stricter). (a)'s server also sends symai's system message, which the
  loopback server ignores: it answers from the last message, so every
  contender's results are the same;
- the baseline both are measured against: the user's own
  `ThreadPoolExecutor(W)` running the same Expression's forward() over the
  same items, each call going through symai to the same registered
  `NetworkEngine` (the same HTTP requests, without symbatcher).

Every run gets items of its own (so the call cache cannot answer any), and
each run's results must equal the baseline's for the same items, with none
lost and exactly one request per item at the server. It prints items/s
(medians of --repeat runs), the ratio ours/baseline (target >= 0.95x), and
the most requests the server saw in flight at once (what caps concurrency
shows there), and the CPU time its process spent per item (the slots, and
for (b) and the baseline the engine's HTTP requests too: where it nears
1000 / items-per-second, the GIL is what bounds the run), split by the
threads that spent it: the connection loop (`symbatcher-loop`: the worker's,
the engine's and the job's gRPC streams), (b)'s engine threads
(`engine-...`: a batch's thread, for the whole-batches contender;
`symai-engine`: the pool running the calls) and the rest (the slots, or the
baseline's pool). Exits with 1 when a target is missed.

`NetworkEngine`'s HTTP client (--http): `http.client` (default; the standard
library's client under urllib, one keep-alive connection per thread, the
cheapest in CPU), `requests` (a `requests.Session` per thread) or `httpx`
(symai's own transport client, `symai.backend.transport.ENGINE_API_CLIENT`,
which symai's built-in engines share). The more CPU the client costs per
request, the sooner the baseline and (b) are bound by Python rather than by
the latency.

    python bench/latency.py [--workers 32,128,512] [--repeat 5] [--items-per-worker 8]
                            [--latency-ms 200] [--spread-ms 0] [--whole-batches]
                            [--http http.client|requests|httpx] [--symai-concurrency N]
                            [--engine-process] [--ideal-batcher] [--quick]

`--spread-ms S` spreads each request's latency over latency-ms +- S (by the
hash of its message: the same item waits as long for every contender), as
a real engine's answers take longer or shorter with their length.
`--whole-batches` adds a contender: (b) with `SymaiEngine(reply_each=False)`,
each batch's replies sent together when its last call returns and calls
waiting for their batch to fill (as `SymaiEngine` answered before it sent
each reply ahead); with a spread, every item of a batch then waits for its
slowest call. `--symai-concurrency N` runs (b) with
`BatchScheduler(engine=SymaiEngine(concurrency=N))`: at most N of symai's
engine calls at once in the process (the default follows the slots).
`--engine-process` adds a contender: (b) with
`SymaiEngine(engine=NetworkEngine(...), process=True)`, the same registered
engine served from an engine process of its own (its CPU is counted in
the contender's, as "engine process"; with `--symai-concurrency N`, capped
at N calls at once there too). `--ideal-batcher` adds a contender: the
baseline's pool with symai's calls going through an ideal batcher in its
process (bench/ideal_batcher.py: one batcher thread hands each call to an
engine thread, which answers the calling thread; no server, no gRPC, no
cache). Any batcher that runs symai's engine in the caller's process does
at least that work, so its ratio bounds (b)'s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ideal_batcher import HandOffEngine
from network_engine import MODEL, Address, NetworkEngine
from symai import Expression, Symbol
from symai.functional import EngineRepository

from symbatcher import BatchScheduler, OpenAIEngine, SymaiEngine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "target", "release", "examples", "slow_openai")
TARGET = 0.95


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


class SlowServer:
    """The loopback server process; it exits when this process closes its stdin."""

    def __init__(self, latency_ms: int, spread_ms: int = 0) -> None:
        if not os.path.exists(SERVER):
            raise SystemExit(f"{SERVER} is missing: run `cargo build --release --locked --example slow_openai`")
        self.proc = subprocess.Popen(
            [SERVER, "--latency-ms", str(latency_ms), "--spread-ms", str(spread_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"unexpected first line from {SERVER}: {line!r}")
        host, port = line.split()[-1].rsplit(":", 1)
        self.address = Address(host, int(port))

    def stats(self) -> dict[str, int]:
        """Requests, peak in flight and new connections since the last call."""
        conn = http.client.HTTPConnection(self.address.host, self.address.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


@dataclass
class Series:
    """Runs of one contender at one W."""

    name: str
    rates: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    #: CPU time of its process (slots, engine, client) per item, in ms.
    cpu_ms: list[float] = field(default_factory=list)
    #: The same by thread kind (`thread_kind`), per item, in ms.
    cpu_split: list[dict[str, float]] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.rates)

    def line(self) -> str:
        kinds = sorted({kind for split in self.cpu_split for kind in split})
        split = ", ".join(
            f"{kind} {statistics.median(s.get(kind, 0.0) for s in self.cpu_split):.2f}" for kind in kinds
        )
        return (
            f"  {self.name:<48} median {self.median():8.1f} items/s  runs {[round(r, 1) for r in self.rates]}  "
            f"peak in flight {self.peaks}  its process's CPU {statistics.median(self.cpu_ms):.2f} ms/item "
            f"({split})"
        )


def thread_kind(name: str) -> str:
    """The kind of work a thread of this process does, by its name."""
    if name == "symbatcher-loop":
        return "loop"
    if name.startswith("engine-"):
        return "engine batches"
    if name.startswith("symai-engine"):
        return "engine calls"
    return ""


def engine_process_cpu() -> float | None:
    """CPU seconds of this process's engine processes
    (`SymaiEngine(process=True)`), from /proc; None when it has none."""
    total, found = 0.0, False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != os.getpid():  # field 4, the parent's id
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"_engine_process_main" not in cmdline.read():
                    continue
        except (OSError, ValueError, IndexError):
            continue
        found = True
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total if found else None


def cpu_by_thread_kind() -> dict[str, float]:
    """CPU seconds of the live threads of this process, by `thread_kind`
    (threads of no kind are left out: the rest of the process's time), and
    of its engine process, if it has one."""
    spent: dict[str, float] = {}
    engine_process = engine_process_cpu()
    if engine_process is not None:
        spent["engine process"] = engine_process
    for thread in threading.enumerate():
        kind = thread_kind(thread.name)
        if not kind or thread.ident is None:
            continue
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ProcessLookupError):
            continue  # ended meanwhile
        spent[kind] = spent.get(kind, 0.0) + seconds
    return spent


def baseline_run(workers: int, items: list[str]) -> list[Any]:
    """The user's own pool: forward() of one shared Expression per item, each
    call going through symai to the registered engine."""
    expr = Ask()
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda item: expr.forward(input=item), items))


class Contender:
    """A contender's own process (`--contender KEY`): it builds its scheduler
    (none for the baseline) once, then runs the items it is sent, one JSON
    line per run each way."""

    def __init__(self, key: str, server: SlowServer, args: argparse.Namespace) -> None:
        self.key = key
        cmd = [sys.executable, os.path.abspath(__file__), "--contender", key,
               "--server-at", f"{server.address.host}:{server.address.port}", "--http", args.http]  # fmt: skip
        if args.symai_concurrency is not None:
            cmd += ["--symai-concurrency", str(args.symai_concurrency)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, workers: int, items: list[str]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"workers": workers, "items": items}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"contender {self.key}: its process ended (exit status {self.proc.wait()})")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


def serve_contender(key: str, address: Address, http: str, symai_concurrency: int | None) -> int:
    """The `--contender KEY` process: runs each order read from stdin and
    answers on stdout; everything else it prints goes to stderr."""
    out, sys.stdout = sys.stdout, sys.stderr
    engine = NetworkEngine(http, address)
    # The ideal batcher's calls go through its hand-offs to the same engine.
    registered = HandOffEngine(engine) if key == "i" else engine
    EngineRepository.register("neurosymbolic", registered, allow_engine_override=True)
    with tempfile.TemporaryDirectory(prefix="symbatcher-latency-") as cache_dir:
        scheduler = {
            "a": lambda: BatchScheduler(engine=OpenAIEngine(address.base_url, MODEL, api_key_env=""), cache_dir=cache_dir),
            "b": lambda: BatchScheduler(cache_dir=cache_dir)
            if symai_concurrency is None
            else BatchScheduler(engine=SymaiEngine(concurrency=symai_concurrency), cache_dir=cache_dir),
            "w": lambda: BatchScheduler(engine=SymaiEngine(reply_each=False), cache_dir=cache_dir),
            "p": lambda: BatchScheduler(
                engine=SymaiEngine(engine=engine, process=True, concurrency=symai_concurrency), cache_dir=cache_dir
            ),
            "base": lambda: None,
            "i": lambda: None,
        }[key]()
        try:
            for line in sys.stdin:
                order = json.loads(line)
                workers, items = order["workers"], order["items"]
                threads_before = cpu_by_thread_kind()
                start, cpu = time.perf_counter(), time.process_time()
                results = baseline_run(workers, items) if scheduler is None else scheduler(Ask, workers, items)
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                threads = {kind: spent - threads_before.get(kind, 0.0) for kind, spent in cpu_by_thread_kind().items()}
                if "engine process" in threads:
                    # Its own process: counted in the contender's CPU too.
                    cpu += threads["engine process"]
                lost = [repr(r) for r in results if isinstance(r, BaseException)]
                summary = scheduler.last_summary if scheduler is not None else None
                reply = {
                    "results": [None if isinstance(r, BaseException) else r for r in results],
                    "lost": lost,
                    "elapsed": elapsed,
                    "cpu": cpu,
                    "threads": threads,
                    "summary": summary.describe() if summary is not None else "",
                }
                out.write(json.dumps(reply) + "\n")
                out.flush()
        finally:
            if scheduler is not None:
                scheduler.cleanup()
    return 0


def measure(series: Series, server: SlowServer, contender: Contender, workers: int, items: list[str]) -> dict[str, Any]:
    """One timed run; checks that no item is lost and that the server saw
    one request per item."""
    n = len(items)
    server.stats()  # resets the counters
    reply = contender.run(workers, items)
    stats = server.stats()
    results, lost = reply["results"], reply["lost"]
    if len(results) != n or lost:
        raise SystemExit(f"{series.name}: {len(results)} results for {n} items, {len(lost)} failed: {lost[:3]}")
    if stats["requests"] != n:
        raise SystemExit(f"{series.name}: the server saw {stats['requests']} requests for {n} items")
    series.rates.append(n / reply["elapsed"])
    series.peaks.append(stats["peak_in_flight"])
    series.cpu_ms.append(reply["cpu"] * 1000 / n)
    split = {kind: spent * 1000 / n for kind, spent in reply["threads"].items() if spent > 0}
    split["slots and the rest"] = max(0.0, reply["cpu"] * 1000 / n - sum(split.values()))
    series.cpu_split.append(split)
    return reply


def bench_workers(
    workers: int,
    args: argparse.Namespace,
    server: SlowServer,
    processes: dict[str, Contender],
) -> tuple[Series, Series, Series, list[Series], dict[str, str]]:
    n = workers * args.items_per_worker
    series = {
        "a": Series("(a) BatchScheduler(engine=OpenAIEngine(...))"),
        "b": Series(
            "(b) BatchScheduler(), symai's registered engine"
            if args.symai_concurrency is None
            else f"(b) SymaiEngine(concurrency={args.symai_concurrency})"
        ),
        "base": Series(f"baseline ThreadPoolExecutor({workers})"),
        "w": Series("(b) with replies in whole batches"),
        "i": Series("ideal in-process batcher (ThreadPoolExecutor)"),
        "p": Series(
            "(b) SymaiEngine(process=True)"
            if args.symai_concurrency is None
            else f"(b) SymaiEngine(process=True, concurrency={args.symai_concurrency})"
        ),
    }
    # Warm-up: every contender once at this W (threads, connections, imports).
    for key, contender in processes.items():
        contender.run(workers, [f"warm-up {workers} {key} {i}" for i in range(workers)])
    order = [key for key in ("a", "base", "b", "w", "p", "i") if key in processes]
    last: dict[str, str] = {}
    for r in range(args.repeat):
        items = [f"question {workers}-{r}-{i}" for i in range(n)]
        results = {}
        # The order rotates, so that no contender always follows the same one.
        for key in order[r % len(order) :] + order[: r % len(order)]:
            reply = measure(series[key], server, processes[key], workers, items)
            results[key] = reply["results"]
            if reply["summary"]:
                last[key] = reply["summary"]
        for key in [key for key in results if key != "base"]:
            if results[key] != results["base"]:
                i = next(i for i, (x, y) in enumerate(zip(results[key], results["base"])) if x != y)
                raise SystemExit(
                    f"{series[key].name}: result {i} differs from the baseline's: "
                    f"{results[key][i]!r} != {results['base'][i]!r}"
                )
    extra = [series[key] for key in ("w", "p", "i") if key in processes]
    return series["a"], series["b"], series["base"], extra, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="32,128,512", help="comma-separated numbers of workers")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--items-per-worker", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument(
        "--spread-ms",
        type=int,
        default=0,
        help="each request takes latency-ms plus or minus up to this (by its content, alike for every contender)",
    )
    parser.add_argument(
        "--whole-batches",
        action="store_true",
        help="also run (b) with SymaiEngine(reply_each=False): a batch's replies sent together",
    )
    parser.add_argument("--http", default="http.client", choices=["http.client", "requests", "httpx"])
    parser.add_argument(
        "--symai-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="run (b) with SymaiEngine(concurrency=N) (default: none, the calls follow the slots)",
    )
    parser.add_argument(
        "--engine-process",
        action="store_true",
        help="also run (b) with SymaiEngine(engine=..., process=True): symai's engine in a process of its own",
    )
    parser.add_argument(
        "--ideal-batcher",
        action="store_true",
        help="also run the ideal in-process batcher (bench/ideal_batcher.py): the floor of batching in-process",
    )
    parser.add_argument("--quick", action="store_true", help="--repeat 3 --items-per-worker 4")
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # a contender's own process
    parser.add_argument("--server-at", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        host, port = args.server_at.rsplit(":", 1)
        return serve_contender(args.contender, Address(host, int(port)), args.http, args.symai_concurrency)
    if args.symai_concurrency is not None and args.symai_concurrency < 1:
        parser.error(f"--symai-concurrency: must be at least 1, got {args.symai_concurrency}")
    if args.quick:
        args.repeat, args.items_per_worker = 3, 4
    workers_list = [int(w) for w in args.workers.split(",") if w.strip()]

    server = SlowServer(args.latency_ms, args.spread_ms)
    missed = []
    keys = ["a", "b", "base"] + (["w"] if args.whole_batches else []) + (["p"] if args.engine_process else []) + (
        ["i"] if args.ideal_batcher else []
    )
    processes = {key: Contender(key, server, args) for key in keys}
    try:
        spread = f" (plus or minus up to {args.spread_ms} ms)" if args.spread_ms else ""
        capped = "" if args.symai_concurrency is None else f", (b) at most {args.symai_concurrency} engine calls at once"
        print(
            f"latency: loopback OpenAI-compatible server, {args.latency_ms} ms{spread} per request, one Symbol.query "
            f"per item, symai engine over {args.http}{capped}, medians of {args.repeat} runs"
        )
        for workers in workers_list:
            cpu_before = server.cpu_seconds()
            ours_a, ours_b, base, extra, last = bench_workers(workers, args, server, processes)
            n = workers * args.items_per_worker
            ideal = workers * 1000 / args.latency_ms
            print(f"W={workers}: N={n} items, ideal {ideal:.0f} items/s (W / latency)")
            for series in (ours_a, ours_b, base, *extra):
                print(series.line())
            ratio_a, ratio_b = ours_a.median() / base.median(), ours_b.median() / base.median()
            print(f"  ratio (a) {ratio_a:.2f}x, (b) {ratio_b:.2f}x (target >= {TARGET}x)")
            for series in extra:
                print(f"  ratio {series.name}: {series.median() / base.median():.2f}x")
            print(f"  loopback server CPU during W={workers}: {server.cpu_seconds() - cpu_before:.2f} s")
            for key, label in (("b", "(b)"), ("p", "(b) from its engine process")):
                if key in last:
                    print(f"  {label} last run: {last[key]}")
            missed += [f"(a) at W={workers}"] * (ratio_a < TARGET) + [f"(b) at W={workers}"] * (ratio_b < TARGET)
    finally:
        for contender in processes.values():
            contender.close()
        server.close()
    if missed:
        print(f"missed the target: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
