//! Opening the server's redb files (`calls.redb`, `batches.redb`) so that a
//! damaged file never stops the server: it is moved aside and replaced.
//!
//! - [`open_or_replace`] opens a file and verifies the checksum of every page
//!   it can reach (`Database::check_integrity`). A file that cannot be opened
//!   or verified (a damaged header, a truncated file, a page whose checksum
//!   fails, a panic inside redb) is renamed to `<name>.damaged` (replacing an
//!   older one, so damage never fills the disk) and a fresh file takes its
//!   place, with a WARN. A file another process holds open is left alone:
//!   the caller decides (the call cache runs without it; the batch store
//!   refuses to start).
//! - [`guarded`] runs a redb call and turns a panic into an error. redb
//!   trusts its pages once they are read: a page damaged on disk after it was
//!   verified can make it panic (slice bounds, asserts). No such panic may
//!   reach the scheduler's actor or an engine task.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError};

/// Suffix of a damaged file moved aside.
pub(crate) const DAMAGED_SUFFIX: &str = "damaged";

/// Why a redb file could not be opened even after replacing it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// Another process (another server) holds the file open.
    #[error("{path} is open in another server (give each server its own --cache-dir)")]
    Locked { path: PathBuf },
    /// The directory or the file cannot be created, renamed or used at all.
    #[error("{path}: {message}")]
    Unusable { path: PathBuf, message: String },
}

/// Runs `body`, turning a panic into `Err` with the panic's message.
pub(crate) fn guarded<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "redb panicked".to_string())
    })
}

/// Opens (creating if needed) the redb file `path` and verifies it; a file
/// that fails is moved aside and replaced by a fresh one (see the module).
pub(crate) fn open_or_replace(path: &Path) -> Result<Database, OpenError> {
    let unusable = |message: String| OpenError::Unusable {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| unusable(err.to_string()))?;
    }
    let reason = match open_verified(path) {
        Ok(db) => return Ok(db),
        Err(Failure::Locked) => {
            return Err(OpenError::Locked {
                path: path.to_path_buf(),
            })
        }
        Err(Failure::Unusable(message)) => return Err(unusable(message)),
        Err(Failure::Damaged(reason)) => reason,
    };
    let aside = move_aside(path).map_err(|err| unusable(format!("cannot move it aside: {err}")))?;
    tracing::warn!(path = %path.display(), aside = %aside.display(), %reason,
        "store cannot be read; moved it aside and started a fresh one");
    match open_verified(path) {
        Ok(db) => Ok(db),
        Err(Failure::Locked) => Err(OpenError::Locked {
            path: path.to_path_buf(),
        }),
        Err(Failure::Unusable(message) | Failure::Damaged(message)) => Err(unusable(format!(
            "a fresh store cannot be created: {message}"
        ))),
    }
}

/// Renames `path` to `<path>.damaged` (replacing an older one); returns the
/// new name.
pub(crate) fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let mut name = path.as_os_str().to_os_string();
    name.push(".");
    name.push(DAMAGED_SUFFIX);
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

enum Failure {
    Locked,
    /// Not the file's fault: the file cannot be created or opened at all.
    Unusable(String),
    Damaged(String),
}

fn open_verified(path: &Path) -> Result<Database, Failure> {
    // Opened here first, so that a file that cannot be opened at all
    // (permissions, a directory in its place) is told apart from damage.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|err| Failure::Unusable(err.to_string()))?;
    let opened = guarded(|| -> Result<(Database, bool), DatabaseError> {
        let mut db = Database::builder().create_file(file)?;
        let clean = db.check_integrity()?;
        Ok((db, clean))
    });
    match opened {
        Ok(Ok((db, clean))) => {
            if !clean {
                tracing::warn!(path = %path.display(),
                    "store was damaged and redb repaired it (back to its last intact commit)");
            }
            Ok(db)
        }
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(Failure::Locked),
        Ok(Err(err)) => Err(Failure::Damaged(err.to_string())),
        Err(panic) => Err(Failure::Damaged(format!("redb panicked: {panic}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.redb");
        std::fs::write(&path, vec![0x5a; 10_000]).expect("write");
        let db = open_or_replace(&path).expect("replaced");
        db.begin_read().expect("a fresh database reads");
        let aside = dir.path().join("x.redb.damaged");
        assert_eq!(
            std::fs::read(aside).expect("kept aside"),
            vec![0x5a; 10_000]
        );
    }

    #[test]
    fn a_file_open_elsewhere_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.redb");
        let _first = open_or_replace(&path).expect("open");
        let err = open_or_replace(&path).expect_err("locked");
        assert!(matches!(err, OpenError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("--cache-dir"), "{err}");
        assert!(!dir.path().join("x.redb.damaged").exists());
    }

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let err = guarded(|| -> u8 { panic!("boom {}", 7) }).expect_err("panicked");
        assert_eq!(err, "boom 7");
    }
}
