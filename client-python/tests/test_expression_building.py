"""How a call's expression is built, as the original library built it: one
instance per call, `expr(**kwargs)`, shared by the call's local slots; one per
process per job in remote workers; an instance passed as `expr` used as it is.
And the calls that can never be served fail at once."""

from __future__ import annotations

import collections
import time

import pytest
from symai import Expression, Symbol

from helpers import standalone_server, wait_until
from remote_expressions import Built
from symbatcher import BatchScheduler, NoWorkerError
from test_remote_workers import start_workers, stop_workers, worker_names


class NoKwargsConstructor(Expression):
    def __init__(self):
        super().__init__()

    def forward(self, input, **kwargs):
        return Symbol(input).query("Tag", **kwargs).value


class BrokenConstructor(Expression):
    def __init__(self, **kwargs):
        raise RuntimeError("cannot build")

    def forward(self, input, **kwargs):
        return input


def test_one_call_builds_one_instance_with_the_calls_kwargs(scheduler):
    Built.instances.clear()
    results = scheduler(Built, 4, range(20), batch_size=4, prefix="p-1")
    assert len(Built.instances) == 1
    [instance] = Built.instances
    assert instance.prefix == "p-1"  # the constructor got the call's kwargs
    assert instance.seen == 20  # and the 4 slots shared it
    assert {r["instance"] for r in results} == {id(instance)}
    assert [r["input"] for r in results] == list(range(20))

    scheduler(Built, 4, range(5), prefix="p-2")
    assert [b.prefix for b in Built.instances] == ["p-1", "p-2"]  # one per call


def test_a_constructor_without_those_parameters_still_gets_built(scheduler, assert_echo):
    # The kwargs reach forward() and the engine calls even so.
    results = scheduler(NoKwargsConstructor, 2, ["a", "b"], temperature=0.1)
    for item, result in zip("ab", results):
        assert_echo(result, item, "Tag")


def test_an_instance_is_used_as_it_is(scheduler):
    given = Built(prefix="mine")
    Built.instances.clear()
    results = scheduler(given, 3, range(9), prefix="ignored")
    assert Built.instances == [] and given.seen == 9
    assert {r["prefix"] for r in results} == {"mine"}


def test_a_failing_constructor_raises_from_the_call(scheduler):
    with pytest.raises(RuntimeError, match="cannot build"):
        scheduler(BrokenConstructor, 2, [1, 2])


def test_remote_workers_build_one_instance_per_process_per_job():
    with standalone_server() as server, BatchScheduler(address=server.address) as client:
        proc = start_workers(
            server.address, "remote_expressions:Built",
            "--processes", "2", "--concurrency", "4", "--name", "builders",
        )
        try:
            wait_until(
                lambda: sorted(worker_names(server.address)) == ["builders-0", "builders-1"],
                60, "two worker processes to register",
            )
            for prefix in ("job-a", "job-b"):
                results = client(Built, 0, range(200), batch_size=8, prefix=prefix)
                assert {r["prefix"] for r in results} == {prefix}
                instances = collections.defaultdict(set)
                for r in results:
                    instances[r["pid"]].add(r["instance"])
                assert len(instances) == 2, "both processes took part"
                assert all(len(ids) == 1 for ids in instances.values()), instances
        finally:
            assert stop_workers(proc) == 0


def test_num_workers_zero_on_an_embedded_server_fails_at_once(scheduler):
    start = time.monotonic()
    with pytest.raises(ValueError, match="num_workers: 0 .* embedded"):
        scheduler(Built, 0, range(3))
    assert time.monotonic() - start < 1


def test_an_instance_cannot_go_to_remote_workers():
    with standalone_server() as server, BatchScheduler(address=server.address) as client:
        with pytest.raises(ValueError, match="pass the class, not an instance"):
            client(Built(), 0, [1])


class DefinedInAScript(Expression):
    def forward(self, input, **kwargs):
        return input


DefinedInAScript.__module__ = "__main__"  # as a class of a script run with `python script.py`


def test_no_worker_error_suggests_no_command_that_cannot_work():
    with standalone_server() as server, BatchScheduler(address=server.address, worker_wait_ms=200) as client:
        with pytest.raises(NoWorkerError) as info:
            client(DefinedInAScript, 0, [1])
    message = str(info.value)
    assert "__main__:DefinedInAScript" in message
    assert "symbatcher worker" not in message
    assert "move it to a module" in message
