"""Helpers shared by the tests that watch a server from outside: its Status
snapshot, and waiting for a condition without fixed sleeps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from symbatcher import make_channel
from symbatcher.client._embedded_server import EmbeddedServer
from symbatcher.v1 import status_pb2, status_pb2_grpc


@contextlib.contextmanager
def standalone_server(*args: str) -> Iterator[EmbeddedServer]:
    """A `symbatcher-server` of its own on a free loopback port, as remote
    workers and other clients use one (`BatchScheduler(address=...)`)."""
    server = EmbeddedServer(list(args))
    try:
        yield server
    finally:
        server.stop()


def server_status(address: str) -> status_pb2.StatusResponse:
    """The server's Status snapshot (jobs, workers, queues, engines)."""
    with make_channel(address) as channel:
        return status_pb2_grpc.StatusServiceStub(channel).Status(status_pb2.StatusRequest(), timeout=5)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `predicate` until it returns a truthy value; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
