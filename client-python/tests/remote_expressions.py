"""Expressions for the tests that run `symbatcher worker` and `symbatcher run`
in other processes: they import these by path (`remote_expressions:Tagger`),
with this directory on PYTHONPATH, exactly as the test process names them."""

from __future__ import annotations

import os
import threading
import time

from symai import Expression, Symbol


class Tagger(Expression):
    """One engine call; reports which process ran the item."""

    def forward(self, input, **kwargs):
        reply = Symbol(str(input)).query("Tag this", **kwargs).value
        return {"input": input, "pid": os.getpid(), "reply": reply}


class Paced(Expression):
    """No engine call; each item takes `delay` seconds (default 5 ms), so
    that concurrent jobs overlap in time."""

    def forward(self, input, delay=0.005, mark_dir=None, **kwargs):
        if mark_dir:
            # Tells a test which process started which item.
            open(os.path.join(mark_dir, f"{os.getpid()}-{input}"), "w").close()
        time.sleep(delay)
        return {"input": input, "pid": os.getpid()}


class SlotCpus(Expression):
    """No engine call; reports the process and the CPUs its slot thread may
    run on, after `delay` seconds (so that every process gets items)."""

    def forward(self, input, delay=0.01, **kwargs):
        time.sleep(delay)
        return {"input": input, "pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0))}


class Awkward(Expression):
    """Fails or returns non-JSON values for some inputs."""

    def forward(self, input, **kwargs):
        if input == "raise":
            raise KeyError("no such key")
        if input == "set":
            return {1, 2, 3}
        if input == "symbol":
            return Symbol("a symbol's value")
        return input


class Lines(Expression):
    """For the JSONL runner: a short sleep per item (so a run can be
    interrupted midway), one engine call, and a failure for "boom"."""

    def forward(self, input, **kwargs):
        time.sleep(0.004)
        if input == "boom":
            raise ValueError("boom is not allowed")
        return Symbol(str(input)).query("Label", **kwargs).value


class TwoCalls(Expression):
    """Two engine calls per item, so that a slot waits twice inside forward();
    reports which process and thread ran the item."""

    def forward(self, input, **kwargs):
        first = Symbol(f"{input}-a").query("First", **kwargs).value
        second = Symbol(f"{input}-b").query("Second", **kwargs).value
        return {
            "input": input,
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "replies": [first, second],
        }


class Built(Expression):
    """Counts the instances made in this process and the items each saw:
    shows how a job's expression is built (`prefix` is a constructor
    argument, taken from the job's kwargs)."""

    instances: list["Built"] = []
    lock = threading.Lock()

    def __init__(self, prefix="none", **kwargs):
        super().__init__(**kwargs)
        self.prefix = prefix
        self.seen = 0
        with Built.lock:
            Built.instances.append(self)

    def forward(self, input, **kwargs):
        with Built.lock:
            self.seen += 1
        time.sleep(0.002)
        return {"input": input, "prefix": self.prefix, "instance": id(self), "pid": os.getpid()}


class Sleepy(Expression):
    """Sleeps `input` seconds (a number; "hang": an hour), then one engine
    call; reports which process ran the item."""

    def forward(self, input, **kwargs):
        time.sleep(3600 if input == "hang" else float(input))
        reply = Symbol(f"slept {input}").query("Report", **kwargs).value
        return {"input": input, "pid": os.getpid(), "reply": reply}


class Poison(Expression):
    """Kills its own process on "poison" (a crash no exception handler sees)."""

    delay = 0.05

    def forward(self, input, **kwargs):
        if input == "poison":
            os._exit(13)
        time.sleep(self.delay)
        return {"input": input, "pid": os.getpid()}


class LoneSurrogate(Expression):
    """No engine call; returns its input, but a string holding a lone
    surrogate (which no UTF-8 output can hold) for the input "bad"."""

    def forward(self, input, **kwargs):
        return "bad \udcff" if input == "bad" else input


class Stamped(Expression):
    """No engine call; sleeps `input` seconds and reports when it finished
    (time.time())."""

    def forward(self, input, **kwargs):
        time.sleep(float(input))
        return {"input": input, "done_at": time.time()}


class QuickPoison(Poison):
    """`Poison` with 2 ms items, for jobs of thousands."""

    delay = 0.002
