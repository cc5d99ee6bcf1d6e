"""The one place where gRPC errors and wire errors become the package's
exceptions (`symbatcher._errors`)."""

from __future__ import annotations

import asyncio
import grpc

from symbatcher._errors import (
    AuthenticationError,
    BudgetExceeded,
    EncodingError,
    EngineError,
    EngineUnavailableError,
    InvalidArgumentError,
    ItemTimeoutError,
    JobError,
    NoWorkerError,
    RemoteError,
    RunCancelledError,
    ServerUnavailableError,
    SymbatcherError,
    WorkerLostError,
)
from symbatcher.v1 import common_pb2


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
        if err.type == "EngineUnavailableError":
            return EngineUnavailableError(err.message)
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


async def call_error(call: grpc.aio.Call, err: grpc.RpcError) -> grpc.RpcError:
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
