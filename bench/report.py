"""Runs every benchmark of bench/ and prints one markdown table: each scenario
against its baseline, with the command that measured it and the machine.

    python bench/report.py [--quick] [--only throughput,latency,long_items,rate_limited,embeddings_rpm,symai_embeddings,estimate_accuracy,spend_cap,deadline,dead_endpoint,stream_memory,batch_scale,capacity,core]

Each benchmark runs in its own process, one after the other, with the
arguments shown in the table's command column; their own output goes to
stderr as they run. --quick runs fewer items and repeats (a few minutes
instead of about ten). The latency, capacity and core rows need the Rust
targets built first (`make bench` does it): target/release/examples/slow_openai,
target/release/examples/capacity and `cargo bench --bench core`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
CAPACITY = os.path.join(ROOT, "target", "release", "examples", "capacity")
ALL = [
    "throughput", "latency", "long_items", "rate_limited", "embeddings_rpm", "symai_embeddings",
    "estimate_accuracy", "spend_cap", "deadline", "dead_endpoint", "stream_memory", "batch_scale",
    "capacity", "core",
]  # fmt: skip


@dataclass
class Row:
    scenario: str
    measured: str
    baseline: str
    ratio: str
    command: str


def run(cmd: list[str]) -> str:
    """Runs `cmd` from the repository root, echoing its output to stderr;
    returns its stdout. A benchmark that misses its target exits with 1 and
    still prints its figures, so its row shows the miss; one whose output
    lacks its figures fails the report (see `grab`)."""
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stdout)
    if proc.returncode != 0:
        print(f"{' '.join(cmd)} exited with {proc.returncode}", file=sys.stderr, flush=True)
    return proc.stdout


def shown(cmd: list[str]) -> str:
    """The command as a reader would type it from the repository root."""
    parts = ["python" if c == sys.executable else os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd]
    return "`" + " ".join(parts) + "`"


def grab(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"benchmark output without {pattern!r}:\n{text}")
    return match


def throughput(quick: bool) -> list[Row]:
    args = ["--repeat", "3", "--items", "3000", "--latency-items", "500"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "throughput.py"), *args]
    out = run(cmd)
    rows = []
    # Scenarios 1 and 3 print a header, two medians and a ratio each.
    blocks = re.split(r"^(?=scenario \d)", out, flags=re.MULTILINE)
    for block in blocks:
        head = block.splitlines()[0] if block else ""
        if head.startswith(("scenario 1", "scenario 3")):
            ours = grab(r"symbatcher\s+median\s+(\d+) items/s", block).group(1)
            base = grab(r"in-process baseline median\s+(\d+) items/s", block).group(1)
            ratio = grab(r"ratio ([\d.]+x) \(target ([^)]*)\)", block)
            rows.append(Row(
                f"throughput.py {head.rstrip()}",
                f"{int(ours):,} items/s",
                f"{int(base):,} items/s in-process ThreadPoolExecutor(32)",
                f"{ratio.group(1)} (target {ratio.group(2)})",
                shown(cmd),
            ))
        elif head.startswith("scenario 2"):
            ours = grab(r"symbatcher median ([\d.]+)s", block).group(1)
            bound = grab(r"bound .* = ([\d.]+)s", block).group(1)
            ideal = grab(r"ideal in-process batcher median ([\d.]+)s", block).group(1)
            ratio = grab(r"ratio ([\d.]+x) the bound \(target ([^)]*)\)", block)
            rows.append(Row(
                f"throughput.py {head.rstrip()}",
                f"{ours} s",
                f"bound {bound} s (ideal in-process batcher {ideal} s)",
                f"{ratio.group(1)} the bound (target {ratio.group(2)})",
                shown(cmd),
            ))
    return rows


def latency(quick: bool) -> list[Row]:
    """A fixed 200 ms per request, then 200 +- 150 ms (a real engine's
    answers take longer or shorter with their length)."""
    rows = []
    for spread in (["--engine-process", "--ideal-batcher"], ["--spread-ms", "150", "--ideal-batcher"]):
        rows += _latency_rows([*(["--quick"] if quick else []), *spread])
    return rows


def _latency_rows(args: list[str]) -> list[Row]:
    cmd = [sys.executable, os.path.join(BENCH, "latency.py"), *args]
    out = run(cmd)
    head = grab(r"^latency: (.*)$", out).group(1)
    rows = []
    # One block per number of workers: three medians and the two ratios.
    for block in re.split(r"^(?=W=\d+:)", out, flags=re.MULTILINE)[1:]:
        workers = grab(r"^W=(\d+): N=(\d+) items, ideal (\d+) items/s", block)
        base = grab(r"baseline ThreadPoolExecutor\(\d+\)\s+median\s+([\d.]+) items/s", block).group(1)
        ratios = grab(r"ratio \(a\) ([\d.]+x), \(b\) ([\d.]+x) \(target ([^)]*)\)", block)
        for key, what, ratio in (
            ("a", "`BatchScheduler(engine=OpenAIEngine(url, model))`, defaults", ratios.group(1)),
            ("b", "`BatchScheduler()` with symai's registered network engine, defaults", ratios.group(2)),
        ):
            ours = grab(rf"^  \({key}\) .*?median\s+([\d.]+) items/s.*peak in flight (\[[\d, ]*\])", block)
            rows.append(Row(
                f"latency.py ({key}): {head}; {what}, num_workers={workers.group(1)}, N={workers.group(2)}",
                f"{float(ours.group(1)):,.0f} items/s, at most {max(json.loads(ours.group(2)))} requests in flight",
                f"{float(base):,.0f} items/s in-process ThreadPoolExecutor({workers.group(1)}), "
                f"same engine called directly (ideal {int(workers.group(3)):,})",
                f"{ratio} (target {ratios.group(3)})",
                shown(cmd),
            ))
        # `--engine-process`: (b) with symai's engine in a process of its own;
        # `--ideal-batcher`: the floor of any batcher in the caller's process.
        for label, what in (
            ("(b) SymaiEngine(process=True)",
             "`BatchScheduler(engine=SymaiEngine(engine=..., process=True))` with symai's registered network engine"),
            ("ideal in-process batcher (ThreadPoolExecutor)",
             "ideal in-process batcher (bench/ideal_batcher.py: the pool's calls handed to one batcher thread, "
             "then to engine threads; no server, no gRPC)"),
        ):
            extra = re.search(
                rf"^  {re.escape(label)}\s+median\s+([\d.]+) items/s.*peak in flight (\[[\d, ]*\])",
                block, re.MULTILINE,
            )
            if extra is None:
                continue
            ratio = grab(rf"ratio {re.escape(label)}: ([\d.]+x)", block).group(1)
            rows.append(Row(
                f"latency.py: {head}; {what}, num_workers={workers.group(1)}, N={workers.group(2)}",
                f"{float(extra.group(1)):,.0f} items/s, at most {max(json.loads(extra.group(2)))} requests in flight",
                f"{float(base):,.0f} items/s in-process ThreadPoolExecutor({workers.group(1)}), "
                f"same engine called directly (ideal {int(workers.group(3)):,})",
                f"{ratio} (target {ratios.group(3)})",
                shown(cmd),
            ))
    return rows


def long_items(quick: bool) -> list[Row]:
    args = ["--items", "1000", "--repeat", "3"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "long_items.py"), *args]
    out = run(cmd)
    rows = []
    # One block per slot kind: a header, the job alone, then the job beside
    # the long item in another job and in its own (a kind it skips has no
    # figures).
    blocks = re.split(r"^(?=\w+ slots: )", out, flags=re.MULTILINE)
    for block in blocks:
        head = block.splitlines()[0] if block else ""
        if " slots: N=" not in head:
            continue
        alone = grab(r"^\s+alone\s+(\d+) items/s", block).group(1)
        for where in ("another job", "the same job"):
            m = grab(rf"^\s+long item in {where}\s+(\d+) items/s.*ratio ([\d.]+x) \(target ([^)]*)\)", block)
            rows.append(Row(
                f"long_items.py {head.split(', medians')[0]}; beside a long item without "
                f"engine calls in {where}",
                f"{int(m.group(1)):,} items/s",
                f"{int(alone):,} items/s without the long item",
                f"{m.group(2)} (target {m.group(3)})",
                shown(cmd),
            ))
    return rows


def rate_limited(quick: bool) -> list[Row]:
    cmd = [sys.executable, os.path.join(BENCH, "rate_limited.py"), *(["--calls", "500"] if quick else [])]
    out = run(cmd)
    head = out.splitlines()[0]
    rate = grab(r"achieved request rate: ([\d,]+)/min = ([\d.]+) of the\s+rpm limit", out)
    lost = grab(r"lost items: (\d+)", out).group(1)
    return [Row(
        f"rate_limited.py: {head}",
        f"{rate.group(1)} requests/min, {lost} items lost",
        "the rpm limit",
        f"{rate.group(2)}x the limit (target >= 0.9, 0 lost)",
        shown(cmd),
    )]


def embeddings_rpm(quick: bool) -> list[Row]:
    args = ["--items", "3000", "--repeat", "1"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "embeddings_rpm.py"), *args]
    out = run(cmd)
    head = out.splitlines()[0]
    ours = grab(r"wall time: median ([\d.]+) s of \d+ runs \([^)]*\); at most (\d+) requests", out)
    floor = grab(r"without a limit: median ([\d.]+) s .*limited / unlimited ([\d.]+)x", out)
    single = grab(r"one request per item at rpm=\d+: ([\d,]+) s \(([\d.]+) h\); ratio ([\d,]+)x", out)
    return [Row(
        f"embeddings_rpm.py: {head}",
        f"{ours.group(1)} s, at most {ours.group(2)} requests, every vector checked",
        f"the same without a limit {floor.group(1)} s; one request per item at the rpm "
        f"{single.group(1)} s ({single.group(2)} h, computed)",
        f"{floor.group(2)}x the unlimited run; {single.group(3)}x faster than a request per item",
        shown(cmd),
    )]


def symai_embeddings(quick: bool) -> list[Row]:
    args = ["--items", "500", "--repeat", "1"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "symai_embeddings.py"), *args]
    out = run(cmd)
    pool = grab(r"thread pool, symai's engine per item: (\d+) items, (\d+) workers, (\d+) ms a request: "
                r"median ([\d.]+) s, (\d+) requests", out)  # fmt: skip
    ours = grab(r"symbatcher, SymaiEmbeddingEngine: .*?median ([\d.]+) s, (\d+) requests", out)
    ratio = grab(r"symbatcher / thread pool: wall ([\d.]+), requests ([\d.]+)", out)
    items, workers, latency, base_wall, base_requests = pool.groups()
    return [Row(
        f"symai_embeddings.py: {items} items embedding once, {workers} workers, symai's own OpenAI "
        f"embedding engine against the loopback fake at {latency} ms a request",
        f"SymaiEmbeddingEngine: {ours.group(1)} s, {ours.group(2)} requests, every vector checked",
        f"ThreadPoolExecutor({workers}) calling symai's engine per item: {base_wall} s, {base_requests} requests",
        f"wall {ratio.group(1)}x, requests {ratio.group(2)}x",
        shown(cmd),
    )]


def yes(flag: str) -> str:
    return {"True": "yes", "False": "NO"}.get(flag, flag)


def estimate_accuracy(quick: bool) -> list[Row]:
    items = 2000 if quick else 5000
    args = ["--items", str(items)] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "estimate_accuracy.py"), *args]
    out = run(cmd)
    rows = []
    for m in re.finditer(
        r"^\s*(\S+): sample (\d+) -> estimate \$([\d.]+) \(\$([\d.]+)-\$([\d.]+)\); run paid \$([\d.]+); "
        r"estimate/actual ([\d.]+) \((in|OUT OF) range\); run requests for sampled items (\d+);.*"
        r"head-sample baseline estimate/actual ([\d.]+)",
        out,
        re.MULTILINE,
    ):
        name, sample, est, low, high, paid, ratio, inside, again, head = m.groups()
        rows.append(Row(
            f"estimate_accuracy.py: {items:,} items, prompt lengths `{name}`, a fake whose usage grows with "
            f"the prompt; `BatchScheduler.estimate` on a sample of {sample}, then the run",
            f"estimate ${est} (range ${low}-${high}); the run paid ${paid} ({inside} range), "
            f"{again} requests for sampled items",
            f"the first {sample} items as the sample: estimate/actual {head}",
            f"estimate/actual {ratio} (target within 15%)",
            shown(cmd),
        ))
    if not rows:
        raise SystemExit(f"benchmark output without dataset lines:\n{out}")
    return rows


def spend_cap(quick: bool) -> list[Row]:
    cmd = [sys.executable, os.path.join(BENCH, "spend_cap.py"), "--runs", "3" if quick else "10"]
    out = run(cmd)
    head = out.splitlines()[0]
    base = grab(r"baseline \(no cap\): spent \$([\d.]+) in ([\d.]+) s", out)
    cap = grab(r"^cap \$([\d.]+) \(([\d.]+) requests' worth\)", out)
    over = grab(r"max overshoot over (\d+) runs: \$([\d.]+)", out)
    stopped = grab(r"items not answered failed with BudgetExceeded on every run: (\w+)", out).group(1)
    rerun = grab(r"re-runs with a 10x cap paid exactly for the items not run, and answered all: (\w+)", out)
    requeued = grab(r"runs re-queued by the server over all jobs: (\d+)", out).group(1)
    return [Row(
        f"spend_cap.py: {head.removeprefix('spend_cap: ')}; cap ${cap.group(1)} ({cap.group(2)} requests' worth)",
        f"max overshoot ${over.group(2)} over {over.group(1)} runs; items not run failed with BudgetExceeded "
        f"on every run: {yes(stopped)}; the re-run with a 10x cap paid only for them on every run: "
        f"{yes(rerun.group(1))} ({requeued} runs re-queued by the server)",
        f"no cap: ${base.group(1)} in {base.group(2)} s",
        f"overshoot ${over.group(2)} (target $0.00)",
        shown(cmd),
    )]


def deadline(quick: bool) -> list[Row]:
    args = ["--items", "2000", "--turnaround", "5"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "deadline.py"), *args]
    out = run(cmd)
    base = grab(r"baseline, no deadline: ([\d,]+) items, last at ([\d.]+) s\n.*\n"
                r"\s*billed by the fakes: .*= ([\d.]+)x all online", out)  # fmt: skip
    setup = grab(r"deadline (\d+) s \(1.5x the baseline's [\d.]+ s\), margin [\d.]+ s, T (\d+) s", out)
    ours = grab(r"deadline: ([\d,]+) items, last at ([\d.]+) s \(deadline \d+ s, (\d+) late\)\n"
                r"\s*answered twice: (\d+), wrong results: (\d+), held back: ([\d,]+)\n"
                r"\s*billed by the fakes: ([\d,]+) by batch \+ ([\d,]+) online = ([\d.]+)x all online", out)  # fmt: skip
    items, last, late, twice, _wrong, held, by_batch, online, ratio = ours.groups()
    return [Row(
        f"deadline.py: {items} items x 3 calls through a batch engine with an online fallback, fake "
        f"batches taking T={setup.group(2)} s, {held} of one step's requests held back; deadline "
        f"{setup.group(1)} s",
        f"last item at {last} s, {late} late, {twice} answered twice; {by_batch} calls by batch, "
        f"{online} online",
        f"no deadline: all by batch, last at {base.group(2)} s, {base.group(3)}x the all-online cost",
        f"{ratio}x the all-online cost (target <= 0.6x, 100% on time)",
        shown(cmd),
    )]


def dead_endpoint(quick: bool) -> list[Row]:
    args = ["--repeat", "1"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "dead_endpoint.py"), *args]
    out = run(cmd)
    head = grab(r"^([\d,]+ items, \d+ slots), medians of (\d+)", out)
    dead = grab(r"dead endpoint\s+([\d.]+) s", out).group(1)
    echo = grab(r"echo \(baseline\)\s+([\d.]+) s", out).group(1)
    ratio = grab(r"dead / echo\s+([\d.]+)", out).group(1)
    return [Row(
        f"dead_endpoint.py: {head.group(1)}, an OpenAIEngine whose port has nothing listening, "
        f"medians of {head.group(2)}",
        f"every item failed with EngineUnavailableError in {dead} s",
        f"the same items answered by the echo engine: {echo} s",
        f"{ratio}x the echo run",
        shown(cmd),
    )]


def stream_memory(quick: bool) -> list[Row]:
    args = ["--items", "100000", "--compare", "20000"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "stream_memory.py"), *args]
    out = run(cmd)
    head = out.splitlines()[0]
    targets = grab(
        r"targets: server <= 100 MiB \(([\d.]+)\), client <= 300 MiB \(([\d.]+)\); growth from "
        r"N=([\d,]+) to N=([\d,]+): client ([+\-\d.]+) MiB, server ([+\-\d.]+) MiB",
        out,
    )
    server, client, small, big, client_growth, server_growth = targets.groups()
    return [Row(
        f"stream_memory.py: {head}",
        f"peak server {server} MiB, client {client} MiB at N={big}",
        f"the same at N={small}",
        f"growth server {server_growth} MiB, client {client_growth} MiB "
        "(targets server <= 100 MiB, client <= 300 MiB, no growth)",
        shown(cmd),
    )]


def batch_scale(quick: bool) -> list[Row]:
    args = ["--items", "20000", "--max-requests-per-batch", "10000", "--baseline-items", "1000"] if quick else []
    cmd = [sys.executable, os.path.join(BENCH, "batch_scale.py"), *args]
    out = run(cmd)
    head = out.splitlines()[0]
    ours = grab(
        r"replay: ([\d,]+) items in ([\d.]+) s, [\d,]+ answered, (\d+) failed; (\d+) provider batches "
        r"\(([^)]*)\); peak RSS client (\d+) MiB, server (\d+) MiB",
        out,
    )
    items, wall, failed, batches, _sizes, client, server = ours.groups()
    base = grab(r"without replay (\d+) per step for ([\d,]+) items, ([\d,]+) per step at", out)
    target = grab(r"provider batches: \d+ for [\d,]+ items \(target (\d+)\)", out).group(1)
    return [Row(
        f"batch_scale.py: {head}",
        f"{batches} provider batches for {items} items ({failed} failed, {wall} s on the fake); "
        f"peak RSS client {client} MiB, server {server} MiB",
        f"replay=False: {base.group(1)} batches per step at {base.group(2)} items "
        f"({base.group(3)} per step at {items})",
        f"{batches} batches (target {target}); client and server < 1 GiB",
        shown(cmd),
    )]


ITEMS_TARGET = 100_000
LATENCY_TARGET_MS = 1.0


def capacity(quick: bool) -> list[Row]:
    cmd = [CAPACITY, "--json", *(["--quick"] if quick else [])]
    out = run(cmd)
    rows = []
    for line in out.splitlines():
        r = json.loads(line)
        think = f", each run works {r['think_ms']} ms before its call" if r.get("think_ms") else ""
        what = (
            f"capacity `{r['group']}`: {r['workers']} worker streams, {r['jobs']} job(s), "
            f"{r['items']:,} items{think}"
        )
        cpu = f"server CPU {r['server_cpu_us_per_item']:.1f} µs/item"
        if r["paced"]:
            above = r["call_p99_ms"] - r["max_queue_delay_ms"]
            rows.append(Row(
                what,
                f"call p50 {r['call_p50_ms']:.2f} ms, p99 {r['call_p99_ms']:.2f} ms; "
                f"{r['calls_per_s']:,.0f} calls/s; {cpu}",
                f"max_queue_delay {r['max_queue_delay_ms']} ms",
                f"p99 {above:+.2f} ms above the delay (target < {LATENCY_TARGET_MS:g} ms at 500 streams)",
                shown(cmd),
            ))
            continue
        calls = f", {r['calls_per_s']:,.0f} engine calls/s" if r["calls"] else ""
        rows.append(Row(
            what,
            f"{r['items_per_s']:,.0f} items/s{calls}; {cpu}",
            f"target {ITEMS_TARGET:,} items/s",
            f"{r['items_per_s'] / ITEMS_TARGET:.2f}x the target",
            shown(cmd),
        ))
    return rows


CALLS_TARGET = 500_000


def core(quick: bool) -> list[Row]:
    cmd = ["cargo", "bench", "--locked", "--bench", "core", "--", *(["--quick"] if quick else [])]
    out = run(cmd)
    rows = []
    for name, what in [("items_without_calls", "items"), ("engine_calls", "engine calls")]:
        m = grab(rf"core/{name}[\s\S]*?thrpt:\s+\[[^\]]*?\s([\d.]+) (K|M)elem/s\s", out)
        rate = float(m.group(1)) * (1_000 if m.group(2) == "K" else 1_000_000)
        rows.append(Row(
            f"core (criterion, in-process server on in-memory pipes): `{name}`",
            f"{rate:,.0f} {what}/s (median)",
            f"target {CALLS_TARGET:,} engine calls/s" if name == "engine_calls" else f"target {ITEMS_TARGET:,} items/s",
            f"{rate / (CALLS_TARGET if name == 'engine_calls' else ITEMS_TARGET):.2f}x the target",
            shown(cmd),
        ))
    return rows


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return f"`nproc` {os.cpu_count()}, {model}, {mem:.0f} GiB memory, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ALL]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {ALL}")
    rows: list[Row] = []
    for name in chosen:
        rows.extend(globals()[name](args.quick))
    print(f"Machine: {machine()}.\n")
    print("| scenario | measured | baseline | against the baseline | command |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.scenario} | {r.measured} | {r.baseline} | {r.ratio} | {r.command} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
