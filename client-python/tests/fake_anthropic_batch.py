"""A fake of Anthropic's Message Batches API on 127.0.0.1, written from its
documented wire format, for tests and the example.

Every request needs `anthropic-version` (else 400 `invalid_request_error`)
and `x-api-key` equal to `api_key` when one is set (else 401
`authentication_error`). `POST /v1/messages/batches` takes ``{"requests":
[{"custom_id", "params"}]}`` (1 to 100,000 requests; custom ids of 1 to 64
``[a-zA-Z0-9_-]``, unique; else 400) and answers the Message Batch,
`in_progress`. Each `GET /v1/messages/batches/{id}` moves it on one step:
after `in_progress_polls` polls, and not while `hold` is set, it has
`ended`, with its `results_url`; a `canceling` batch ends at its next poll,
its requests `canceled`. `POST /v1/messages/batches/{id}/cancel` makes it
`canceling`; `cancels` counts those requests. `GET .../{id}/results` serves
the JSON lines ``{"custom_id", "result"}`` of an ended batch.

A request is answered as `fake_anthropic.FakeAnthropic` answers it online: a
message whose text is ``"reply to: " + <last message text>``, usage 10 input
and 5 output tokens; ``[400]`` in that text makes it `errored`
(`invalid_request_error`), ``[expire]`` `expired` the first time.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from fake_anthropic import error
from fake_openai import LoopbackServer, QuietHandler, send_json

MAX_REQUESTS = 100_000
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _last_text(params: dict[str, Any]) -> str:
    content = (params.get("messages") or [{}])[-1].get("content", "")
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content)


@dataclass
class FakeAnthropicBatch(LoopbackServer):
    api_key: str | None = None
    in_progress_polls: int = 1
    hold: bool = False  # while set, batches stay in_progress
    cancels: int = 0
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    submitted: list[list[str]] = field(default_factory=list)  # custom ids of each batch, in order

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._expired_once: set[str] = set()
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def _route(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    status, payload = fake._answer(method, self.path, headers, raw)
                if isinstance(payload, bytes):
                    self.send_response(status)
                    self.send_header("content-type", "application/x-jsonl")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    send_json(self, status, payload)

        self._serve(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if "anthropic-version" not in headers:
            return 400, error("invalid_request_error", "anthropic-version: header is required")
        if self.api_key is not None and headers.get("x-api-key") != self.api_key:
            return 401, error("authentication_error", f"invalid x-api-key: {headers.get('x-api-key')}")
        parts = path.removeprefix("/v1/messages/batches").split("/")[1:] if path.startswith("/v1/messages/batches") else None
        if parts is None:
            return 404, error("not_found_error", f"no route {method} {path}")
        if (method, parts) == ("POST", []):
            return self._create(headers, raw)
        batch = self.batches.get(parts[0]) if parts else None
        if batch is None:
            return 404, error("not_found_error", f"no message batch {parts}")
        if method == "GET" and len(parts) == 1:
            self._advance(batch)
            return 200, self._object(batch)
        if method == "POST" and parts[1:] == ["cancel"]:
            self.cancels += 1
            if batch["status"] == "in_progress":
                batch["status"], batch["canceled"] = "canceling", True
            return 200, self._object(batch)
        if method == "GET" and parts[1:] == ["results"]:
            if batch["status"] != "ended":
                return 400, error("invalid_request_error", "results are available once the batch has ended")
            return 200, b"".join(json.dumps(line).encode() + b"\n" for line in batch["results"])
        return 404, error("not_found_error", f"no route {method} {path}")

    def _create(self, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if headers.get("content-type") != "application/json":
            return 400, error("invalid_request_error", "content-type must be application/json")
        try:
            requests = json.loads(raw)["requests"]
        except (ValueError, KeyError, TypeError):
            return 400, error("invalid_request_error", "requests: Field required")
        if not 1 <= len(requests) <= MAX_REQUESTS:
            return 400, error("invalid_request_error", f"requests: must hold 1 to {MAX_REQUESTS} requests")
        ids = [r.get("custom_id", "") for r in requests]
        bad = [i for i in ids if not _CUSTOM_ID.match(i)]
        if bad or len(set(ids)) != len(ids):
            return 400, error("invalid_request_error", f"requests: custom_id invalid or not unique: {bad[:1]}")
        batch_id = f"msgbatch_{len(self.batches) + 1:04d}"
        batch = {"id": batch_id, "status": "in_progress", "requests": requests, "polls": 0,
                 "canceled": False, "results": []}  # fmt: skip
        self.batches[batch_id] = batch
        self.submitted.append(ids)
        return 200, self._object(batch)

    def _advance(self, batch: dict[str, Any]) -> None:
        batch["polls"] += 1
        ending = batch["status"] == "canceling" or (
            batch["status"] == "in_progress" and not self.hold and batch["polls"] > self.in_progress_polls
        )
        if ending:
            batch["results"] = [
                {"custom_id": r["custom_id"], "result": {"type": "canceled"} if batch["canceled"] else self._result(r["params"])}
                for r in batch["requests"]
            ]  # fmt: skip
            batch["status"] = "ended"

    def _result(self, params: dict[str, Any]) -> dict[str, Any]:
        text = _last_text(params)
        if not isinstance(params.get("max_tokens"), int):
            return {"type": "errored", "error": error("invalid_request_error", "max_tokens: Field required")}
        if "[expire]" in text and text not in self._expired_once:
            self._expired_once.add(text)
            return {"type": "expired"}
        if "[400]" in text:
            return {"type": "errored", "error": error("invalid_request_error", f"provider says: cannot handle {text!r}")}
        message = {"id": "msg_batch", "type": "message", "role": "assistant", "model": params.get("model"),
                   "content": [{"type": "text", "text": f"reply to: {text}"}], "stop_reason": "end_turn",
                   "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}  # fmt: skip
        return {"type": "succeeded", "message": message}

    def _object(self, batch: dict[str, Any]) -> dict[str, Any]:
        types = [r["result"]["type"] for r in batch["results"]]
        ended = batch["status"] == "ended"
        port = self._server.server_address[1]
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": {
                "processing": 0 if ended else len(batch["requests"]),
                **{kind: types.count(kind) for kind in ("succeeded", "errored", "canceled", "expired")},
            },
            "ended_at": "2026-12-06T12:00:00Z" if ended else None,
            "created_at": "2026-12-06T11:00:00Z",
            "expires_at": "2026-12-07T11:00:00Z",
            "archived_at": None,
            "cancel_initiated_at": "2026-12-06T11:30:00Z" if batch["canceled"] else None,
            "results_url": f"http://127.0.0.1:{port}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }
