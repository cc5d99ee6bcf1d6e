//! The config file (`symbatcher-server --config symbatcher.toml`): named
//! engines and the default one.
//!
//! ```toml
//! default_engine = "gpt"
//! cache_dir = "/var/cache/symbatcher"   # the call cache (--cache-dir wins)
//! metrics_listen = "0.0.0.0:9100"       # Prometheus /metrics (--metrics-listen wins)
//!
//! [engines.gpt]
//! kind = "openai"                       # "openai", "echo", "anthropic",
//!                                       # "openai-batch", "openai-embeddings"
//! base_url = "https://api.openai.com/v1"
//! model = "gpt-4o-mini"
//! api_key_env = "OPENAI_API_KEY"        # "" for a server without authentication
//! rpm = 500
//! tpm = 200000
//! max_concurrency = 16                 # leave it out: no cap (only 429s hold back)
//! max_retries = 5
//! timeout_s = 60
//! max_batch_size = 64
//! strict = false
//!
//! [engines.gpt.pricing]                # optional; else the built-in table
//! input_per_million = 0.15              # US dollars per million prompt tokens
//! output_per_million = 0.60             # ... per million completion tokens
//! batch_discount = 0.5                  # share taken off at the batch price
//! max_output_tokens = 16384             # a reply's most output tokens (spend cap)
//!
//! [engines.local-echo]
//! kind = "echo"
//! latency_ms = 20
//!
//! [engines.gpt-batch]
//! kind = "openai-batch"                 # see batch_file
//! model = "gpt-4o-mini"
//! fallback = "gpt"
//!
//! [engines.claude]
//! kind = "anthropic"                    # Anthropic's Messages API
//! base_url = "https://api.anthropic.com"
//! model = "claude-sonnet-4-5"
//! api_key_env = "ANTHROPIC_API_KEY"
//! rpm = 50                              # rpm, tpm, max_concurrency, max_retries,
//! max_tokens = 4096                     # timeout_s as for openai; max_tokens: the
//!                                       # default of a call that sets none
//!
//! [engines.embed]
//! kind = "openai-embeddings"            # see embeddings_file
//! model = "text-embedding-3-small"
//! ```
//!
//! `default_engine` names the engine of jobs' chat (neurosymbolic) calls,
//! `default_embedding_engine` that of their embedding calls: each is
//! required when the file defines several engines of its kind, else it is
//! the only one (if any).
//!
//! Unknown fields are errors, so a misspelt limit cannot be silently ignored.
//! Every error names the file, the field (`engines.gpt.rpm`) and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::batch_file;
use super::embeddings_file;
pub(crate) use super::engine_table::{check_base_url, check_timeout};
use super::engine_table::{
    check_pricing, endpoint_or, range_reason, reject_max_tokens, Endpoint, FieldError, FileEngine,
    FileKind,
};
pub use super::engine_table::{
    DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_MODEL, DEFAULT_TIMEOUT_S,
};
use super::names;
use super::{
    ConfigError, EngineKindSpec, EngineSpec, ECHO_ENGINE, MAX_BATCH_SIZE, MAX_ENGINE_CONCURRENCY,
};
use crate::engine::anthropic::{self, AnthropicSettings};
use crate::engine::http::per_call::PerCallSettings;
use crate::engine::{call_kind_name, CallKind};

/// Longest `latency_ms` of an echo engine.
pub const MAX_ECHO_LATENCY_MS: u64 = 3_600_000;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Engine of jobs that name none; required when several chat engines
    /// are defined.
    default_engine: Option<String>,
    /// Embedding engine of jobs that name none; required when several
    /// embedding engines are defined.
    default_embedding_engine: Option<String>,
    /// Directory of the call cache; `--cache-dir` overrides it.
    cache_dir: Option<std::path::PathBuf>,
    /// Address of the Prometheus metrics endpoint, as `--metrics-listen`.
    metrics_listen: Option<String>,
    /// Engines by name.
    #[serde(default)]
    engines: BTreeMap<String, FileEngine>,
}

/// What a config file defines.
#[derive(Debug)]
pub struct LoadedFile {
    pub default_engine: Option<String>,
    pub default_embedding_engine: Option<String>,
    pub cache_dir: Option<std::path::PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub engines: Vec<EngineSpec>,
}

/// Reads and checks the config file at `path`.
pub fn load(path: &Path) -> Result<LoadedFile, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: origin.clone(),
        source,
    })?;
    parse(&origin, &text)
}

/// Parses and checks config text; `origin` names it in errors.
pub fn parse(origin: &str, text: &str) -> Result<LoadedFile, ConfigError> {
    let invalid = |field: &str, reason: String| ConfigError::Invalid {
        origin: origin.to_string(),
        field: field.to_string(),
        reason,
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|err| {
        invalid(
            "(syntax)",
            format!("{}{}", err.message(), position(text, err.span())),
        )
    })?;
    let file: FileConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = match err.path().to_string() {
            path if path == "." => "(top level)".to_string(),
            path => path,
        };
        let inner = err.into_inner();
        invalid(
            &field,
            format!("{}{}", inner.message(), position(text, inner.span())),
        )
    })?;

    let mut engines = Vec::with_capacity(file.engines.len());
    for (name, engine) in file.engines {
        let name = names::check_name(&name).map_err(|reason| {
            invalid(
                &format!("engines.{}", name.escape_debug()),
                format!("name {reason}"),
            )
        })?;
        let same = |other: &str| other == name || names::differ_only_in_case(other, &name);
        let taken = engines
            .iter()
            .map(|e: &EngineSpec| e.name.as_str())
            .find(|o| same(o));
        let echo = names::differ_only_in_case(ECHO_ENGINE, &name).then_some(ECHO_ENGINE);
        if let Some(other) = taken.or(echo) {
            return Err(invalid(
                &format!("engines.{name}"),
                format!("name is the same as {other:?} but for case or surrounding whitespace"),
            ));
        }
        engines.push(
            check_engine(&name, engine)
                .map_err(|(field, reason)| invalid(&format!("engines.{name}.{field}"), reason))?,
        );
    }
    let default_engine = default_of_kind(
        "default_engine",
        file.default_engine,
        &engines,
        CallKind::Neurosymbolic,
    )
    .map_err(|(field, reason)| invalid(field, reason))?;
    let default_embedding_engine = default_of_kind(
        "default_embedding_engine",
        file.default_embedding_engine,
        &engines,
        CallKind::Embedding,
    )
    .map_err(|(field, reason)| invalid(field, reason))?;
    let metrics_listen = match file.metrics_listen {
        Some(addr) => Some(addr.trim().parse::<SocketAddr>().map_err(|err| {
            invalid(
                "metrics_listen",
                format!("{addr:?} is not an address like \"0.0.0.0:9100\": {err}"),
            )
        })?),
        None => None,
    };
    Ok(LoadedFile {
        default_engine,
        default_embedding_engine,
        cache_dir: file.cache_dir,
        metrics_listen,
        engines,
    })
}

/// The default engine of call kind `kind`: the one `named` (which must be
/// of that kind), else the file's only engine of that kind, if any.
fn default_of_kind(
    field: &'static str,
    named: Option<String>,
    engines: &[EngineSpec],
    kind: CallKind,
) -> Result<Option<String>, FieldError> {
    let of_kind: Vec<&str> = engines
        .iter()
        .filter(|e| e.call_kind() == kind)
        .map(|e| e.name.as_str())
        .collect();
    let kind_name = call_kind_name(kind);
    let named = named
        .map(|name| names::check_name(&name).map_err(|reason| (field, reason)))
        .transpose()?;
    match named {
        Some(name) if of_kind.contains(&name.as_str()) => Ok(Some(name)),
        Some(name) if name == ECHO_ENGINE && kind == CallKind::Neurosymbolic => Ok(Some(name)),
        Some(name) => {
            let other = engines.iter().find(|e| e.name == name);
            let reason = match other {
                Some(other) => format!(
                    "engine {name:?} answers {} calls, not {kind_name} calls",
                    call_kind_name(other.call_kind())
                ),
                None => format!(
                    "names no engine of this file: {name:?} ({kind_name} engines defined: {})",
                    if of_kind.is_empty() {
                        "none".to_string()
                    } else {
                        of_kind.join(", ")
                    }
                ),
            };
            Err((field, reason))
        }
        None if of_kind.len() > 1 => Err((
            field,
            format!(
                "is required when the file defines several {kind_name} engines ({})",
                of_kind.join(", ")
            ),
        )),
        None => Ok(of_kind.first().map(|name| name.to_string())),
    }
}

/// " (line L, column C)" for a byte span of `text`, or "".
fn position(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!(" (line {line}, column {column})")
}

fn check_engine(name: &str, engine: FileEngine) -> Result<EngineSpec, FieldError> {
    if name == ECHO_ENGINE {
        return Err((
            "kind",
            "the name \"echo\" belongs to the built-in echo engine (configure it with \
             --echo-latency-ms and --echo-max-concurrency); choose another name"
                .to_string(),
        ));
    }
    if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
        return Err((
            "kind",
            format!("engine name {name:?} must be non-empty, without spaces"),
        ));
    }
    let max_batch_size = match engine.max_batch_size {
        None => MAX_BATCH_SIZE,
        Some(n) if (1..=MAX_BATCH_SIZE).contains(&n) => n,
        Some(n) => {
            return Err((
                "max_batch_size",
                range_reason(1, MAX_BATCH_SIZE as u64, n as u64),
            ))
        }
    } as usize;
    let max_concurrency = match engine.max_concurrency {
        None => None,
        Some(n) if (1..=MAX_ENGINE_CONCURRENCY).contains(&n) => Some(n as usize),
        Some(n) => {
            return Err((
                "max_concurrency",
                range_reason(1, MAX_ENGINE_CONCURRENCY as u64, n as u64),
            ))
        }
    };
    if engine.kind != FileKind::OpenaiEmbeddings {
        embeddings_file::reject_embedding_fields(&engine)?;
    }
    let kind = match engine.kind {
        FileKind::OpenaiEmbeddings => {
            batch_file::reject_batch_fields(&engine)?;
            EngineKindSpec::OpenAiEmbeddings(embeddings_file::settings(&engine, max_concurrency)?)
        }
        FileKind::OpenaiBatch | FileKind::AnthropicBatch => {
            return batch_file::engine_spec(name, &engine);
        }
        FileKind::Echo => {
            reject_unless_openai(&engine)?;
            batch_file::reject_batch_fields(&engine)?;
            reject_max_tokens(&engine)?;
            let latency_ms = engine.latency_ms.unwrap_or(0);
            if latency_ms > MAX_ECHO_LATENCY_MS {
                return Err((
                    "latency_ms",
                    range_reason(0, MAX_ECHO_LATENCY_MS, latency_ms),
                ));
            }
            EngineKindSpec::Echo {
                latency: Duration::from_millis(latency_ms),
                max_concurrency: max_concurrency.unwrap_or(1),
            }
        }
        FileKind::Openai | FileKind::Anthropic => {
            batch_file::reject_batch_fields(&engine)?;
            if engine.latency_ms.is_some() {
                return Err((
                    "latency_ms",
                    "is a setting of echo engines only".to_string(),
                ));
            }
            if engine.kind == FileKind::Anthropic {
                EngineKindSpec::Anthropic(anthropic_settings(&engine, max_concurrency)?)
            } else {
                reject_max_tokens(&engine)?;
                let defaults = [DEFAULT_BASE_URL, DEFAULT_MODEL, DEFAULT_API_KEY_ENV];
                EngineKindSpec::OpenAi(per_call_settings(&engine, max_concurrency, defaults)?)
            }
        }
    };
    let pricing = engine.pricing.as_ref().map(check_pricing).transpose()?;
    Ok(EngineSpec {
        name: name.to_string(),
        max_batch_size,
        kind,
        pricing,
    })
}

fn reject_unless_openai(engine: &FileEngine) -> Result<(), FieldError> {
    let openai_only = [
        ("base_url", engine.base_url.is_some()),
        ("model", engine.model.is_some()),
        ("api_key_env", engine.api_key_env.is_some()),
        ("rpm", engine.rpm.is_some()),
        ("tpm", engine.tpm.is_some()),
        ("max_retries", engine.max_retries.is_some()),
        ("timeout_s", engine.timeout_s.is_some()),
        ("strict", engine.strict.is_some()),
    ];
    match openai_only.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err((field, "is a setting of openai engines only".to_string())),
        None => Ok(()),
    }
}

/// Reads and checks the settings of a per-call engine table (openai,
/// anthropic), with the kind's `defaults` of `base_url`, `model` and
/// `api_key_env`.
pub(super) fn per_call_settings(
    engine: &FileEngine,
    max_concurrency: Option<usize>,
    defaults: [&str; 3],
) -> Result<PerCallSettings, FieldError> {
    let Endpoint {
        base_url,
        model,
        api_key,
    } = endpoint_or(engine, defaults)?;
    if engine.rpm == Some(0) {
        return Err((
            "rpm",
            "must be at least 1 (leave it out for no limit)".to_string(),
        ));
    }
    if engine.tpm == Some(0) {
        return Err((
            "tpm",
            "must be at least 1 (leave it out for no limit)".to_string(),
        ));
    }
    let max_retries = engine.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    if max_retries > 100 {
        return Err(("max_retries", range_reason(0, 100, max_retries as u64)));
    }
    let timeout = check_timeout(engine.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S))
        .map_err(|r| ("timeout_s", r))?;
    Ok(PerCallSettings {
        base_url,
        model,
        api_key,
        rpm: engine.rpm,
        tpm: engine.tpm,
        max_concurrency,
        max_retries,
        timeout,
        strict: engine.strict.unwrap_or(false),
    })
}

fn anthropic_settings(
    engine: &FileEngine,
    max_concurrency: Option<usize>,
) -> Result<AnthropicSettings, FieldError> {
    let defaults = [
        anthropic::DEFAULT_BASE_URL,
        anthropic::DEFAULT_MODEL,
        anthropic::DEFAULT_API_KEY_ENV,
    ];
    let http = per_call_settings(engine, max_concurrency, defaults)?;
    let max_tokens = engine.max_tokens.unwrap_or(anthropic::DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(("max_tokens", "must be at least 1".to_string()));
    }
    Ok(AnthropicSettings { http, max_tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        parse("symbatcher.toml", text)
            .expect_err("the file is invalid")
            .to_string()
    }

    #[test]
    fn engine_names_differing_only_in_case_or_holding_control_characters_are_refused() {
        let err = error_of(
            "default_engine = \"a\"\n[engines.GPT]\nkind = \"echo\"\n[engines.gpt]\nkind = \"echo\"\n\
             [engines.a]\nkind = \"echo\"",
        );
        assert!(err.contains("but for case"), "{err}");
        let err = error_of("[engines.ECHO]\nkind = \"echo\"");
        assert!(err.contains("\"echo\" but for case"), "{err}");
        let err = error_of("[engines.\"a\\nb\"]\nkind = \"echo\"");
        assert!(err.contains("U+000A"), "{err}");
        let long = "x".repeat(300);
        let err = error_of(&format!("[engines.{long}]\nkind = \"echo\""));
        assert!(err.contains("limit of 256"), "{err}");
    }

    #[test]
    fn a_full_file_resolves() {
        let loaded = parse(
            "symbatcher.toml",
            r#"
            default_engine = "gpt"
            [engines.gpt]
            kind = "openai"
            base_url = "http://127.0.0.1:8000/v1/"
            model = "m"
            api_key_env = ""
            rpm = 600
            tpm = 100000
            max_concurrency = 4
            max_retries = 2
            timeout_s = 1.5
            max_batch_size = 8
            strict = true
            [engines.slow]
            kind = "echo"
            latency_ms = 20
            "#,
        )
        .expect("valid");
        assert_eq!(loaded.default_engine.as_deref(), Some("gpt"));
        assert_eq!(loaded.engines.len(), 2);
        let gpt = loaded
            .engines
            .iter()
            .find(|e| e.name == "gpt")
            .expect("gpt");
        assert_eq!(gpt.max_batch_size, 8);
        let EngineKindSpec::OpenAi(s) = &gpt.kind else {
            panic!("openai")
        };
        assert_eq!(s.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(
            (s.rpm, s.tpm, s.max_concurrency),
            (Some(600), Some(100_000), Some(4))
        );
        assert_eq!(s.timeout, Duration::from_millis(1500));
        assert!(s.strict);
    }

    #[test]
    fn an_openai_engine_without_max_concurrency_has_no_cap_and_echo_keeps_one() {
        let loaded = parse(
            "f",
            "default_engine = \"gpt\"\n[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\n\
             [engines.slow]\nkind = \"echo\"\n",
        )
        .expect("valid");
        let kinds: Vec<&EngineKindSpec> = loaded.engines.iter().map(|e| &e.kind).collect();
        for kind in kinds {
            match kind {
                EngineKindSpec::OpenAi(s) => assert_eq!(s.max_concurrency, None),
                EngineKindSpec::Echo {
                    max_concurrency, ..
                } => assert_eq!(*max_concurrency, 1),
                EngineKindSpec::OpenAiBatch(_)
                | EngineKindSpec::AnthropicBatch(_)
                | EngineKindSpec::Anthropic(_)
                | EngineKindSpec::OpenAiEmbeddings(_) => {
                    panic!("no batch, anthropic or embeddings engine defined")
                }
            }
        }
    }

    #[test]
    fn an_embeddings_engine_is_the_default_of_its_kind_beside_the_chat_default() {
        let loaded = parse(
            "f",
            "[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\n\
             [engines.embed]\nkind = \"openai-embeddings\"\napi_key_env = \"\"\n\
             rpm = 60\nmax_inputs = 100\n",
        )
        .expect("valid");
        assert_eq!(loaded.default_engine.as_deref(), Some("gpt"));
        assert_eq!(loaded.default_embedding_engine.as_deref(), Some("embed"));
        let embed = loaded.engines.iter().find(|e| e.name == "embed");
        let Some(EngineKindSpec::OpenAiEmbeddings(settings)) = embed.map(|e| &e.kind) else {
            panic!("an openai-embeddings engine");
        };
        assert_eq!(settings.http.model, "text-embedding-3-small");
        assert_eq!(
            (
                settings.http.rpm,
                settings.max_inputs,
                settings.max_request_tokens
            ),
            (Some(60), 100, 300_000)
        );
    }

    #[test]
    fn the_embedding_default_must_name_an_embedding_engine_and_is_required_among_several() {
        let two = "[engines.a]\nkind = \"openai-embeddings\"\napi_key_env = \"\"\n\
                   [engines.b]\nkind = \"openai-embeddings\"\napi_key_env = \"\"\n";
        let err = error_of(two);
        assert!(
            err.contains("default_embedding_engine: is required when the file defines several embedding engines (a, b)"),
            "{err}"
        );
        let err = error_of(&format!(
            "default_embedding_engine = \"e\"\n{two}[engines.e]\nkind = \"echo\"\n"
        ));
        assert!(
            err.contains("engine \"e\" answers neurosymbolic calls, not embedding calls"),
            "{err}"
        );
        let err = error_of("[engines.e]\nkind = \"echo\"\nmax_inputs = 5\n");
        assert!(
            err.contains("engines.e.max_inputs: is a setting of openai-embeddings engines only"),
            "{err}"
        );
        let err = error_of(
            "[engines.a]\nkind = \"openai-embeddings\"\napi_key_env = \"\"\nmax_inputs = 2049\n",
        );
        assert!(
            err.contains("engines.a.max_inputs: must be between 1 and 2048, got 2049"),
            "{err}"
        );
    }

    #[test]
    fn an_anthropic_table_resolves_with_its_own_defaults() {
        let loaded = parse(
            "f",
            "[engines.claude]\nkind = \"anthropic\"\napi_key_env = \"\"\nrpm = 50\n\
             tpm = 40000\nmax_concurrency = 4\nmax_retries = 3\ntimeout_s = 30\nmax_tokens = 512\n",
        )
        .expect("valid");
        let EngineKindSpec::Anthropic(a) = &loaded.engines[0].kind else {
            panic!("anthropic")
        };
        let s = &a.http;
        assert_eq!(s.base_url, "https://api.anthropic.com");
        assert_eq!(s.model, "claude-sonnet-4-5");
        assert_eq!(
            (s.rpm, s.tpm, s.max_concurrency, s.max_retries),
            (Some(50), Some(40_000), Some(4), 3)
        );
        assert_eq!((s.timeout, a.max_tokens), (Duration::from_secs(30), 512));
        let defaults = parse(
            "f",
            "[engines.c]\nkind = \"anthropic\"\napi_key_env = \"\"\n",
        )
        .expect("valid");
        let EngineKindSpec::Anthropic(a) = &defaults.engines[0].kind else {
            panic!("anthropic")
        };
        assert_eq!((a.max_tokens, a.http.max_retries), (4096, 5));
    }

    #[test]
    fn anthropic_tables_refuse_unknown_and_foreign_fields() {
        let base = "[engines.c]\nkind = \"anthropic\"\napi_key_env = \"\"\n";
        let err = error_of(&format!("{base}max_token = 5\n"));
        assert!(err.contains("unknown field `max_token`"), "{err}");
        let err = error_of(&format!("{base}fallback = \"x\"\n"));
        assert!(err.contains("engines.c.fallback"), "{err}");
        let err = error_of(&format!("{base}max_tokens = 0\n"));
        assert!(
            err.contains("engines.c.max_tokens: must be at least 1"),
            "{err}"
        );
        let err = error_of("[engines.g]\nkind = \"openai\"\napi_key_env = \"\"\nmax_tokens = 5\n");
        assert!(
            err.contains("engines.g.max_tokens: is a setting of anthropic"),
            "{err}"
        );
        let err = error_of("[engines.e]\nkind = \"echo\"\nmax_tokens = 5\n");
        assert!(err.contains("engines.e.max_tokens"), "{err}");
    }

    #[test]
    fn a_single_engine_is_the_default() {
        let loaded = parse("f", "[engines.e]\nkind = \"echo\"\n").expect("valid");
        assert_eq!(loaded.default_engine.as_deref(), Some("e"));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_line() {
        let err =
            error_of("[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\nrpm = \"fast\"\n");
        assert!(
            err.starts_with("symbatcher.toml: engines.gpt.rpm: "),
            "{err}"
        );
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_rejected() {
        let err = error_of("[engines.gpt]\nkind = \"openai\"\nrmp = 5\n");
        assert!(err.contains("engines.gpt"), "{err}");
        assert!(err.contains("unknown field `rmp`"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let err =
            error_of("[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\nmax_concurrency = 0\n");
        assert!(
            err.starts_with("symbatcher.toml: engines.gpt.max_concurrency: must be between 1"),
            "{err}"
        );
        let err = error_of(
            "[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\nbase_url = \"ftp://x\"\n",
        );
        assert!(err.contains("engines.gpt.base_url"), "{err}");
        let err = error_of("[engines.gpt]\nkind = \"openai\"\napi_key_env = \"\"\ntimeout_s = 0\n");
        assert!(err.contains("engines.gpt.timeout_s"), "{err}");
    }

    #[test]
    fn settings_of_another_kind_are_rejected() {
        let err = error_of("[engines.e]\nkind = \"echo\"\nrpm = 5\n");
        assert!(
            err.contains("engines.e.rpm: is a setting of openai engines only"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_kind_names_the_field() {
        let err = error_of("[engines.e]\nkind = \"magic\"\n");
        assert!(err.contains("engines.e.kind"), "{err}");
    }

    #[test]
    fn the_default_must_name_a_defined_engine() {
        let err = error_of("default_engine = \"nope\"\n[engines.e]\nkind = \"echo\"\n");
        assert!(err.contains("default_engine: names no engine"), "{err}");
        let err = error_of("[engines.a]\nkind = \"echo\"\n[engines.b]\nkind = \"echo\"\n");
        assert!(err.contains("default_engine: is required"), "{err}");
    }

    #[test]
    fn metrics_listen_is_an_address() {
        let loaded = parse("f.toml", "metrics_listen = \"0.0.0.0:9100\"\n").expect("parses");
        assert_eq!(
            loaded.metrics_listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 9100)))
        );
        let err = error_of("metrics_listen = \"localhost\"\n");
        assert!(
            err.contains("metrics_listen: \"localhost\" is not an address"),
            "{err}"
        );
    }

    #[test]
    fn a_syntax_error_has_a_position() {
        let err = error_of("[engines.e\nkind = 1\n");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn the_echo_name_is_reserved() {
        let err = error_of("[engines.echo]\nkind = \"echo\"\n");
        assert!(err.contains("engines.echo"), "{err}");
    }
}
