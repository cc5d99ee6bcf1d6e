//! The call cache: replies of engine calls kept on disk by request, so that
//! a re-run (or another job) never pays for the same request twice, and
//! in-flight coalescing, so that identical calls at the same moment are sent
//! once.
//!
//! - `key`: the cache key of a call (engine kind, model, canonical request),
//!   shared with every engine that stores or looks up replies;
//! - `store`: the `redb` database (`calls.redb`) with its size cap and
//!   oldest-first eviction (why redb: see there);
//! - `coalesce`: identical calls in flight wait for the first one's reply.
//!
//! A job chooses how it uses the cache (`JobSpec.cache`): `use` (read,
//! write, coalesce), `refresh` (write and coalesce, never read) or `off`.
//! Replies are written before they are delivered: a crash between the two
//! costs nothing on the re-run.

pub(crate) mod coalesce;
pub(crate) mod key;
pub(crate) mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use coalesce::Coalescer;
pub(crate) use key::{call_key, CallKey};
pub(crate) use store::{CachedReply, Store, StoreError, StoreSize};

/// How a job's calls use the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Read hits, write replies, coalesce identical calls.
    Use,
    /// Never read; write (overwriting) and coalesce.
    Refresh,
    /// None of it.
    Off,
}

impl CacheMode {
    pub fn reads(self) -> bool {
        self == CacheMode::Use
    }

    pub fn writes(self) -> bool {
        self != CacheMode::Off
    }
}

/// Handle to the server's cache store, if it keeps one (`--cache-dir`).
/// Cheap to clone; reads are short read transactions, writes run on the
/// blocking pool.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallCache {
    store: Option<Arc<Store>>,
}

impl CallCache {
    /// Opens the store in `dir`, or keeps none without a directory.
    pub fn open(dir: Option<&Path>, max_bytes: u64) -> Result<Self, StoreError> {
        let store = dir
            .map(|dir| Store::open(dir, max_bytes).map(Arc::new))
            .transpose()?;
        if let Some(store) = &store {
            tracing::info!(path = %store.path().display(), max_bytes, "call cache opened");
        }
        Ok(CallCache { store })
    }

    /// The reply cached under `key`. A store that cannot be read is logged
    /// and treated as a miss: the call is sent.
    pub fn get(&self, key: &CallKey) -> Option<CachedReply> {
        let store = self.store.as_ref()?;
        match store.get(key) {
            Ok(hit) => hit,
            Err(err) => {
                tracing::warn!(%err, key = %key::hex(key), "call cache read failed; sending the call");
                None
            }
        }
    }

    /// Writes replies and returns once they are committed (or the write
    /// failed, which is logged: the replies are delivered anyway).
    pub async fn put_many(&self, entries: Vec<(CallKey, CachedReply)>) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        let written = tokio::task::spawn_blocking(move || store.put_many(&entries)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "call cache write failed"),
            Err(err) => tracing::warn!(%err, "call cache write task failed"),
        }
    }

    /// Directory, size and cap, for `Status`; None without a store.
    pub fn describe(&self) -> Option<(PathBuf, StoreSize, u64)> {
        let store = self.store.as_ref()?;
        let dir = store
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let size = store.size().unwrap_or_default();
        Some((dir, size, store.max_bytes()))
    }
}
