"""Shared fixtures for the symbatcher Python client tests.

The tests run against the real ``symbatcher-server`` binary, started by the client
itself (the embedded default). One embedded server (echo engine) is shared by the
whole session through the ``scheduler`` fixture; tests that need another engine or
their own lifecycle open a ``BatchScheduler`` in a ``with`` block.
"""

from __future__ import annotations

import atexit
import os
import secrets
import tempfile
import threading
import time
from typing import Any, Callable

import psutil
import pytest
from symai import Expression, Symbol

from symbatcher import BatchScheduler

DEFAULT_INSTRUCTION = "Summarize this input"

# Every server and client of the session shares one token, as a deployment
# with authentication does: embedded servers require it, and the worker and
# engine processes the tests start inherit it.
os.environ.setdefault("SYMBATCHER_AUTH_TOKEN", secrets.token_urlsafe(24))

# Embedded servers keep their call cache in the user's cache directory; the
# session's servers keep theirs in a directory of its own, removed at exit,
# and each test gets a fresh one (`fresh_call_cache`), so that no test is
# answered from another's replies.
_SESSION_CACHE = tempfile.TemporaryDirectory(prefix="calls-")
atexit.register(_SESSION_CACHE.cleanup)
os.environ["SYMBATCHER_CACHE_DIR"] = _SESSION_CACHE.name


@pytest.fixture(autouse=True)
def fresh_call_cache(monkeypatch):
    with tempfile.TemporaryDirectory(prefix="calls-") as cache_dir:
        monkeypatch.setenv("SYMBATCHER_CACHE_DIR", cache_dir)
        yield


class QueryExpression(Expression):
    """``Symbol(input).query(instruction)`` with a per-instance instruction.

    Instantiable with no arguments, so the class itself can be passed as ``expr``.
    """

    def __init__(self, instruction: str = DEFAULT_INSTRUCTION):
        super().__init__()
        self.instruction = instruction

    def forward(self, input, **kwargs):
        return Symbol(input).query(self.instruction, **kwargs).value


@pytest.fixture(scope="session")
def scheduler():
    """One embedded server with the default (echo, no latency) engine for the session."""
    s = BatchScheduler(engine="echo")
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture
def make_query_expr() -> Callable[..., QueryExpression]:
    """Build a query expression instance: ``make_query_expr("Tag this")``."""

    def make(instruction: str = DEFAULT_INSTRUCTION) -> QueryExpression:
        return QueryExpression(instruction)

    return make


@pytest.fixture
def query_expr_class() -> type:
    """The query expression class itself (instantiated by the scheduler with no args)."""
    return QueryExpression


def _assert_echo(result: Any, item: str, instruction: str = DEFAULT_INSTRUCTION) -> None:
    assert isinstance(result, str), f"expected an echo string, got {result!r}"
    assert result.startswith("echo: "), result
    assert item in result, (item, result)
    assert instruction in result, (instruction, result)


@pytest.fixture
def assert_echo() -> Callable[..., None]:
    """Check that a result is the echo engine's reply to a query about ``item``."""
    return _assert_echo


def _call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` in a daemon thread; fail the test if it does not finish in time.

    Returns fn's return value, or re-raises what fn raised.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"call did not finish within {timeout}s (hang)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def call_with_timeout() -> Callable[[Callable[[], Any], float], Any]:
    return _call_with_timeout


def _process_gone(pid: int) -> bool:
    """True when pid no longer runs (absent, or a zombie waiting to be reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_process_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process_gone(pid):
            return True
        time.sleep(0.05)
    return _process_gone(pid)


@pytest.fixture
def wait_process_gone() -> Callable[[int, float], bool]:
    """``wait_process_gone(pid, timeout)`` -> True once pid has exited."""
    return _wait_process_gone


@pytest.fixture
def process_gone() -> Callable[[int], bool]:
    return _process_gone
