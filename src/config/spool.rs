//! `[spool]` and `[shutdown]`: where undelivered batches go, and how long a stopping run may drain.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SettingsError;

/// `[spool]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    pub replay_on_start: bool,
    /// Append every batch to the write-ahead log (`spool/wal/`, group-committed) before its first send and record
    /// its acknowledgement, so that a crash (`kill -9`, power loss) loses at most the records still being gathered
    /// into batches.
    pub durable: bool,
    /// Most bytes the write-ahead log may hold; at the bound, new batches wait (backpressure).
    pub max_bytes: u64,
    /// Use a spool directory that other users may write (owned by another user, or writable by group or others):
    /// the operator's explicit choice, since whoever writes the spool can make the run send records.
    pub shared_dir: bool,
}

/// Default of `spool.max_bytes`: 1 GiB of write-ahead log.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("spool"),
            replay_on_start: true,
            durable: false,
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            shared_dir: false,
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    pub grace_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { grace_ms: 10_000 }
    }
}

impl ShutdownSettings {
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }
}

impl SpoolSettings {
    /// Checks the `spool.*` keys.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.max_bytes < 1 << 20 {
            return Err(SettingsError::invalid(
                "spool.max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid("spool.dir", "must not be empty"));
        }
        Ok(())
    }
}
