"""Settings of the engines that run inside the embedded server, turned into
its command-line flags.

- `EchoEngine`: the server's built-in echo engine.
- `OpenAIEngine`: an OpenAI-compatible HTTP engine in the server.
- `OpenAIBatchEngine`: an engine on OpenAI's Batch API in the server.
- `OpenAIEmbeddingEngine`: OpenAI's embeddings API in the server, many
  embedding calls a request.

Only types are checked here: the server checks every value against its
limits, and a value it refuses stops the embedded server from starting with
a `ServerStartError` whose message names the flag.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: must be an integer, got {type(value).__name__}")


class ServerEngine(abc.ABC):
    """Settings of an engine that runs inside the embedded server; subclasses
    turn themselves into the server's command-line flags."""

    @abc.abstractmethod
    def server_args(self) -> list[str]:
        """The embedded server's command-line flags for this engine."""


@dataclass(frozen=True)
class EchoEngine(ServerEngine):
    """The server's built-in engine: replies `"echo: " + prompt`.

    `latency_ms` is a simulated latency per batch; `max_concurrency` is how
    many batches it runs at once (1 by default, so batching shows).
    """

    latency_ms: int = 0
    max_concurrency: int = 1

    def __post_init__(self) -> None:
        _check_int("latency_ms", self.latency_ms)
        _check_int("max_concurrency", self.max_concurrency)

    def server_args(self) -> list[str]:
        return [
            f"--echo-latency-ms={self.latency_ms}",
            f"--echo-max-concurrency={self.max_concurrency}",
        ]


@dataclass(frozen=True)
class OpenAIEngine(ServerEngine):
    """An OpenAI-compatible engine in the embedded server: OpenAI, vLLM,
    llama.cpp server, Ollama, OpenRouter, anything serving
    `POST {base_url}/chat/completions`.

    Every engine call becomes one request, sent at once: as many run
    together as the worker slots make, unless `max_concurrency` caps them
    (None, the default: no cap), and always under limits the server
    enforces for all workers: `rpm` requests and `tpm` tokens per minute
    (None: unlimited), and a concurrency limit that 429s set and successes
    lift again (AIMD). 429s and
    5xx are retried (`max_retries`, exponential backoff with jitter, honouring
    `Retry-After`); `timeout_s` bounds each attempt. The API key is read by the
    server from the environment variable `api_key_env` (None: send no key).
    With `strict`, a call whose kwargs hold a parameter the engine does not
    pass on fails instead of dropping it (see docs/engines.md).
    """

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    max_retries: int = 5
    timeout_s: float = 60
    strict: bool = False

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}: must be at least 1 (None for no limit), got {value}")
        if self.max_concurrency is not None:
            _check_int("max_concurrency", self.max_concurrency)
        _check_int("max_retries", self.max_retries)
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)):
            raise TypeError(f"timeout_s: must be a number, got {type(self.timeout_s).__name__}")

    def server_args(self) -> list[str]:
        args = [
            "--openai-base-url", self.base_url,
            "--openai-model", self.model,
            "--openai-api-key-env", self.api_key_env or "",
            f"--openai-max-retries={self.max_retries}",
            f"--openai-timeout-s={self.timeout_s}",
        ]  # fmt: skip
        if self.max_concurrency is not None:
            args.append(f"--openai-max-concurrency={self.max_concurrency}")
        if self.rpm is not None:
            args.append(f"--openai-rpm={self.rpm}")
        if self.tpm is not None:
            args.append(f"--openai-tpm={self.tpm}")
        if self.strict:
            args.append("--openai-strict")
        return args


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds for the config (the server checks them)."""
    return round(seconds * 1000)


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class OpenAIBatchEngine(ServerEngine):
    """OpenAI's Batch API (Files + Batches, at the batch price) as the
    embedded server's engine.

    The engine calls of a step of every running `forward()` go into one batch
    file (split at `max_requests_per_batch` requests, at most 50,000, and 200
    MB), which is uploaded and submitted; the server polls it every
    `poll_interval_s` (growing 1.5x per poll, up to `poll_max_interval_s`) and
    routes each reply back to its call. Submitted batches are recorded in
    `batches.redb` in the server's cache directory, so a re-run waits for a
    batch still in flight instead of paying for it again. Requests that
    expired or failed for a passing reason go to `fallback` (an
    `OpenAIEngine`, or the name of an openai engine the server defines),
    else into the next batch. See docs/engines.md.

    With a job deadline (`BatchScheduler(deadline_s=...)`) and a `fallback`,
    calls go by batch while the time left can absorb a batch's turnaround
    (measured from the engine's completed batches, starting from
    `turnaround_guess_s`), else online; a batch still running at its hedge
    point (the deadline less `deadline_margin_s`, the time to send its
    calls online at `online_latency_s` each within the fallback's limits,
    and `cancel_wait_s`) is cancelled and its unanswered calls go online.
    See docs/cost.md.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    completion_window: str = "24h"
    poll_interval_s: float = 10.0
    poll_max_interval_s: float = 300.0
    max_requests_per_batch: int = 50_000
    fallback: OpenAIEngine | str | None = None
    #: Name of the engine in the server.
    name: str = "openai-batch"
    #: Deadlines: the batch turnaround planned with before any batch of the
    #: engine has completed; time kept in hand before a deadline; longest
    #: wait for a cancelled batch to end; time of one online request.
    turnaround_guess_s: float = 3600.0
    deadline_margin_s: float = 300.0
    cancel_wait_s: float = 600.0
    online_latency_s: float = 60.0

    def engine_toml(self) -> str:
        """The engine as a `[engines.NAME]` table of the server's config format."""
        fallback = "openai" if isinstance(self.fallback, OpenAIEngine) else self.fallback
        lines = [
            f"default_engine = {_toml_string(self.name)}",
            f"[engines.{_toml_string(self.name)}]",
            'kind = "openai-batch"',
            f"base_url = {_toml_string(self.base_url)}",
            f"model = {_toml_string(self.model)}",
            f"api_key_env = {_toml_string(self.api_key_env or '')}",
            f"completion_window = {_toml_string(self.completion_window)}",
            f"poll_interval_ms = {max(1, round(self.poll_interval_s * 1000))}",
            f"poll_max_interval_ms = {max(1, round(self.poll_max_interval_s * 1000))}",
            f"max_requests_per_batch = {self.max_requests_per_batch}",
            f"turnaround_guess_ms = {_ms(self.turnaround_guess_s)}",
            f"deadline_margin_ms = {_ms(self.deadline_margin_s)}",
            f"cancel_wait_ms = {_ms(self.cancel_wait_s)}",
            f"online_latency_ms = {_ms(self.online_latency_s)}",
        ]
        if fallback:
            lines.append(f"fallback = {_toml_string(fallback)}")
        return "\n".join(lines) + "\n"

    def server_args(self) -> list[str]:
        args = ["--config-toml", self.engine_toml()]
        if isinstance(self.fallback, OpenAIEngine):
            args += self.fallback.server_args()
        return args


@dataclass(frozen=True)
class OpenAIEmbeddingEngine(ServerEngine):
    """OpenAI's embeddings API (`POST {base_url}/embeddings`, or any
    compatible one: vLLM, Ollama, llama.cpp server) as the embedded server's
    engine of embedding calls: `BatchScheduler(embedding_engine=...)`.

    The embedding calls of every running `forward()` (`Symbol.embed`,
    `Symbol.similarity`, ...) wait for their batch (the job's `batch_size`
    and `max_queue_delay_ms`), then go out merged into requests of up to
    `max_inputs` texts (at most 2,048) and `max_request_tokens` estimated
    tokens; each call gets its own vectors back, in the shape symai's own
    engine returns. Limits, retries, the call cache and prices are those of
    `OpenAIEngine`: `rpm` and `tpm` count requests and tokens per minute for
    all workers. See docs/engines.md.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "text-embedding-3-small"
    api_key_env: str | None = "OPENAI_API_KEY"
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    max_retries: int = 5
    timeout_s: float = 60
    max_inputs: int = 2048
    max_request_tokens: int = 300_000
    #: Name of the engine in the server.
    name: str = "openai-embeddings"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        for name in ("rpm", "tpm", "max_concurrency"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value)
        for name in ("max_retries", "max_inputs", "max_request_tokens"):
            _check_int(name, getattr(self, name))
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)):
            raise TypeError(f"timeout_s: must be a number, got {type(self.timeout_s).__name__}")

    def engine_toml(self) -> str:
        """The engine as a `[engines.NAME]` table of the server's config
        format, named the default embedding engine."""
        lines = [
            f"default_embedding_engine = {_toml_string(self.name)}",
            f"[engines.{_toml_string(self.name)}]",
            'kind = "openai-embeddings"',
            f"base_url = {_toml_string(self.base_url)}",
            f"model = {_toml_string(self.model)}",
            f"api_key_env = {_toml_string(self.api_key_env or '')}",
            f"max_retries = {self.max_retries}",
            f"timeout_s = {float(self.timeout_s)}",
            f"max_inputs = {self.max_inputs}",
            f"max_request_tokens = {self.max_request_tokens}",
        ]
        for name in ("rpm", "tpm", "max_concurrency"):
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{name} = {value}")
        return "\n".join(lines) + "\n"

    def server_args(self) -> list[str]:
        return ["--config-toml", self.engine_toml()]
