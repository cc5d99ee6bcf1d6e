"""A fake of OpenAI's Files and Batches endpoints on 127.0.0.1, for tests.

`POST /v1/files` keeps a multipart upload; `POST /v1/batches` creates a
batch of an uploaded file; each `GET /v1/batches/{id}` moves it on one step
(validating, in_progress, finalizing, completed); `POST
/v1/batches/{id}/cancel` cancels it; `GET /v1/files/{id}/content` serves
output files. While `hold` is set, batches stay in progress; `cancels`
counts cancel requests. Each request is answered `"reply to: " + <last message
content>` with a usage of 10 prompt and 5 completion tokens (with
`usage_grows`, growing with the prompt), as `fake_openai.FakeOpenAI`
answers it online.

With `turnaround_s`, batches move on by the clock instead of by polls, as
OpenAI's do: `in_progress` from creation, `completed` (with its output file)
`turnaround_s` after it. `holds`, given the contents of a new batch's
requests, says which of them are held back: such a request is never
completed, so its batch stays `in_progress` (its
`request_counts.completed` counting the others once `turnaround_s` has
passed) until it is cancelled; then it is `cancelling` for `cancel_s`, and
`cancelled` with an output file of the requests it completed, as OpenAI's
documentation describes. `billed` lists the custom ids of every request
served in an output file (what the provider charges for).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fake_openai import usage

_NEXT = {"validating": "in_progress", "in_progress": "finalizing", "finalizing": "completed",
         "cancelling": "cancelled"}  # fmt: skip


class FakeOpenAIBatch:
    def __init__(
        self,
        turnaround_s: float | None = None,
        holds: Callable[[list[str]], list[bool]] | None = None,
        cancel_s: float = 0.0,
        usage_grows: bool = False,
    ) -> None:
        self.turnaround_s = turnaround_s
        self.holds = holds
        self.cancel_s = cancel_s
        self.usage_grows = usage_grows
        self.billed: list[str] = []
        self._lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.submitted: list[list[str]] = []  # custom ids of each batch, in order
        self.hold = False  # while set, batches stay in_progress
        self.cancels = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def _route(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = self.path.removeprefix("/v1/").split("/")
                with fake._lock:
                    status, payload = fake._answer(method, parts, raw, self.headers.get("content-type", ""))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIBatch:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _answer(self, method: str, parts: list[str], raw: bytes, content_type: str) -> tuple[int, Any]:
        if (method, parts) == ("POST", ["files"]):
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = _multipart_file(raw, content_type)
            return 200, {"id": file_id, "object": "file", "purpose": "batch"}
        if (method, parts) == ("POST", ["batches"]):
            request = json.loads(raw)
            lines = self.files[request["input_file_id"]].decode().splitlines()
            batch_id = f"batch-{len(self.batches) + 1}"
            contents = [_content(json.loads(line)) for line in lines]
            held = self.holds(contents) if self.holds else [False] * len(lines)
            self.batches[batch_id] = {"id": batch_id, "status": "validating", "lines": lines,
                                      "output_file_id": None, "error_file_id": None,
                                      "created": time.monotonic(), "cancelling_at": None,
                                      "held": held}  # fmt: skip
            self.submitted.append([json.loads(line)["custom_id"] for line in lines])
            return 200, self._object(batch_id)
        if method == "GET" and len(parts) == 2 and parts[0] == "batches" and self.turnaround_s is not None:
            self._move_by_clock(self.batches[parts[1]])
            return 200, self._object(parts[1])
        if method == "GET" and len(parts) == 2 and parts[0] == "batches":
            batch = self.batches[parts[1]]
            if not (self.hold and batch["status"] == "in_progress"):
                batch["status"] = _NEXT.get(batch["status"], batch["status"])
            if batch["status"] == "completed" and batch["output_file_id"] is None:
                batch["output_file_id"] = f"file-{len(self.files) + 1}"
                self._write_output(batch, batch["lines"])
            return 200, self._object(parts[1])
        if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
            batch = self.batches[parts[1]]
            if batch["status"] not in ("validating", "in_progress", "finalizing"):
                return 400, {"error": {"message": f"batch is {batch['status']}: it cannot be cancelled"}}
            self.cancels += 1
            batch["status"] = "cancelling"
            batch["cancelling_at"] = time.monotonic()
            return 200, self._object(parts[1])
        if method == "GET" and len(parts) == 3 and parts[0] == "files":
            return 200, self.files[parts[1]]
        return 404, {"error": {"message": f"no route {parts}"}}

    def _done_lines(self, batch: dict[str, Any]) -> list[str]:
        """The lines of `batch` completed by now (time mode)."""
        assert self.turnaround_s is not None
        if time.monotonic() - batch["created"] < self.turnaround_s:
            return []
        return [line for line, held in zip(batch["lines"], batch["held"]) if not held]

    def _move_by_clock(self, batch: dict[str, Any]) -> None:
        if batch["status"] in ("completed", "cancelled"):
            return
        if batch["status"] == "cancelling":
            if time.monotonic() - batch["cancelling_at"] >= self.cancel_s:
                batch["status"] = "cancelled"
                self._write_output(batch, self._done_lines(batch))
            return
        done = self._done_lines(batch)
        if len(done) == len(batch["lines"]):
            batch["status"] = "completed"
            self._write_output(batch, done)
        else:
            batch["status"] = "in_progress"

    def _write_output(self, batch: dict[str, Any], lines: list[str]) -> None:
        requests = [json.loads(line) for line in lines]
        self.billed.extend(request["custom_id"] for request in requests)
        if not requests:
            return
        batch["output_file_id"] = f"file-{len(self.files) + 1}"
        self.files[batch["output_file_id"]] = "".join(_answer_line(r, self.usage_grows) for r in requests).encode()

    def _object(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        if self.turnaround_s is not None and batch["status"] != "completed":
            done = len(self._done_lines(batch))
        else:
            done = len(batch["lines"]) if batch["status"] == "completed" else 0
        return {"id": batch_id, "object": "batch", "status": batch["status"],
                "output_file_id": batch["output_file_id"], "error_file_id": None,
                "request_counts": {"total": len(batch["lines"]), "completed": done, "failed": 0}}  # fmt: skip


def _content(request: dict[str, Any]) -> str:
    content = request["body"]["messages"][-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def _answer_line(request: dict[str, Any], usage_grows: bool) -> str:
    content = _content(request)
    body = {
        "id": "chatcmpl", "object": "chat.completion", "model": request["body"]["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": f"reply to: {content}"}}],
        "usage": usage(request["body"], usage_grows),
    }  # fmt: skip
    line = {"id": "batch_req", "custom_id": request["custom_id"], "error": None,
            "response": {"status_code": 200, "request_id": "r", "body": body}}  # fmt: skip
    return json.dumps(line) + "\n"


def _multipart_file(raw: bytes, content_type: str) -> bytes:
    """The content of the multipart part named `file`."""
    boundary = content_type.split("boundary=")[1].strip('"').encode()
    for part in raw.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.removesuffix(b"\r\n")
    raise ValueError("no file part in the upload")
