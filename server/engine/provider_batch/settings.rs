//! Settings of a provider-batch engine, whatever its provider: where it
//! sends, how it polls, how large its batches are, where expired requests
//! go. What only one provider has is its [`BatchProvider::Options`].

use std::time::Duration;

use super::provider::BatchProvider;
use crate::engine::http::ApiKey;

/// Times a request that expired or failed for a passing reason goes into a
/// next batch (when there is no fallback engine) before its call fails.
pub const MAX_RESUBMITS: u32 = 2;

/// Settings of one provider-batch engine of provider `P` (see
/// docs/engines.md).
#[derive(Debug, Clone)]
pub struct BatchSettings<P: BatchProvider> {
    /// Base URL before the provider's batch paths, without a trailing slash.
    pub base_url: String,
    /// Model asked for when a call's kwargs name none.
    pub model: String,
    /// Sent in the provider's authentication header; None sends none.
    pub api_key: Option<ApiKey>,
    /// First wait between two polls of a batch's state.
    pub poll_interval: Duration,
    /// Longest wait between two polls (each wait is 1.5 times the last).
    pub poll_max_interval: Duration,
    /// Requests in one provider batch at most (the scheduler's batch size);
    /// at most the provider's [`BatchProvider::MAX_REQUESTS`].
    pub max_requests_per_batch: usize,
    /// Bytes of one provider batch at most (its file, or its create
    /// request's body); at most the provider's [`BatchProvider::MAX_BYTES`].
    pub max_batch_bytes: usize,
    /// How long engine calls wait for more calls before they leave as a
    /// batch, unless every running item is parked on a call before that.
    pub max_queue_delay: Duration,
    /// Batches in flight at once.
    pub max_concurrency: usize,
    /// An online engine of the same provider that gets requests that
    /// expired or failed for a passing reason; None: they go into the next
    /// batch.
    pub fallback: Option<String>,
    /// Retries of one batch API request (429, 5xx, timeouts).
    pub max_retries: u32,
    /// Time limit of one batch API request (uploads and downloads included).
    pub timeout: Duration,
    /// Fail calls with kwargs that are not passed on, instead of dropping them.
    pub strict: bool,
    /// Deadlines (see `deadline`): the batch turnaround planned with
    /// before any batch of the engine has completed.
    pub turnaround_guess: Duration,
    /// Deadlines: time kept in hand before a job's deadline.
    pub deadline_margin: Duration,
    /// Deadlines: longest wait for a cancelled (hedged) batch to end and
    /// hand over what it completed before its calls go online regardless.
    pub cancel_wait: Duration,
    /// Deadlines: the time one request to the fallback takes.
    pub online_latency: Duration,
    /// What only this provider has.
    pub options: P::Options,
}

impl<P: BatchProvider> BatchSettings<P> {
    /// Settings with the defaults of the config file for `base_url` and `model`.
    pub fn new(base_url: &str, model: &str) -> Self {
        BatchSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: None,
            poll_interval: Duration::from_secs(10),
            poll_max_interval: Duration::from_secs(300),
            max_requests_per_batch: P::MAX_REQUESTS,
            max_batch_bytes: P::MAX_BYTES,
            max_queue_delay: Duration::from_secs(600),
            max_concurrency: 64,
            fallback: None,
            max_retries: 5,
            timeout: Duration::from_secs(600),
            strict: false,
            turnaround_guess: Duration::from_secs(3600),
            deadline_margin: Duration::from_secs(300),
            cancel_wait: Duration::from_secs(600),
            online_latency: Duration::from_secs(60),
            options: P::Options::default(),
        }
    }
}
