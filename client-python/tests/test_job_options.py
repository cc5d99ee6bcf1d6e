"""Job options: unset is not zero, and the server is the one validator.

An option left unset (None) is not sent and takes the server's default; one
that is set is used as it is, 0 included (`max_queue_delay_ms=0` sends each
call's batch at once). Every value is checked by the server, whose refusal
reaches the caller as an `InvalidArgumentError` (a ValueError) naming the
field; a value that no request can carry (`window=-1`) is a ValueError
naming the field before anything is sent."""

from __future__ import annotations

import time

import pytest
from symai import Expression, Symbol

from symbatcher import (
    BatchEngine,
    BatchScheduler,
    EchoEngine,
    InvalidArgumentError,
    OpenAIEngine,
    ServerStartError,
)

#: The embedded server's default delay in these tests: long enough that a
#: call which waited for it is told apart from one sent at once.
SERVER_DELAY_MS = 400


class FastAndSlow(Expression):
    """"fast" calls the engine at once; "slow" runs 1 s of other work first,
    so the batcher's every-item-parked trigger cannot fire meanwhile: only
    the queue delay decides when the fast call's batch goes."""

    def forward(self, input, **kwargs):
        if input == "slow":
            time.sleep(1.0)
        return Symbol(input).query("Answer", **kwargs).value


class Echo(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Answer", **kwargs).value


def _queue_wait_ms(**options) -> float:
    with BatchScheduler(
        engine="echo", server_args=["--max-queue-delay-ms", str(SERVER_DELAY_MS)], **options
    ) as scheduler:
        results = scheduler(FastAndSlow, 2, ["fast", "slow"], batch_size=32)
        assert all(isinstance(r, str) for r in results), results
        assert scheduler.last_summary is not None
        return scheduler.last_summary.mean_queue_wait_ms


def test_max_queue_delay_zero_sends_each_batch_at_once_and_unset_takes_the_server_default():
    unset = _queue_wait_ms()
    zero = _queue_wait_ms(max_queue_delay_ms=0)
    # Unset: the fast call waited the server's delay (mean over two calls).
    assert unset >= SERVER_DELAY_MS / 2 * 0.8, unset
    # 0: neither call waited for its batch to fill.
    assert zero < 50, zero


@pytest.fixture(scope="module")
def scheduler():
    with BatchScheduler(engine="echo") as s:
        yield s


@pytest.mark.parametrize(
    ("field", "options", "batch_size"),
    [
        ("batch_size", {}, 0),
        ("batch_size", {}, 4097),
        ("max_queue_delay_ms", {"max_queue_delay_ms": 60_001}, 2),
        ("window", {"window": 0}, 2),
        ("window", {"window": 1_000_001}, 2),
        ("item_timeout_ms", {"item_timeout_s": 86_400.5}, 2),
    ],
)
def test_the_server_refuses_out_of_range_options_naming_the_field(field, options, batch_size, scheduler):
    target = BatchScheduler(address=scheduler.address, token=scheduler.token, **options)
    try:
        with pytest.raises(InvalidArgumentError) as info:
            target(Echo, 1, ["x"], batch_size=batch_size)
    finally:
        target.cleanup()
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: must be"), str(info.value)
    # The scheduler the server refused a job of still runs others.
    assert "after" in scheduler(Echo, 1, ["after"], batch_size=2)[0]


@pytest.mark.parametrize(
    ("field", "options"),
    [
        ("window", {"window": -1}),
        ("max_queue_delay_ms", {"max_queue_delay_ms": -5}),
        ("worker_wait_ms", {"worker_wait_ms": 2**32}),
    ],
)
def test_values_no_request_can_carry_are_value_errors_naming_the_field(field, options):
    with pytest.raises(ValueError, match=rf"^{field}: must be an integer from 0 to 4294967295, got"):
        BatchScheduler(address="127.0.0.1:1", **options)


def test_options_of_the_wrong_type_are_type_errors_naming_the_field(scheduler):
    with pytest.raises(TypeError, match="^window: must be an integer, got str"):
        BatchScheduler(address="127.0.0.1:1", window="10")
    with pytest.raises(TypeError, match="^batch_size: must be an integer, got float"):
        scheduler(Echo, 1, ["x"], batch_size=2.5)
    # False is not "off": unset would take the default, "use".
    with pytest.raises(TypeError, match="^cache: must be 'use', 'refresh', 'off' or None, got False"):
        BatchScheduler(address="127.0.0.1:1", cache=False)


def test_an_engine_concurrency_the_server_refuses_names_the_field():
    class Wide(BatchEngine):
        max_concurrency = 5000

        def forward(self, calls):
            return [call.prompt for call in calls]

    with pytest.raises(InvalidArgumentError) as info:
        BatchScheduler(engine=Wide())
    assert info.value.field == "max_concurrency"
    assert "must be between 1 and 1024, got 5000" in str(info.value)


@pytest.mark.parametrize(
    ("engine", "flag"),
    [
        (EchoEngine(max_concurrency=5000), "--echo-max-concurrency"),
        (OpenAIEngine("http://127.0.0.1:1/v1", "m", api_key_env=None, max_retries=101), "--openai-max-retries"),
        (OpenAIEngine("http://127.0.0.1:1/v1", "m", api_key_env=None, timeout_s=4000), "--openai-timeout-s"),
    ],
)
def test_server_engine_settings_are_checked_by_the_server_naming_the_flag(engine, flag):
    with pytest.raises(ServerStartError) as info:
        BatchScheduler(engine=engine)
    assert flag in str(info.value), str(info.value)
