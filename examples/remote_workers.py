"""Remote and multi-process workers: `symbatcher worker` serving a job together
with local slots.

This script starts a server (`symbatcher-server`, as you would on a machine
the workers can reach), then a worker command with two processes, as you
would on other machines:

    symbatcher worker summarize:SummarizeWhere --server HOST:PORT --concurrency 32 --processes 2

(`--app-dir examples` or running it from this directory lets it import
`summarize`). Workers register the expression by its import path, the very name
the scheduler submits for `summarize.SummarizeWhere`. The job then runs on both: 8
local slots plus 2 x 32 slots in the worker processes, each with a GIL of its
own; every engine call of every process is batched together by the server.
`num_workers=0` would leave the job to the remote workers alone.

    python examples/remote_workers.py [--slots greenlet]

`--slots greenlet` runs the worker processes' slots as greenlets (faster for
an expression like this one, whose forward() only computes and calls the
engine).
"""

import argparse
import collections
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from summarize import SummarizeWhere
from symbatcher import BatchScheduler, NoWorkerError, make_channel
from symbatcher.v1 import status_pb2, status_pb2_grpc

HERE = Path(__file__).resolve().parent


def symbatcher_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "symbatcher"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "symbatcher.cli"]
    return [*head, *args]


def start_server(token: str) -> tuple[subprocess.Popen, str]:
    """`symbatcher-server` on a free loopback port, requiring `token` (its
    stdin a pipe, so it exits with this script); returns the process and its
    address."""
    beside = Path(sys.executable).parent / "symbatcher-server"
    binary = str(beside) if beside.exists() else shutil.which("symbatcher-server")
    if binary is None:
        raise SystemExit("symbatcher-server not found: run `make install` first")
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--exit-with-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "SYMBATCHER_AUTH_TOKEN": token},
    )
    line = server.stdout.readline()  # "listening on ADDR" once bound
    if not line.startswith("listening on "):
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split()[-1]


def wait_for_workers(address: str, token: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with make_channel(address, token=token) as channel:
        status = status_pb2_grpc.StatusServiceStub(channel)
        while len(status.Status(status_pb2.StatusRequest()).workers) < count:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not register in time")
            time.sleep(0.1)


class Local(SummarizeWhere):
    """Defined in this script, so only local slots can serve it: a remote
    worker cannot import `__main__`."""


def main() -> None:
    parser = argparse.ArgumentParser(description="symbatcher worker processes serving a job")
    parser.add_argument("--slots", choices=["thread", "greenlet"], default="thread")
    args = parser.parse_args()
    # Every client, worker and engine of this server presents this token.
    token = secrets.token_urlsafe(32)
    server, address = start_server(token)
    # With address=, jobs use the server's default engine (here its echo engine).
    with BatchScheduler(address=address, token=token, worker_wait_ms=2000) as scheduler:
        print(f"server at {scheduler.address}")
        workers = subprocess.Popen(
            symbatcher_command(
                "worker", "summarize:SummarizeWhere", "--server", scheduler.address,
                "--concurrency", "32", "--processes", "2", "--slots", args.slots,
                "--app-dir", str(HERE), "--log-level", "WARNING",
            ),
            env={**os.environ, "SYMBATCHER_AUTH_TOKEN": token},
        )
        try:
            wait_for_workers(scheduler.address, token, 2)
            dataset = [f"Review #{i}: fine." for i in range(3000)]
            results = scheduler(SummarizeWhere, 8, dataset, batch_size=32)
            by_process = collections.Counter(
                "this process" if r["pid"] == os.getpid() else f"worker pid {r['pid']}"
                for r in results
            )
            print(f"{len(results)} results, e.g. {results[0]['summary']!r}")
            print(f"items per process: {dict(by_process)}")
            print(scheduler.last_summary.describe())

            # Only the remote workers: num_workers=0.
            remote_only = scheduler(SummarizeWhere, 0, dataset[:500], batch_size=32)
            print(f"remote workers only: {len({r['pid'] for r in remote_only})} processes ran 500 items")

            # An expression no worker serves fails after worker_wait_ms.
            try:
                scheduler(Local, 0, ["x"])
            except NoWorkerError as err:
                print(f"NoWorkerError: {err}")
        finally:
            workers.send_signal(signal.SIGTERM)  # drains: running items finish
            print(f"workers exited with status {workers.wait(30)}")
    server.terminate()
    server.wait(30)


if __name__ == "__main__":
    main()
