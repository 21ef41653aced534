//! `FailedBufferActor` (the design card's name), which users know as the spool: `[Spool]` in the log, "the spool"
//! in errors. It owns the spool directory; persists, reads back, acknowledges, quarantines and dead-letters
//! batches. A `SyncActor` on its own thread, so file and gzip work never blocks the async arbiters.
//!
//! Messages (all sent with `send().await`, so callers wait for the disk):
//! - `PersistBatch` from a loader whose batch exhausted its retries (or was cut off by shutdown);
//! - `RejectBatch` from a loader whose batch got a non-retryable answer;
//! - `AckSpoolFile` from a loader that delivered a replayed (or, with `spool.durable`, written-ahead) batch;
//! - `ScanSpool` and `ReadSpoolFile` (the first, checking pass over a file) from the topology's replay step.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::prelude::*;

use crate::model::Batch;
use crate::observe::metrics::RunMetrics;
use crate::spool::{self, Rejection};

/// The spool, as users see it (`[Spool]`, "the spool"): see the module doc.
pub struct FailedBufferActor {
    dir: PathBuf,
    /// Replayed files larger than a batch are split into parts of at most this many records and bytes.
    max_records: usize,
    max_bytes: usize,
    metrics: Arc<RunMetrics>,
    /// `replay --rejected`: the scan moves the dead letters back into the spool and lists only them.
    redrive_rejected: bool,
}

impl FailedBufferActor {
    pub fn new(
        dir: PathBuf,
        max_records: usize,
        max_bytes: usize,
        metrics: Arc<RunMetrics>,
        redrive_rejected: bool,
    ) -> Self {
        FailedBufferActor {
            dir,
            max_records,
            max_bytes,
            metrics,
            redrive_rejected,
        }
    }

    /// Moves an unreadable file to `quarantine/`, counting it either way.
    fn quarantine(&self, path: &std::path::Path, why: &str) {
        match spool::move_into(&self.dir, spool::QUARANTINE_DIR, path) {
            Ok(to) => {
                RunMetrics::add(&self.metrics.spool_files_quarantined, 1);
                log::error!(
                    "[Spool] quarantined {}: {why}; moved to {}",
                    path.display(),
                    to.display()
                );
            }
            Err(e) => {
                RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
                log::error!(
                    "[Spool] {why}; could not move it to {}: {e}; left in place",
                    self.dir.join(spool::QUARANTINE_DIR).display()
                );
            }
        }
    }
}

impl Actor for FailedBufferActor {
    type Context = SyncContext<Self>;
}

/// Write this batch to the spool; answers the file's path.
#[derive(Message)]
#[rtype(result = "std::io::Result<PathBuf>")]
pub struct PersistBatch(pub Batch);

impl Handler<PersistBatch> for FailedBufferActor {
    type Result = std::io::Result<PathBuf>;
    fn handle(&mut self, msg: PersistBatch, _: &mut Self::Context) -> Self::Result {
        let path = spool::persist(&self.dir, &msg.0)?;
        RunMetrics::add(&self.metrics.spool_files_written, 1);
        Ok(path)
    }
}

/// Dead-letter this batch into `rejected/` with the API's answer in a sidecar.
#[derive(Message)]
#[rtype(result = "std::io::Result<PathBuf>")]
pub struct RejectBatch {
    pub batch: Batch,
    pub status: u16,
    pub response_body: String,
}

impl Handler<RejectBatch> for FailedBufferActor {
    type Result = std::io::Result<PathBuf>;
    fn handle(&mut self, msg: RejectBatch, _: &mut Self::Context) -> Self::Result {
        let rejection = Rejection {
            batch_id: msg.batch.id.0.clone(),
            worker: msg.batch.worker,
            records: msg.batch.records,
            status: msg.status,
            response_body: msg.response_body,
            rejected_at_unix: crate::extract::unix_now(),
        };
        spool::reject(&self.dir, &msg.batch, &rejection)
    }
}

/// A batch read from (or written ahead to) this file was acknowledged: delete the file.
#[derive(Message)]
#[rtype(result = "std::io::Result<()>")]
pub struct AckSpoolFile {
    pub path: PathBuf,
    /// A replay of a file from an earlier run (counted), not this run's write-ahead copy.
    pub replayed: bool,
}

impl Handler<AckSpoolFile> for FailedBufferActor {
    type Result = std::io::Result<()>;
    fn handle(&mut self, msg: AckSpoolFile, _: &mut Self::Context) -> Self::Result {
        spool::remove(&msg.path)?;
        if let Err(e) = spool::remove_sidecar(&msg.path) {
            log::warn!(
                "[Spool] {}: its rejection sidecar could not be removed: {e}",
                msg.path.display()
            );
        }
        if msg.replayed {
            RunMetrics::add(&self.metrics.spool_files_replayed, 1);
        }
        Ok(())
    }
}

/// List the spool files to replay, oldest first (with `replay --rejected`: the dead letters, moved back into the
/// spool first). Temporary files left by a killed writer are settled first (`spool::settle_leftover`).
#[derive(Message)]
#[rtype(result = "std::io::Result<Vec<PathBuf>>")]
pub struct ScanSpool {
    /// The batch ids the write-ahead log holds un-acknowledged (sent again from the WAL).
    pub in_wal: HashSet<String>,
}

impl Handler<ScanSpool> for FailedBufferActor {
    type Result = std::io::Result<Vec<PathBuf>>;
    fn handle(&mut self, msg: ScanSpool, _: &mut Self::Context) -> Self::Result {
        for tmp in spool::leftover_temp_files(&self.dir)? {
            self.settle(&tmp, &msg.in_wal);
        }
        if self.redrive_rejected {
            let files = spool::redrive(&self.dir)?;
            log::info!(
                "[Spool] re-driving {} from {}",
                crate::observe::summary::plural(files.len() as u64, "dead letter", "dead letters"),
                self.dir.join(spool::REJECTED_DIR).display()
            );
            return Ok(files);
        }
        let (files, others) = spool::list_all(&self.dir)?;
        for path in others {
            RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
            log::error!(
                "[Spool] {}: not a regular file (a symlink, a directory or a special file), left in place; only \
                 regular spool files are replayed: move its batch into the spool as a file, or remove it",
                path.display()
            );
        }
        Ok(files)
    }
}

impl FailedBufferActor {
    /// Settles a temporary file of a write a crash interrupted, and says what became of it: an expected crash
    /// artifact is an info line; only a batch lost with it is a warning (and counted as quarantined).
    fn settle(&self, tmp: &Path, in_wal: &HashSet<String>) {
        use spool::Leftover;
        let shown = tmp.display();
        match spool::settle_leftover(&self.dir, tmp, |id| in_wal.contains(&id.0)) {
            Ok(Leftover::AlreadySpooled { file }) => log::info!(
                "[Spool] {shown}: an interrupted write whose spool file {} is complete; deleted",
                file.display()
            ),
            Ok(Leftover::InWal { id }) => log::info!(
                "[Spool] {shown}: an interrupted write of batch {id}, which the write-ahead log holds (sent again from \
                 there); deleted"
            ),
            Ok(Leftover::Recovered { file, records }) => log::info!(
                "[Spool] {shown}: an interrupted write of a whole batch ({records} records); recovered as {}",
                file.display()
            ),
            Ok(Leftover::Quarantined {
                batch,
                bytes,
                why,
                to,
            }) => {
                RunMetrics::add(&self.metrics.spool_files_quarantined, 1);
                let what = match batch {
                    Some((worker, id)) => format!("batch {id} of loader {worker}"),
                    None => "an unknown batch".to_string(),
                };
                log::warn!(
                    "[Spool] {shown}: an interrupted write of {what} is torn ({why}) and no other copy exists: its \
                     records are lost; the {bytes} bytes written are kept in {}",
                    to.display()
                );
            }
            Ok(Leftover::Unreadable { error }) => {
                RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
                log::error!("[Spool] {shown}: an interrupted write that cannot be read now ({error}); left in place");
            }
            Err(e) => {
                RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
                log::error!("[Spool] {shown}: an interrupted write that could not be settled: {e}; left in place");
            }
        }
    }
}

/// Check a spool file as a stream and say how it will be replayed (the first pass of `spool::plan`; the replay
/// step then reads its parts with `spool::emit`). An unparsable file is moved to `quarantine/`; a file that
/// cannot be opened right now stays in place. Either answers `None`.
#[derive(Message)]
#[rtype(result = "Option<spool::SpoolPlan>")]
pub struct ReadSpoolFile(pub PathBuf);

impl Handler<ReadSpoolFile> for FailedBufferActor {
    type Result = Option<spool::SpoolPlan>;
    fn handle(&mut self, msg: ReadSpoolFile, _: &mut Self::Context) -> Self::Result {
        match spool::plan(&msg.0, self.max_records, self.max_bytes) {
            Ok(plan) => Some(plan),
            Err(e @ spool::ReadError::Io(..)) => {
                RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
                log::error!(
                    "[Spool] cannot read spool file {e}; left in place for the next replay"
                );
                None
            }
            Err(e) => {
                self.quarantine(&msg.0, &format!("not a valid spool file: {e}"));
                None
            }
        }
    }
}
