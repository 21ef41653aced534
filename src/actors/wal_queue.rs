//! The queue of a durable loader: batches appended to the write-ahead log wait here, in the order they were
//! formed, for their group commit and then a free slot, while the loader goes on reading its mailbox (so the next
//! chunk's batches join the next group instead of waiting for this one). Bounded (`load.max_in_flight` batches):
//! when full, the loader holds its mailbox until there is room, as it does for slots.
//!
//! One consumer task per loader, on the loader's arbiter; it ends when the loader (the only sender) is gone.

use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::actors::delivery::Delivery;
use crate::model::Batch;
use crate::spool::wal::AppendTicket;

/// An item of the queue.
pub enum Queued {
    /// A batch and the completion of its append.
    Batch(Batch, AppendTicket),
    /// Answered once every batch queued before it has a slot (the loader's `Drain`).
    Drained(oneshot::Sender<()>),
}

/// Starts the consumer of a loader's queue; returns the sending side.
pub fn start(
    delivery: Rc<Delivery>,
    slots: Arc<Semaphore>,
    capacity: usize,
) -> mpsc::Sender<Queued> {
    let (tx, mut rx) = mpsc::channel(capacity.max(1));
    actix_rt::spawn(async move {
        while let Some(item) = rx.recv().await {
            match item {
                Queued::Batch(batch, ticket) => {
                    let batch = delivery.written_ahead(batch, ticket).await;
                    delivery.clone().deliver_in_slot(batch, slots.clone()).await;
                }
                Queued::Drained(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}
