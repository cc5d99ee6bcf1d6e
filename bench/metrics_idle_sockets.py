"""Idle sockets on the metrics port leave gRPC answering.

Starts the release server with a metrics endpoint, has two processes open
--per-process (10,000) idle connections each to the metrics port and hold
them (two, because one process may hold at most its descriptor limit), then
runs `symbatcher status` against the gRPC port and prints whether it
answered, how long it took (the CLI's own start included) and how many file
descriptors the server holds (its metrics listener keeps at most
--metrics-max-connections, 64 by default).

    python bench/metrics_idle_sockets.py [--per-process 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")

HOLDER = """
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", {port})) for _ in range({n})]
print("open", len(socks), flush=True)
sys.stdin.read()
"""


def listening_ports(pid: int) -> list[int]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if f"pid={pid}," in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-process", type=int, default=10_000)
    args = parser.parse_args()
    server = subprocess.Popen(
        [os.path.join(BIN, "symbatcher-server"), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    holders: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        address = server.stdout.readline().split()[-1]
        grpc_port = int(address.rsplit(":", 1)[1])
        metrics_port = next(p for p in listening_ports(server.pid) if p != grpc_port)
        for _ in range(2):
            holders.append(subprocess.Popen(
                [sys.executable, "-c", HOLDER.format(port=metrics_port, n=args.per_process)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            ))
        opened = sum(int(h.stdout.readline().split()[1]) for h in holders if h.stdout is not None)
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        start = time.perf_counter()
        status = subprocess.run([os.path.join(BIN, "symbatcher"), "status", "--server", address],
                                capture_output=True, text=True, timeout=60)
        elapsed = (time.perf_counter() - start) * 1000
        print(f"{opened} idle sockets on the metrics port; server holds {fds} file descriptors; "
              f"`symbatcher status` exit {status.returncode} in {elapsed:.0f} ms (CLI start included)")
        return status.returncode
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
