//! The engines a server starts with, built from its configuration: the
//! built-in `echo` engine, then the engines of the config file and flags.
//! The scheduler receives them ready and never names an engine kind.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::http::per_call::PerCallEngine;
use super::provider_batch::{BatchProvider, BatchSettings, BatchStore, ProviderBatchEngine};
use super::{AnthropicEngine, EchoEngine, Engine, OpenAiEmbeddingsEngine, OpenAiEngine};
use crate::config::{EngineKindSpec, EngineSpec, ServerConfig, ECHO_ENGINE, MAX_BATCH_SIZE};
use crate::error::Error;

/// An engine ready for the scheduler, with the limits of its slot.
#[derive(Debug)]
pub struct ConfiguredEngine {
    /// Name jobs select it by.
    pub name: String,
    pub engine: Engine,
    /// Engine batches in flight at most; None: they follow the slots.
    pub max_concurrency: Option<usize>,
    /// Largest engine batch formed for it.
    pub max_batch_size: usize,
}

/// Builds the built-in `echo` engine from `config`, then the engines of
/// `config.engines`, in the order the scheduler adds them: batch engines
/// last, so that the online engine each falls back to exists by then.
pub fn configured_engines(
    config: &ServerConfig,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Vec<ConfiguredEngine>, Error> {
    let mut engines = vec![ConfiguredEngine {
        name: ECHO_ENGINE.to_string(),
        engine: Engine::Echo(EchoEngine::new(Duration::from_millis(
            config.echo_latency_ms,
        ))),
        max_concurrency: Some(config.echo_max_concurrency as usize),
        max_batch_size: MAX_BATCH_SIZE as usize,
    }];
    // Opened at the first provider-batch engine, and shared by all of them.
    let mut store: Option<Arc<BatchStore>> = None;
    let mut specs: Vec<&EngineSpec> = config.engines.iter().collect();
    specs.sort_by_key(|spec| {
        matches!(
            spec.kind,
            EngineKindSpec::OpenAiBatch(_) | EngineKindSpec::AnthropicBatch(_)
        )
    });
    for spec in specs {
        let (engine, max_concurrency) = match &spec.kind {
            EngineKindSpec::Echo {
                latency,
                max_concurrency,
            } => (
                Engine::Echo(EchoEngine::new(*latency)),
                Some(*max_concurrency),
            ),
            EngineKindSpec::OpenAi(settings) => {
                let engine =
                    OpenAiEngine::new(&spec.name, settings.clone(), cancel.clone(), tracker)
                        .map_err(|err| setup_error(spec, err))?;
                // Its limiter bounds the requests; engine batches are only
                // groupings of calls and are not held back.
                (Engine::OpenAi(engine), None)
            }
            EngineKindSpec::Anthropic(settings) => {
                let engine =
                    AnthropicEngine::new(&spec.name, settings.clone(), cancel.clone(), tracker)
                        .map_err(|err| setup_error(spec, err))?;
                (Engine::Anthropic(engine), None)
            }
            EngineKindSpec::OpenAiEmbeddings(settings) => {
                let engine = OpenAiEmbeddingsEngine::new(
                    &spec.name,
                    settings.clone(),
                    cancel.clone(),
                    tracker,
                )
                .map_err(|err| setup_error(spec, err))?;
                (Engine::OpenAiEmbeddings(engine), None)
            }
            EngineKindSpec::OpenAiBatch(settings) => {
                let store = batch_store(&mut store, spec, config)?;
                let fallback = |e: &Engine| match e {
                    Engine::OpenAi(engine) => Some(engine.clone()),
                    _ => None,
                };
                let engine =
                    batch_engine(spec, settings, store, &engines, fallback, cancel, tracker)?;
                (Engine::OpenAiBatch(engine), Some(settings.max_concurrency))
            }
            EngineKindSpec::AnthropicBatch(settings) => {
                let store = batch_store(&mut store, spec, config)?;
                let fallback = |e: &Engine| match e {
                    Engine::Anthropic(engine) => Some(engine.clone()),
                    _ => None,
                };
                let engine =
                    batch_engine(spec, settings, store, &engines, fallback, cancel, tracker)?;
                (
                    Engine::AnthropicBatch(engine),
                    Some(settings.max_concurrency),
                )
            }
        };
        tracing::info!(engine = %spec.name, kind = engine.kind(), "engine configured");
        engines.push(ConfiguredEngine {
            name: spec.name.clone(),
            engine,
            max_concurrency,
            max_batch_size: spec.max_batch_size,
        });
    }
    Ok(engines)
}

/// The store of provider batches (`batches.redb` in the cache directory),
/// opened the first time an engine needs it.
fn batch_store(
    store: &mut Option<Arc<BatchStore>>,
    spec: &EngineSpec,
    config: &ServerConfig,
) -> Result<Arc<BatchStore>, Error> {
    if let Some(store) = store {
        return Ok(store.clone());
    }
    let opened =
        Arc::new(BatchStore::open(&config.cache_dir()).map_err(|err| setup_error(spec, err))?);
    *store = Some(opened.clone());
    Ok(opened)
}

/// Builds a batch engine on `store` with its fallback: the online engine
/// of its provider built before it under that name (`online` picks it).
fn batch_engine<P: BatchProvider>(
    spec: &EngineSpec,
    settings: &BatchSettings<P>,
    store: Arc<BatchStore>,
    built: &[ConfiguredEngine],
    online: impl Fn(&Engine) -> Option<PerCallEngine<P::Online>>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<ProviderBatchEngine<P>, Error> {
    let fallback = settings.fallback.as_ref().and_then(|name| {
        // The last one under that name, as the scheduler keeps it.
        built
            .iter()
            .rev()
            .find(|e| &e.name == name)
            .and_then(|e| online(&e.engine))
    });
    ProviderBatchEngine::new(
        &spec.name,
        settings.clone(),
        store,
        fallback,
        cancel.clone(),
        tracker,
    )
    .map_err(|err| setup_error(spec, err))
}

fn setup_error(spec: &EngineSpec, err: impl std::fmt::Display) -> Error {
    Error::EngineSetup {
        name: spec.name.clone(),
        reason: err.to_string(),
    }
}
