"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, for tests and
the rate-limit bench.

`POST /v1/chat/completions` answers `"reply to: " + <last message content>`
with a `usage` of 10 prompt and 5 completion tokens; with `usage_grows`, of
one prompt token per 4 characters of the request's messages (at least 1) and
5 + a tenth of that in completion tokens, so that usage grows with the prompt.
Markers in that content
choose another answer:

- ``[400]``: 400 with an OpenAI-style error naming the content;
- ``[429-once]`` / ``[500-once]``: 429 (with ``retry-after-ms``) or 500 the
  first time that exact content arrives;
- ``[hang]``: no answer for an hour.

`rate_limit_fraction` answers that fraction of all other requests with 429
(seeded, so runs repeat). `GET /v1/models` lists one model, for symai's vLLM
engine.

`POST /v1/embeddings` (OpenAI's embeddings API: `{"model", "input": [texts]
or one text}`) answers `{"object": "list", "data": [{"object": "embedding",
"index", "embedding"}], "model", "usage": {"prompt_tokens",
"total_tokens"}}`, each text's vector `embedding_of(text)` (8 numbers, or
`dimensions`), a text's tokens its words. More than 2048 inputs, an empty
text or no input: 400 as OpenAI answers it; ``[429-once]`` in a text: 429
the first time. Every request is recorded with its arrival time (`arrivals`), and
`peak_in_flight` is the most chat requests it held at once (received, not
yet answered).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_ID = "fake-model"


@dataclass
class Arrival:
    at: float  # time.monotonic()
    path: str
    body: dict[str, Any]
    authorization: str | None
    status: int = 0

    @property
    def content(self) -> str:
        messages = self.body.get("messages") or [{}]
        content = messages[-1].get("content", "")
        return content if isinstance(content, str) else json.dumps(content)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, and no log lines."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass


class LoopbackServer:
    """A fake whose HTTP server (`_server`) runs in a thread of its own;
    `close()`, or leaving a `with` block, stops it."""

    _server: ThreadingHTTPServer

    def _serve(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        """Starts the server on `port` of 127.0.0.1 (0: a free one), in a thread."""
        self._server = _Server(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class FakeOpenAI(LoopbackServer):
    latency_s: float = 0.0
    rate_limit_fraction: float = 0.0
    retry_after_ms: int | None = 50
    seed: int = 7
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    #: The port to listen on (0: a free one): a test brings an endpoint back.
    listen_port: int = 0
    #: Usage grows with the prompt (see the module) instead of 10 + 5 tokens.
    usage_grows: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_once: set[str] = set()
        self._random = random.Random(self.seed)
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [
                        {"id": MODEL_ID, "object": "model", "max_model_len": 8192}
                    ]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                arrival = Arrival(
                    at=time.monotonic(),
                    path=self.path,
                    body=body,
                    authorization=self.headers.get("authorization"),
                )
                status, headers, payload = fake._decide(arrival)
                arrival.status = status
                with fake._lock:
                    fake.arrivals.append(arrival)
                    fake.in_flight += 1
                    fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
                if status == 0:
                    time.sleep(3600)
                    return
                try:
                    if fake.latency_s:
                        time.sleep(fake.latency_s)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                self._send(status, payload, headers)

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                send_json(self, status, payload, headers)

        self._serve(Handler, self.listen_port)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_arrivals(self) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.path.endswith("/chat/completions")]

    def embedding_arrivals(self) -> list[Arrival]:
        with self._lock:
            return [a for a in self.arrivals if a.path.endswith("/embeddings")]

    def _decide(self, arrival: Arrival) -> tuple[int, dict[str, str], Any]:
        if arrival.path.endswith("/embeddings"):
            return self._embed(arrival)
        content = arrival.content
        retry = {"retry-after-ms": str(self.retry_after_ms)} if self.retry_after_ms is not None else {}
        with self._lock:
            first_time = content not in self._failed_once
            limited = self.rate_limit_fraction > 0 and self._random.random() < self.rate_limit_fraction
        if "[hang]" in content:
            return 0, {}, None
        if "[400]" in content:
            return 400, {}, _error(f"provider says: cannot handle {content!r}", "invalid_request_error")
        for marker, status, message in (("[429-once]", 429, "slow down"), ("[500-once]", 500, "oops")):
            if marker in content and first_time:
                with self._lock:
                    self._failed_once.add(content)
                return status, retry if status == 429 else {}, _error(message, "error")
        if limited:
            return 429, retry, _error("slow down", "rate_limit_exceeded")
        return 200, {}, {
            "id": f"chatcmpl-{len(self.arrivals)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": arrival.body.get("model", MODEL_ID),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": f"reply to: {content}"},
                "finish_reason": "stop",
            }],
            "usage": usage(arrival.body, self.usage_grows),
        }


    def _embed(self, arrival: Arrival) -> tuple[int, dict[str, str], Any]:
        raw = arrival.body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or len(texts) > 2048 or not all(
            isinstance(t, str) and t for t in texts
        ):
            message = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
            return 400, {}, _error(message, "invalid_request_error")
        for text in texts:
            if "[429-once]" in text:
                with self._lock:
                    first_time = text not in self._failed_once
                    self._failed_once.add(text)
                if first_time:
                    retry = {"retry-after-ms": str(self.retry_after_ms or 0)}
                    return 429, retry, _error("Rate limit reached for requests", "rate_limit_exceeded")
        dims = int(arrival.body.get("dimensions") or 8)
        tokens = sum(max(1, len(t.split())) for t in texts)
        return 200, {}, {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": embedding_of(t, dims)}
                for i, t in enumerate(texts)
            ],
            "model": arrival.body.get("model", MODEL_ID),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def embedding_of(text: str, dims: int = 8) -> list[float]:
    """The fake's vector of `text`: `dims` numbers in [-1, 1) with many
    digits (a lossy path would show), a function of the text alone."""
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dims * 8:
        digest += hashlib.sha256(digest).digest()
    return [
        int.from_bytes(digest[i * 8 : i * 8 + 8], "big") / 2**63 - 1.0 for i in range(dims)
    ]


def usage(body: dict[str, Any], grows: bool) -> dict[str, int]:
    """The `usage` of the answer to a chat request `body`: 10 + 5 tokens, or
    with `grows`, a prompt token per 4 characters of its messages (at least
    1) and 5 + a tenth of that in completion tokens."""
    if not grows:
        return {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    text = "".join(str(m.get("content", "")) for m in body.get("messages") or [])
    prompt = max(1, len(text) // 4)
    completion = 5 + prompt // 10
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    """Answers `handler`'s request with `payload` as JSON (a client gone
    away is no error)."""
    data = json.dumps(payload).encode()
    try:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections that a client
    # opens together (each retried a second later): many slots' requests at
    # once would reach the fake spread over seconds.
    request_queue_size = 1024


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}
