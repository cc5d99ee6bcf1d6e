"""The symai engine worker: batches answered by symai's own neurosymbolic
engine, here symai's vLLM engine pointed at the loopback fake OpenAI server
(`fake_openai.FakeOpenAI`), from Python (`SymaiEngine`) and from the command
line (`symbatcher engine --symai --server ADDR`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
from fake_openai import FakeOpenAI
from symai import Expression, Symbol
from symai.backend import settings as symai_settings

from symbatcher import BatchScheduler, EngineError, SymaiEngine, make_channel
from symbatcher.v1 import status_pb2, status_pb2_grpc


class AskWithUsage(Expression):
    def forward(self, input, **kwargs):
        value, metadata = Symbol(input).query("Answer briefly", return_metadata=True, **kwargs).value
        return {"value": value, "usage": metadata.get("usage")}


def _symserver_settings(fake: FakeOpenAI) -> dict:
    """What `symserver` records for a running local vLLM server."""
    return {"online": True, "--host": "127.0.0.1", "--port": fake.port}


@pytest.fixture
def vllm_engine(monkeypatch):
    """symai's vLLM engine, pointed at a fake server with 300 ms latency."""
    from symai.backend.engines.neurosymbolic.vllm.engine import VLLMEngine

    with FakeOpenAI(latency_s=0.3) as fake:
        for key, value in _symserver_settings(fake).items():
            monkeypatch.setitem(symai_settings.SYMSERVER_CONFIG, key, value)
        yield fake, VLLMEngine(model="vllm-fake")


@pytest.mark.parametrize("reply_each", [True, False])
def test_symai_engine_answers_the_calls_of_a_batch_concurrently(vllm_engine, reply_each):
    fake, engine = vllm_engine
    items = [f"question-{i}" for i in range(8)]
    symai_engine = SymaiEngine(engine=engine, concurrency=8, reply_each=reply_each)
    with BatchScheduler(engine=symai_engine) as scheduler:
        results = scheduler(AskWithUsage, 8, items, batch_size=8, temperature=0.5)
        summary = scheduler.last_summary

    for item, result in zip(items, results):
        assert not isinstance(result, BaseException), result
        assert result["value"].startswith("reply to: ") and item in result["value"]
        assert result["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    arrivals = fake.chat_arrivals()
    assert len(arrivals) == 8
    assert all(a.body["temperature"] == 0.5 for a in arrivals)
    # 8 calls at 300 ms each: concurrent calls arrive together.
    spread = max(a.at for a in arrivals) - min(a.at for a in arrivals)
    assert spread < 0.25, f"calls arrived over {spread:.2f}s"
    # Whole batches wait for their batch to fill: one batch of 8. Replies
    # one by one leave at once: as the slots' calls come.
    assert summary.engine_batches == 1 if not reply_each else 1 <= summary.engine_batches <= 8
    assert (summary.prompt_tokens, summary.completion_tokens) == (80, 40)


def test_a_failing_symai_call_fails_only_its_item(vllm_engine):
    _, engine = vllm_engine
    with BatchScheduler(engine=SymaiEngine(engine=engine, concurrency=4)) as scheduler:
        results = scheduler(AskWithUsage, 3, ["good", "bad [400]", "fine"], batch_size=3)
    assert isinstance(results[1], EngineError), results[1]
    assert "cannot handle" in str(results[1])
    assert results[0]["value"].startswith("reply to: ")
    assert results[2]["value"].startswith("reply to: ")


_ENGINE_PROCESS = textwrap.dedent(
    """
    import sys
    from symai.backend import settings
    # As a user's symai.config.json and a running `symserver` would set them.
    settings.SYMAI_CONFIG["NEUROSYMBOLIC_ENGINE_MODEL"] = "vllm-fake"
    settings.SYMSERVER_CONFIG.update({symserver!r})
    from symbatcher.cli.main import main
    sys.exit(main(["engine", "--symai", "--server", {address!r}, "--name", "symai",
                   "--concurrency", "4"]))
    """
)


def _wait_for_engine(address: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with make_channel(address) as channel:
        stub = status_pb2_grpc.StatusServiceStub(channel)
        while time.monotonic() < deadline:
            status = stub.Status(status_pb2.StatusRequest())
            if any(e.name == name for e in status.engines):
                return
            time.sleep(0.1)
    pytest.fail(f"engine {name!r} did not register within {timeout}s")


def test_the_engine_command_serves_symais_configured_engine():
    with FakeOpenAI() as fake, BatchScheduler(engine="echo") as server:
        script = _ENGINE_PROCESS.format(symserver=_symserver_settings(fake), address=server.address)
        process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
        try:
            _wait_for_engine(server.address, "symai", timeout=30)
            with BatchScheduler(address=server.address, engine="symai") as client:
                results = client(AskWithUsage, 4, ["p", "q", "r", "s"], batch_size=4)
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
        for item, result in zip("pqrs", results):
            assert not isinstance(result, BaseException), (result, stderr.decode())
            assert result["value"].startswith("reply to: ") and f"\n{item}\n" in result["value"]
            assert result["usage"]["prompt_tokens"] == 10
        assert len(fake.chat_arrivals()) == 4


def test_an_engine_process_sends_what_the_engine_served_here_sends(vllm_engine):
    """`SymaiEngine(process=True)`: symai's vLLM engine pickled into a process
    of its own gets the calls as rendered chat messages, and sends the fake
    provider the same requests, and the slots get the same answers and
    usage, as when it is served from the scheduler's process."""
    fake, engine = vllm_engine
    items = [f"question-{i}" for i in range(6)]
    runs = {}
    for process in (False, True):
        before = len(fake.chat_arrivals())
        with BatchScheduler(engine=SymaiEngine(engine=engine, process=process), cache="off") as scheduler:
            runs[process] = scheduler(AskWithUsage, 3, items, batch_size=3, temperature=0.5)
        arrivals = fake.chat_arrivals()[before:]
        assert len(arrivals) == len(items)
        runs[process, "bodies"] = sorted(
            (json.dumps(a.body["messages"]), a.body["temperature"], a.body["model"]) for a in arrivals
        )
    assert runs[True] == runs[False]
    assert all(not isinstance(r, BaseException) and r["value"].startswith("reply to: ") for r in runs[True])
    assert runs[True, "bodies"] == runs[False, "bodies"]
