"""The package's exception hierarchy, and the one place where gRPC errors and
wire errors become those exceptions."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from symbatcher.v1 import common_pb2


class SymbatcherError(Exception):
    """Base class of every error symbatcher raises."""


class ServerStartError(SymbatcherError):
    """The embedded server could not start; the message holds its own output."""


class SchedulerClosedError(SymbatcherError):
    """The scheduler was used after cleanup()."""


class ServerUnavailableError(SymbatcherError):
    """The server cannot be reached, or is shutting down."""


class JobError(SymbatcherError):
    """The server rejected or ended a job; the message names the cause.

    `code` is the gRPC status code's name, `kind` the server's error kind
    (e.g. "invalid_argument", "unknown_engine", "no_worker") and `field` the
    request field at fault ("" when not about one field)."""

    def __init__(self, message: str, *, code: str = "", kind: str = "", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.field = field


class InvalidArgumentError(JobError, ValueError):
    """The server refused a request field (INVALID_ARGUMENT): `field` names
    it, and the message says the limit and the value it got. The server is
    the one place that checks values; this process checks only types, and
    the nesting depth of kwargs (`_limits.MAX_KWARGS_DEPTH`), which it must
    encode before anything is sent."""


class NoWorkerError(JobError):
    """No worker served the job's expression within the wait time:
    `expression` names it, `waited_ms` says how long the job waited."""

    def __init__(
        self, message: str, *, expression: str = "", waited_ms: int | None = None, **kw: str
    ) -> None:
        super().__init__(message, **kw)
        self.expression = expression
        self.waited_ms = waited_ms


class EngineError(SymbatcherError):
    """An engine failed a call (or its whole batch); the text is the engine's."""


class RunCancelledError(SymbatcherError):
    """The server cancelled the item run this engine call belonged to (its
    job ended, or the item timed out); raised inside forward()."""


class RunParked(BaseException):
    """Raised inside forward() by an engine call that waits on a provider
    batch, when the job replays: it unwinds forward() (a BaseException, so
    `except Exception` lets it through), the slot takes its next item, and
    the item runs again from the start once the call is answered. forward()
    must let it propagate."""


class ItemTimeoutError(SymbatcherError, TimeoutError):
    """The item ran longer than its job's item timeout (`item_timeout_s`),
    counted from its start, or from its assignment (plus a 1 s grace) when
    its worker never reported the start (e.g. a greenlet slot blocked the
    worker's loop)."""


class BudgetExceeded(SymbatcherError):
    """The job reached its spend cap (`max_cost_usd`) before this item
    finished: none of its engine calls was sent. Run again with a higher cap
    to continue from the call cache."""


class WorkerLostError(SymbatcherError):
    """The item's worker disconnected more often than the job allows."""


class EncodingError(SymbatcherError, TypeError):
    """A value could not be encoded for the wire (or decoded from it)."""


class AuthenticationError(SymbatcherError):
    """The server refused the call: no valid token (`code` UNAUTHENTICATED),
    or a token whose role may not make it (PERMISSION_DENIED)."""

    def __init__(self, message: str, *, code: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind


class RemoteError(SymbatcherError):
    """An exception raised in another process, with its type name and traceback."""

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if type_name else message)
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text


def from_rpc_error(err: grpc.RpcError, *, address: str = "") -> SymbatcherError:
    """Maps a failed RPC to the package's exception hierarchy."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or str(err)
    name = code.name if code is not None else "UNKNOWN"
    meta = _error_metadata(err)
    kind, field = meta.get("symbatcher-error-kind", ""), meta.get("symbatcher-field", "")
    if code == grpc.StatusCode.INVALID_ARGUMENT and kind == "invalid_argument" and field:
        return InvalidArgumentError(details, code=name, kind=kind, field=field)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return JobError(f"job rejected: {details}", code=name, kind=kind, field=field)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        if address:
            details = details.replace("--server ADDR", f"--server {address}")
        waited = meta.get("symbatcher-waited-ms", "")
        return NoWorkerError(
            details,
            code=name,
            kind=kind,
            expression=meta.get("symbatcher-expression", ""),
            waited_ms=int(waited) if waited.isdigit() else None,
        )
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        where = f" at {address}" if address else ""
        hint = (
            "; pass the server's token (token=..., $SYMBATCHER_AUTH_TOKEN or --token-file)"
            if code == grpc.StatusCode.UNAUTHENTICATED
            else ""
        )
        return AuthenticationError(
            f"symbatcher server{where} refused the call: {details}{hint}", code=name, kind=kind
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        where = f" at {address}" if address else ""
        return ServerUnavailableError(f"symbatcher server{where} is unavailable: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServerUnavailableError(f"symbatcher server did not answer in time: {details}")
    return JobError(f"{name}: {details}", code=name, kind=kind, field=field)


def _error_metadata(err: grpc.RpcError) -> dict[str, str]:
    """The server's machine-readable error trailers (`symbatcher-*`)."""
    try:
        pairs = err.trailing_metadata() or ()
    except Exception:  # an error raised before the call had trailers
        return {}
    return {
        key: value
        for key, value in pairs
        if key.startswith("symbatcher-") and isinstance(value, str)
    }


def from_item_error(err: common_pb2.ItemError) -> Exception:
    """The exception object for an error that arrived over the wire."""
    kind = err.kind
    if kind == common_pb2.ERROR_KIND_ENGINE:
        return EngineError(err.message)
    if kind == common_pb2.ERROR_KIND_WORKER_LOST:
        return WorkerLostError(err.message)
    if kind == common_pb2.ERROR_KIND_ENCODING:
        return EncodingError(err.message)
    if kind == common_pb2.ERROR_KIND_TIMEOUT:
        return ItemTimeoutError(err.message)
    if kind == common_pb2.ERROR_KIND_CANCELLED:
        return RunCancelledError(err.message)
    if kind == common_pb2.ERROR_KIND_BUDGET_EXCEEDED:
        return BudgetExceeded(err.message)
    return RemoteError(err.type, err.message, err.traceback)


async def call_error(call: Any, err: grpc.RpcError) -> grpc.RpcError:
    """The error of a grpc.aio stream call that failed on `write`: when the
    server ended the call before reading (an authentication refusal), grpc may
    report the write as INTERNAL; the call's own status, which arrives with
    the server's answer, says why."""
    if err.code() != grpc.StatusCode.INTERNAL:
        return err
    try:
        code = await asyncio.wait_for(call.code(), _STATUS_WAIT_S)
        if code in (grpc.StatusCode.OK, grpc.StatusCode.INTERNAL):
            return err
        return grpc.aio.AioRpcError(
            code,
            await call.initial_metadata(),
            await call.trailing_metadata(),
            await call.details(),
        )
    except Exception:  # the call's status is not readable: keep the first error
        return err


#: How long `call_error` waits for a refused call's status.
_STATUS_WAIT_S = 5.0
