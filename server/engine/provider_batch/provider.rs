//! What one provider's batch API differs in: the [`BatchProvider`] that
//! each provider file (`openai`, `anthropic`) implements. Everything else
//! is the core's: call keys, splitting at the limits, the store, one
//! watcher per batch polling with backoff, results matched by custom id,
//! duplicates, cancelling, resubmitting, the fallback and resuming after a
//! restart.

use std::fmt;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::http::BatchHttp;
use super::requests::{Outcome, Request};
use super::settings::BatchSettings;
use super::store::BatchRecord;
use crate::engine::http::error::CallError;
use crate::engine::http::per_call::Provider;

/// A batch the provider accepted.
#[derive(Debug, Clone)]
pub struct Submitted<R> {
    pub batch_id: String,
    /// The provider's status of it.
    pub state: String,
    /// Where its results will be found, as far as known yet.
    pub refs: R,
}

/// A batch's state at one poll.
#[derive(Debug, Clone)]
pub struct Polled<R> {
    /// The provider's status.
    pub state: String,
    /// Requests in all (0 when the provider does not say), answered, and
    /// not answered (failed, expired, cancelled).
    pub total: u32,
    pub completed: u32,
    pub failed: u32,
    pub refs: R,
}

/// The future of a batch API exchange: `Send`, as the core runs it in its
/// own tasks.
pub trait Exchange<T>: Future<Output = Result<T, CallError>> + Send {}
impl<T, F: Future<Output = Result<T, CallError>> + Send> Exchange<T> for F {}

/// One provider's batch API.
pub trait BatchProvider: fmt::Debug + Clone + Send + Sync + Sized + 'static {
    /// The engine kind, as `Status`, logs, the config file and the call
    /// cache name it.
    const KIND: &'static str;
    /// The provider's limit of requests in one batch.
    const MAX_REQUESTS: usize;
    /// The provider's limit of bytes of one batch.
    const MAX_BYTES: usize;
    /// Bytes a batch takes beyond its requests (each request is counted
    /// with one separator byte).
    const ENVELOPE_BYTES: usize;
    /// States after which a batch changes no more.
    const TERMINAL: &'static [&'static str];
    /// Terminal states in which no request of the batch will be answered:
    /// a call whose request is in such a batch is submitted again.
    const DEAD: &'static [&'static str];

    /// Settings only this provider has.
    type Options: Clone + fmt::Debug + Default + Send + Sync + 'static;
    /// Where a batch's results are found, kept in the store with the batch.
    type Refs: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The provider's online API, whose requests the batch holds: request
    /// bodies, headers, replies, error bodies (and the fallback engine's
    /// provider).
    type Online: Provider;

    /// The provider and its online API for `settings`.
    fn new(settings: &BatchSettings<Self>) -> (Self, Self::Online);

    /// One request as the batch holds it, without separator; `key` is its
    /// custom id, `body` the online request's body.
    fn request_line(&self, key: &str, body: Map<String, Value>) -> String;

    /// Submits a batch of `requests`; `engine` names the engine (metadata).
    fn submit(
        &self,
        http: &BatchHttp<Self::Online>,
        engine: &str,
        requests: &[Request],
    ) -> impl Exchange<Submitted<Self::Refs>>;

    /// The batch's state now.
    fn poll(
        &self,
        http: &BatchHttp<Self::Online>,
        batch: &BatchRecord<Self::Refs>,
    ) -> impl Exchange<Polled<Self::Refs>>;

    /// Asks the provider to cancel the batch.
    fn cancel(&self, http: &BatchHttp<Self::Online>, batch_id: &str) -> impl Exchange<()>;

    /// The result files (JSON lines, one per request) of an ended batch.
    fn download(
        &self,
        http: &BatchHttp<Self::Online>,
        batch: &BatchRecord<Self::Refs>,
    ) -> impl Exchange<Vec<Vec<u8>>>;

    /// How the request of one result line (which has a `custom_id`) ended.
    fn outcome(&self, http: &BatchHttp<Self::Online>, line: &Value) -> Outcome;
}
