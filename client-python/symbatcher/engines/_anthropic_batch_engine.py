"""`AnthropicBatchEngine`: Anthropic's Message Batches API as an engine of
the embedded server, handed to it as `[engines.NAME]` tables of its config
format (`--config-toml`), with its online fallback."""

from __future__ import annotations

import json
from dataclasses import dataclass

from symbatcher.engines._anthropic_engine import AnthropicEngine
from symbatcher.engines._server_engines import ServerEngine


@dataclass(frozen=True)
class AnthropicBatchEngine(ServerEngine):
    """Anthropic's Message Batches API (`POST {base_url}/v1/messages/batches`,
    at half the online price) as the embedded server's engine.

    The engine calls of a step of every running `forward()` go into one
    Message Batch (split at `max_requests_per_batch` requests, at most
    100,000, and 256 MB), each request's `params` the body the online
    `AnthropicEngine` would send (symai's system message in `system`,
    `max_tokens` from the call's kwargs, else `max_tokens` here, else 4096).
    The server polls the batch every `poll_interval_s` (growing 1.5x per
    poll, up to `poll_max_interval_s`), reads its results from `results_url`
    once it has ended, and routes each reply back to its call. Submitted
    batches are recorded in `batches.redb` in the server's cache directory,
    so a re-run or a restarted server waits for a batch still in flight
    instead of paying for it again. Requests that expired, were canceled or
    errored for a passing reason (`api_error`, `overloaded_error`) go to
    `fallback` (an `AnthropicEngine`, or the name of an anthropic engine the
    server defines), else into the next batch. Requests carry the
    `x-api-key` (read by the server from the environment variable
    `api_key_env`; None: send none) and `anthropic-version` headers. See
    docs/engines.md.
    """

    base_url: str = "https://api.anthropic.com"
    model: str = "claude-sonnet-4-5"
    api_key_env: str | None = "ANTHROPIC_API_KEY"
    poll_interval_s: float = 10.0
    poll_max_interval_s: float = 300.0
    max_requests_per_batch: int = 100_000
    max_tokens: int | None = None
    fallback: AnthropicEngine | str | None = None
    #: Name of the engine in the server.
    name: str = "anthropic-batch"

    def engine_toml(self) -> str:
        """The engine (and an `AnthropicEngine` fallback) as `[engines.NAME]`
        tables of the server's config format, this one the default."""
        fallback = self.fallback.name if isinstance(self.fallback, AnthropicEngine) else self.fallback
        lines = [
            f"default_engine = {json.dumps(self.name)}",
            f"[engines.{json.dumps(self.name)}]",
            'kind = "anthropic-batch"',
            f"base_url = {json.dumps(self.base_url)}",
            f"model = {json.dumps(self.model)}",
            f"api_key_env = {json.dumps(self.api_key_env or '')}",
            f"poll_interval_ms = {max(1, round(self.poll_interval_s * 1000))}",
            f"poll_max_interval_ms = {max(1, round(self.poll_max_interval_s * 1000))}",
            f"max_requests_per_batch = {self.max_requests_per_batch}",
        ]
        if self.max_tokens is not None:
            lines.append(f"max_tokens = {self.max_tokens}")
        if fallback:
            lines.append(f"fallback = {json.dumps(fallback)}")
        toml = "\n".join(lines) + "\n"
        if isinstance(self.fallback, AnthropicEngine):
            toml += self.fallback.engine_table()
        return toml

    def server_args(self) -> list[str]:
        return ["--config-toml", self.engine_toml()]
