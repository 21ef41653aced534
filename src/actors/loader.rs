//! `LoaderActor`: one of `load.workers`, on the loader arbiters (one thread per core, shared). Buffers records as
//! an encoded JSON array (for a sink other than ingest-json: in the lossless form, and as the batch's request:
//! `load::batch`), forms a
//! batch at `batch_size` records, `batch_bytes` bytes or `flush_interval_ms`, and delivers up to `max_in_flight`
//! batches at once (see `delivery.rs`). When every slot is busy the actor stops reading its bounded mailbox until
//! one frees, so senders awaiting `send()` are held back: no queue grows without bound.
//!
//! With `spool.durable` each batch is appended to the write-ahead log when it is formed and queued
//! (`wal_queue.rs`) until its group is on disk; only then does it take a slot and go out.
//!
//! Messages:
//! - `LoadRecords` from the `ExtractSupervisor`'s stage, a chunk of encoded records at a time;
//! - `DeliverBatch` from the topology's replay step, one per spool file;
//! - `Drain` from the topology at the end: flush the buffer and answer once nothing is in flight.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::actors::delivery::Delivery;
use crate::actors::wal_queue::{self, Queued};
use crate::config::LoadSettings;
use crate::load::batch::{BatchBuilder, Finished};
use crate::load::encoder::EncodedRecords;
use crate::model::{Batch, BatchId};

/// Mailbox capacity of a loader: how many chunks (up to `stage::STAGE_RECORDS` records each) may wait before
/// senders are held back. 2 chunks of 4 batches (~1,600 records) keep a loader busy between the supervisor's turns,
/// the same bound as 8 chunks of one batch had, with a quarter of the messages (and cross-thread wake-ups);
/// 64 one-batch chunks let the ETL hold ~38 MiB of waiting records at 1M devices when the API was the slower side.
pub const MAILBOX_CAPACITY: usize = 2;

pub struct LoaderActor {
    worker: usize,
    run_id: Arc<str>,
    seq: u64,
    builder: BatchBuilder,
    slots: Arc<Semaphore>,
    max_in_flight: u32,
    settings: LoadSettings,
    /// `spool.durable`: every batch is appended to the write-ahead log, and sent once it is on disk.
    durable: bool,
    last_flush: Instant,
    delivery: Rc<Delivery>,
    /// With `spool.durable`: written-ahead batches wait here for their group commit (`wal_queue.rs`).
    wal_queue: Option<mpsc::Sender<Queued>>,
}

impl LoaderActor {
    pub fn new(
        worker: usize,
        run_id: Arc<str>,
        settings: LoadSettings,
        durable: bool,
        delivery: Delivery,
    ) -> Self {
        LoaderActor {
            worker,
            run_id,
            seq: 0,
            builder: BatchBuilder::for_sink(
                *delivery.client.sink(),
                settings.batch_size,
                settings.batch_bytes,
            ),
            slots: Arc::new(Semaphore::new(settings.max_in_flight)),
            max_in_flight: u32::try_from(settings.max_in_flight)
                .expect("load.max_in_flight is validated to be at most 1024"),
            settings,
            durable,
            last_flush: Instant::now(),
            delivery: Rc::new(delivery),
            wal_queue: None,
        }
    }

    /// Turns a finished body into a batch with a new id.
    fn batch(&mut self, finished: Finished) -> Batch {
        self.seq += 1;
        let id = BatchId::new(&self.run_id, self.worker, self.seq);
        self.last_flush = Instant::now();
        let batch = BatchBuilder::batch(id, self.worker, finished);
        log::debug!(
            "[Loader-{}] batch {} formed with {} records",
            self.worker,
            batch.id,
            batch.records
        );
        batch
    }

    /// Starts delivery of `batches`, in their order: each in a free slot at once, while there are free slots
    /// and nothing is to be written first; the rest through one held future, in order, which holds the mailbox
    /// until each has a slot (and, with `write_ahead`, is in the WAL first, so that what was accepted is safe).
    /// With `write_ahead` every batch of the message is appended at once, so that they share one group commit.
    /// One future per message at most: actix runs held futures newest first, which would reverse the batches.
    fn send(&mut self, batches: Vec<Batch>, write_ahead: bool, ctx: &mut Context<Self>) {
        let wal = self.delivery.wal.clone().filter(|_| write_ahead);
        if let (Some(wal), Some(queue)) = (wal, self.wal_queue.clone()) {
            // Appended at once (one group), queued in order; the mailbox is held only while the queue is full.
            let mut queued = batches.into_iter().map(|b| {
                let ticket = wal.append(&b.id.0, b.worker, b.records, b.body.json());
                Queued::Batch(b, ticket)
            });
            for item in queued.by_ref() {
                match queue.try_send(item) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(item)) => {
                        let rest: Vec<Queued> = std::iter::once(item).chain(queued).collect();
                        ctx.wait(actix::fut::wrap_future(async move {
                            for item in rest {
                                let _ = queue.send(item).await;
                            }
                        }));
                        return;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        log::error!("[Loader-{}] the WAL queue is gone", self.worker);
                        return;
                    }
                }
            }
            return;
        }
        let mut batches = batches.into_iter().peekable();
        {
            while batches.peek().is_some() {
                let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                    break;
                };
                let batch = batches.next().expect("peeked");
                actix_rt::spawn(self.delivery.clone().deliver(batch, slot));
            }
        }
        let rest: Vec<Batch> = batches.collect();
        if rest.is_empty() {
            return;
        }
        let (delivery, slots) = (self.delivery.clone(), self.slots.clone());
        ctx.wait(actix::fut::wrap_future(async move {
            for batch in rest {
                delivery.clone().deliver_in_slot(batch, slots.clone()).await;
            }
        }));
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(finished) = self.builder.take() {
            let batch = self.batch(finished);
            self.send(vec![batch], self.durable, ctx);
        }
    }
}

impl Actor for LoaderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        if self.durable && self.delivery.wal.is_some() {
            self.wal_queue = Some(wal_queue::start(
                self.delivery.clone(),
                self.slots.clone(),
                self.settings.max_in_flight,
            ));
        }
        let interval = self.settings.flush_interval();
        ctx.run_interval(interval / 2, move |act, ctx| {
            if !act.builder.is_empty() && act.last_flush.elapsed() >= interval {
                act.flush(ctx);
            }
        });
    }
}

/// Buffer these records (a chunk of encoded records from the supervisor's stage).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LoadRecords(pub EncodedRecords);

impl Handler<LoadRecords> for LoaderActor {
    type Result = ();
    fn handle(&mut self, msg: LoadRecords, ctx: &mut Self::Context) {
        let mut from = 0;
        let mut batches = Vec::new();
        while from < msg.0.len() {
            let (to, finished) = self.builder.push_run(&msg.0, from);
            if let Some(finished) = finished {
                batches.push(self.batch(finished));
            }
            from = to;
        }
        self.send(batches, self.durable, ctx);
    }
}

/// Deliver this already-formed batch (a replay from the spool).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverBatch(pub Batch);

impl Handler<DeliverBatch> for LoaderActor {
    type Result = ();
    fn handle(&mut self, msg: DeliverBatch, ctx: &mut Self::Context) {
        self.send(vec![msg.0], false, ctx);
    }
}

/// Flush the buffer and answer once every batch of this loader is acknowledged, dead-lettered or spooled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

impl Handler<Drain> for LoaderActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) -> Self::Result {
        self.flush(ctx);
        let (slots, n, queue) = (
            self.slots.clone(),
            self.max_in_flight,
            self.wal_queue.clone(),
        );
        Box::pin(actix::fut::wrap_future(async move {
            if let Some(queue) = queue {
                let (done, queued) = oneshot::channel();
                if queue.send(Queued::Drained(done)).await.is_ok() {
                    let _ = queued.await;
                }
            }
            let _all = slots.acquire_many_owned(n).await;
        }))
    }
}
