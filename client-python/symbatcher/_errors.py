"""The package's exception hierarchy. `wire/_rpc_errors` is the one place
where gRPC errors and wire errors become these exceptions."""

from __future__ import annotations


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


class EngineUnavailableError(EngineError):
    """The engine's endpoint failed every request for a while (nothing
    listens at its URL, the name does not resolve, or it answers 401, 403 or
    404), so the call was not sent: the text names the URL, the last failure
    and what to check. The server tries the endpoint again every 2 s."""


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
    """This item's next engine call could not fit under its job's spend cap
    (`max_cost_usd`: the call's worst case, over the spend so far plus what
    calls in flight reserved), so it was not sent; the message names the
    cap, the spend and the reservation. Run again with a higher cap to
    continue from the call cache."""


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
