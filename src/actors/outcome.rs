//! What happens to a batch once its delivery ended: acknowledged (a replayed or written-ahead spool file goes),
//! rejected (dead-lettered to `spool/rejected/`), or given up (to the spool); and the write-ahead copy made before
//! the first send with `spool.durable`. Talks to the `FailedBufferActor`; a record that cannot reach the disk
//! either is counted and logged as lost.

use bytes::Bytes;

use crate::actors::delivery::Delivery;
use crate::actors::failed_buffer::{AckSpoolFile, PersistBatch, RejectBatch};
use crate::model::{Batch, Origin, SpoolFile};
use crate::observe::metrics::RunMetrics;
use crate::observe::summary::plural;

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
            Origin::New | Origin::WrittenAhead(_) => {
                RunMetrics::add(&m.records_loaded, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully flushed {}",
                    self.worker,
                    plural(batch.records as u64, "record", "records")
                );
            }
        }
        // The replayed file's part, or the write-ahead copy, is done with.
        self.resolve_part(&batch.origin).await;
    }

    /// With `spool.durable`: writes a new batch to the spool before its first send, so that a crash cannot lose
    /// it; the copy is deleted once the batch is acknowledged or dead-lettered. If the write fails the batch is
    /// sent from memory all the same (logged).
    pub async fn write_ahead(&self, mut batch: Batch) -> Batch {
        match self.failed_buffer.send(PersistBatch(batch.clone())).await {
            Ok(Ok(path)) => {
                log::debug!(
                    "[Loader-{}] batch {} ({} records) written ahead to {}",
                    self.worker,
                    batch.id,
                    batch.records,
                    path.display()
                );
                batch.origin = Origin::WrittenAhead(SpoolFile::new(path, 1));
            }
            Ok(Err(e)) => log::error!(
                "[Loader-{}] batch {}: write-ahead to the spool {} failed: {e}; sending it from memory",
                self.worker,
                batch.id,
                self.spool_dir()
            ),
            Err(e) => log::error!("[Loader-{}] batch {}: spool actor gone: {e}", self.worker, batch.id),
        }
        batch
    }

    /// One part of a replayed file (or a write-ahead copy) is acknowledged or dead-lettered: delete the file once
    /// every part is.
    async fn resolve_part(&self, origin: &Origin) {
        let (file, replayed): (&SpoolFile, bool) = match origin {
            Origin::New => return,
            Origin::WrittenAhead(f) => (f, false),
            Origin::Replayed(f) => (f, true),
        };
        if !file.part_resolved() {
            return;
        }
        let path = file.path.clone();
        let ack = AckSpoolFile {
            path: path.clone(),
            replayed,
        };
        match self.failed_buffer.send(ack).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!(
                "[Loader-{}] {} was delivered but could not be deleted: {e} (a later replay resends it under the same key)",
                self.worker,
                path.display()
            ),
            Err(e) => log::error!(
                "[Loader-{}] {} was delivered but the spool actor is gone: {e}",
                self.worker,
                path.display()
            ),
        }
    }

    pub(super) async fn reject(&self, batch: Batch, status: u16, resp: Bytes) {
        let m = &self.metrics;
        let (id, records, origin) = (batch.id.clone(), batch.records as u64, batch.origin.clone());
        let response_body = String::from_utf8_lossy(&resp).into_owned();
        let answer = self
            .failed_buffer
            .send(RejectBatch {
                batch,
                status,
                response_body: response_body.clone(),
            })
            .await;
        match answer {
            Ok(Ok(path)) => {
                RunMetrics::add(&m.records_rejected, records);
                RunMetrics::add(&m.batches_rejected, 1);
                log::error!(
                    "[Loader-{}] API rejected batch {id} ({records} records) with HTTP {status}: {}. Dead-lettered to {}",
                    self.worker,
                    response_body.chars().take(200).collect::<String>(),
                    path.display()
                );
                self.resolve_part(&origin).await;
            }
            Ok(Err(e)) => match origin.spool_file() {
                // The batch is still safe in its spool file.
                Some(file) => {
                    file.part_kept();
                    RunMetrics::add(&m.records_spooled, records);
                    log::error!(
                        "[Loader-{}] API rejected batch {id} with HTTP {status}; writing the dead letter failed ({e}); it stays in {}",
                        self.worker,
                        file.path.display()
                    );
                }
                None => self.lost(
                    records,
                    &format!(
                        "rejected with HTTP {status}, dead letter in {}/rejected failed: {e}",
                        self.spool_dir()
                    ),
                ),
            },
            Err(e) => self.lost(
                records,
                &format!("rejected with HTTP {status}, spool actor gone: {e}"),
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
            if let Origin::WrittenAhead(_) = batch.origin {
                RunMetrics::add(&m.batches_spooled, 1);
            }
            log::warn!(
                "[Loader-{}] API load failed: {why}. Batch {} stays in {}",
                self.worker,
                batch.id,
                file.path.display()
            );
            return;
        }
        match self.failed_buffer.send(PersistBatch(batch)).await {
            Ok(Ok(path)) => {
                RunMetrics::add(&m.records_spooled, records);
                RunMetrics::add(&m.batches_spooled, 1);
                log::warn!(
                    worker = self.worker, records = records;
                    "[Loader-{}] API load failed: {why}. Saved buffer to {}",
                    self.worker,
                    path.display()
                );
            }
            Ok(Err(e)) => self.lost(
                records,
                &format!(
                    "API load failed ({why}) and writing to the spool {} failed: {e}",
                    self.spool_dir()
                ),
            ),
            Err(e) => self.lost(
                records,
                &format!("API load failed ({why}) and the spool actor is gone: {e}"),
            ),
        }
    }

    fn lost(&self, records: u64, why: &str) {
        RunMetrics::add(&self.metrics.records_lost, records);
        log::error!("[Loader-{}] {records} RECORDS LOST: {why}", self.worker);
    }
}
