//! An extraction thread's staging area: transformed records are encoded on that thread (where they
//! were made, so they are freed where they were allocated) and gathered per loader, then handed over in chunks,
//! so that a loader gets one message per chunk instead of one per device (each cross-thread message costs a
//! wake-up of two threads; per device that was half of the run's CPU).
//!
//! Bounds: a stage holds at most `limit` records; a full chunk goes into the loader's bounded mailbox at once when
//! there is room, else the extraction that filled it waits (holding its slot) until the loader took it; the flush
//! timer sends at most one partial chunk per loader at a time.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix::Addr;
use tokio::sync::Semaphore;

use super::loader::{LoadRecords, LoaderActor};
use crate::load::encoder::EncodedRecords;
use crate::load::sinks::Sink;
use crate::model::DeviceRecord;
use crate::observe::metrics::RunMetrics;

/// Records per chunk at most (and at most four `load.batch_size`: a chunk is up to four batches, so that a loader is
/// woken once per four batches; one message per batch cost a fifth of the ETL's CPU in wake-ups).
pub const STAGE_RECORDS: usize = 1024;

pub struct Stage {
    loaders: Arc<Vec<Addr<LoaderActor>>>,
    records: RefCell<Vec<EncodedRecords>>,
    /// A timer flush of this loader's stage is under way.
    flushing: RefCell<Vec<bool>>,
    /// One permit per loader, held by a timer flush; all of them once no flush is under way.
    timer_sends: Arc<Semaphore>,
    limit: usize,
    metrics: Arc<RunMetrics>,
}

impl Stage {
    pub fn new(
        loaders: Arc<Vec<Addr<LoaderActor>>>,
        batch_size: usize,
        sink: Sink,
        metrics: Arc<RunMetrics>,
    ) -> Rc<Self> {
        let n = loaders.len();
        Rc::new(Stage {
            records: RefCell::new((0..n).map(|_| EncodedRecords::for_sink(sink)).collect()),
            flushing: RefCell::new(vec![false; n]),
            timer_sends: Arc::new(Semaphore::new(n)),
            limit: batch_size.saturating_mul(4).clamp(1, STAGE_RECORDS),
            loaders,
            metrics,
        })
    }

    /// Puts a chunk in the loader's mailbox: at once when there is room (no reply to wait for, so no wake-up
    /// of this thread), else waiting until the loader has handled it; whether it waited.
    async fn send(&self, loader: usize, chunk: EncodedRecords) -> bool {
        let n = chunk.len() as u64;
        let addr = &self.loaders[loader];
        let (result, waited) = match addr.try_send(LoadRecords(chunk)) {
            Ok(()) => (Ok(()), false),
            Err(actix::prelude::SendError::Full(msg)) => (addr.send(msg).await, true),
            Err(actix::prelude::SendError::Closed(_)) => (Err(actix::MailboxError::Closed), false),
        };
        if let Err(e) = result {
            RunMetrics::add(&self.metrics.records_lost, n);
            log::error!("[Extract] {n} RECORDS LOST: loader {loader} is gone: {e}");
        }
        waited
    }

    /// Adds one device's records for `loader`; when the stage is full, hands it over (waiting for mailbox room).
    /// Whether it had to wait.
    ///
    /// The hand-over is boxed: every device task in flight holds this future, and the send (actix's request and the
    /// chunk) was most of it (about 900 of a device task's 1,200 bytes), yet it happens once per chunk.
    pub async fn add(&self, loader: usize, records: Vec<DeviceRecord>) -> bool {
        match self.push(loader, records) {
            Some(chunk) => Box::pin(self.send(loader, chunk)).await,
            None => false,
        }
    }

    /// Stages one device's records for `loader`; the chunk to hand over when that filled the stage.
    fn push(&self, loader: usize, records: Vec<DeviceRecord>) -> Option<EncodedRecords> {
        let mut stages = self.records.borrow_mut();
        let stage = &mut stages[loader];
        for record in &records {
            stage.push(record);
        }
        // The next chunk gets the room this one needed, so that it fills without reallocating.
        (stage.len() >= self.limit)
            .then(|| stage.take_with_room(self.limit, stage.bytes_len() + 1024))
    }

    /// Starts handing over every partial stage (the flush timer); one flush per loader at a time.
    pub fn flush_partial(self: &Rc<Self>) {
        for loader in 0..self.loaders.len() {
            if self.flushing.borrow()[loader] || self.records.borrow()[loader].is_empty() {
                continue;
            }
            let Ok(permit) = self.timer_sends.clone().try_acquire_owned() else {
                return;
            };
            self.flushing.borrow_mut()[loader] = true;
            let chunk = self.records.borrow_mut()[loader].take();
            let this = self.clone();
            actix_rt::spawn(async move {
                this.send(loader, chunk).await;
                this.flushing.borrow_mut()[loader] = false;
                drop(permit);
            });
        }
    }

    /// Hands over everything left, after waiting for timer flushes under way (so that nothing arrives at a loader
    /// after its `Drain`).
    pub async fn flush_all(&self) {
        let _all = self
            .timer_sends
            .acquire_many(
                u32::try_from(self.loaders.len())
                    .expect("load.workers is validated to be at most 1024"),
            )
            .await
            .expect("the stage semaphore is never closed");
        let chunks: Vec<_> = self
            .records
            .borrow_mut()
            .iter_mut()
            .map(EncodedRecords::take)
            .collect();
        for (loader, chunk) in chunks.into_iter().enumerate() {
            if !chunk.is_empty() {
                self.send(loader, chunk).await;
            }
        }
    }
}
