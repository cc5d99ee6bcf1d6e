"""A dead or wrong endpoint fails a job fast: after a few requests in a row
that cannot reach it (or that it refuses with 401/403/404), the server's
engine fails calls at once with EngineUnavailableError naming the URL, the
job's items that have not started fail without running, and the engine
probes again every 2 s, so a job after the endpoint is back succeeds."""

from __future__ import annotations

import json
import time

from fake_openai import FakeOpenAI, LoopbackServer, QuietHandler
from symai import Expression, Symbol

from symbatcher import BatchScheduler, EngineUnavailableError, OpenAIEngine

#: The server's cool-down between probes of an open circuit
#: (server/engine/http/circuit.rs, COOL_DOWN).
PROBE_EVERY_S = 2.0


class Ask(Expression):
    runs = 0  # forward() calls, counted by the slots' threads under the GIL

    def forward(self, input, **kwargs):
        Ask.runs += 1
        return Symbol(input).query("answer", **kwargs).value


def test_nothing_listening_fails_every_item_fast_then_a_new_job_succeeds_once_it_is_back():
    with FakeOpenAI() as probe:
        port = probe.port
    base_url = f"http://127.0.0.1:{port}/v1"  # nothing listens here now
    engine = OpenAIEngine(base_url, "gpt-4o-mini", api_key_env=None)
    with BatchScheduler(engine=engine, cache="off") as scheduler:
        Ask.runs = 0
        started = time.monotonic()
        results = scheduler(Ask, 64, [f"item {i}" for i in range(10_000)], batch_size=64)
        took = time.monotonic() - started
        assert len(results) == 10_000
        assert all(isinstance(r, EngineUnavailableError) for r in results), {
            type(r).__name__ for r in results
        }
        for message in (str(results[0]), str(results[-1])):
            assert f"POST {base_url}/chat/completions" in message, message
            assert "check that a server listens at that URL" in message, message
        # Without the circuit, each call retried for about 6.6 s; with it but
        # every item run, 10,000 items took 13.5 s.
        assert took <= 10, f"{took:.1f} s to fail 10,000 items"
        # Once the circuit is open, waiting items fail without running.
        assert Ask.runs < 1_000, f"{Ask.runs} of 10,000 items ran"

        with FakeOpenAI(listen_port=port) as back:
            time.sleep(PROBE_EVERY_S + 0.2)
            again = scheduler(Ask, 8, ["a", "b", "c"])
            assert [r.startswith("reply to") for r in again] == [True] * 3, again
            assert len(back.arrivals) == 3


class NotFound(LoopbackServer):
    """An OpenAI-compatible server at another path: every POST is a 404 with
    OpenAI's error body."""

    def __init__(self) -> None:
        self.posts = 0
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                fake.posts += 1
                body = json.dumps({"error": {"message": f"Unknown request URL: POST {self.path}",
                                             "type": "invalid_request_error"}}).encode()
                self.send_response(404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)


def test_a_wrong_path_404_opens_the_circuit_and_names_method_and_path():
    with NotFound() as server:
        base_url = f"http://127.0.0.1:{server._server.server_address[1]}/wrong"
        engine = OpenAIEngine(base_url, "gpt-4o-mini", api_key_env=None)
        with BatchScheduler(engine=engine, cache="off") as scheduler:
            results = scheduler(Ask, 8, [f"x{i}" for i in range(200)])
    first = [str(r) for r in results if not isinstance(r, EngineUnavailableError)]
    assert first and all("HTTP 404" in e and "(POST /wrong/chat/completions)" in e for e in first), first
    assert len(first) <= 16, "the circuit opens after a few 404s in a row"
    assert server.posts == len(first), "calls failed at once are not sent"
    unavailable = str(results[-1])
    assert isinstance(results[-1], EngineUnavailableError) and "HTTP 404" in unavailable, unavailable
