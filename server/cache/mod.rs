//! The call cache: replies of engine calls kept on disk by request, so that
//! a re-run (or another job) never pays for the same request twice, and
//! in-flight coalescing, so that identical calls at the same moment are sent
//! once.
//!
//! - `key`: the cache key of a call (engine kind, model, canonical request),
//!   shared with every engine that stores or looks up replies;
//! - `store`: the `redb` database (`calls.redb`) with its size cap,
//!   oldest-first eviction and a checksum per record (why redb: see there);
//! - `disk`: opening a redb file so that damage never stops the server (a
//!   damaged file is moved aside and replaced; redb panics become errors);
//! - `coalesce`: identical calls in flight wait for the first one's reply;
//! - `group_commit`: writes that come during a commit share the next one.
//!
//! A job chooses how it uses the cache (`JobSpec.cache`): `use` (read,
//! write, coalesce), `refresh` (write and coalesce, never read) or `off`.
//! Replies are written before they are delivered: a crash between the two
//! costs nothing on the re-run.
//!
//! No cache error stops the server or a job. A record that fails its
//! checksum is a miss and is dropped; a store that cannot be read (an error
//! or a panic inside redb) is a miss, and is moved aside and replaced on the
//! blocking pool while the calls go to their engines; a failed write is
//! logged and skipped (the replies are delivered all the same).

pub(crate) mod coalesce;
pub(crate) mod disk;
mod group_commit;
pub(crate) mod key;
pub(crate) mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) use coalesce::Coalescer;
pub(crate) use key::{call_key, CallKey};
pub(crate) use store::{CachedReply, Lookup, Store, StoreError, StoreSize};

use group_commit::{Committer, Entries, Pending};

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
    disk: Option<Arc<Disk>>,
}

/// The cache directory and the store open in it; `None` while a damaged
/// store is being replaced, or when no fresh one could be made (then the
/// server runs without a cache, having said so).
#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    max_bytes: u64,
    store: RwLock<Option<Arc<Store>>>,
    /// Writes waiting for the next commit.
    pending: Mutex<Pending>,
}

impl CallCache {
    /// Opens the store in `dir`, or keeps none without a directory. A
    /// damaged file is moved aside and replaced; a file another server holds
    /// is `StoreError::Db` with `DatabaseAlreadyOpen`.
    pub fn open(dir: Option<&Path>, max_bytes: u64) -> Result<Self, StoreError> {
        let Some(dir) = dir else {
            return Ok(CallCache::default());
        };
        let store = Store::open(dir, max_bytes)?;
        tracing::info!(path = %store.path().display(), max_bytes, "call cache opened");
        Ok(CallCache {
            disk: Some(Arc::new(Disk {
                dir: dir.to_path_buf(),
                max_bytes,
                store: RwLock::new(Some(Arc::new(store))),
                pending: Mutex::default(),
            })),
        })
    }

    /// Like [`CallCache::open`], except that a store another running server
    /// holds is not shared: this server then keeps no cache on disk, and
    /// says so.
    pub fn open_unshared(dir: Option<&Path>, max_bytes: u64) -> Result<Self, StoreError> {
        match CallCache::open(dir, max_bytes) {
            Err(StoreError::Db { source, path })
                if matches!(*source, redb::Error::DatabaseAlreadyOpen) =>
            {
                tracing::warn!(path = %path.display(),
                    "call cache is open in another server; this one keeps no cache on disk \
                     (identical calls in flight are still sent once)");
                Ok(CallCache::default())
            }
            opened => opened,
        }
    }

    /// The reply cached under `key`. Anything but a verified reply is a
    /// miss: the call is sent. A damaged record is dropped; a store that
    /// cannot be read is replaced.
    pub fn get(&self, key: &CallKey) -> Option<CachedReply> {
        let disk = self.disk.as_ref()?;
        let store = disk.current()?;
        match store.get(key) {
            Ok(Lookup::Hit(reply)) => Some(reply),
            Ok(Lookup::Miss) => None,
            Ok(Lookup::Damaged) => {
                tracing::warn!(key = %key::hex(key),
                    "call cache record failed its checksum; dropping it and sending the call");
                let key = *key;
                off_the_actor(move || {
                    if let Err(err) = store.remove_damaged(&key) {
                        tracing::warn!(%err, "call cache: dropping a damaged record failed");
                    }
                });
                None
            }
            Err(err) => {
                tracing::warn!(%err, key = %key::hex(key), "call cache read failed; sending the call");
                disk.replace(&store);
                None
            }
        }
    }

    /// Writes replies and returns once they are committed (or the write
    /// failed, which is logged: the replies are delivered anyway). Writes
    /// that come while another commits share the next commit
    /// (`group_commit`).
    pub async fn put_many(&self, entries: Vec<(CallKey, CachedReply)>) {
        let Some(disk) = &self.disk else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        group_commit::write(disk, entries).await;
    }

    /// Directory, size and cap, for `Status`; None without a store.
    pub fn describe(&self) -> Option<(PathBuf, StoreSize, u64)> {
        let disk = self.disk.as_ref()?;
        let size = disk
            .current()
            .and_then(|store| store.size().ok())
            .unwrap_or_default();
        Some((disk.dir.clone(), size, disk.max_bytes))
    }
}

impl Disk {
    fn current(&self) -> Option<Arc<Store>> {
        self.store.read().ok()?.clone()
    }

    /// Takes `broken` out of service (if it is still the current store) and
    /// moves its file aside for a fresh one, off the actor's thread. Until
    /// the fresh store is open, reads are misses and writes are skipped.
    fn replace(self: &Arc<Self>, broken: &Arc<Store>) {
        {
            let Ok(mut slot) = self.store.write() else {
                return;
            };
            match &*slot {
                Some(current) if Arc::ptr_eq(current, broken) => *slot = None,
                // Already replaced (or being replaced) after another failure.
                _ => return,
            }
        }
        let disk = self.clone();
        let path = broken.path().to_path_buf();
        off_the_actor(move || {
            let fresh = disk::move_aside(&path)
                .map_err(|err| format!("cannot move it aside: {err}"))
                .and_then(|aside| {
                    tracing::warn!(path = %path.display(), aside = %aside.display(),
                        "call cache cannot be read; moved it aside and starting a fresh one");
                    Store::open(&disk.dir, disk.max_bytes).map_err(|err| err.to_string())
                });
            match fresh {
                Ok(store) => {
                    if let Ok(mut slot) = disk.store.write() {
                        *slot = Some(Arc::new(store));
                    }
                }
                Err(err) => tracing::warn!(path = %path.display(), %err,
                    "call cache replaced by none: this server runs on without a cache on disk"),
            }
        });
    }
}

impl Committer for Disk {
    /// One transaction for the group, on the blocking pool; skipped while
    /// no store is open. A failed write is logged (the replies are
    /// delivered uncached), and a damaged store replaced.
    async fn commit(self: Arc<Self>, entries: Entries) {
        let Some(store) = self.current() else {
            return;
        };
        let written = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.put_many(&entries)).await
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(%err, "call cache write failed; the replies are delivered uncached");
                if err.is_damage() {
                    self.replace(&store);
                }
            }
            Err(err) => tracing::warn!(%err, "call cache write task failed"),
        }
    }

    fn pending(&self) -> &Mutex<Pending> {
        &self.pending
    }
}

/// Runs `work` on tokio's blocking pool (from the scheduler's actor, which
/// must not wait on the disk), or here outside a runtime.
fn off_the_actor(work: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> CachedReply {
        CachedReply::new(text.into(), "{}".into(), "m".into(), 3, 1, false)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_fails_a_read_is_replaced_by_an_empty_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = CallCache::open(Some(dir.path()), 1 << 20).expect("open");
        let key = [9u8; 32];
        cache.put_many(vec![(key, reply("kept"))]).await;
        assert_eq!(cache.get(&key).map(|r| r.text), Some("kept".into()));
        let disk = cache.disk.clone().expect("a disk");
        let store = disk.current().expect("a store");
        disk.replace(&store);
        // Misses (never an error) until the fresh store is in place.
        assert_eq!(cache.get(&key), None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while disk.current().is_none() {
            assert!(std::time::Instant::now() < deadline, "no fresh store");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(cache.get(&key), None, "the fresh store is empty");
        assert!(dir.path().join("calls.redb.damaged").exists());
        cache.put_many(vec![(key, reply("again"))]).await;
        assert_eq!(cache.get(&key).map(|r| r.text), Some("again".into()));
    }
}
