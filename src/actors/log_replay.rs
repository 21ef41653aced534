//! The write-ahead log in a run: opened (and recovered) at start when `spool.durable` is on or an earlier run
//! left a log; its un-acknowledged batches handed to their loaders under their original ids before new data;
//! closed after the loaders drained. What recovery found is logged and counted here.

use std::path::Path;
use std::sync::Arc;

use actix::Addr;

use crate::actors::loader::{DeliverBatch, LoaderActor};
use crate::actors::shutdown::Shutdown;
use crate::config::SpoolSettings;
use crate::model::{Batch, BatchId, Origin};
use crate::observe::metrics::RunMetrics;
use crate::spool::wal::{self, RecoveredBatch, RecoveryEvent, Wal, WalConfig, WalError};

/// The log of a run and what it recovered.
pub struct OpenLog {
    pub wal: Arc<Wal>,
    /// Un-acknowledged batches to send before new data, in log order.
    pub batches: Vec<RecoveredBatch>,
}

/// Opens the log of `spool` when durable mode is on or a log directory exists; the batches to replay with it.
pub fn open(spool: &SpoolSettings, metrics: &RunMetrics) -> Result<Option<OpenLog>, WalError> {
    if !spool.durable && !spool.dir.join(wal::WAL_DIR).exists() {
        return Ok(None);
    }
    let config = WalConfig::new(spool.dir.clone(), spool.max_bytes);
    let (wal, recovery) = Wal::open(config, metrics.wal.clone())?;
    for event in &recovery.events {
        report(event, metrics);
    }
    if !recovery.already_spooled.is_empty() {
        log::info!(
            "[Log] {} batches of the log are already in spool files (a run stopped between the two): replayed from the files",
            recovery.already_spooled.len()
        );
    }
    if !recovery.batches.is_empty() {
        let records: usize = recovery.batches.iter().map(|b| b.records).sum();
        log::info!(
            "[Log] {} un-acknowledged batches ({records} records) in {}: sent again under their own ids before new data",
            recovery.batches.len(),
            spool.dir.join(wal::WAL_DIR).display()
        );
    }
    Ok(Some(OpenLog {
        wal: Arc::new(wal),
        batches: recovery.batches,
    }))
}

fn report(event: &RecoveryEvent, metrics: &RunMetrics) {
    match event {
        RecoveryEvent::Cut {
            path,
            at,
            dropped,
            why,
            saved,
        } => match saved {
            Some(copy) => {
                RunMetrics::add(&metrics.spool_files_quarantined, 1);
                log::error!(
                    "[Log] {}: {dropped} bytes from offset {at} are not log entries ({why}); cut there, a copy moved to {}",
                    path.display(),
                    copy.display()
                );
            }
            None => log::warn!(
                "[Log] {}: cut at offset {at}: {dropped} bytes of {why} (never acknowledged to a loader, never sent)",
                path.display()
            ),
        },
        RecoveryEvent::Quarantined { path, to, why } => match to {
            Some(to) => {
                RunMetrics::add(&metrics.spool_files_quarantined, 1);
                log::error!(
                    "[Log] {} cannot be read ({why}); moved to {}",
                    path.display(),
                    to.display()
                );
            }
            None => {
                RunMetrics::add(&metrics.spool_files_unreadable, 1);
                log::error!(
                    "[Log] {} cannot be read ({why}) nor moved to quarantine; left in place",
                    path.display()
                );
            }
        },
        RecoveryEvent::Removed { path, why } => {
            log::info!("[Log] {} removed: {why}", path.display());
        }
    }
}

/// Hands every recovered batch to its loader (worker N of the entry, modulo the loader count), in log order.
/// A batch whose entry cannot be read back stays in the log (counted as unreadable).
pub async fn replay(
    batches: Vec<RecoveredBatch>,
    loaders: &[Addr<LoaderActor>],
    shutdown: &Shutdown,
    metrics: &RunMetrics,
) {
    for b in batches {
        if shutdown.is_stopping() {
            break; // the rest stays in the log (counted as kept by the writer) for the next run
        }
        let read = {
            let b = b.clone();
            actix_rt::task::spawn_blocking(move || wal::read_batch(&b)).await
        };
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                RunMetrics::add(&metrics.spool_files_unreadable, 1);
                log::error!(
                    "[Log] batch {} cannot be read back: {e}; left in the log",
                    b.id
                );
                continue;
            }
            Err(e) => {
                log::error!("[Log] reading batch {} failed: {e}", b.id);
                continue;
            }
        };
        let batch = Batch {
            id: BatchId(b.id.clone()),
            worker: b.worker,
            records: b.records,
            body,
            request: None,
            origin: Origin::FromLog(b.path.clone()),
        };
        let loader = &loaders[b.worker % loaders.len()];
        let _ = loader.send(DeliverBatch(batch)).await;
    }
}

/// Closes the log once the loaders drained (blocking file work, off the async thread).
pub async fn close(wal: Arc<Wal>, dir: &Path) {
    let _ = actix_rt::task::spawn_blocking(move || wal.close()).await;
    let left = crate::spool::wal::recovery::segments_in(dir);
    if left > 0 {
        log::info!(
            "[Log] {left} segments stay in {} for the next run (batches not acknowledged)",
            dir.join(wal::WAL_DIR).display()
        );
    }
}
