"""Bench: the spend cap holds under 1,000 slots.

Runs ITEMS items (one `Symbol.query` each, `max_tokens=5`) on SLOTS worker
slots through `BatchScheduler(max_cost_usd=cap)` with an `OpenAIEngine` for
gpt-4o-mini (built-in price) against the loopback fake OpenAI server
(client-python/tests/fake_openai.py), which takes LATENCY seconds per request
and bills 10 prompt + 5 completion tokens each. The cap is CAP_CALLS calls'
worth, so it is reached mid-run. What was spent is counted at the fake
(requests it answered x their price), not taken from the server's figures.

Per run it prints what was spent against the cap, the overshoot (target
$0.00 on every run), the items that failed with BudgetExceeded (they must
be exactly the items not answered), and then runs the same job again with a
higher cap on the same call cache: the requests that re-run sends must be
exactly the items the first run did not answer. It also prints the runs the
server put back in the queue (`requeued`, first job + re-run: a 1,000-thread
worker starved of the GIL on a loaded machine can miss its heartbeats and be
judged stalled); a re-queued run's request at the engine answers the item's
next run, so re-queues must not add requests. A baseline run without a cap,
in the same invocation, gives the uncapped wall time and spend.

    python bench/spend_cap.py [--items 3000] [--slots 1000] [--latency 1.0] [--cap-calls 1500] [--runs 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client-python" / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402
from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler, BudgetExceeded, OpenAIEngine  # noqa: E402

MODEL = "gpt-4o-mini"
PER_CALL_USD = (10 * 0.15 + 5 * 0.60) / 1e6  # what the fake bills a request at MODEL's price


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer briefly", **kwargs).value


def run_job(
    fake: FakeOpenAI, args: argparse.Namespace, items: list[str], cap: float | None, cache: Path
) -> tuple[list[object], float, int, int]:
    """Runs the job; returns its results, wall time, the engine's retries and
    the runs re-queued."""
    engine = OpenAIEngine(fake.base_url, MODEL, api_key_env=None)
    options: dict[str, object] = {"cache_dir": cache}
    if cap is not None:
        options["max_cost_usd"] = cap
    with BatchScheduler(engine=engine, **options) as scheduler:  # type: ignore[arg-type]
        started = time.monotonic()
        results = scheduler(Ask, args.slots, items, batch_size=args.slots, max_tokens=5)
        wall = time.monotonic() - started
        summary = scheduler.last_summary
        return results, wall, summary.retries, summary.requeued


def one_run(args: argparse.Namespace, items: list[str], cap: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="spend-cap-") as tmp, FakeOpenAI(latency_s=args.latency) as fake:
        results, wall, retries, requeued = run_job(fake, args, items, cap, Path(tmp))
        arrivals = fake.chat_arrivals()
        sent = len(arrivals)
        distinct = len({a.content for a in arrivals})
        spent = sent * PER_CALL_USD
        answered = sum(isinstance(r, str) for r in results)
        stopped = sum(isinstance(r, BudgetExceeded) for r in results)
        other = len(results) - answered - stopped
        again, rerun_wall, _, rerun_requeued = run_job(fake, args, items, cap * 10, Path(tmp))
        rerun_sent = len(fake.chat_arrivals()) - sent
        rerun_ok = sum(isinstance(r, str) for r in again)
        failures = Counter(type(r).__name__ for r in results + again if not isinstance(r, str))
    if set(failures) - {"BudgetExceeded"}:
        other_failures = ", ".join(f"{name} x{n}" for name, n in sorted(failures.items()))
        print(f"   (other failures: {other_failures})", file=sys.stderr)
    return {
        "spent": spent,
        "overshoot": max(0.0, spent - cap),
        "sent": sent,
        "distinct": distinct,
        "retries": retries,
        "requeued": requeued + rerun_requeued,
        "answered": answered,
        "stopped": stopped,
        "other": other,
        "wall": wall,
        "rerun_sent": rerun_sent,
        "rerun_ok": rerun_ok,
        "rerun_wall": rerun_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request at the fake")
    parser.add_argument("--cap-calls", type=float, default=1500.5, help="the cap, in requests' worth")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    items = [f"item-{i:05d}" for i in range(args.items)]
    cap = args.cap_calls * PER_CALL_USD

    with tempfile.TemporaryDirectory(prefix="spend-cap-") as tmp, FakeOpenAI(latency_s=args.latency) as fake:
        _, base_wall, _, _ = run_job(fake, args, items, None, Path(tmp))
        base_spent = len(fake.chat_arrivals()) * PER_CALL_USD
    print(
        f"spend_cap: {args.items} items, {args.slots} slots, fake {args.latency:.1f} s/request, "
        f"{MODEL} billed ${PER_CALL_USD:.7f} per request"
    )
    print(f"baseline (no cap): spent ${base_spent:.6f} in {base_wall:.1f} s")
    print(f"cap ${cap:.6f} ({args.cap_calls} requests' worth)")
    print(
        "run  spent($)   overshoot($)  sent  distinct  retries  answered  BudgetExceeded  other  wall(s)"
        "  rerun_sent  rerun_ok  rerun_wall(s)  requeued"
    )
    rows = []
    for run in range(1, args.runs + 1):
        row = one_run(args, items, cap)
        rows.append(row)
        print(
            f"{run:>3}  {row['spent']:.6f}  {row['overshoot']:.6f}      {row['sent']:>5.0f}  "
            f"{row['distinct']:>8.0f}  {row['retries']:>7.0f}  "
            f"{row['answered']:>8.0f}  {row['stopped']:>14.0f}  {row['other']:>5.0f}  {row['wall']:>7.1f}  "
            f"{row['rerun_sent']:>10.0f}  {row['rerun_ok']:>8.0f}  {row['rerun_wall']:>13.1f}  "
            f"{row['requeued']:>8.0f}"
        )
    max_over = max(row["overshoot"] for row in rows)
    min_use = min(row["spent"] / cap for row in rows)
    rerun_exact = all(row["rerun_sent"] == row["stopped"] and row["rerun_ok"] == args.items for row in rows)
    stopped_exact = all(row["answered"] + row["stopped"] == args.items for row in rows)
    mean_wall = sum(row["wall"] for row in rows) / len(rows)
    print(f"max overshoot over {args.runs} runs: ${max_over:.6f} (target $0.00)")
    print(f"least share of the cap spent: {min_use:.3f}")
    print(f"items not answered failed with BudgetExceeded on every run: {stopped_exact}")
    print(f"re-runs with a 10x cap paid exactly for the items not run, and answered all: {rerun_exact}")
    print(f"runs re-queued by the server over all jobs: {sum(row['requeued'] for row in rows):.0f}")
    print(f"mean capped wall / baseline wall: {mean_wall:.1f} s / {base_wall:.1f} s = {mean_wall / base_wall:.2f}")


if __name__ == "__main__":
    main()
