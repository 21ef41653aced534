//! What happens to a batch once its delivery ended: acknowledged (a replayed spool file goes; a logged batch is
//! resolved in the write-ahead log), rejected (dead-lettered to `spool/rejected/`), or given up (to the spool);
//! and the append to the write-ahead log before the first send with `spool.durable`. Talks to the
//! `FailedBufferActor` and the WAL; a record that reaches neither the API nor the disk is counted and logged as
//! lost.

use std::io;
use std::path::PathBuf;

use actix::{Handler, MailboxError, Message};
use bytes::Bytes;

use crate::actors::delivery::Delivery;
use crate::actors::failed_buffer::{AckSpoolFile, FailedBufferActor, PersistBatch, RejectBatch};
use crate::model::{Batch, BatchId, Origin};
use crate::observe::metrics::RunMetrics;
use crate::observe::summary::plural;
use crate::spool::wal::{AppendTicket, Resolution};

impl Delivery {
    pub(super) async fn delivered(&self, batch: Batch, bytes: usize) {
        let m = &self.metrics;
        RunMetrics::add(&m.batches_sent, 1);
        RunMetrics::add(&m.bytes_sent, bytes as u64);
        match &batch.origin {
            Origin::Replayed(file) => {
                RunMetrics::add(&m.records_replayed, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully replayed {} from {}",
                    self.worker,
                    plural(batch.records as u64, "record", "records"),
                    file.path.display()
                );
            }
            Origin::FromWal(segment) => {
                RunMetrics::add(&m.records_replayed, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully replayed {} records from the WAL {}",
                    self.worker,
                    batch.records,
                    segment.display()
                );
            }
            Origin::New | Origin::WrittenAhead => {
                RunMetrics::add(&m.records_loaded, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully flushed {}",
                    self.worker,
                    plural(batch.records as u64, "record", "records")
                );
            }
        }
        // The replayed file's part, or the WAL's entry, is done with.
        self.resolve_part(&batch, Resolution::Delivered).await;
    }

    /// With `spool.durable`: waits until the WAL holds `batch` (its `ticket`, taken when it was formed), so that
    /// a crash cannot lose it once it is sent. If the append failed the batch is sent from memory all the same
    /// (logged), and the WAL keeps whatever of it may have reached the disk for the next run.
    pub async fn written_ahead(&self, mut batch: Batch, ticket: AppendTicket) -> Batch {
        match ticket.await {
            Ok(()) => {
                log::debug!(
                    "[Loader-{}] batch {} ({} records) written ahead to the WAL",
                    self.worker,
                    batch.id,
                    batch.records
                );
                batch.origin = Origin::WrittenAhead;
            }
            Err(e) => {
                log::error!(
                    "[Loader-{}] batch {}: write-ahead to the WAL failed: {e}; sending it from memory",
                    self.worker,
                    batch.id
                );
                if let Some(wal) = &self.wal {
                    wal.keep(&batch.id.0);
                }
            }
        }
        batch
    }

    /// The batch is acknowledged or dead-lettered (or, `how` = spooled, in a spool file): record it in the WAL,
    /// or, for one part of a replayed file, delete the file once every part is.
    async fn resolve_part(&self, batch: &Batch, how: Resolution) {
        let file = match &batch.origin {
            Origin::New => return,
            Origin::WrittenAhead | Origin::FromWal(_) => {
                if let Some(wal) = &self.wal {
                    wal.resolve(&batch.id.0, how);
                }
                return;
            }
            Origin::Replayed(f) => f,
        };
        if !file.part_resolved() {
            return;
        }
        let path = file.path.clone();
        let ack = AckSpoolFile {
            path: path.clone(),
            replayed: true,
        };
        match self.failed_buffer.send(ack).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!(
                "[Loader-{}] {} was delivered but could not be deleted: {e} (a later replay resends it under the same key)",
                self.worker,
                path.display()
            ),
            Err(e) => log::error!(
                "[Loader-{}] {} was delivered but the spool stopped answering: {e}",
                self.worker,
                path.display()
            ),
        }
    }

    /// A written-ahead batch could be written neither as a dead letter nor as a spool file: it stays in the WAL,
    /// which the next run replays. True when that is so (the batch is safe on disk).
    fn kept_in_wal(&self, batch_id: &str, origin: &Origin) -> bool {
        match (&self.wal, origin.in_wal()) {
            (Some(wal), true) => {
                wal.keep(batch_id);
                true
            }
            _ => false,
        }
    }

    /// Hands a batch to the spool to be written (`msg`: a dead letter or a spool file) and says where it ended.
    /// When the write fails, a copy the batch already has on disk keeps it (the WAL, or the spool file it was read
    /// from), counted as spooled; the one place where `reject` and `give_up` tell those cases apart.
    async fn write_to_spool<M>(&self, msg: M, id: &BatchId, origin: &Origin) -> Written
    where
        M: Message<Result = io::Result<PathBuf>> + Send + 'static,
        FailedBufferActor: Handler<M>,
    {
        let failure = match self.failed_buffer.send(msg).await {
            Ok(Ok(path)) => return Written::To(path),
            Ok(Err(e)) => e,
            Err(e) => return Written::Lost(Failure::SpoolGone(e)),
        };
        let kept = if self.kept_in_wal(&id.0, origin) {
            format!("the WAL {}/wal", self.spool_dir())
        } else if let Some(file) = origin.spool_file() {
            file.part_kept();
            file.path.display().to_string()
        } else {
            return Written::Lost(Failure::Write(failure));
        };
        Written::Kept { failure, kept }
    }

    pub(super) async fn reject(&self, batch: Batch, status: u16, resp: Bytes) {
        let m = &self.metrics;
        let (id, records, origin) = (batch.id.clone(), batch.records as u64, batch.origin.clone());
        let resolved = Batch {
            body: bytes::Bytes::new().into(),
            ..batch.clone()
        };
        let response_body = String::from_utf8_lossy(&resp).into_owned();
        let msg = RejectBatch {
            batch,
            status,
            response_body: response_body.clone(),
        };
        match self.write_to_spool(msg, &id, &origin).await {
            Written::To(path) => {
                RunMetrics::add(&m.records_rejected, records);
                RunMetrics::add(&m.batches_rejected, 1);
                let reason = self.client.sink().reject_reason(&resp);
                m.rejected(reason.label(), records);
                log::error!(
                    "[Loader-{}] API rejected batch {id} ({records} records) with HTTP {status} ({}): {}. Dead-lettered to {}",
                    self.worker,
                    reason.label(),
                    crate::model::log_text(&response_body, 200),
                    path.display()
                );
                self.resolve_part(&resolved, Resolution::DeadLettered).await;
            }
            Written::Kept { failure, kept } => {
                RunMetrics::add(&m.records_spooled, records);
                log::error!(
                    "[Loader-{}] API rejected batch {id} with HTTP {status}; writing the dead letter failed ({failure}); it stays in {kept}",
                    self.worker,
                );
            }
            Written::Lost(Failure::Write(e)) => self.lost(
                records,
                &format!(
                    "rejected with HTTP {status}, dead letter in {}/rejected failed: {e}",
                    self.spool_dir()
                ),
            ),
            Written::Lost(Failure::SpoolGone(e)) => self.lost(
                records,
                &format!("rejected with HTTP {status}, the spool stopped answering: {e}"),
            ),
        }
    }

    fn spool_dir(&self) -> String {
        self.spool_dir.display().to_string()
    }

    pub(super) async fn give_up(&self, batch: Batch, why: String) {
        let m = &self.metrics;
        let records = batch.records as u64;
        if let Some(file) = batch.origin.spool_file() {
            file.part_kept();
            RunMetrics::add(&m.records_spooled, records);
            log::warn!(
                "[Loader-{}] API load failed: {why}. Batch {} stays in {}",
                self.worker,
                batch.id,
                file.path.display()
            );
            return;
        }
        let resolved = Batch {
            body: bytes::Bytes::new().into(),
            ..batch.clone()
        };
        match self
            .write_to_spool(PersistBatch(batch), &resolved.id, &resolved.origin)
            .await
        {
            Written::To(path) => {
                RunMetrics::add(&m.records_spooled, records);
                RunMetrics::add(&m.batches_spooled, 1);
                log::warn!(
                    worker = self.worker, records = records;
                    "[Loader-{}] API load failed: {why}. Saved buffer to {}",
                    self.worker,
                    path.display()
                );
                // The spool file is on disk (fsynced): the WAL's copy is done with.
                self.resolve_part(&resolved, Resolution::Spooled).await;
            }
            Written::Kept { failure, kept } => {
                RunMetrics::add(&m.records_spooled, records);
                log::error!(
                    worker = self.worker, records = records;
                    "[Loader-{}] API load failed ({why}) and writing to the spool {} failed: {failure}; batch {} stays in {kept} for the next run",
                    self.worker,
                    self.spool_dir(),
                    resolved.id,
                );
            }
            Written::Lost(Failure::Write(e)) => self.lost(
                records,
                &format!(
                    "API load failed ({why}) and writing to the spool {} failed: {e}",
                    self.spool_dir()
                ),
            ),
            Written::Lost(Failure::SpoolGone(e)) => self.lost(
                records,
                &format!("API load failed ({why}) and the spool stopped answering: {e}"),
            ),
        }
    }

    fn lost(&self, records: u64, why: &str) {
        RunMetrics::add(&self.metrics.records_lost, records);
        log::error!("[Loader-{}] {records} RECORDS LOST: {why}", self.worker);
    }
}

/// Where a batch handed to the spool to be written ended.
enum Written {
    /// Written: a dead letter or a spool file, at this path.
    To(PathBuf),
    /// Not written, but a copy it already had on disk keeps it: `kept` says where.
    Kept { failure: io::Error, kept: String },
    /// Not written, and no other copy: lost.
    Lost(Failure),
}

/// Why the spool did not write a batch.
enum Failure {
    /// The write failed.
    Write(io::Error),
    /// The spool stopped answering.
    SpoolGone(MailboxError),
}
