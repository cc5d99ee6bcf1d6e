//! Server configuration: command-line flags (and their environment variables),
//! each with a default that works out of the box, and the named engines of an
//! optional TOML file (`--config`, see [`file`]).
//!
//! [`ServerConfig::resolve`] turns the flags and the file into the list of
//! engines the server starts with ([`ServerConfig::engines`]) and the default
//! engine; it fails with the file, the field and the reason.

mod batch_deadline;
mod batch_file;
pub mod cache;
mod embeddings_file;
mod engine_table;
pub mod file;
pub mod guards;
pub mod history;
pub mod limits;
pub mod names;
pub mod security;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::auth::AuthConfig;
use crate::engine::anthropic::AnthropicSettings;
use crate::engine::openai::{ApiKey, OpenAiSettings};
use crate::engine::openai_embeddings::OpenAiEmbeddingsSettings;
use crate::engine::provider_batch::{AnthropicBatchSettings, OpenAiBatchSettings};
use crate::engine::CallKind;
use crate::telemetry::LogFormat;
use crate::tls::TlsSettings;
use security::SecurityFlags;

/// Upper bound of `JobSpec.batch_size`.
pub const MAX_BATCH_SIZE: u32 = 4096;
/// Upper bound of a worker's `concurrency`.
pub const MAX_WORKER_CONCURRENCY: u32 = 4096;
/// Upper bound of `JobSpec.window`.
pub const MAX_WINDOW: u32 = 1_000_000;
/// Upper bound of an engine's `max_concurrency`.
pub const MAX_ENGINE_CONCURRENCY: u32 = 1024;
/// Upper bound of an item timeout (`JobSpec.item_timeout_ms`): one day.
pub const MAX_ITEM_TIMEOUT_MS: u64 = 86_400_000;
/// Upper bound of a max queue delay (`JobSpec.max_queue_delay_ms`,
/// `--max-queue-delay-ms`): one minute.
pub const MAX_QUEUE_DELAY_MS: u32 = 60_000;
/// Upper bound of a job's wait for a worker (`--worker-wait-ms`; a
/// `JobSpec.worker_wait_ms` is a uint32): about 49.7 days.
pub const MAX_WORKER_WAIT_MS: u64 = u32::MAX as u64;
/// Name of the built-in echo engine.
pub const ECHO_ENGINE: &str = "echo";

/// Environment variables, shown after the flags in `--help`.
const ENV_HELP: &str = "\
Environment:
  SYMBATCHER_LOG, else RUST_LOG   log filter (tracing EnvFilter syntax, e.g. `debug` or
                                  `symbatcher=debug,h2=warn`); default `info`. Logs go to stderr,
                                  in the --log-format (SYMBATCHER_LOG_FORMAT) text or json.
  SYMBATCHER_AUTH_TOKEN           main token (or --auth-token-file): every service
  SYMBATCHER_CLIENT_TOKEN         client token (or --client-token-file): BatchService
  SYMBATCHER_WORKER_TOKEN         worker token (or --worker-token-file): WorkerService, EngineService
  SYMBATCHER_STATUS_TOKEN         status token (or --status-token-file): StatusService, reflection
Tokens, API keys and TLS keys are never logged or sent in errors.";

/// `symbatcher-server`: schedules items onto workers and batches their engine calls.
#[derive(Debug, Clone, Parser)]
#[command(name = "symbatcher-server", version, about, after_help = ENV_HELP)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port, printed on stdout as
    /// `listening on ADDR`.
    #[arg(long, env = "SYMBATCHER_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Address of the Prometheus metrics endpoint (`GET /metrics`, plain
    /// HTTP without authentication: bind it where only the scraper reaches
    /// it). Unset: no endpoint (the config file's `metrics_listen` sets one).
    #[arg(long, env = "SYMBATCHER_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log line format on stderr: `text`, or `json` (one object per line,
    /// with the enclosing `job` and `engine_batch` spans and their fields).
    #[arg(long, env = "SYMBATCHER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// TOML file defining named engines (kind, base_url, model, api_key_env,
    /// rpm, tpm, max_concurrency, max_retries, timeout_s, max_batch_size) and
    /// the default one; see docs/engines.md.
    #[arg(long, env = "SYMBATCHER_CONFIG")]
    pub config: Option<PathBuf>,

    /// Engines defined inline, as TOML text in the config file's format
    /// (the Python client passes `OpenAIBatchEngine` and
    /// `OpenAIEmbeddingEngine` this way); may be given more than once. Its
    /// `default_engine` and `default_embedding_engine` win over the config
    /// file's (a later text's over an earlier's); engine names must not
    /// repeat.
    #[arg(long)]
    pub config_toml: Vec<String>,

    /// Engine that jobs use when their JobSpec names none. Default: the config
    /// file's `default_engine`, else `openai` when --openai-base-url is given,
    /// else `echo`. May name an engine process that connects later.
    #[arg(long)]
    pub default_engine: Option<String>,

    /// Engine of the embedding calls of jobs whose JobSpec names none
    /// (`JobSpec.embedding_engine`). Default: the config file's
    /// `default_embedding_engine`, else its only embedding engine
    /// (`openai-embeddings`), else none: such calls then fail, naming how
    /// to configure one. May name an engine process that connects later.
    #[arg(long)]
    pub default_embedding_engine: Option<String>,

    /// Simulated latency of the built-in `echo` engine, per batch, in ms.
    /// 0..=3600000, as the config file's `latency_ms`.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=file::MAX_ECHO_LATENCY_MS))]
    pub echo_latency_ms: u64,

    /// Batches the `echo` engine runs at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_ENGINE_CONCURRENCY as i64))]
    pub echo_max_concurrency: u32,

    /// The single-engine case without a config file: an OpenAI-compatible
    /// engine named `openai`.
    #[command(flatten)]
    pub openai: OpenAiFlags,

    /// Default longest wait of an engine call for its batch to fill, in ms
    /// (a job's `max_queue_delay_ms` overrides it). It matters only while
    /// some running item is busy with something other than an engine call:
    /// a full batch, or every running item waiting, sends a batch at once.
    /// 0..=60000, as a job's own.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=MAX_QUEUE_DELAY_MS as u64))]
    pub max_queue_delay_ms: u64,

    /// Default number of items the server holds per job at once (sent by the
    /// client, not yet answered); bounds server memory per job.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=MAX_WINDOW as i64))]
    pub window: u32,

    /// Default number of runs of an item before it fails because its workers
    /// keep disconnecting.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// Default longest run of one item, in ms, counted from the moment its
    /// worker starts it (until the worker reports the start, from the
    /// item's assignment plus a 1 s grace); a longer run fails with a
    /// TimeoutError and its worker is told to cancel it. Unset: no limit (a job's
    /// `item_timeout_ms` sets one).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_ITEM_TIMEOUT_MS))]
    pub item_timeout_ms: Option<u64>,

    /// Default time a job waits for a worker serving its expression, in ms.
    /// 0..=4294967295, as a job's own (`JobSpec.worker_wait_ms`).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(0..=MAX_WORKER_WAIT_MS))]
    pub worker_wait_ms: u64,

    /// Grace period for running jobs to finish after SIGINT/SIGTERM, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,

    /// Shut down when standard input reaches end of file: a parent process
    /// that holds the other end of a pipe takes the server down with it, even
    /// when it is killed.
    #[arg(long)]
    pub exit_with_stdin: bool,

    /// Authentication, TLS, --insecure and --allow-pickle.
    #[command(flatten)]
    pub security: SecurityFlags,

    /// The tokens (filled by [`ServerConfig::resolve`]; empty: no
    /// authentication).
    #[arg(skip)]
    pub auth: AuthConfig,

    /// TLS certificate and key (filled by [`ServerConfig::resolve`]; None:
    /// plaintext).
    #[arg(skip)]
    pub tls: Option<TlsSettings>,

    /// Keepalive (how soon a frozen peer is noticed) and message size limits.
    #[command(flatten)]
    pub limits: limits::LimitFlags,

    /// Engine reconnection grace, engine-call caps, prefetch cap.
    #[command(flatten)]
    pub guards: guards::GuardFlags,

    /// How many ended jobs Status shows, and for how long.
    #[command(flatten)]
    pub history: history::JobHistoryFlags,

    /// The call cache: directory and size cap.
    #[command(flatten)]
    pub cache: cache::CacheFlags,

    /// Engines the server starts with besides the built-in `echo` (filled by
    /// [`ServerConfig::resolve`] from the config file and the --openai-* flags).
    #[arg(skip)]
    pub engines: Vec<EngineSpec>,

    /// Where the default engine comes from (set by [`ServerConfig::resolve`]):
    /// "flag" (--default-engine), "config" (the file's `default_engine`),
    /// "openai-flags" (--openai-base-url) or "builtin" (echo).
    #[arg(skip = "builtin")]
    pub default_engine_source: &'static str,
}

/// Flags of the `openai` engine for the single-engine case.
#[derive(Debug, Clone, Args)]
pub struct OpenAiFlags {
    /// Base URL of an OpenAI-compatible API (the part before
    /// `/chat/completions`), e.g. https://api.openai.com/v1 or
    /// http://127.0.0.1:8000/v1 for a local vLLM. Defines the engine `openai`.
    #[arg(long)]
    pub openai_base_url: Option<String>,

    /// Model the `openai` engine asks for when a call names none.
    #[arg(long, default_value = file::DEFAULT_MODEL)]
    pub openai_model: String,

    /// Environment variable holding the API key; empty for a server without
    /// authentication. The key never appears in logs, errors or Status.
    #[arg(long, default_value = file::DEFAULT_API_KEY_ENV)]
    pub openai_api_key_env: String,

    /// Requests per minute the `openai` engine sends at most (unlimited if unset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub openai_rpm: Option<u32>,

    /// Tokens per minute (prompt + completion, estimated before a request and
    /// corrected from its usage) the `openai` engine spends at most.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub openai_tpm: Option<u64>,

    /// Requests the `openai` engine runs at once at most (before 429s shrink
    /// it). Unset: no cap, so every call the worker slots make is sent at
    /// once until the provider answers 429.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_ENGINE_CONCURRENCY as i64))]
    pub openai_max_concurrency: Option<u32>,

    /// Retries of a request after a 429, a 5xx, a timeout or a connection error.
    #[arg(long, default_value_t = file::DEFAULT_MAX_RETRIES, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub openai_max_retries: u32,

    /// Time limit of one request (one attempt), in seconds.
    #[arg(long, default_value_t = file::DEFAULT_TIMEOUT_S)]
    pub openai_timeout_s: f64,

    /// Largest batch of calls formed for the `openai` engine.
    #[arg(long, default_value_t = MAX_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH_SIZE as i64))]
    pub openai_max_batch_size: u32,

    /// Fail a call whose kwargs include a parameter the engine does not pass
    /// on, instead of dropping that parameter.
    #[arg(long)]
    pub openai_strict: bool,
}

/// An engine the server starts with.
#[derive(Debug, Clone)]
pub struct EngineSpec {
    /// Name jobs select it by.
    pub name: String,
    /// Largest batch formed for it (jobs may ask for less).
    pub max_batch_size: usize,
    pub kind: EngineKindSpec,
    /// Prices of its calls; None: the built-in table by model.
    pub pricing: Option<crate::cost::Pricing>,
}

/// What kind of engine, with its settings.
#[derive(Debug, Clone)]
pub enum EngineKindSpec {
    /// An echo engine (like the built-in one) under another name.
    Echo {
        latency: Duration,
        max_concurrency: usize,
    },
    /// An OpenAI-compatible HTTP engine.
    OpenAi(OpenAiSettings),
    /// OpenAI's Files + Batches API.
    OpenAiBatch(OpenAiBatchSettings),
    /// Anthropic's Message Batches API.
    AnthropicBatch(AnthropicBatchSettings),
    /// Anthropic's Messages API.
    Anthropic(AnthropicSettings),
    /// OpenAI's embeddings API, many calls a request.
    OpenAiEmbeddings(OpenAiEmbeddingsSettings),
}

impl EngineSpec {
    pub fn openai(name: &str, settings: OpenAiSettings) -> Self {
        EngineSpec {
            name: name.to_string(),
            max_batch_size: MAX_BATCH_SIZE as usize,
            kind: EngineKindSpec::OpenAi(settings),
            pricing: None,
        }
    }

    pub fn openai_embeddings(name: &str, settings: OpenAiEmbeddingsSettings) -> Self {
        EngineSpec {
            kind: EngineKindSpec::OpenAiEmbeddings(settings),
            ..Self::openai(name, OpenAiSettings::new("http://unused", "unused"))
        }
    }

    /// The kind of call the engine answers.
    pub fn call_kind(&self) -> CallKind {
        match self.kind {
            EngineKindSpec::OpenAiEmbeddings(_) => CallKind::Embedding,
            _ => CallKind::Neurosymbolic,
        }
    }

    pub fn anthropic(name: &str, settings: AnthropicSettings) -> Self {
        EngineSpec {
            kind: EngineKindSpec::Anthropic(settings),
            ..Self::openai(name, OpenAiSettings::new("http://unused", "unused"))
        }
    }
}

/// Why the configuration is unusable. Startup fails with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// A setting is malformed or out of range. `origin` is the file, or
    /// "command line" for flags.
    #[error("{origin}: {field}: {reason}")]
    Invalid {
        origin: String,
        field: String,
        reason: String,
    },
}

impl ConfigError {
    fn flag(field: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            origin: "command line".to_string(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

impl ServerConfig {
    /// Configuration with every default, listening on `listen`.
    pub fn with_listen(listen: SocketAddr) -> Self {
        let mut config = ServerConfig::parse_from(["symbatcher-server"]);
        config.listen = listen;
        config
    }

    /// Reads the config file and the --openai-* flags into [`Self::engines`]
    /// and settles the default engine.
    pub fn resolve(&mut self) -> Result<(), ConfigError> {
        let (auth, tls) = self
            .security
            .resolve(self.listen, |var| std::env::var(var).ok())?;
        self.auth = auth;
        self.tls = tls;
        let mut file_default = None;
        let mut file_embedding_default = None;
        if let Some(path) = &self.config {
            let loaded = file::load(path)?;
            file_default = loaded.default_engine;
            file_embedding_default = loaded.default_embedding_engine;
            if self.cache.cache_dir.is_none() {
                self.cache.cache_dir = loaded.cache_dir;
            }
            if self.metrics_listen.is_none() {
                self.metrics_listen = loaded.metrics_listen;
            }
            self.engines.extend(loaded.engines);
        }
        for text in &self.config_toml {
            let loaded = file::parse("--config-toml", text)?;
            for spec in &loaded.engines {
                if let Some(other) = name_clash(&self.engines, &spec.name) {
                    return Err(ConfigError::flag(
                        "--config-toml",
                        format!(
                            "engine {:?} is also defined in the config file or another \
                             --config-toml (as {other:?})",
                            spec.name
                        ),
                    ));
                }
            }
            file_default = loaded.default_engine.or(file_default);
            file_embedding_default = loaded.default_embedding_engine.or(file_embedding_default);
            self.engines.extend(loaded.engines);
        }
        let mut flag_engine = None;
        if let Some(base_url) = &self.openai.openai_base_url {
            let spec = self.openai.to_spec(base_url)?;
            if let Some(other) = name_clash(&self.engines, &spec.name) {
                return Err(ConfigError::flag(
                    "--openai-base-url",
                    format!(
                        "engine {:?} is also defined in the config file (as {other:?})",
                        spec.name
                    ),
                ));
            }
            flag_engine = Some(spec.name.clone());
            self.engines.push(spec);
        }
        if let Some(name) = &self.default_engine {
            let name = names::check_name(name).map_err(|reason| {
                ConfigError::flag("--default-engine", format!("engine name {reason}"))
            })?;
            self.default_engine = Some(name);
        }
        self.default_engine_source = if self.default_engine.is_some() {
            "flag"
        } else if file_default.is_some() {
            "config"
        } else if flag_engine.is_some() {
            "openai-flags"
        } else {
            "builtin"
        };
        if self.default_engine.is_none() {
            self.default_engine = file_default.or(flag_engine);
        }
        match &self.default_embedding_engine {
            Some(name) => {
                let name = names::check_name(name).map_err(|reason| {
                    ConfigError::flag(
                        "--default-embedding-engine",
                        format!("engine name {reason}"),
                    )
                })?;
                self.default_embedding_engine = Some(name);
            }
            None => self.default_embedding_engine = file_embedding_default,
        }
        self.check_fallbacks()
    }

    /// Every batch engine's `fallback` names an online engine of its
    /// provider: openai-batch an openai engine, anthropic-batch an
    /// anthropic one.
    fn check_fallbacks(&self) -> Result<(), ConfigError> {
        for spec in &self.engines {
            let (fallback, kind, how) = match &spec.kind {
                EngineKindSpec::OpenAiBatch(s) => (
                    &s.fallback,
                    "openai",
                    "in the config file, or with --openai-base-url as \"openai\"",
                ),
                EngineKindSpec::AnthropicBatch(s) => {
                    (&s.fallback, "anthropic", "in the config file")
                }
                _ => continue,
            };
            let Some(fallback) = fallback else {
                continue;
            };
            let target = self.engines.iter().find(|e| &e.name == fallback);
            let matches = match target.map(|e| &e.kind) {
                Some(EngineKindSpec::OpenAi(_)) => kind == "openai",
                Some(EngineKindSpec::Anthropic(_)) => kind == "anthropic",
                _ => false,
            };
            if !matches {
                return Err(ConfigError::Invalid {
                    origin: "configuration".to_string(),
                    field: format!("engines.{}.fallback", spec.name),
                    reason: format!(
                        "names no engine of kind {kind}: {fallback:?} (define it {how})"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The directory of `batches.redb`: --cache-dir (or the config file's
    /// `cache_dir`), else
    /// $XDG_CACHE_HOME/symbatcher, else ~/.cache/symbatcher.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache.cache_dir {
            return dir.clone();
        }
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        match (env("XDG_CACHE_HOME"), env("HOME")) {
            (Some(cache), _) => PathBuf::from(cache).join("symbatcher"),
            (None, Some(home)) => PathBuf::from(home).join(".cache").join("symbatcher"),
            (None, None) => std::env::temp_dir().join("symbatcher-cache"),
        }
    }

    /// The secrets no log line may hold: the engines' API keys and the
    /// auth tokens (after [`Self::resolve`]).
    pub fn log_secrets(&self) -> Vec<String> {
        let keys = self.engines.iter().filter_map(|spec| match &spec.kind {
            EngineKindSpec::OpenAi(settings) => settings.api_key.as_ref(),
            EngineKindSpec::OpenAiBatch(settings) => settings.api_key.as_ref(),
            EngineKindSpec::AnthropicBatch(settings) => settings.api_key.as_ref(),
            EngineKindSpec::Anthropic(settings) => settings.http.api_key.as_ref(),
            EngineKindSpec::OpenAiEmbeddings(settings) => settings.http.api_key.as_ref(),
            EngineKindSpec::Echo { .. } => None,
        });
        keys.map(|key| key.expose().to_string())
            .chain(self.auth.secrets().map(str::to_string))
            .collect()
    }

    /// The engine of the embedding calls of jobs that name none; None: no
    /// such engine.
    pub fn default_embedding_engine(&self) -> Option<&str> {
        self.default_embedding_engine.as_deref()
    }

    /// The engine of jobs that name none.
    pub fn default_engine(&self) -> &str {
        self.default_engine.as_deref().unwrap_or(ECHO_ENGINE)
    }

    pub fn max_queue_delay(&self) -> Duration {
        Duration::from_millis(self.max_queue_delay_ms)
    }

    pub fn worker_wait(&self) -> Duration {
        Duration::from_millis(self.worker_wait_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

impl OpenAiFlags {
    fn to_spec(&self, base_url: &str) -> Result<EngineSpec, ConfigError> {
        let base_url = file::check_base_url(base_url)
            .map_err(|r| ConfigError::flag("--openai-base-url", r))?;
        let timeout = file::check_timeout(self.openai_timeout_s)
            .map_err(|r| ConfigError::flag("--openai-timeout-s", r))?;
        let api_key = read_api_key(&self.openai_api_key_env)
            .map_err(|r| ConfigError::flag("--openai-api-key-env", r))?;
        if self.openai_model.trim().is_empty() {
            return Err(ConfigError::flag("--openai-model", "must not be empty"));
        }
        let settings = OpenAiSettings {
            base_url,
            model: self.openai_model.clone(),
            api_key,
            rpm: self.openai_rpm,
            tpm: self.openai_tpm,
            max_concurrency: self.openai_max_concurrency.map(|n| n as usize),
            max_retries: self.openai_max_retries,
            timeout,
            strict: self.openai_strict,
        };
        Ok(EngineSpec {
            max_batch_size: self.openai_max_batch_size as usize,
            ..EngineSpec::openai("openai", settings)
        })
    }
}

/// The API key in environment variable `var` (none when `var` is empty).
/// The engine of `engines` (or the built-in echo) whose name is `name`, or
/// differs from it only in case.
fn name_clash<'a>(engines: &'a [EngineSpec], name: &str) -> Option<&'a str> {
    engines
        .iter()
        .map(|e| e.name.as_str())
        .chain([ECHO_ENGINE])
        .find(|other| *other == name || names::differ_only_in_case(other, name))
}

pub(crate) fn read_api_key(var: &str) -> Result<Option<ApiKey>, String> {
    let var = var.trim();
    if var.is_empty() {
        return Ok(None);
    }
    match std::env::var(var) {
        Ok(key) if !key.trim().is_empty() => Ok(Some(ApiKey::new(key.trim()))),
        Ok(_) => Err(format!("environment variable {var} is empty")),
        Err(_) => Err(format!(
            "environment variable {var} is not set (set it, or use an empty api_key_env, \
             api_key_env=None in Python, for a server without authentication)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_without_flags() {
        let mut config = ServerConfig::parse_from(["symbatcher-server"]);
        config.resolve().expect("defaults resolve");
        assert_eq!(config.default_engine(), "echo");
        assert_eq!(config.default_engine_source, "builtin");
        assert_eq!(config.echo_max_concurrency, 1);
        assert_eq!(config.max_queue_delay(), Duration::from_millis(50));
        assert!(config.engines.is_empty());
    }

    #[test]
    fn zero_echo_concurrency_is_rejected() {
        let err =
            ServerConfig::try_parse_from(["symbatcher-server", "--echo-max-concurrency", "0"])
                .expect_err("0 is out of range");
        assert!(err.to_string().contains("echo-max-concurrency"));
    }

    #[test]
    fn openai_flags_define_the_default_engine() {
        let mut config = ServerConfig::parse_from([
            "symbatcher-server",
            "--openai-base-url",
            "http://127.0.0.1:9/v1/",
            "--openai-api-key-env",
            "",
            "--openai-rpm",
            "600",
        ]);
        config.resolve().expect("flags resolve");
        assert_eq!(config.default_engine(), "openai");
        assert_eq!(config.default_engine_source, "openai-flags");
        let EngineKindSpec::OpenAi(settings) = &config.engines[0].kind else {
            panic!("an openai engine");
        };
        assert_eq!(settings.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(settings.rpm, Some(600));
        assert_eq!(settings.max_concurrency, None, "no cap unless one is given");
        assert!(settings.api_key.is_none());
    }

    #[test]
    fn an_openai_max_concurrency_is_kept_and_zero_is_rejected() {
        let flags = |n: &str| {
            ServerConfig::try_parse_from([
                "symbatcher-server",
                "--openai-base-url",
                "http://127.0.0.1:9/v1",
                "--openai-api-key-env",
                "",
                "--openai-max-concurrency",
                n,
            ])
        };
        let err = flags("0").expect_err("0 is out of range");
        assert!(err.to_string().contains("openai-max-concurrency"), "{err}");
        let mut config = flags("10").expect("10 is in range");
        config.resolve().expect("flags resolve");
        let EngineKindSpec::OpenAi(settings) = &config.engines[0].kind else {
            panic!("an openai engine");
        };
        assert_eq!(settings.max_concurrency, Some(10));
    }

    #[test]
    fn flags_with_a_protocol_counterpart_have_its_range() {
        for (flag, over, max) in [
            ("--max-queue-delay-ms", "4294967295", "60000"),
            ("--max-queue-delay-ms", "60001", "60000"),
            ("--worker-wait-ms", "4294967296", "4294967295"),
            ("--echo-latency-ms", "3600001", "3600000"),
        ] {
            let err = ServerConfig::try_parse_from(["symbatcher-server", flag, over])
                .expect_err("over the protocol's range");
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains(max), "{text}");
            ServerConfig::try_parse_from(["symbatcher-server", flag, max]).expect("at the limit");
        }
    }

    #[test]
    fn a_default_engine_flag_with_a_control_character_is_refused() {
        let mut config =
            ServerConfig::try_parse_from(["symbatcher-server", "--default-engine", "gpt\nx"])
                .expect("parses");
        let err = config.resolve().expect_err("refused").to_string();
        assert!(
            err.contains("--default-engine") && err.contains("U+000A"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_api_key_names_the_flag_and_the_variable() {
        let mut config = ServerConfig::parse_from([
            "symbatcher-server",
            "--openai-base-url",
            "http://127.0.0.1:9/v1",
            "--openai-api-key-env",
            "SYMBATCHER_TEST_SURELY_UNSET_KEY",
        ]);
        let err = config.resolve().expect_err("the key is not set");
        let text = err.to_string();
        assert!(
            text.starts_with("command line: --openai-api-key-env:"),
            "{text}"
        );
        assert!(text.contains("SYMBATCHER_TEST_SURELY_UNSET_KEY"), "{text}");
    }
}
