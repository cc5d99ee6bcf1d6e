"""Mutual TLS: a server started with --tls-client-ca verifies every client's
certificate. BatchScheduler (with local slots), `symbatcher worker`,
`symbatcher engine`, `symbatcher run` and `symbatcher status` present one with
tls_client_cert / tls_client_key (--tls-client-cert / --tls-client-key); a
client that presents none gets no answer."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import server_status, wait_until
from remote_expressions import Paced
from symbatcher import BatchScheduler, ServerUnavailableError, make_channel
from symbatcher.client._embedded_server import find_server_binary
from symbatcher.cli.main import main as cli_main
from symbatcher.v1 import status_pb2, status_pb2_grpc
from test_remote_workers import stop_workers
from test_runner import read_output, runner_command
from test_tls import _certificates

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent


def _client_certificate(directory: Path, ca_key_path: Path, ca_path: Path) -> tuple[str, str]:
    """A client certificate signed by the CA; returns (cert, key) paths."""
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "symbatcher test client")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "client.pem", directory / "client-key.pem")
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return str(paths[0]), str(paths[1])


@pytest.fixture
def mtls_server(tmp_path):
    """A server verifying client certificates; yields (address, ca, client
    cert, client key, the connection options as CLI flags)."""
    ca, cert, key = _certificates(tmp_path, keep_ca_key=True)
    client_cert, client_key = _client_certificate(tmp_path, tmp_path / "ca-key.pem", Path(ca))
    proc = subprocess.Popen(
        [find_server_binary(), "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
         "--tls-client-ca", ca, "--shutdown-grace-ms", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("listening on "), line
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        flags = ["--tls-ca", ca, "--tls-client-cert", client_cert, "--tls-client-key", client_key]
        yield line.removeprefix("listening on "), ca, client_cert, client_key, flags
    finally:
        proc.terminate()
        proc.wait(10)


def _status(address: str, **tls: str) -> status_pb2.StatusResponse:
    with make_channel(address, **tls) as channel:
        return status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=5)


def test_clients_and_clis_present_a_client_certificate(mtls_server, tmp_path, capsys):
    address, ca, client_cert, client_key, flags = mtls_server
    tls = {"tls_ca": ca, "tls_client_cert": client_cert, "tls_client_key": client_key}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    cli = [sys.executable, "-m", "symbatcher.cli"]
    worker = subprocess.Popen(
        [*cli, "worker", "remote_expressions:Paced", "--server", address, "--name", "mtls-worker",
         "--log-level", "WARNING", *flags],
        env=env, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    engine = subprocess.Popen(
        [*cli, "engine", "remote_engines:SlowEcho", "--server", address, "--name", "mtls-engine",
         "--log-level", "WARNING", *flags],
        env=env, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_until(lambda: [w.name for w in _status(address, **tls).workers] == ["mtls-worker"],
                   60, "the worker to register over mutual TLS")
        wait_until(lambda: any(e.name == "mtls-engine" for e in _status(address, **tls).engines),
                   60, "the engine to register over mutual TLS")
        with BatchScheduler(address=address, **tls) as scheduler:
            local = scheduler(Paced, 2, ["a", "b"], delay=0)  # local slots connect with it too
            remote = scheduler(Paced, 0, ["c", "d"], delay=0)
        assert [r["input"] for r in local + remote] == ["a", "b", "c", "d"]
        data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        data.write_text('"x"\n"y"\n')
        done = subprocess.run(
            runner_command("remote_expressions:Paced", "--input", str(data), "--output", str(out),
                           "--server", address, "--workers", "0", "--no-progress", *flags),
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert sorted(line["result"]["input"] for line in read_output(out)) == ["x", "y"]
        capsys.readouterr()
        assert cli_main(["status", "--server", address, "--json", *flags]) == 0
        assert "mtls-engine" in capsys.readouterr().out
    finally:
        assert stop_workers(worker) == 0
        stop_workers(engine)


def test_a_client_without_a_certificate_is_refused(mtls_server, capsys):
    address, ca, client_cert, _, _ = mtls_server
    with BatchScheduler(address=address, tls_ca=ca) as refused:
        with pytest.raises(ServerUnavailableError):
            refused(Paced, 0, ["a"])
    with pytest.raises(ValueError) as half:
        BatchScheduler(address=address, tls_ca=ca, tls_client_cert=client_cert)
    assert "tls_client_cert: needs tls_client_key" in str(half.value)
    assert cli_main(["status", "--server", address, "--tls-ca", ca, "--tls-client-cert", client_cert]) == 2
    assert "--tls-client-cert: needs tls_client_key" in capsys.readouterr().err
