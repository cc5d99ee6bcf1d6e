"""`symbatcher engine` through a server freeze and a server restart: the
number of engine calls that fail.

A `symbatcher-server` on a fixed loopback port, a `symbatcher engine`
process (tests/remote_engines.py `SlowEcho`, 20 ms per batch, default
keepalive: a frozen server is noticed after 5 + 10 s) and this process as the
client, with local thread slots, one engine call per item:

1. a job of --items items; once a sixth of them are done, the server is
   frozen (SIGSTOP) for --freeze seconds, then continued. The engine loses
   the server, reconnects within the server's --engine-reconnect-grace-ms
   (30 s), and gets the batches it had not answered again. This client rides
   out the freeze: its keepalive timeout is set to 60 s for the run.
2. the server is stopped and started again on the same port; the engine
   registers with the new one, and a second job of --items items runs.

    python bench/engine_reconnect.py [--items 3000] [--freeze 20]

Target: 0 failed calls of 2 x --items; the engine process never exits.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "client-python" / "tests"
ENGINE = "bench-reconnecting"

# Before symbatcher is imported: this client must not give up on a frozen server.
os.environ["SYMBATCHER_KEEPALIVE_TIMEOUT_MS"] = "60000"
os.environ.setdefault("SYMBATCHER_AUTH_TOKEN", secrets.token_urlsafe(24))

from symai import Expression, Symbol  # noqa: E402

from symbatcher import BatchScheduler  # noqa: E402
from symbatcher.client._embedded_server import find_server_binary  # noqa: E402
from symbatcher.wire._channel import make_channel  # noqa: E402
from symbatcher.v1 import status_pb2, status_pb2_grpc  # noqa: E402


class Ask(Expression):
    def forward(self, input, **kwargs):
        return Symbol(str(input)).query("Answer", **kwargs).value


def _server(address: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [find_server_binary(), "--listen", address, "--shutdown-grace-ms", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on "), line
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def _engine_up(address: str) -> bool:
    try:
        with make_channel(address) as channel:
            status = status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=2)
        return any(e.name == ENGINE and not e.reconnecting for e in status.engines)
    except Exception:
        return False


def _wait_engine(address: str, timeout: float) -> float:
    start = time.monotonic()
    while not _engine_up(address):
        if time.monotonic() - start > timeout:
            raise SystemExit(f"the engine did not register within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start


def _job(address: str, items: int, during=None) -> int:
    """Runs a job; `during(done)` is called once a sixth of it is done.
    Returns the number of failed items (one engine call each)."""
    results: dict[int, object] = {}
    with BatchScheduler(address=address, engine=ENGINE) as scheduler:
        fired = False
        for index, value in scheduler.stream(Ask, 16, range(items), batch_size=16):
            results[index] = value
            if during is not None and not fired and len(results) >= items // 6:
                fired = True
                threading.Thread(target=during, daemon=True).start()
    assert sorted(results) == list(range(items))
    return sum(1 for v in results.values() if isinstance(v, BaseException))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--freeze", type=float, default=20.0)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    server = _server(address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBATCHER_KEEPALIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    engine = subprocess.Popen(
        [sys.executable, "-m", "symbatcher.cli", "engine", "remote_engines:SlowEcho",
         "--server", address, "--name", ENGINE, "--log-level", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_engine(address, 60)

        def freeze() -> None:
            os.kill(server.pid, signal.SIGSTOP)
            time.sleep(args.freeze)
            os.kill(server.pid, signal.SIGCONT)
            print(f"server frozen for {args.freeze:.0f} s, continued", flush=True)

        start = time.monotonic()
        failed_freeze = _job(address, args.items, during=freeze)
        print(f"job 1 (freeze): {args.items} calls, {failed_freeze} failed, "
              f"{time.monotonic() - start:.1f} s", flush=True)
        server.terminate()
        server.wait(30)
        restarted = time.monotonic()
        server = _server(address)
        back = _wait_engine(address, 60)
        print(f"server restarted: the engine registered again after {time.monotonic() - restarted:.1f} s "
              f"({back:.1f} s after the new server listened)", flush=True)
        failed_restart = _job(address, args.items)
        print(f"job 2 (after the restart): {args.items} calls, {failed_restart} failed", flush=True)
        alive = engine.poll() is None
        total = failed_freeze + failed_restart
        print(f"total: {total} failed calls of {2 * args.items}; engine process alive: {alive}")
        return 0 if total == 0 and alive else 1
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, signal.SIGKILL)
        engine.wait()
        server.kill()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
