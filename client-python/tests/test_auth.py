"""Tokens and roles from Python: the embedded server's own token, a server
with role tokens serving a `symbatcher worker` process, the `status` CLI, and
pickle refused by the server, by workers and by clients unless allowed."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpers import wait_until
from remote_expressions import Tagger
from symbatcher import AuthenticationError, BatchScheduler, EncodingError, JobError, make_channel
from symbatcher.wire._channel import TOKEN_ENV
from symbatcher.cli.main import main as cli_main
from symbatcher.worker._handoff import JobObjects
from symbatcher.client._job_options import JobOptions
from symbatcher.client._job_stream import JobStream
from symbatcher.client._embedded_server import find_server_binary
from symbatcher.worker._runtime import WorkerRuntime
from symbatcher.worker._served_job import ServedJob
from symbatcher.v1 import batch_pb2, common_pb2, status_pb2, status_pb2_grpc, worker_pb2
from test_remote_workers import start_workers, stop_workers

ROLE_ENVS = {
    "main": TOKEN_ENV,
    "client": "SYMBATCHER_CLIENT_TOKEN",
    "worker": "SYMBATCHER_WORKER_TOKEN",
    "status": "SYMBATCHER_STATUS_TOKEN",
}


def _status(address: str, token: str) -> status_pb2.StatusResponse:
    with make_channel(address, token=token) as channel:
        return status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=5)


def test_the_embedded_server_requires_a_random_token_of_its_own(monkeypatch, assert_echo, query_expr_class):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with BatchScheduler(engine="echo") as scheduler:
        token = scheduler.token
        assert token and len(token) >= 32
        results = scheduler(query_expr_class, 2, ["a", "b"])
        for item, result in zip(["a", "b"], results):
            assert_echo(result, item)
        with pytest.raises(grpc.RpcError) as refused:
            _status(scheduler.address, "")
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert token not in (refused.value.details() or "")
        assert _status(scheduler.address, token).workers is not None
        # Health answers without a token.
        with make_channel(scheduler.address, token="") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with BatchScheduler(engine="echo") as other:
        assert other.token != token


@contextlib.contextmanager
def _server(env: dict[str, str], *args: str):
    """A server binary on a loopback port with `env`; yields its address."""
    proc = subprocess.Popen(
        [find_server_binary(), "--listen", "127.0.0.1:0", "--shutdown-grace-ms", "200", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("listening on "), line
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def role_server(tmp_path):
    """A server on loopback with a main token and one token per role; yields
    (address, tokens, token files)."""
    tokens = {role: f"{role}-{secrets.token_urlsafe(18)}" for role in ROLE_ENVS}
    files = {}
    for role, token in tokens.items():
        files[role] = tmp_path / f"{role}.token"
        files[role].write_text(token + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ROLE_ENVS.values()}
    env.update({ROLE_ENVS[role]: token for role, token in tokens.items()})
    with _server(env) as address:
        yield address, tokens, files


def test_each_role_may_do_its_part_only(role_server, monkeypatch, capsys):
    address, tokens, files = role_server
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    workers = start_workers(address, "remote_expressions:Tagger", "--name", "role-worker",
                            "--token-file", str(files["worker"]))
    try:
        wait_until(
            lambda: [w.name for w in _status(address, tokens["status"]).workers] == ["role-worker"],
            60, "the worker to register with its worker token",
        )
        with BatchScheduler(address=address, token=tokens["client"]) as client:
            results = client(Tagger, 0, ["x", "y"])
            assert [r["input"] for r in results] == ["x", "y"]
            assert all(r["pid"] == workers.pid for r in results)
            # A client token cannot register (local) workers.
            with pytest.raises(AuthenticationError) as refused:
                client(Tagger, 1, ["z"])
            assert refused.value.code == "PERMISSION_DENIED"
            assert tokens["client"] not in str(refused.value)
        # A worker token cannot submit jobs; a wrong token can do nothing.
        for token, code in [(tokens["worker"], "PERMISSION_DENIED"), ("wrong-" + "x" * 20, "UNAUTHENTICATED")]:
            with BatchScheduler(address=address, token=token) as other:
                with pytest.raises(AuthenticationError) as refused:
                    other(Tagger, 0, ["x"])
                assert refused.value.code == code
                assert token not in str(refused.value)
    finally:
        assert stop_workers(workers) == 0

    capsys.readouterr()
    assert cli_main(["status", "--server", address, "--token-file", str(files["status"]), "--json"]) == 0
    assert '"engines"' in capsys.readouterr().out
    assert cli_main(["status", "--server", address, "--token-file", str(files["client"])]) != 0
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    assert cli_main(["status", "--server", address, "--token-file", str(files["client"]) + ".absent"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_server_refuses_pickle_unless_started_with_allow_pickle(scheduler, query_expr_class, assert_echo):
    with BatchScheduler(address=scheduler.address, codec="pickle", allow_pickle=True) as client:
        with pytest.raises(JobError) as refused:
            client(query_expr_class, 1, ["a"])
    assert refused.value.field == "codec"
    assert "--allow-pickle" in str(refused.value)
    # BatchScheduler(codec="pickle") starts its embedded server with --allow-pickle.
    with BatchScheduler(engine="echo", codec="pickle", allow_pickle=True) as own:
        results = own(query_expr_class, 1, ["pickled"])
        assert_echo(results[0], "pickled")


def test_a_worker_refuses_pickled_items_unless_allowed():
    info = worker_pb2.JobInfo(codec=common_pb2.CODEC_PICKLE)
    assignment = worker_pb2.Assignment(index=3, payload=__import__("pickle").dumps({"a": 1}))
    job = ServedJob(info=info, kwargs={}, local=None)
    refusing = WorkerRuntime("127.0.0.1:1", expressions={}, concurrency=1)
    with pytest.raises(EncodingError) as refused:
        refusing._item(assignment, job)
    assert "--allow-pickle" in str(refused.value) and "item 3" in str(refused.value)
    allowing = WorkerRuntime("127.0.0.1:1", expressions={}, concurrency=1, allow_pickle=True)
    assert allowing._item(assignment, job) == {"a": 1}


def test_a_worker_process_without_allow_pickle_fails_pickled_items():
    # The session's token (conftest) is the server's, and the worker inherits it.
    with _server(dict(os.environ), "--allow-pickle") as address:
        workers = start_workers(address, "remote_expressions:Tagger", "--name", "careful")
        try:
            wait_until(
                lambda: any(w.name == "careful" for w in _status(address, os.environ[TOKEN_ENV]).workers),
                60, "the worker to register",
            )
            with BatchScheduler(address=address, codec="pickle", allow_pickle=True) as scheduler:
                results = scheduler(Tagger, 0, ["p", "q"])
        finally:
            assert stop_workers(workers) == 0
    for result in results:
        assert isinstance(result, EncodingError), result
        assert "--allow-pickle" in str(result)


_UNPICKLED: list[str] = []


def _mark(text: str) -> None:
    _UNPICKLED.append(text)


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (_mark, ("code ran",))


def test_a_pickle_client_needs_allow_pickle_and_never_unpickles_without_it():
    with pytest.raises(ValueError) as refused:
        BatchScheduler(engine="echo", codec="pickle")
    assert "allow_pickle=True" in str(refused.value) and "runs code" in str(refused.value)
    # A job whose options do not allow pickle turns a pickled result into an
    # EncodingError, without running what the payload holds.
    payload = __import__("pickle").dumps(_RunsCodeWhenUnpickled())
    job = JobStream(None, expression="m:E", source=None, kwargs={}, kwargs_json="",
              options=JobOptions(codec="pickle"))
    job._local = JobObjects({})
    result = batch_pb2.ItemResult(index=0, outcome=common_pb2.Outcome(payload=payload))
    value = job._value(result)
    assert isinstance(value, EncodingError) and "allow_pickle=True" in str(value)
    assert _UNPICKLED == []
    allowed = JobStream(None, expression="m:E", source=None, kwargs={}, kwargs_json="",
                  options=JobOptions(codec="pickle", allow_pickle=True))
    allowed._local = JobObjects({})
    allowed._value(result)
    assert _UNPICKLED == ["code ran"]
