"""The package's exception hierarchy, and the one place where gRPC errors and
wire errors become those exceptions."""

from __future__ import annotations

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
    """The server rejected or ended a job; the message names the cause."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class NoWorkerError(JobError):
    """No worker served the job's expression within the wait time."""


class EngineError(SymbatcherError):
    """An engine failed a call (or its whole batch); the text is the engine's."""


class WorkerLostError(SymbatcherError):
    """The item's worker disconnected more often than the job allows."""


class EncodingError(SymbatcherError, TypeError):
    """A value could not be encoded for the wire (or decoded from it)."""


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
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return JobError(f"job rejected: {details}", code=name)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        if address:
            details = details.replace("--server ADDR", f"--server {address}")
        if '"__main__:' in details:
            details += (
                "; a class defined in the script being run (__main__) cannot be imported by "
                "other processes: move it to a module"
            )
        return NoWorkerError(details, code=name)
    if code == grpc.StatusCode.UNAVAILABLE:
        where = f" at {address}" if address else ""
        return ServerUnavailableError(f"symbatcher server{where} is unavailable: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServerUnavailableError(f"symbatcher server did not answer in time: {details}")
    return JobError(f"{name}: {details}", code=name)


def from_item_error(err: common_pb2.ItemError) -> Exception:
    """The exception object for an error that arrived over the wire."""
    kind = err.kind
    if kind == common_pb2.ERROR_KIND_ENGINE:
        return EngineError(err.message)
    if kind == common_pb2.ERROR_KIND_WORKER_LOST:
        return WorkerLostError(err.message)
    if kind == common_pb2.ERROR_KIND_ENCODING:
        return EncodingError(err.message)
    return RemoteError(err.type, err.message, err.traceback)
