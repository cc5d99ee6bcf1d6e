//! Flags of the call cache.

use std::path::PathBuf;

use clap::Args;

/// Largest `--cache-max-mb`: 1 TiB.
const MAX_CACHE_MB: u64 = 1 << 20;

/// Where the call cache lives and how large it may grow.
#[derive(Debug, Clone, Args)]
pub struct CacheFlags {
    /// Directory of the call cache (file `calls.redb`): replies of engine
    /// calls by request, so that a re-run never sends the same request twice.
    /// Unset (and no `cache_dir` in the config file): no cache on disk;
    /// identical calls in flight are still sent once. The embedded server of
    /// the Python client uses $XDG_CACHE_HOME/symbatcher (~/.cache/symbatcher).
    #[arg(long, env = "SYMBATCHER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Size cap of the call cache in MiB (keys and replies); beyond it the
    /// oldest replies are evicted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=MAX_CACHE_MB))]
    pub cache_max_mb: u64,
}

impl CacheFlags {
    pub fn max_bytes(&self) -> u64 {
        self.cache_max_mb << 20
    }
}
