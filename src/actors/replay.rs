//! The replay step, written once: before any new data, what earlier runs left is handed to the loaders, oldest
//! first: the spool files (each to loader N of its file name), then the WAL's un-acknowledged batches (each to
//! loader N of its entry, under its original id), N modulo the loader count. A signal stops it between two
//! items; what is left stays on disk for the next run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use actix::Addr;

use crate::actors::failed_buffer::{AckSpoolFile, FailedBufferActor, ReadSpoolFile, ScanSpool};
use crate::actors::loader::{DeliverBatch, LoaderActor};
use crate::actors::shutdown::Shutdown;
use crate::model::{Batch, BatchId, Origin};
use crate::observe::metrics::RunMetrics;
use crate::spool::wal::{self, RecoveredBatch};

/// What the replay step reads from and hands to.
pub struct Replay<'a> {
    pub failed_buffer: &'a Addr<FailedBufferActor>,
    pub loaders: &'a [Addr<LoaderActor>],
    pub dir: &'a Path,
    pub shutdown: &'a Shutdown,
    pub metrics: &'a RunMetrics,
    /// Replayed spool files larger than a batch are split into parts of at most this many records and bytes.
    pub max_records: usize,
    pub max_bytes: usize,
}

/// One thing an earlier run left.
enum Item {
    SpoolFile(PathBuf),
    WalBatch(RecoveredBatch),
}

impl Replay<'_> {
    /// Hands every spool file, then every batch `recovered` from the WAL, to its loader, in order, until a signal.
    pub async fn run(&self, recovered: Vec<RecoveredBatch>) {
        let in_wal = recovered.iter().map(|b| b.id.clone()).collect();
        let files = self.scan_spool(in_wal).await;
        let items = files
            .into_iter()
            .map(Item::SpoolFile)
            .chain(recovered.into_iter().map(Item::WalBatch));
        let mut spool_answers = true;
        for item in items {
            if self.shutdown.is_stopping() {
                break; // the rest stays on disk (the WAL counts its batches as kept) for the next run
            }
            match item {
                Item::SpoolFile(path) if spool_answers => {
                    spool_answers = self.spool_file(path).await
                }
                Item::SpoolFile(_) => {}
                Item::WalBatch(batch) => self.wal_batch(batch).await,
            }
        }
    }

    /// The loader of worker `worker`.
    fn loader(&self, worker: usize) -> &Addr<LoaderActor> {
        &self.loaders[worker % self.loaders.len()]
    }

    /// The spool files to replay, oldest first (none when the spool cannot be listed: said why).
    async fn scan_spool(&self, in_wal: HashSet<String>) -> Vec<PathBuf> {
        let files = match self.failed_buffer.send(ScanSpool { in_wal }).await {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                log::error!(
                    "[Spool] cannot list the spool {}: {e}; nothing replayed",
                    self.dir.display()
                );
                return Vec::new();
            }
            Err(e) => {
                log::error!("[Spool] the spool stopped answering: {e}");
                return Vec::new();
            }
        };
        if !files.is_empty() {
            log::info!(
                "[Spool] replaying {} spool files before new data",
                files.len()
            );
        }
        files
    }

    /// Checks one spool file and hands its parts to its loader; false when the spool stopped answering (no other
    /// file is read then).
    async fn spool_file(&self, path: PathBuf) -> bool {
        let Ok(plan) = self.failed_buffer.send(ReadSpoolFile(path)).await else {
            log::error!(
                "[Spool] the spool stopped answering: the spool files left stay for the next run"
            );
            return false;
        };
        match plan {
            // An empty batch (`[]`): nothing to send; the file is deleted without a request, and counted replayed.
            Some(plan) if plan.records == 0 => self.delete_empty(plan.path).await,
            Some(plan) => self.spool_file_parts(plan).await,
            None => {}
        }
        true
    }

    /// Deletes a spool file that holds no record.
    async fn delete_empty(&self, path: PathBuf) {
        let ack = AckSpoolFile {
            path: path.clone(),
            replayed: true,
        };
        match self.failed_buffer.send(ack).await {
            Ok(Ok(())) => log::info!(
                "[Spool] {} holds no record (`[]`): deleted without a request",
                path.display()
            ),
            Ok(Err(e)) => log::error!(
                "[Spool] {} holds no record (`[]`) but could not be deleted: {e}",
                path.display()
            ),
            Err(e) => log::error!("[Spool] the spool stopped answering: {e}"),
        }
    }

    /// The second pass over a checked spool file: its parts are read on a blocking thread, one at a time (a
    /// channel of one), and handed to the file's loader as it takes them, so memory holds a part or two, not the
    /// file.
    async fn spool_file_parts(&self, plan: crate::spool::SpoolPlan) {
        let loader = self.loader(plan.worker).clone();
        let (max_records, max_bytes) = (self.max_records, self.max_bytes);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = tokio::task::spawn_blocking(move || {
            crate::spool::emit(&plan, max_records, max_bytes, |batch| {
                tx.blocking_send(batch).is_ok()
            })
        });
        while let Some(batch) = rx.recv().await {
            let _ = loader.send(DeliverBatch(batch)).await;
        }
        match reader.await {
            Ok(Ok(())) => {}
            // The file passed its check a moment ago and the spool is locked: only a change behind our back gets
            // here. The parts sent are valid; the file stays (not every part was resolved) for the next replay.
            Ok(Err(e)) => log::error!("[Spool] replay of {e}; left in place for the next replay"),
            Err(e) => log::error!("[Spool] the spool reader thread failed: {e}"),
        }
    }

    /// Reads one recovered batch back from the WAL (off the async thread) and hands it to its loader. A batch whose
    /// entry cannot be read back stays in the WAL (counted as unreadable).
    async fn wal_batch(&self, b: RecoveredBatch) {
        let read = {
            let b = b.clone();
            actix_rt::task::spawn_blocking(move || wal::read_batch(&b)).await
        };
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                RunMetrics::add(&self.metrics.spool_files_unreadable, 1);
                log::error!(
                    "[WAL] batch {} cannot be read back: {e}; left in the WAL",
                    b.id
                );
                return;
            }
            Err(e) => {
                log::error!("[WAL] reading batch {} failed: {e}", b.id);
                return;
            }
        };
        let batch = Batch {
            id: BatchId(b.id.clone()),
            worker: b.worker,
            records: b.records,
            body: body.into(),
            request: None,
            origin: Origin::FromWal(b.path.clone()),
        };
        let _ = self.loader(b.worker).send(DeliverBatch(batch)).await;
    }
}
