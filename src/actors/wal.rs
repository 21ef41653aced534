//! The WAL in a run: opened (and recovered) at start when `spool.durable` is on or an earlier run left a WAL
//! (its un-acknowledged batches are then sent by the replay step, `replay.rs`); closed after the loaders drained.
//! What recovery found is logged and counted here.

use std::path::Path;
use std::sync::Arc;

use crate::config::SpoolSettings;
use crate::observe::metrics::RunMetrics;
use crate::spool::wal::{self, RecoveredBatch, RecoveryEvent, Wal, WalConfig, WalError};

/// The WAL of a run and what it recovered.
pub struct OpenWal {
    pub wal: Arc<Wal>,
    /// Un-acknowledged batches to send before new data, in WAL order.
    pub batches: Vec<RecoveredBatch>,
}

/// Opens the WAL of `spool` when durable mode is on or a WAL directory exists; the batches to replay with it.
pub fn open(spool: &SpoolSettings, metrics: &RunMetrics) -> Result<Option<OpenWal>, WalError> {
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
            "[WAL] {} batches of the WAL are already in spool files (a run stopped between the two): replayed from the files",
            recovery.already_spooled.len()
        );
    }
    if !recovery.batches.is_empty() {
        let records: usize = recovery.batches.iter().map(|b| b.records).sum();
        log::info!(
            "[WAL] {} un-acknowledged batches ({records} records) in {}: sent again under their own ids before new data",
            recovery.batches.len(),
            spool.dir.join(wal::WAL_DIR).display()
        );
    }
    Ok(Some(OpenWal {
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
                    "[WAL] {}: {dropped} bytes from offset {at} are not WAL entries ({why}); cut there, a copy moved to {}",
                    path.display(),
                    copy.display()
                );
            }
            None => log::warn!(
                "[WAL] {}: cut at offset {at}: {dropped} bytes of {why} (never acknowledged to a loader, never sent)",
                path.display()
            ),
        },
        RecoveryEvent::Quarantined { path, to, why } => match to {
            Some(to) => {
                RunMetrics::add(&metrics.spool_files_quarantined, 1);
                log::error!(
                    "[WAL] {} cannot be read ({why}); moved to {}",
                    path.display(),
                    to.display()
                );
            }
            None => {
                RunMetrics::add(&metrics.spool_files_unreadable, 1);
                log::error!(
                    "[WAL] {} cannot be read ({why}) nor moved to quarantine; left in place",
                    path.display()
                );
            }
        },
        RecoveryEvent::Removed { path, why } => {
            log::info!("[WAL] {} removed: {why}", path.display());
        }
    }
}

/// Closes the WAL once the loaders drained (blocking file work, off the async thread).
pub async fn close(wal: Arc<Wal>, dir: &Path) {
    let _ = actix_rt::task::spawn_blocking(move || wal.close()).await;
    let left = crate::spool::wal::recovery::segments_in(dir);
    if left > 0 {
        log::info!(
            "[WAL] {left} segments stay in {} for the next run (batches not acknowledged)",
            dir.join(wal::WAL_DIR).display()
        );
    }
}
