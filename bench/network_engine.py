"""The engine side of bench/latency.py: where the loopback server listens,
the HTTP clients a symai engine may send with, and `NetworkEngine`, the symai
engine every contender's calls go through. A module of its own, so that an
engine process (`SymaiEngine(process=True)`) can import it."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from symai.backend.base import Engine

MODEL = "slow-model"


@dataclass(frozen=True)
class Address:
    """Where the loopback server listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"



def http_client(kind: str, server: Address) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function that POSTs a chat request to the server and returns its JSON."""
    path = "/v1/chat/completions"
    local = threading.local()
    if kind == "http.client":

        def post(body: dict[str, Any]) -> dict[str, Any]:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
            conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
            return json.loads(data)

        return post
    url = server.base_url + "/chat/completions"
    if kind == "requests":
        import requests

        def post(body: dict[str, Any]) -> dict[str, Any]:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            response = session.post(url, json=body, timeout=60)
            response.raise_for_status()
            return response.json()

        return post
    if kind == "httpx":
        from symai.backend.transport import ENGINE_API_CLIENT

        def post(body: dict[str, Any]) -> dict[str, Any]:
            response = ENGINE_API_CLIENT.post(url, json=body)
            response.raise_for_status()
            return response.json()

        return post
    raise SystemExit(f"--http: unknown client {kind!r}")


class NetworkEngine(Engine):
    """symai's neurosymbolic engine here: one HTTP request per call, as a
    symai user's own engine for an OpenAI-compatible server would send it.
    It pickles (its HTTP client is made where it runs), so that
    `SymaiEngine(engine=NetworkEngine(...), process=True)` can serve it
    from an engine process of its own."""

    def __init__(self, kind: str, server: Address) -> None:
        super().__init__()
        self.kind = kind
        self.server = server
        self._post: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_post"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._post is None:
            with self._lock:
                if self._post is None:
                    self._post = http_client(self.kind, self.server)
        return self._post(body)

    def id(self) -> str:
        return "neurosymbolic"

    def prepare(self, argument):
        argument.prop.prepared_input = argument.prop.processed_input

    def forward(self, argument):
        prepared = argument.prop.prepared_input
        # A call from another process arrives as the chat messages its worker
        # rendered (symai's raw input); one made here, as its text.
        messages = prepared if isinstance(prepared, list) else [{"role": "user", "content": str(prepared)}]
        reply = self.post({"model": MODEL, "messages": messages})
        return [reply["choices"][0]["message"]["content"]], {"usage": reply["usage"]}
