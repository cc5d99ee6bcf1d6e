"""A fake of Anthropic's Messages API on 127.0.0.1, written from its
documented wire format, for tests, the example and the bench.

`POST /v1/messages` needs `anthropic-version` and a JSON content type (else
400 `invalid_request_error`), and `x-api-key` equal to `api_key` when one is
set (else 401 `authentication_error`). It answers a message whose one text
block is ``"reply to: " + <last message text>``, with ``usage`` of 10 input
and 5 output tokens and ``stop_reason: "end_turn"``. Errors have Anthropic's
shape: ``{"type": "error", "error": {"type": ..., "message": ...}}``.
Markers in the last message's text: ``[400]`` (400 naming the content) and
``[529-once]`` (529 `overloaded_error` the first time).

`refuse_every` refuses every n-th request, 429 `rate_limit_error` and 529
`overloaded_error` in turn, with `retry-after` (seconds). Every request is
recorded with its arrival time and headers (`arrivals`); `peak_in(window)`
is the most requests that arrived within any window of that length.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fake_openai import LoopbackServer, QuietHandler, send_json


@dataclass
class Request:
    at: float  # time.monotonic()
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0

    @property
    def text(self) -> str:
        """Text of the last message (a string, or its text blocks)."""
        content = (self.body.get("messages") or [{}])[-1].get("content", "")
        if isinstance(content, list):
            return "".join(block.get("text", "") for block in content if isinstance(block, dict))
        return str(content)


def error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass
class FakeAnthropic(LoopbackServer):
    api_key: str | None = None
    refuse_every: int = 0
    retry_after_s: int | None = 1
    arrivals: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_once: set[str] = set()
        self._refusals = 0
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                request = Request(time.monotonic(), self.path, body, {k.lower(): v for k, v in self.headers.items()})
                status, headers, payload = fake._answer(request)
                send_json(self, status, payload, headers)

        self._serve(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def peak_in(self, window_s: float) -> int:
        """The most requests that arrived within any `window_s` seconds."""
        times = sorted(r.at for r in self.arrivals)
        return max((bisect.bisect_left(times, t + window_s) - i for i, t in enumerate(times)), default=0)

    def _answer(self, request: Request) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.arrivals.append(request)
            number = len(self.arrivals)
            status, headers, payload = self._decide(request, number)
            request.status = status
        return status, headers, payload

    def _decide(self, request: Request, number: int) -> tuple[int, dict[str, str], Any]:
        text, headers = request.text, request.headers
        if request.path != "/v1/messages":
            return 404, {}, error("not_found_error", f"no route {request.path}")
        if "anthropic-version" not in headers:
            return 400, {}, error("invalid_request_error", "anthropic-version: header is required")
        if headers.get("content-type") != "application/json":
            return 400, {}, error("invalid_request_error", "content-type must be application/json")
        if self.api_key is not None and headers.get("x-api-key") != self.api_key:
            return 401, {}, error("authentication_error", f"invalid x-api-key: {headers.get('x-api-key')}")
        if not isinstance(request.body.get("max_tokens"), int):
            return 400, {}, error("invalid_request_error", "max_tokens: Field required")
        if "[400]" in text:
            return 400, {}, error("invalid_request_error", f"provider says: cannot handle {text!r}")
        if "[529-once]" in text and text not in self._failed_once:
            self._failed_once.add(text)
            return 529, {}, error("overloaded_error", "Overloaded")
        if self.refuse_every and number % self.refuse_every == 0:
            self._refusals += 1
            retry = {"retry-after": str(self.retry_after_s)} if self.retry_after_s is not None else {}
            if self._refusals % 2:
                return 429, retry, error("rate_limit_error", "Number of requests has exceeded your rate limit")
            return 529, retry, error("overloaded_error", "Overloaded")
        return 200, {"anthropic-ratelimit-requests-remaining": "99999"}, {
            "id": f"msg_{number:06d}",
            "type": "message",
            "role": "assistant",
            "model": request.body.get("model"),
            "content": [{"type": "text", "text": f"reply to: {text}"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
