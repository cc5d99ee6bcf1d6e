//! The reuse book: the call cache on disk, the calls in flight by cache key
//! with the identical calls waiting on them (coalescing), the replies to
//! store before delivery, and the counts of calls answered without a
//! request. Its state changes only here; routing a call through it is
//! `reuse`.

use rustc_hash::FxHashMap;

use crate::batcher::QueuedCall;
use crate::cache::{CachedReply, CallCache, CallKey, Coalescer};
use crate::cost::reply_model;
use crate::engine::CallStats;
use crate::pb::v1::{engine_reply, CacheStatus, EngineReply};

/// A reply to write to the cache before it is delivered: its key, and the
/// model it was asked of.
#[derive(Debug, Clone)]
pub(crate) struct CacheWrite {
    pub key: CallKey,
    pub model: String,
}

impl CacheWrite {
    /// The record to store for a successful reply; None for an error.
    pub fn record(&self, reply: &EngineReply, stats: &CallStats) -> Option<(CallKey, CachedReply)> {
        let (text, embeddings) = match &reply.outcome {
            Some(engine_reply::Outcome::Text(text)) => (text.clone(), None),
            Some(engine_reply::Outcome::Embeddings(embeddings)) => {
                let vectors = embeddings.vectors.iter().map(|v| v.values.clone());
                (String::new(), Some(vectors.collect()))
            }
            _ => return None,
        };
        let model = reply_model(&reply.metadata_json).unwrap_or_else(|| self.model.clone());
        let mut record = CachedReply::new(
            text,
            reply.metadata_json.clone(),
            model,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.batch_priced,
        );
        record.embeddings = embeddings;
        Some((self.key, record))
    }
}

#[derive(Debug, Default)]
pub(super) struct ReuseBook {
    /// The call cache on disk (none without --cache-dir).
    cache: CallCache,
    /// Calls in flight by cache key, with the identical calls waiting on them.
    coalescer: Coalescer<QueuedCall>,
    /// Replies to store before delivery, by the server call id of the call
    /// that leads its key.
    cache_writes: FxHashMap<u64, CacheWrite>,
    /// Calls answered from the cache since the server started.
    cache_hits: u64,
    /// Calls answered by an identical call in flight since the server started.
    coalesced: u64,
    /// Replies to kept requests (see `requeue`), by job and key, for the
    /// next identical call of the job (the item's next run) when it comes
    /// after the reply, whatever the cache mode and with no cache on disk.
    /// One use each; a job's are dropped when it ends.
    kept_replies: FxHashMap<(u64, CallKey), CachedReply>,
}

impl ReuseBook {
    /// Uses `cache` as the call cache on disk.
    pub fn set_cache(&mut self, cache: CallCache) {
        self.cache = cache;
    }

    /// A handle on the call cache, for a batch to store its replies.
    pub fn cache(&self) -> CallCache {
        self.cache.clone()
    }

    /// The cached reply of `key`, counted as a hit.
    pub fn hit(&mut self, key: &CallKey) -> Option<CachedReply> {
        let hit = self.cache.get(key)?;
        self.cache_hits += 1;
        Some(hit)
    }

    /// Whether a call with `key` is in flight.
    pub fn is_in_flight(&self, key: &CallKey) -> bool {
        self.coalescer.contains(key)
    }

    /// Whether `call_id` leads a flight (its reply has followers to answer).
    pub fn is_leader(&self, call_id: u64) -> bool {
        self.coalescer.is_leader(call_id)
    }

    /// `queued` waits for the reply of the call in flight for `key`; false
    /// (and `queued` dropped) when none is.
    pub fn follow(&mut self, key: &CallKey, queued: QueuedCall) -> bool {
        self.coalescer.follow(key, queued).is_ok()
    }

    /// Call `call_id` is sent for `key`; its reply is stored by `write`.
    pub fn lead(&mut self, key: CallKey, call_id: u64, write: CacheWrite) {
        self.coalescer.lead(key, call_id);
        self.cache_writes.insert(call_id, write);
    }

    /// The leader `call_id` was answered or gone: its reply is no longer
    /// stored here, and the calls that waited on it are returned.
    pub fn land(&mut self, call_id: u64) -> Option<Vec<QueuedCall>> {
        self.cache_writes.remove(&call_id);
        self.coalescer.land(call_id).map(|(_, followers)| followers)
    }

    /// Keeps the reply `record` of a kept request of job `job_id`.
    pub fn keep_reply(&mut self, job_id: u64, (key, record): (CallKey, CachedReply)) {
        self.kept_replies.insert((job_id, key), record);
    }

    /// The kept reply of job `job_id` for `key`, taken, counted as a hit.
    pub fn take_kept_reply(&mut self, job_id: u64, key: &CallKey) -> Option<CachedReply> {
        let reply = self.kept_replies.remove(&(job_id, *key))?;
        self.cache_hits += 1;
        Some(reply)
    }

    /// Job `job_id` ended: its kept replies are dropped.
    pub fn drop_kept_replies(&mut self, job_id: u64) {
        if !self.kept_replies.is_empty() {
            self.kept_replies.retain(|(job, _), _| *job != job_id);
        }
    }

    /// Counts a call answered by an identical call in flight.
    pub fn count_coalesced(&mut self) {
        self.coalesced += 1;
    }

    /// How the reply of leader `call_id` is stored, if it is.
    pub fn write_of(&self, call_id: u64) -> Option<CacheWrite> {
        self.cache_writes.get(&call_id).cloned()
    }

    pub fn status(&self) -> CacheStatus {
        let mut status = CacheStatus {
            hits: self.cache_hits,
            coalesced: self.coalesced,
            ..Default::default()
        };
        if let Some((dir, size, max_bytes)) = self.cache.describe() {
            status.dir = dir.display().to_string();
            status.entries = size.entries;
            status.bytes = size.bytes;
            status.max_bytes = max_bytes;
        }
        status
    }
}
