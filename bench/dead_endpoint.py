"""How long a job takes to fail every item against a dead endpoint (nothing
listens at the OpenAI-compatible engine's base_url), beside the same job on
the echo engine (every call answered), in the same invocation: medians of
`--repeat` runs each.

    python bench/dead_endpoint.py [--items 10000] [--slots 64] [--repeat 3]
                                  [--before SERVER_BINARY] [--profile FILE]

`--before SERVER_BINARY` adds the dead-endpoint job on another server build
(e.g. an earlier commit's `symbatcher-server`), alternated with this one's.

`--profile FILE` runs one dead-endpoint job under cProfile and writes its
stats to FILE (read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time
from typing import Callable

from symai import Expression, Symbol

from symbatcher import BatchScheduler, EchoEngine, EngineUnavailableError, OpenAIEngine
from symbatcher.client._embedded_server import ENV_BINARY


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("answer", **kwargs).value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(engine: object, items: int, slots: int) -> tuple[float, list[object]]:
    with BatchScheduler(engine=engine, cache="off") as scheduler:
        started = time.monotonic()
        results = scheduler(Ask, slots, [f"item {i}" for i in range(items)], batch_size=64)
        return time.monotonic() - started, results


def profiled(job: Callable[[], float], path: str) -> float:
    """Runs `job` with every thread it starts (worker slots, the client's
    event loop) under its own cProfile, and writes their stats together."""
    import cProfile
    import pstats
    import threading

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    thread_run = threading.Thread.run

    def run_profiled(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.runcall(thread_run, self)

    threading.Thread.run = run_profiled  # type: ignore[method-assign]
    try:
        main_profile = cProfile.Profile()
        took = main_profile.runcall(job)
    finally:
        threading.Thread.run = thread_run  # type: ignore[method-assign]
    stats = pstats.Stats(main_profile)
    for profile in profiles:
        try:
            stats.add(profile)
        except TypeError:  # a thread still running has no stats yet
            pass
    stats.dump_stats(path)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default=None, metavar="SERVER_BINARY")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    base_url = f"http://127.0.0.1:{closed_port()}/v1"

    def dead() -> OpenAIEngine:
        return OpenAIEngine(base_url, "gpt-4o-mini", api_key_env=None)

    if args.profile:
        took = profiled(lambda: run(dead(), args.items, args.slots)[0], args.profile)
        print(f"profiled dead-endpoint run: {took:.2f} s")
        return
    times: dict[str, list[float]] = {"dead endpoint": [], "echo (baseline)": []}
    if args.before:
        times["dead, --before"] = []
    for _ in range(args.repeat):
        if args.before:
            this = os.environ.get(ENV_BINARY)
            os.environ[ENV_BINARY] = args.before
            took, results = run(dead(), args.items, args.slots)
            if this is None:
                del os.environ[ENV_BINARY]
            else:
                os.environ[ENV_BINARY] = this
            assert {type(r).__name__ for r in results} == {EngineUnavailableError.__name__}
            times["dead, --before"].append(took)
        took, results = run(dead(), args.items, args.slots)
        kinds = {type(r).__name__ for r in results}
        assert kinds == {EngineUnavailableError.__name__}, kinds
        times["dead endpoint"].append(took)
        took, results = run(EchoEngine(), args.items, args.slots)
        assert all(isinstance(r, str) for r in results)
        times["echo (baseline)"].append(took)
    print(f"{args.items:,} items, {args.slots} slots, medians of {args.repeat}")
    for name, runs in times.items():
        runs_text = ", ".join(f"{t:.2f}" for t in runs)
        print(f"  {name:16} {statistics.median(runs):6.2f} s  ({runs_text})")
    dead = statistics.median(times["dead endpoint"])
    print(f"  dead / echo      {dead / statistics.median(times['echo (baseline)']):6.2f}")
    if args.before:
        print(f"  dead / before    {dead / statistics.median(times['dead, --before']):6.2f}")


if __name__ == "__main__":
    main()
