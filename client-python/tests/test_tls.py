"""TLS from Python: a server started with --tls-cert/--tls-key and a token,
reached by BatchScheduler(tls_ca=...) with local worker slots and by
`symbatcher status --tls-ca`; a client that does not speak TLS fails."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import threading

import grpc
import pytest

from symbatcher import BatchScheduler, make_channel
from symbatcher.wire._channel import TOKEN_ENV
from symbatcher.cli.main import main as cli_main
from symbatcher.client._embedded_server import find_server_binary
from symbatcher.v1 import status_pb2, status_pb2_grpc

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _certificates(directory, keep_ca_key: bool = False) -> tuple[str, str, str]:
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it,
    written as PEM files; returns (ca, cert, key) paths. `keep_ca_key` also
    writes the CA's key (ca-key.pem), to sign client certificates with."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "symbatcher test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    if keep_ca_key:
        (directory / "ca-key.pem").write_bytes(
            ca_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tuple(str(p) for p in paths)


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on loopback requiring the session's token; yields
    (address, CA path)."""
    ca, cert, key = _certificates(tmp_path)
    proc = subprocess.Popen(
        [find_server_binary(), "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
         "--shutdown-grace-ms", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("listening on "), line
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield line.removeprefix("listening on "), ca
    finally:
        proc.terminate()
        proc.wait(10)


def test_jobs_and_status_run_over_tls(tls_server, query_expr_class, assert_echo, capsys):
    address, ca = tls_server
    with BatchScheduler(address=address, tls_ca=ca) as scheduler:
        assert scheduler.token == os.environ[TOKEN_ENV]
        results = scheduler(query_expr_class, 2, ["over", "tls"])
        for item, result in zip(["over", "tls"], results):
            assert_echo(result, item)
    assert cli_main(["status", "--server", address, "--tls-ca", ca, "--json"]) == 0
    assert '"engines"' in capsys.readouterr().out


def test_a_plaintext_client_gets_no_answer_from_a_tls_server(tls_server):
    address, _ = tls_server
    with make_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as failed:
            status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=5)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_is_refused_for_the_embedded_server():
    with pytest.raises(ValueError, match="tls"):
        BatchScheduler(tls=True)
