//! `batches.redb`: the durable record of submitted batches, kept in the
//! cache directory. Three tables:
//! - `batches`: provider batch id → [`BatchRecord`] (JSON);
//! - `keys`: call key → the batch id whose input file holds that request;
//! - `turnarounds`: engine name → the turnarounds (seconds from submission
//!   to end) of its latest completed batches (JSON array, oldest first),
//!   which deadlines plan with (`deadline`).
//!
//! A batch is recorded right after the provider accepted it, with the keys of
//! its requests, in one transaction; so a restarted server (or a re-run job)
//! finds the batch that holds a call and waits for it instead of submitting
//! the call again. redb commits are durable (fsync) and crash-safe.
//!
//! The file is opened as the call cache's is (`cache::disk`): every page's
//! checksum verified, a damaged file moved aside to `batches.redb.damaged`
//! and replaced (the batches it named are submitted again when their calls
//! come back: a cost, never a wrong reply), and every redb call guarded, so
//! a panic inside redb fails the batch at hand instead of its engine task.
//! A file another server holds is refused with a clear error at startup,
//! before the server says it listens.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::deadline;
use crate::cache::disk::{self, OpenError};

const BATCHES: TableDefinition<&str, &str> = TableDefinition::new("batches");
const KEYS: TableDefinition<&str, &str> = TableDefinition::new("keys");
const TURNAROUNDS: TableDefinition<&str, &str> = TableDefinition::new("turnarounds");

/// File name of the store inside the cache directory.
pub const STORE_FILE: &str = "batches.redb";

/// Why the store failed. Opening fails at startup; later failures fail the
/// calls of the batch at hand.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// What is known of one provider batch; `R` is where its provider keeps
/// its results (stored beside the other fields, as earlier records hold
/// them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord<R> {
    /// The engine (by name) that submitted it.
    pub engine: String,
    pub batch_id: String,
    /// The provider's status (openai: validating, in_progress, finalizing,
    /// completed, failed, expired, cancelling, cancelled; anthropic:
    /// in_progress, canceling, ended).
    pub state: String,
    #[serde(flatten)]
    pub refs: R,
    pub total: u32,
    #[serde(default)]
    pub completed: u32,
    #[serde(default)]
    pub failed: u32,
    /// Seconds since the Unix epoch when it was submitted.
    pub created_unix: u64,
    /// Milliseconds since the Unix epoch when it was submitted (its
    /// turnaround is measured from it); None in records written before.
    #[serde(default)]
    pub created_ms: Option<u64>,
}

/// The open store. Cheap to share behind an `Arc`; redb serialises writers.
#[derive(Debug)]
pub struct BatchStore {
    db: Database,
    path: PathBuf,
}

impl BatchStore {
    /// Opens (or creates) `dir/batches.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(STORE_FILE);
        let open_error = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        let db = disk::open_or_replace(&path).map_err(|err| {
            open_error(match err {
                OpenError::Locked { .. } => {
                    "another server has it open (give each server its own --cache-dir)".into()
                }
                OpenError::Unusable { message, .. } => message,
            })
        })?;
        let created = BatchStore {
            db,
            path: path.clone(),
        };
        created
            .write(|_, _| Ok(()))
            .map_err(|err| open_error(err.to_string()))?;
        Ok(created)
    }

    fn io(&self, err: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            message: err.to_string(),
        }
    }

    fn write(
        &self,
        change: impl FnOnce(
            &mut redb::Table<&str, &str>,
            &mut redb::Table<&str, &str>,
        ) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_write().map_err(|e| self.io(e))?;
            {
                let mut batches = txn.open_table(BATCHES).map_err(|e| self.io(e))?;
                let mut keys = txn.open_table(KEYS).map_err(|e| self.io(e))?;
                change(&mut batches, &mut keys).map_err(|e| self.io(e))?;
            }
            txn.commit().map_err(|e| self.io(e))
        })
    }

    /// Runs redb calls; a panic inside them is an error of this store.
    fn guarded<T>(&self, body: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        disk::guarded(body).unwrap_or_else(|panic| Err(self.io(format!("redb panicked: {panic}"))))
    }

    /// Records a batch the provider accepted and the keys of its requests
    /// (a key recorded for an older batch now names this one).
    pub fn record_submitted<R: Serialize>(
        &self,
        record: &BatchRecord<R>,
        keys: &[String],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| self.io(e))?;
        self.write(|batches, table| {
            batches.insert(record.batch_id.as_str(), json.as_str())?;
            for key in keys {
                table.insert(key.as_str(), record.batch_id.as_str())?;
            }
            Ok(())
        })
    }

    /// Stores a batch's latest state.
    pub fn update<R: Serialize>(&self, record: &BatchRecord<R>) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| self.io(e))?;
        self.write(|batches, _| {
            batches.insert(record.batch_id.as_str(), json.as_str())?;
            Ok(())
        })
    }

    /// The batch of `engine` that holds the request with `key`, unless that
    /// batch is dead (in one of the `dead` states: no request of it will be
    /// answered).
    pub fn live_batch_of<R: DeserializeOwned>(
        &self,
        engine: &str,
        key: &str,
        dead: &[&str],
    ) -> Result<Option<BatchRecord<R>>, StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_read().map_err(|e| self.io(e))?;
            let keys = txn.open_table(KEYS).map_err(|e| self.io(e))?;
            let Some(batch_id) = keys.get(key).map_err(|e| self.io(e))? else {
                return Ok(None);
            };
            let batches = txn.open_table(BATCHES).map_err(|e| self.io(e))?;
            let Some(json) = batches.get(batch_id.value()).map_err(|e| self.io(e))? else {
                return Ok(None);
            };
            let record: BatchRecord<R> =
                serde_json::from_str(json.value()).map_err(|e| self.io(e))?;
            let live = record.engine == engine && !dead.contains(&record.state.as_str());
            Ok(live.then_some(record))
        })
    }

    /// The turnarounds of `engine`'s latest completed batches, in seconds,
    /// oldest first (empty before its first).
    pub fn turnarounds(&self, engine: &str) -> Result<Vec<f64>, StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_read().map_err(|e| self.io(e))?;
            let table = match txn.open_table(TURNAROUNDS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(err) => return Err(self.io(err)),
            };
            let Some(json) = table.get(engine).map_err(|e| self.io(e))? else {
                return Ok(Vec::new());
            };
            serde_json::from_str(json.value()).map_err(|e| self.io(e))
        })
    }

    /// Adds a completed batch's turnaround to `engine`'s (keeping the
    /// latest [`deadline::TURNAROUND_SAMPLES`]); returns them all.
    pub fn record_turnaround(&self, engine: &str, seconds: f64) -> Result<Vec<f64>, StoreError> {
        self.guarded(|| {
            let txn = self.db.begin_write().map_err(|e| self.io(e))?;
            let samples = {
                let mut table = txn.open_table(TURNAROUNDS).map_err(|e| self.io(e))?;
                let mut samples: Vec<f64> = match table.get(engine).map_err(|e| self.io(e))? {
                    Some(json) => serde_json::from_str(json.value()).unwrap_or_default(),
                    None => Vec::new(),
                };
                deadline::record_turnaround(&mut samples, seconds);
                let json = serde_json::to_string(&samples).map_err(|e| self.io(e))?;
                table
                    .insert(engine, json.as_str())
                    .map_err(|e| self.io(e))?;
                samples
            };
            txn.commit().map_err(|e| self.io(e))?;
            Ok(samples)
        })
    }

    /// Every recorded batch of `engine`, oldest first.
    pub fn batches_of<R: DeserializeOwned>(
        &self,
        engine: &str,
    ) -> Result<Vec<BatchRecord<R>>, StoreError> {
        self.guarded(|| self.read_batches_of(engine))
    }

    fn read_batches_of<R: DeserializeOwned>(
        &self,
        engine: &str,
    ) -> Result<Vec<BatchRecord<R>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.io(e))?;
        let batches = txn.open_table(BATCHES).map_err(|e| self.io(e))?;
        let mut out = Vec::new();
        for entry in batches.iter().map_err(|e| self.io(e))? {
            let (_, json) = entry.map_err(|e| self.io(e))?;
            if let Ok(record) = serde_json::from_str::<BatchRecord<R>>(json.value()) {
                if record.engine == engine {
                    out.push(record);
                }
            }
        }
        out.sort_by_key(|r| r.created_unix);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where results are, as the openai provider keeps it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Files {
        input_file_id: String,
        #[serde(default)]
        output_file_id: Option<String>,
    }

    const DEAD: &[&str] = &["failed", "expired", "cancelled"];

    fn record(id: &str, state: &str) -> BatchRecord<Files> {
        BatchRecord {
            engine: "b".into(),
            batch_id: id.into(),
            state: state.into(),
            refs: Files {
                input_file_id: "file-1".into(),
                output_file_id: None,
            },
            total: 2,
            completed: 0,
            failed: 0,
            created_unix: 1,
            created_ms: None,
        }
    }

    #[test]
    fn turnarounds_are_kept_per_engine_across_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = BatchStore::open(dir.path()).expect("open");
            assert_eq!(store.turnarounds("b").expect("read"), Vec::<f64>::new());
            store.record_turnaround("b", 2.5).expect("recorded");
            let all = store.record_turnaround("b", 4.0).expect("recorded");
            assert_eq!(all, [2.5, 4.0]);
        }
        let store = BatchStore::open(dir.path()).expect("reopen");
        assert_eq!(store.turnarounds("b").expect("read"), [2.5, 4.0]);
        assert_eq!(store.turnarounds("other").expect("read"), Vec::<f64>::new());
    }

    #[test]
    fn a_recorded_batch_is_found_by_its_keys_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = BatchStore::open(dir.path()).expect("open");
            store
                .record_submitted(
                    &record("batch_1", "validating"),
                    &["k1".into(), "k2".into()],
                )
                .expect("recorded");
        }
        let store = BatchStore::open(dir.path()).expect("reopen");
        let found = store
            .live_batch_of::<Files>("b", "k2", DEAD)
            .expect("read")
            .expect("found");
        assert_eq!(found, record("batch_1", "validating"));
        assert_eq!(
            store.live_batch_of::<Files>("b", "k3", DEAD).expect("read"),
            None
        );
        assert_eq!(
            store
                .live_batch_of::<Files>("other", "k1", DEAD)
                .expect("read"),
            None
        );
    }

    #[test]
    fn the_refs_are_stored_beside_the_other_fields_as_earlier_records_hold_them() {
        let earlier = r#"{"engine": "b", "batch_id": "batch_1", "state": "validating",
            "input_file_id": "file-1", "output_file_id": null, "error_file_id": null,
            "total": 2, "completed": 0, "failed": 0, "created_unix": 1}"#;
        let read: BatchRecord<Files> = serde_json::from_str(earlier).expect("an earlier record");
        assert_eq!(read, record("batch_1", "validating"));
        let written = serde_json::to_value(&read).expect("json");
        assert_eq!(written["input_file_id"], "file-1");
    }

    #[test]
    fn a_dead_batch_holds_no_call() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BatchStore::open(dir.path()).expect("open");
        store
            .record_submitted(&record("batch_1", "in_progress"), &["k1".into()])
            .expect("recorded");
        store
            .update(&record("batch_1", "expired"))
            .expect("updated");
        assert_eq!(
            store.live_batch_of::<Files>("b", "k1", DEAD).expect("read"),
            None
        );
        assert_eq!(
            store.batches_of::<Files>("b").expect("read")[0].state,
            "expired"
        );
    }

    #[test]
    fn a_second_server_on_the_same_directory_is_told_why() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = BatchStore::open(dir.path()).expect("open");
        let err = BatchStore::open(dir.path()).expect_err("locked");
        assert!(err.to_string().contains("--cache-dir"), "{err}");
    }

    #[test]
    fn a_damaged_store_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(STORE_FILE), b"not a database").expect("write");
        let store = BatchStore::open(dir.path()).expect("replaced");
        assert_eq!(store.batches_of::<Files>("b").expect("read"), vec![]);
        assert!(dir.path().join("batches.redb.damaged").exists());
    }
}
