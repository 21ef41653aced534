//! Run counters shared by the actors (atomics, so any thread may count) and read into the summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Everything a run counts. Records leave memory only as `loaded`, `replayed`, `spooled` or `rejected`
/// (or, if even the spool cannot be written, `lost`, which is reported loudly).
#[derive(Debug, Default)]
pub struct RunMetrics {
    pub devices_ok: AtomicU64,
    pub devices_failed: AtomicU64,
    /// Extractions under way when a signal stopped the run (nothing of theirs was extracted).
    pub devices_cancelled: AtomicU64,
    pub devices_invalid: AtomicU64,
    pub devices_skipped_shard: AtomicU64,
    pub records_extracted: AtomicU64,
    pub records_loaded: AtomicU64,
    pub records_replayed: AtomicU64,
    pub records_spooled: AtomicU64,
    pub records_rejected: AtomicU64,
    pub records_lost: AtomicU64,
    pub batches_sent: AtomicU64,
    pub batches_spooled: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub retries_connect: AtomicU64,
    pub retries_timeout: AtomicU64,
    pub retries_status: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub spool_files_written: AtomicU64,
    pub spool_files_replayed: AtomicU64,
    pub spool_files_quarantined: AtomicU64,
    /// Spool files that could not be opened or quarantined; left in place.
    pub spool_files_unreadable: AtomicU64,
    pub in_flight_requests: AtomicI64,
}

impl RunMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
