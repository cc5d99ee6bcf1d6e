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

// The table closures and `meta_get` return redb's own (large) error, as
// redb's calls do; `Store::write` boxes it into `StoreError` in one place.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::key::CallKey;

const REPLIES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("replies");
const ORDER: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("order");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// File name of the cache database in the cache directory.
pub(crate) const FILE_NAME: &str = "calls.redb";

/// Bytes counted per entry besides its value: the key twice (replies and
/// order) and the sequence number.
const ENTRY_OVERHEAD: u64 = 32 + 32 + 8;

/// A cached reply: the text and what the engine said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedReply {
    pub text: String,
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
    #[error("cache record: {0}")]
    Record(#[from] serde_json::Error),
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
    /// Opens (creating if needed) `dir/calls.redb`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|err| StoreError::Db {
            path: path.clone(),
            source: Box::new(err.into()),
        })?;
        let store = Store {
            db,
            path,
            max_bytes,
        };
        // Create the tables, so that reads never meet a missing one.
        store.write(|_, _, _| Ok(()))?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn db_error(&self, err: impl Into<redb::Error>) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source: Box::new(err.into()),
        }
    }

    /// The reply cached under `key`, if any.
    pub fn get(&self, key: &CallKey) -> Result<Option<CachedReply>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.db_error(e))?;
        let table = txn.open_table(REPLIES).map_err(|e| self.db_error(e))?;
        let Some(value) = table.get(key).map_err(|e| self.db_error(e))? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(value.value())?))
    }

    /// Entries and bytes held now.
    pub fn size(&self) -> Result<StoreSize, StoreError> {
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
                    let old_seq = serde_json::from_slice::<CachedReply>(old.value())
                        .map(|r| r.seq)
                        .ok();
                    drop(old);
                    if let Some(seq) = old_seq {
                        order.remove(seq)?;
                    }
                    bytes = bytes.saturating_sub(old_len + ENTRY_OVERHEAD);
                    count = count.saturating_sub(1);
                }
                let mut record = reply.clone();
                record.seq = next_seq;
                let value = serde_json::to_vec(&record).expect("a reply record serializes");
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
        let txn = self.db.begin_write().map_err(|e| self.db_error(e))?;
        {
            let mut replies = txn.open_table(REPLIES).map_err(|e| self.db_error(e))?;
            let mut order = txn.open_table(ORDER).map_err(|e| self.db_error(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.db_error(e))?;
            body(&mut replies, &mut order, &mut meta).map_err(|e| self.db_error(e))?;
        }
        txn.commit().map_err(|e| self.db_error(e))
    }
}

fn meta_get(meta: &redb::Table<&str, u64>, name: &str) -> Result<u64, redb::Error> {
    Ok(meta.get(name)?.map(|v| v.value()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> CachedReply {
        CachedReply::new(text.into(), "{}".into(), "m".into(), 3, 1, false)
    }

    #[test]
    fn a_written_reply_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = [7u8; 32];
        {
            let store = Store::open(dir.path(), 1 << 20).expect("open");
            assert_eq!(store.get(&key).expect("get"), None);
            store.put_many(&[(key, reply("hello"))]).expect("put");
        }
        let store = Store::open(dir.path(), 1 << 20).expect("reopen");
        let got = store.get(&key).expect("get").expect("cached");
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
        assert_eq!(store.get(&key).expect("get").expect("cached").text, "new");
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
        assert_eq!(store.get(&[0; 32]).expect("get"), None, "oldest evicted");
        assert_eq!(
            store.get(&[1; 32]).expect("get"),
            None,
            "second oldest evicted"
        );
        assert!(store.get(&[4; 32]).expect("get").is_some(), "newest kept");
    }
}
