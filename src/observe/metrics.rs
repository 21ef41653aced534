//! Run counters shared by the actors (atomics, so any thread may count) and read into the summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Buckets of the request latency histogram: 1 ms doubling to about 33 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

/// Everything a run counts. Records leave memory only as `loaded`, `replayed`, `spooled` or `rejected`
/// (or, if even the spool cannot be written, `lost`, which is reported loudly).
#[derive(Debug)]
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
    /// The write-ahead log's counters (`spool.durable`).
    pub wal: std::sync::Arc<crate::spool::wal::WalStats>,
    /// Seconds per `/load` attempt that got an answer or failed (not the ones cut by shutdown).
    pub request_seconds: Histogram,
}

impl Default for RunMetrics {
    fn default() -> Self {
        RunMetrics {
            devices_ok: AtomicU64::new(0),
            devices_failed: AtomicU64::new(0),
            devices_cancelled: AtomicU64::new(0),
            devices_invalid: AtomicU64::new(0),
            devices_skipped_shard: AtomicU64::new(0),
            records_extracted: AtomicU64::new(0),
            records_loaded: AtomicU64::new(0),
            records_replayed: AtomicU64::new(0),
            records_spooled: AtomicU64::new(0),
            records_rejected: AtomicU64::new(0),
            records_lost: AtomicU64::new(0),
            batches_sent: AtomicU64::new(0),
            batches_spooled: AtomicU64::new(0),
            batches_rejected: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            retries_connect: AtomicU64::new(0),
            retries_timeout: AtomicU64::new(0),
            retries_status: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            spool_files_written: AtomicU64::new(0),
            spool_files_replayed: AtomicU64::new(0),
            spool_files_quarantined: AtomicU64::new(0),
            spool_files_unreadable: AtomicU64::new(0),
            in_flight_requests: AtomicI64::new(0),
            wal: Default::default(),
            request_seconds: Histogram::new(latency_buckets()),
        }
    }
}

impl RunMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
