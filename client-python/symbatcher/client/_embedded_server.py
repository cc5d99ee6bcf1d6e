"""The embedded server: finds the `symbatcher-server` binary, starts it on a
free loopback port, waits for it to report healthy, and stops it.

The server's standard input is a pipe held by this process and the server
runs with `--exit-with-stdin`: when this process ends, however it ends (even
by SIGKILL), the pipe closes and the server shuts down. No orphans.

It requires a token: $SYMBATCHER_AUTH_TOKEN when set, else a random one made
for it (passed in its environment, never on its command line), so that other
users of the machine cannot submit jobs to it or register workers with it.
"""

from __future__ import annotations

import collections
import importlib.metadata
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from symbatcher.wire._channel import TOKEN_ENV, Connection
from symbatcher._errors import ServerStartError

log = logging.getLogger("symbatcher.server")

BINARY_NAME = "symbatcher-server"
ENV_BINARY = "SYMBATCHER_SERVER_BIN"
#: The distribution (wheel) that carries the binary.
_DISTRIBUTION = "symbatcher"
#: Role tokens of the server's own configuration; the embedded server has
#: the main token only.
_ROLE_TOKEN_ENVS = ("SYMBATCHER_CLIENT_TOKEN", "SYMBATCHER_WORKER_TOKEN", "SYMBATCHER_STATUS_TOKEN")
#: The `symbatcher` package directory (this module is in its `client/`).
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def find_server_binary() -> str:
    """Where the server binary is: $SYMBATCHER_SERVER_BIN, then the one the
    installed wheel carries, then next to the running Python (a virtualenv's
    bin/, where `make install` puts it), then PATH, then a source checkout's
    target/release."""
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        return explicit
    bundled = bundled_server_binary()
    if bundled:
        return bundled
    beside = Path(sys.executable).parent / BINARY_NAME
    if _is_executable(beside):
        return str(beside)
    found = shutil.which(BINARY_NAME)
    if found:
        return found
    checkout = _PACKAGE_DIR.parents[1] / "target" / "release" / BINARY_NAME
    if checkout.is_file():
        return str(checkout)
    raise ServerStartError(
        f"cannot find {BINARY_NAME}: set {ENV_BINARY}, install the symbatcher wheel "
        "(`pip install symbatcher-*.whl`, which carries the server), or run `make install` "
        "in the symbatcher checkout (it builds the server into the virtualenv's bin/)"
    )


def bundled_server_binary() -> str | None:
    """The server binary installed with this package's wheel: a file of the
    `symbatcher` distribution's RECORD (the wheel puts it in the install
    scheme's scripts directory, e.g. a virtualenv's bin/ or ~/.local/bin).
    None when the installed distribution carries none (a plain source install)
    or is not the one this module was imported from."""
    try:
        dist = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    files = dist.files or []
    here = _PACKAGE_DIR
    for file in files:
        # A regular (not editable) install records the package's files: make
        # sure they are the ones running, not another copy on sys.path.
        if file.as_posix() == f"{_DISTRIBUTION}/__init__.py":
            if Path(str(dist.locate_file(file))).resolve().parent != here:
                return None
    for file in files:
        if file.name == BINARY_NAME:
            path = Path(str(dist.locate_file(file))).resolve()
            if _is_executable(path):
                return str(path)
    return None


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


class EmbeddedServer:
    """A `symbatcher-server` child process on 127.0.0.1, owned by this process."""

    def __init__(
        self, args: list[str] | None = None, *, token: str | None = None, startup_timeout: float = 30.0
    ) -> None:
        binary = find_server_binary()
        #: The token the server requires (the main token).
        self.token = token or os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(32)
        env = {k: v for k, v in os.environ.items() if k not in _ROLE_TOKEN_ENVS}
        env[TOKEN_ENV] = self.token
        command = [binary, "--listen", "127.0.0.1:0", "--exit-with-stdin", *(args or [])]
        #: The server's last lines of output (stdout and stderr, merged).
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._address_line = ""
        self._address_read = threading.Event()
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise ServerStartError(f"cannot run {binary}: {exc}") from exc
        self.pid = self._proc.pid
        # One thread reads the server's output until its pipe closes: the
        # address line, then whatever it logs, so it never blocks on a full pipe.
        self._reader = threading.Thread(
            target=self._read_output, name="symbatcher-server-output", daemon=True
        )
        self._reader.start()
        self.address = self._read_address(startup_timeout)
        self._wait_healthy(startup_timeout)

    def _read_output(self) -> None:
        assert self._proc.stdout is not None
        try:
            for raw in self._proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if not self._address_read.is_set() and line.startswith("listening on "):
                    self._address_line = line
                    self._address_read.set()
                    continue
                self._stderr_tail.append(line)
                log.debug("%s", line)
        finally:
            self._address_read.set()  # the pipe closed: no address is coming

    def _failure(self, what: str) -> ServerStartError:
        self._reader.join(timeout=2)
        output = "\n".join(self._stderr_tail).strip() or "(no output)"
        return ServerStartError(f"{BINARY_NAME} {what}:\n{output}")

    def _read_address(self, timeout: float) -> str:
        self._address_read.wait(timeout)
        if not self._address_line:
            self._kill()
            code = self._proc.poll()
            what = f"exited with status {code}" if code is not None else "did not start in time"
            raise self._failure(what)
        return self._address_line.removeprefix("listening on ")

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                remaining = deadline - time.monotonic()
                if self._proc.poll() is not None:
                    raise self._failure(f"exited with status {self._proc.returncode}")
                if remaining <= 0:
                    self._kill()
                    raise self._failure("did not report healthy in time")
                try:
                    reply = stub.Check(
                        health_pb2.HealthCheckRequest(service=""),
                        timeout=min(remaining, 2.0),
                        wait_for_ready=True,
                    )
                except grpc.RpcError:
                    continue
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Asks the server to shut down (closes its stdin), waits for it, and
        joins the thread that reads its output (it ends with the pipe)."""
        if self._proc.poll() is None:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("symbatcher-server did not stop in %.0fs; killing it", timeout)
                self._kill()
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=2)

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)


def default_cache_dir() -> str:
    """The embedded server's call cache: $SYMBATCHER_CACHE_DIR, else
    $XDG_CACHE_HOME/symbatcher, else ~/.cache/symbatcher."""
    explicit = os.environ.get("SYMBATCHER_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symbatcher")


def open_server(
    address: str | None,
    server_args: list[str],
    *,
    token: str | None,
    tls: bool | None,
    tls_ca: str | os.PathLike[str] | None,
    tls_client_cert: str | os.PathLike[str] | None = None,
    tls_client_key: str | os.PathLike[str] | None = None,
) -> tuple[EmbeddedServer | None, str, Connection]:
    """The server a BatchScheduler uses: the one at `address` (reached with
    `token`, default $SYMBATCHER_AUTH_TOKEN, and TLS as asked), or, with no
    address, an embedded one on loopback with a token of its own."""
    if address is not None:
        return None, address, Connection.create(
            token=token, tls=tls, tls_ca=tls_ca,
            tls_client_cert=tls_client_cert, tls_client_key=tls_client_key,
        )
    if tls or tls_ca is not None or tls_client_cert is not None or tls_client_key is not None:
        raise ValueError(
            "tls, tls_ca, tls_client_cert, tls_client_key: apply to a server given by address; "
            "the embedded server is on loopback"
        )
    server = EmbeddedServer(server_args, token=token)
    return server, server.address, Connection(token=server.token)
