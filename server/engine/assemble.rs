//! The engines a server starts with, built from its configuration: the
//! built-in `echo` engine, then the engines of the config file and flags.
//! The scheduler receives them ready and never names an engine kind.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::openai_batch::OpenAiBatchSettings;
use super::{
    AnthropicEngine, EchoEngine, Engine, OpenAiBatchEngine, OpenAiEmbeddingsEngine, OpenAiEngine,
};
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
/// `config.engines`, in the order the scheduler adds them: openai-batch
/// engines last, so that the openai engine each falls back to exists by
/// then.
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
    let mut specs: Vec<&EngineSpec> = config.engines.iter().collect();
    specs.sort_by_key(|spec| matches!(spec.kind, EngineKindSpec::OpenAiBatch(_)));
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
                let engine = batch_engine(spec, settings, config, &engines, cancel, tracker)?;
                (Engine::OpenAiBatch(engine), Some(settings.max_concurrency))
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

/// Builds an openai-batch engine with its store in the cache directory and
/// its fallback (an openai engine built before it).
fn batch_engine(
    spec: &EngineSpec,
    settings: &OpenAiBatchSettings,
    config: &ServerConfig,
    built: &[ConfiguredEngine],
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<OpenAiBatchEngine, Error> {
    let fallback = settings.fallback.as_ref().and_then(|name| {
        // The last one under that name, as the scheduler keeps it.
        match built
            .iter()
            .rev()
            .find(|e| &e.name == name)
            .map(|e| &e.engine)
        {
            Some(Engine::OpenAi(engine)) => Some(engine.clone()),
            _ => None,
        }
    });
    OpenAiBatchEngine::new(
        &spec.name,
        settings.clone(),
        &config.cache_dir(),
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
