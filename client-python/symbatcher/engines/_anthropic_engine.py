"""`AnthropicEngine`: Anthropic's Messages API as an engine of the embedded
server, handed to it as a `[engines.NAME]` table of its config format
(`--config-toml`), as `OpenAIBatchEngine` is."""

from __future__ import annotations

import json
from dataclasses import dataclass

from symbatcher.engines._server_engines import ServerEngine


def _positive(name: str, value: object, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: must be at least 1 (None for the default), got {value}")


@dataclass(frozen=True)
class AnthropicEngine(ServerEngine):
    """Anthropic's Messages API (`POST {base_url}/v1/messages`) in the
    embedded server.

    Every engine call becomes one request with the `x-api-key` (read by the
    server from the environment variable `api_key_env`; None: send none) and
    `anthropic-version: 2023-06-01` headers. symai's system message goes into
    the request's `system` field; `max_tokens` comes from the call's kwargs,
    else `max_tokens` here (None: the server's default, 4096). Requests run
    under limits the server enforces for all workers: `rpm` and `tpm` (None:
    unlimited), `max_concurrency` (None: no cap until refusals set one), and
    the `anthropic-ratelimit-*` headers Anthropic returns. 429
    (`rate_limit_error`), 529 (`overloaded_error`) and 5xx are retried
    (`max_retries`, honouring `retry-after`); `timeout_s` bounds each
    attempt. Prices of Claude models are built in (see docs/engines.md).
    """

    base_url: str = "https://api.anthropic.com"
    model: str = "claude-sonnet-4-5"
    api_key_env: str | None = "ANTHROPIC_API_KEY"
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    max_retries: int = 5
    timeout_s: float = 60
    max_tokens: int | None = None
    #: Name of the engine in the server.
    name: str = "anthropic"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        for name in ("rpm", "tpm", "max_concurrency", "max_tokens"):
            _positive(name, getattr(self, name))
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries: must be an integer, got {type(self.max_retries).__name__}")
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)):
            raise TypeError(f"timeout_s: must be a number, got {type(self.timeout_s).__name__}")

    def engine_toml(self) -> str:
        """The engine as the server's default engine: its `[engines.NAME]`
        table of the server's config format."""
        return f"default_engine = {json.dumps(self.name)}\n" + self.engine_table()

    def engine_table(self) -> str:
        """The engine's `[engines.NAME]` table of the server's config format."""
        lines = [
            f"[engines.{json.dumps(self.name)}]",
            'kind = "anthropic"',
            f"base_url = {json.dumps(self.base_url)}",
            f"model = {json.dumps(self.model)}",
            f"api_key_env = {json.dumps(self.api_key_env or '')}",
            f"max_retries = {self.max_retries}",
            f"timeout_s = {float(self.timeout_s)}",
        ]
        for name in ("rpm", "tpm", "max_concurrency", "max_tokens"):
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{name} = {value}")
        return "\n".join(lines) + "\n"

    def server_args(self) -> list[str]:
        return ["--config-toml", self.engine_toml()]
