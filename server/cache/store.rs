//! The call cache on disk: one `redb` database file, `calls.redb`, in the
//! cache directory.
//!
//! Why redb: it is pure Rust (no C toolchain, nothing to bundle), ACID with
//! copy-on-write pages and checksummed commits, so a process killed at any
//! point leaves either the old or the new state and never a torn one, and it
//! is small and well kept. SQLite through rusqlite would do the same job with
//! a bundled C build and SQL we do not need: the cache is a key-value map.
//!
//! Tables: `replies` (call key → reply record), `order` (insertion sequence
//! → call key, for evicting the oldest first) and `meta` (next sequence,
//! total bytes, entries). A write commits before it returns
//! (`Durability::Immediate`), so a reply written before it is delivered
//! survives a crash right after.
//!
//! A cache is right or empty. Every record carries a SHA-256 of its key and
//! its body, checked on each read: a record that fails (a bit flipped on
//! disk, a value found under another key, a record of an older format) is a
//! miss ([`Lookup::Damaged`]), and the caller drops it. The file is opened
//! by `disk::open_or_replace` (every page's checksum verified, a damaged
//! file moved aside), and every redb call runs under `disk::guarded`, so a
//! panic inside redb is an error here, never a crash.

// The table closures and `meta_get` return redb's own (large) error, as
// redb's calls do; `Store::write` boxes it into `StoreError` in one place.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::disk::{self, OpenError};
use super::key::CallKey;

const REPLIES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("replies");
const ORDER: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("order");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// File name of the cache database in the cache directory.
pub(crate) const FILE_NAME: &str = "calls.redb";

/// Bytes counted per entry besides its value: the key twice (replies and
/// order) and the sequence number.
const ENTRY_OVERHEAD: u64 = 32 + 32 + 8;

/// First byte of a record: its format. A record is this byte, the SHA-256
/// of (key, body), then the body (the reply as JSON).
const RECORD_FORMAT: u8 = 1;
const CHECKSUM_LEN: usize = 32;
const HEADER_LEN: usize = 1 + CHECKSUM_LEN;

/// A cached reply: the text and what the engine said about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedReply {
    pub text: String,
    /// The vectors of an embedding call's reply (`text` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<Vec<Vec<f64>>>,
    /// The engine's reply metadata (usage, model, finish reason) as sent.
    pub metadata_json: String,
    /// The model that answered (for pricing what a hit saved).
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Whether the reply was priced at the batch discount.
    #[serde(default)]
    pub batch_priced: bool,
    /// Insertion sequence (its key in `order`).
    #[serde(default)]
    seq: u64,
}

impl CachedReply {
    pub fn new(
        text: String,
        metadata_json: String,
        model: String,
        prompt_tokens: u64,
        completion_tokens: u64,
        batch_priced: bool,
    ) -> Self {
        CachedReply {
            text,
            embeddings: None,
            metadata_json,
            model,
            prompt_tokens,
            completion_tokens,
            batch_priced,
            seq: 0,
        }
    }
}

/// Why the cache could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("cache directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cache database {path}: {source}")]
    Db {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("cache database {path}: redb panicked: {message}")]
    Panicked { path: PathBuf, message: String },
}

impl StoreError {
    /// True when the file itself is damaged or redb's state is in doubt (a
    /// panic, a corrupted page, an earlier I/O failure redb now repeats):
    /// the store must be moved aside, not used again. A plain I/O error (a
    /// full disk) is not: the write is skipped, the store kept.
    pub fn is_damage(&self) -> bool {
        match self {
            StoreError::Dir { .. } => false,
            StoreError::Panicked { .. } => true,
            StoreError::Db { source, .. } => matches!(
                **source,
                redb::Error::Corrupted(_) | redb::Error::PreviousIo | redb::Error::LockPoisoned(_)
            ),
        }
    }
}

/// What a read found under a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    Hit(CachedReply),
    Miss,
    /// A record is there, but its checksum fails: it is not this key's
    /// reply (or not intact). A miss, and the caller drops it.
    Damaged,
}

/// Size and entries of the store, for `Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoreSize {
    pub entries: u64,
    pub bytes: u64,
}

/// The open database with its size cap.
#[derive(Debug)]
pub(crate) struct Store {
    db: Database,
    path: PathBuf,
    max_bytes: u64,
}

impl Store {
    /// Opens (creating if needed) `dir/calls.redb`; a damaged file is moved
    /// aside and replaced (`disk::open_or_replace`).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, StoreError> {
        let store = Self::open_file(dir, max_bytes)?;
        // Create the tables, so that reads never meet a missing one. A file
        // whose pages are intact but whose tables are not ours (another
        // program's, another layout) fails here: it is moved aside too.
        match store.write(|_, _, _| Ok(())) {
            Ok(()) => Ok(store),
            Err(err) => {
                let path = store.path.clone();
                drop(store);
                let aside = disk::move_aside(&path).map_err(|source| StoreError::Dir {
                    dir: dir.to_path_buf(),
                    source,
                })?;
                tracing::warn!(path = %path.display(), aside = %aside.display(), %err,
                    "call cache tables cannot be used; moved the store aside and started a fresh one");
                let store = Self::open_file(dir, max_bytes)?;
                store.write(|_, _, _| Ok(()))?;
                Ok(store)
            }
        }
    }

    fn open_file(dir: &Path, max_bytes: u64) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let db = disk::open_or_replace(&path).map_err(|err| match err {
            OpenError::Locked { path } => StoreError::Db {
                path,
                source: Box::new(redb::Error::DatabaseAlreadyOpen),
            },
            OpenError::Unusable { message, .. } => StoreError::Dir {
                dir: dir.to_path_buf(),
                source: std::io::Error::other(message),
            },
        })?;
        Ok(Store {
            db,
            path,
            max_bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_error(&self, err: impl Into<redb::Error>) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source: Box::new(err.into()),
        }
    }

    /// Runs a redb call; a panic inside it is an error.
    fn guarded<T>(&self, body: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        disk::guarded(body).unwrap_or_else(|message| {
            Err(StoreError::Panicked {
                path: self.path.clone(),
                message,
            })
        })
    }

    /// What is cached under `key`: a verified reply, nothing, or a record
    /// that fails its checksum.
    pub fn get(&self, key: &CallKey) -> Result<Lookup, StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
            let table = txn.open_table(REPLIES).map_err(|e| self.db_error(e))?;
            let Some(value) = table.get(key).map_err(|e| self.db_error(e))? else {
                return Ok(Lookup::Miss);
            };
            Ok(match decode(key, value.value()) {
                Some(reply) => Lookup::Hit(reply),
                None => Lookup::Damaged,
            })
        })
    }

    /// Drops the record under `key` if it still fails its checksum (a
    /// verified reply written since is kept).
    pub fn remove_damaged(&self, key: &CallKey) -> Result<(), StoreError> {
        self.write(|replies, _, meta| {
            let damaged = match replies.get(key)? {
                Some(value) => decode(key, value.value())
                    .is_none()
                    .then_some(value.value().len() as u64),
                None => None,
            };
            if let Some(len) = damaged {
                replies.remove(key)?;
                // Its `order` entry cannot be read from the damaged record:
                // it stays, and eviction skips it when it comes.
                let bytes = meta_get(meta, "bytes")?;
                let count = meta_get(meta, "entries")?;
                meta.insert("bytes", bytes.saturating_sub(len + ENTRY_OVERHEAD))?;
                meta.insert("entries", count.saturating_sub(1))?;
            }
            Ok(())
        })
    }

    /// Entries and bytes held now.
    pub fn size(&self) -> Result<StoreSize, StoreError> {
        self.guarded(|| self.read_size())
    }

    fn read_size(&self) -> Result<StoreSize, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let meta = txn.open_table(META).map_err(|e| self.db_error(e))?;
        let read = |name: &str| -> Result<u64, StoreError> {
            Ok(meta
                .get(name)
                .map_err(|e| self.db_error(e))?
                .map(|v| v.value())
                .unwrap_or(0))
        };
        Ok(StoreSize {
            entries: read("entries")?,
            bytes: read("bytes")?,
        })
    }

    /// Writes `entries` (replacing what their keys held) in one committed
    /// transaction, then evicts the oldest entries beyond the size cap.
    pub fn put_many(&self, entries: &[(CallKey, CachedReply)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let max_bytes = self.max_bytes;
        self.write(|replies, order, meta| {
            let mut next_seq = meta_get(meta, "seq")?;
            let mut bytes = meta_get(meta, "bytes")?;
            let mut count = meta_get(meta, "entries")?;
            for (key, reply) in entries {
                if let Some(old) = replies.remove(key)? {
                    let old_len = old.value().len() as u64;
                    let old_seq = decode(key, old.value()).map(|r| r.seq);
                    drop(old);
                    if let Some(seq) = old_seq {
                        order.remove(seq)?;
                    }
                    bytes = bytes.saturating_sub(old_len + ENTRY_OVERHEAD);
                    count = count.saturating_sub(1);
                }
                let mut record = reply.clone();
                record.seq = next_seq;
                let value = encode(key, &record);
                replies.insert(key, value.as_slice())?;
                order.insert(next_seq, key)?;
                next_seq += 1;
                bytes += value.len() as u64 + ENTRY_OVERHEAD;
                count += 1;
            }
            while bytes > max_bytes {
                let Some((_, oldest)) = order.pop_first()? else {
                    break;
                };
                let key = *oldest.value();
                drop(oldest);
                if let Some(old) = replies.remove(&key)? {
                    bytes = bytes.saturating_sub(old.value().len() as u64 + ENTRY_OVERHEAD);
                    count = count.saturating_sub(1);
                }
            }
            if order.is_empty()? {
                // Nothing left to evict: a count damaged on disk must not
                // make every later write evict everything.
                bytes = 0;
            }
            meta.insert("seq", next_seq)?;
            meta.insert("bytes", bytes)?;
            meta.insert("entries", count)?;
            Ok(())
        })
    }

    /// Runs `body` in a write transaction over the three tables and commits.
    fn write(
        &self,
        body: impl FnOnce(
            &mut redb::Table<&[u8; 32], &[u8]>,
            &mut redb::Table<u64, &[u8; 32]>,
            &mut redb::Table<&str, u64>,
        ) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_write().map_err(|e| self.db_error(e))?;
            {
                let mut replies = txn.open_table(REPLIES).map_err(|e| self.db_error(e))?;
                let mut order = txn.open_table(ORDER).map_err(|e| self.db_error(e))?;
                let mut meta = txn.open_table(META).map_err(|e| self.db_error(e))?;
                body(&mut replies, &mut order, &mut meta).map_err(|e| self.db_error(e))?;
            }
            txn.commit().map_err(|e| self.db_error(e))
        })
    }
}

fn meta_get(meta: &redb::Table<&str, u64>, name: &str) -> Result<u64, redb::Error> {
    Ok(meta.get(name)?.map(|v| v.value()).unwrap_or(0))
}

/// The checksum of a record: SHA-256 over the key and the body, so that a
/// body found under another key fails as surely as a damaged one.
fn checksum(key: &CallKey, body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(body);
    let mut sum = [0u8; CHECKSUM_LEN];
    sum.copy_from_slice(&hasher.finalize());
    sum
}

/// The stored form of `reply` under `key`.
fn encode(key: &CallKey, reply: &CachedReply) -> Vec<u8> {
    let body = serde_json::to_vec(reply).expect("a reply record serializes");
    let mut record = Vec::with_capacity(HEADER_LEN + body.len());
    record.push(RECORD_FORMAT);
    record.extend_from_slice(&checksum(key, &body));
    record.extend_from_slice(&body);
    record
}

/// The reply in `record` if it is intact and was written under `key`.
fn decode(key: &CallKey, record: &[u8]) -> Option<CachedReply> {
    if record.len() < HEADER_LEN || record[0] != RECORD_FORMAT {
        return None;
    }
    let (sum, body) = record[1..].split_at(CHECKSUM_LEN);
    if sum != checksum(key, body) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> CachedReply {
        CachedReply::new(text.into(), "{}".into(), "m".into(), 3, 1, false)
    }

    fn hit(lookup: Lookup) -> CachedReply {
        match lookup {
            Lookup::Hit(reply) => reply,
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    /// Writes raw `bytes` under `key`, as damage on disk would leave them.
    fn tamper(store: &Store, key: &CallKey, bytes: &[u8]) {
        store
            .write(|replies, _, _| {
                replies.insert(key, bytes)?;
                Ok(())
            })
            .expect("raw write");
    }

    fn raw(store: &Store, key: &CallKey) -> Vec<u8> {
        let txn = store.db.begin_read().expect("read");
        let table = txn.open_table(REPLIES).expect("table");
        let value = table.get(key).expect("get").expect("present");
        value.value().to_vec()
    }

    #[test]
    fn a_written_reply_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = [7u8; 32];
        {
            let store = Store::open(dir.path(), 1 << 20).expect("open");
            assert_eq!(store.get(&key).expect("get"), Lookup::Miss);
            store.put_many(&[(key, reply("hello"))]).expect("put");
        }
        let store = Store::open(dir.path(), 1 << 20).expect("reopen");
        let got = hit(store.get(&key).expect("get"));
        assert_eq!(got.text, "hello");
        assert_eq!((got.prompt_tokens, got.completion_tokens), (3, 1));
        assert_eq!(store.size().expect("size").entries, 1);
    }

    #[test]
    fn overwriting_a_key_keeps_one_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        let key = [1u8; 32];
        store.put_many(&[(key, reply("old"))]).expect("put");
        store.put_many(&[(key, reply("new"))]).expect("put");
        assert_eq!(hit(store.get(&key).expect("get")).text, "new");
        assert_eq!(store.size().expect("size").entries, 1);
    }

    #[test]
    fn the_oldest_entries_are_evicted_beyond_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let one = {
            let probe = Store::open(&dir.path().join("probe"), u64::MAX).expect("open");
            probe.put_many(&[([0u8; 32], reply("x"))]).expect("put");
            probe.size().expect("size").bytes
        };
        // Room for three entries of this size.
        let store = Store::open(&dir.path().join("capped"), one * 3).expect("open");
        for i in 0..5u8 {
            store.put_many(&[([i; 32], reply("x"))]).expect("put");
        }
        let size = store.size().expect("size");
        assert_eq!(size.entries, 3);
        assert!(size.bytes <= one * 3);
        assert_eq!(
            store.get(&[0; 32]).expect("get"),
            Lookup::Miss,
            "oldest evicted"
        );
        assert_eq!(
            store.get(&[1; 32]).expect("get"),
            Lookup::Miss,
            "second oldest evicted"
        );
        hit(store.get(&[4; 32]).expect("get"));
    }

    #[test]
    fn every_flipped_bit_of_a_record_fails_its_checksum_and_the_record_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        let key = [3u8; 32];
        store.put_many(&[(key, reply("the answer"))]).expect("put");
        let good = raw(&store, &key);
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            tamper(&store, &key, &bad);
            assert_eq!(store.get(&key).expect("get"), Lookup::Damaged, "bit {bit}");
        }
        store.remove_damaged(&key).expect("remove");
        assert_eq!(store.get(&key).expect("get"), Lookup::Miss);
        assert_eq!(store.size().expect("size").entries, 0);
    }

    #[test]
    fn a_record_found_under_another_key_is_damaged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        let (a, b) = ([1u8; 32], [2u8; 32]);
        store.put_many(&[(a, reply("a's reply"))]).expect("put");
        tamper(&store, &b, &raw(&store, &a));
        assert_eq!(store.get(&b).expect("get"), Lookup::Damaged);
        assert_eq!(hit(store.get(&a).expect("get")).text, "a's reply");
    }

    #[test]
    fn a_record_of_the_unchecked_format_is_damaged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        let key = [4u8; 32];
        let old = serde_json::to_vec(&reply("unchecked")).expect("json");
        tamper(&store, &key, &old);
        assert_eq!(store.get(&key).expect("get"), Lookup::Damaged);
    }

    #[test]
    fn removing_a_damaged_key_keeps_a_verified_reply_written_since() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        let key = [5u8; 32];
        store.put_many(&[(key, reply("fresh"))]).expect("put");
        store.remove_damaged(&key).expect("remove");
        assert_eq!(hit(store.get(&key).expect("get")).text, "fresh");
    }

    #[test]
    fn a_database_with_tables_of_another_layout_is_moved_aside() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let db = redb::Database::create(dir.path().join(FILE_NAME)).expect("create");
            let other: TableDefinition<u64, u64> = TableDefinition::new("replies");
            let txn = db.begin_write().expect("write");
            txn.open_table(other)
                .expect("table")
                .insert(1, 2)
                .expect("insert");
            txn.commit().expect("commit");
        }
        let store = Store::open(dir.path(), 1 << 20).expect("replaced");
        assert_eq!(store.get(&[1; 32]).expect("get"), Lookup::Miss);
        assert!(dir.path().join("calls.redb.damaged").exists());
    }

    #[test]
    fn a_damaged_byte_count_does_not_evict_every_later_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), 1 << 20).expect("open");
        store
            .write(|_, _, meta| {
                meta.insert("bytes", u64::MAX / 2)?;
                Ok(())
            })
            .expect("raw write");
        store.put_many(&[([1; 32], reply("one"))]).expect("put");
        store.put_many(&[([2; 32], reply("two"))]).expect("put");
        hit(store.get(&[2; 32]).expect("get"));
        assert!(store.size().expect("size").bytes < 1 << 20);
    }
}
