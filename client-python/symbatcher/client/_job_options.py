"""`JobOptions`: the settings of one job, sent in its JobSpec."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from symbatcher.client._summary import ItemUsage
from symbatcher.v1 import batch_pb2, common_pb2
from symbatcher.wire import _codec
from symbatcher.worker._handoff import PROCESS_TOKEN

#: The JobSpec fields that are numbers: None leaves them unset, which takes
#: the server's default; the server checks every value set.
NUMBER_FIELDS = (
    "batch_size",
    "max_queue_delay_ms",
    "window",
    "worker_wait_ms",
    "max_attempts",
    "item_timeout_ms",
)


@dataclass(frozen=True)
class JobOptions:
    """Per-job settings sent in the JobSpec. None (and "" for `engine`)
    leaves a field unset: the server's default applies. Values are checked
    by the server alone; `spec()` checks only that they are integers that a
    JobSpec can carry."""

    batch_size: int = 5
    max_queue_delay_ms: int | None = None
    engine: str = ""
    #: The engine of the job's embedding calls; "": the server's default.
    embedding_engine: str = ""
    codec: str = "json"
    window: int | None = None
    worker_wait_ms: int | None = None
    max_attempts: int | None = None
    #: Longest run of one item in ms.
    item_timeout_ms: int | None = None
    #: "use", "refresh" or "off"; "": the server's choice for the engine.
    cache: str = ""
    #: Spend cap of the job in US dollars; None: no cap.
    max_cost_usd: float | None = None
    #: Whether runs waiting on a provider batch give their slot back and
    #: run again from the start once answered; None: the server's choice
    #: (yes for batch API engines).
    replay: bool | None = None
    #: When each job must be done, in seconds from its start; None: no
    #: deadline (unless `deadline` is set).
    deadline_s: float | None = None
    #: When each job must be done, as a time (a naive datetime is local
    #: time); None: no deadline (unless `deadline_s` is set).
    deadline: datetime | None = None
    #: Not sent: whether results of the pickle codec are unpickled here
    #: (`BatchScheduler(allow_pickle=True)`); else they fail with EncodingError.
    allow_pickle: bool = False
    #: Not sent: called on the job's loop with (index, ItemUsage) of each
    #: result whose calls reported usage, before the result is handed out.
    on_usage: Callable[[int, ItemUsage], None] | None = None

    def spec(self, expression: str = "", kwargs_json: str = "") -> batch_pb2.JobSpec:
        """The JobSpec carrying these options. TypeError naming the field
        for a value that is not an integer; ValueError naming it for one a
        JobSpec cannot carry (e.g. below 0)."""
        spec = batch_pb2.JobSpec(
            expression=expression,
            kwargs_json=kwargs_json,
            codec=_codec.codec_from_name(self.codec),
            engine=self.engine,
            embedding_engine=self.embedding_engine,
            process_token=PROCESS_TOKEN,
        )
        for name in NUMBER_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: must be an integer, got {type(value).__name__}")
            try:
                setattr(spec, name, value)
            except ValueError:
                raise ValueError(
                    f"{name}: must be an integer from 0 to {2**32 - 1}, got {value}"
                ) from None
        if self.cache not in CACHE_MODES:
            raise ValueError(f"cache: must be 'use', 'refresh' or 'off', got {self.cache!r}")
        spec.cache = CACHE_MODES[self.cache]
        if self.max_cost_usd is not None:
            if isinstance(self.max_cost_usd, bool) or not isinstance(self.max_cost_usd, (int, float)):
                raise TypeError(
                    f"max_cost_usd: must be a number, got {type(self.max_cost_usd).__name__}"
                )
            spec.max_cost_usd = float(self.max_cost_usd)
        if self.replay is not None:
            if not isinstance(self.replay, bool):
                raise TypeError(f"replay: must be True, False or None, got {type(self.replay).__name__}")
            spec.replay = self.replay
        deadline_unix_ms = self.deadline_unix_ms()
        if deadline_unix_ms is not None:
            spec.deadline_unix_ms = deadline_unix_ms
        return spec

    def deadline_unix_ms(self) -> int | None:
        """The job's deadline in ms since the Unix epoch, from `deadline_s`
        (counted from now) or `deadline`; None when neither is set. The
        server checks that it lies ahead."""
        if self.deadline_s is not None and self.deadline is not None:
            raise ValueError("deadline_s, deadline: set one of them, not both")
        if self.deadline is not None:
            if not isinstance(self.deadline, datetime):
                raise TypeError(f"deadline: must be a datetime, got {type(self.deadline).__name__}")
            return max(0, round(self.deadline.timestamp() * 1000))
        if self.deadline_s is None:
            return None
        if isinstance(self.deadline_s, bool) or not isinstance(self.deadline_s, (int, float)):
            raise TypeError(f"deadline_s: must be a number of seconds, got {type(self.deadline_s).__name__}")
        if not math.isfinite(self.deadline_s):
            raise ValueError(f"deadline_s: must be a finite number of seconds, got {self.deadline_s}")
        return max(0, round((time.time() + self.deadline_s) * 1000))


#: `JobOptions.cache` as the protocol's CacheMode.
CACHE_MODES = {
    "": common_pb2.CACHE_MODE_UNSPECIFIED,
    "use": common_pb2.CACHE_MODE_USE,
    "refresh": common_pb2.CACHE_MODE_REFRESH,
    "off": common_pb2.CACHE_MODE_OFF,
}
