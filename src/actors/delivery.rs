//! Delivery of one batch by a loader: its attempts through the loader's client, paced by the loader's shared
//! backoff and circuit (`load::circuit`), until it is acknowledged, rejected, or given up; then what happens to it
//! (`outcome.rs`). Runs as a task on the loader's arbiter, holding one in-flight slot.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use actix::Addr;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::actors::failed_buffer::FailedBufferActor;
use crate::actors::shutdown::Shutdown;
use crate::config::LoadSettings;
use crate::load::circuit::{Admission, Circuit};
use crate::load::client::{Attempt, LoadClient};
use crate::load::retry::{classify_status, Outcome, RetryReason};
use crate::load::sinks::Encoded;
use crate::model::Batch;
use crate::observe::metrics::RunMetrics;
use crate::spool::wal::Wal;

/// Everything a loader needs to deliver a batch.
pub struct Delivery {
    pub worker: usize,
    pub(super) client: LoadClient,
    circuit: RefCell<Circuit>,
    pub(super) metrics: Arc<RunMetrics>,
    pub(super) failed_buffer: Addr<FailedBufferActor>,
    pub(super) spool_dir: std::path::PathBuf,
    /// The WAL, when there is one (`spool.durable`, or a WAL left by an earlier run).
    pub(super) wal: Option<Arc<Wal>>,
    shutdown: Arc<Shutdown>,
}

impl Delivery {
    /// Call on the loader's arbiter (the client is not `Send`).
    pub fn new(
        worker: usize,
        settings: &LoadSettings,
        client: LoadClient,
        metrics: Arc<RunMetrics>,
        failed_buffer: Addr<FailedBufferActor>,
        spool_dir: std::path::PathBuf,
        shutdown: Arc<Shutdown>,
    ) -> Self {
        Delivery {
            worker,
            client,
            circuit: RefCell::new(Circuit::new(&settings.retry, Instant::now())),
            metrics,
            failed_buffer,
            spool_dir,
            wal: None,
            shutdown,
        }
    }

    /// Appends new batches to this WAL (when the loader is durable) and resolves written-ahead batches in it.
    pub fn with_wal(mut self, wal: Option<Arc<Wal>>) -> Self {
        self.wal = wal;
        self
    }

    /// Waits for a free in-flight slot in `slots`, then starts delivering `batch` in it (a task on this arbiter).
    pub async fn deliver_in_slot(self: Rc<Self>, batch: Batch, slots: Arc<Semaphore>) {
        let slot = slots
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed");
        actix_rt::spawn(self.deliver(batch, slot));
    }

    /// Delivers `batch`, retrying per the rules; the slot is released when the batch is acknowledged, dead-lettered
    /// or on disk.
    pub async fn deliver(self: Rc<Self>, batch: Batch, _slot: OwnedSemaphorePermit) {
        let request = match self.client.request(&batch) {
            Ok(r) => r,
            // Sending cannot help a batch its sink cannot write: a dead letter, status 0 (never sent).
            Err(e) => {
                let why = format!(
                    "not sent: the {} sink cannot encode it: {}",
                    self.client.sink().kind().name(),
                    e.0
                );
                return self.reject(batch, 0, Bytes::from(why)).await;
            }
        };
        let (max_attempts, probe) = match self.admit() {
            Ok(admitted) => admitted,
            Err(why) => return self.give_up(batch, why).await,
        };
        match self.attempts(&batch, &request, max_attempts, probe).await {
            Ended::Delivered => self.delivered(batch, request.body.len()).await,
            Ended::Rejected { status, body } => self.reject(batch, status, body).await,
            Ended::GaveUp(why) => self.give_up(batch, why).await,
        }
    }

    /// How many attempts a new batch gets, and whether it is the circuit's probe; or why it goes straight to the
    /// spool. A batch formed while the circuit is open gets one attempt, and only if no other probe is under way
    /// and the backoff has passed. A batch formed while the circuit was closed keeps all its attempts whatever
    /// happens to the circuit meanwhile.
    fn admit(&self) -> Result<(u32, bool), String> {
        match self.circuit.borrow_mut().admit(Instant::now()) {
            Admission::Attempts(n) => Ok((n, false)),
            Admission::Probe => Ok((1, true)),
            Admission::Spool { failures } => Err(format!(
                "API considered down ({failures} failed attempts in a row); probing every backoff interval"
            )),
        }
    }

    /// The attempts of one batch, each after the loader's backoff, until one is answered for good, they run out,
    /// or shutdown cuts them; the circuit learns from each.
    async fn attempts(
        &self,
        batch: &Batch,
        request: &Encoded,
        max_attempts: u32,
        probe: bool,
    ) -> Ended {
        let mut attempts = 0;
        let mut last_reason = None;
        let why = loop {
            if self.shutdown.is_aborted() {
                break "shutdown grace period over".to_string();
            }
            match self.wait_out_backoff().await {
                Backoff::Passed => {}
                Backoff::Extended => continue,
                Backoff::Stopped => {
                    break "shutdown: spooled instead of waiting out the backoff".to_string()
                }
            }
            // A batch past load.max_connections waits here, its timeout not started; the end of the grace cuts the
            // wait (the loop's top then spools it).
            let Some(connection) = self
                .client
                .connection(&self.metrics, self.shutdown.aborted())
                .await
            else {
                continue;
            };
            if self.circuit.borrow().blocked_until() > Instant::now() {
                continue; // a backoff (or Retry-After) came while it waited: wait that out first
            }
            let attempt = self
                .client
                .attempt(
                    connection,
                    &batch.id,
                    request,
                    &self.metrics,
                    self.shutdown.aborted(),
                )
                .await;
            let (reason, retry_after, text) = match attempt {
                // Cut by the end of the grace: not an attempt the API failed (the loop's top spools the batch).
                Attempt::Aborted => continue,
                Attempt::Failed(reason, text) => (reason, None, text),
                Attempt::Answer {
                    status,
                    retry_after,
                    body,
                } => match classify_status(status, retry_after) {
                    Outcome::Delivered => {
                        self.circuit_answered();
                        return Ended::Delivered;
                    }
                    Outcome::Reject { status } => {
                        if probe {
                            self.circuit.borrow_mut().probe_ended();
                        }
                        return Ended::Rejected { status, body };
                    }
                    Outcome::Retry { reason, after } => (reason, after, format!("HTTP {status}")),
                },
            };
            attempts += 1;
            self.count_retry(reason);
            self.circuit
                .borrow_mut()
                .attempt_failed(retry_after, Instant::now(), &mut rand::rng());
            last_reason = Some(reason);
            if attempts >= max_attempts {
                break format!("{text} after {attempts} attempts");
            }
            log::debug!(
                "[Loader-{}] batch {} attempt {attempts}: {text}",
                self.worker,
                batch.id
            );
        };
        let exhausted = last_reason.filter(|_| attempts >= max_attempts);
        self.circuit_gave_up(exhausted, probe);
        Ended::GaveUp(why)
    }

    /// Waits until the loader's backoff (or a `Retry-After`) has passed. Meanwhile this batch has nothing in
    /// flight: on a signal it goes to the spool at once rather than hold the run for the grace period.
    async fn wait_out_backoff(&self) -> Backoff {
        let until = self.circuit.borrow().blocked_until();
        if until <= Instant::now() {
            return Backoff::Passed;
        }
        tokio::select! {
            _ = actix_rt::time::sleep_until(until.into()) => {}
            _ = self.shutdown.stopped() => return Backoff::Stopped,
        }
        if self.circuit.borrow().blocked_until() > Instant::now() {
            return Backoff::Extended; // another batch of this loader extended the backoff meanwhile
        }
        Backoff::Passed
    }

    /// A 2xx: the circuit closes if it was open.
    fn circuit_answered(&self) {
        if self.circuit.borrow_mut().success(Instant::now()) {
            self.metrics.circuit_open_loaders.fetch_sub(1, Relaxed);
            log::info!("[Loader-{}] API answers again: circuit closed", self.worker);
        }
    }

    /// The batch's attempts ended without an answer for good: ran out (`exhausted`, with the last failure's
    /// reason), which may open the circuit, or cut by shutdown, which ends a probe.
    fn circuit_gave_up(&self, exhausted: Option<RetryReason>, probe: bool) {
        let opened = match exhausted {
            Some(reason) => self.circuit.borrow_mut().exhausted(reason, probe),
            None => {
                if probe {
                    self.circuit.borrow_mut().probe_ended();
                }
                false
            }
        };
        if opened {
            RunMetrics::add(&self.metrics.circuit_openings, 1);
            self.metrics.circuit_open_loaders.fetch_add(1, Relaxed);
            log::warn!(
                "[Loader-{}] API considered down: new batches go to the spool at once, one probe per backoff interval",
                self.worker
            );
        }
    }

    fn count_retry(&self, reason: RetryReason) {
        let m = &self.metrics;
        RunMetrics::add(&m.retries, 1);
        RunMetrics::add(
            match reason {
                RetryReason::Connect => &m.retries_connect,
                RetryReason::Timeout => &m.retries_timeout,
                RetryReason::Status(_) => &m.retries_status,
            },
            1,
        );
    }
}

/// How the attempts of a batch ended.
enum Ended {
    /// Acknowledged (2xx).
    Delivered,
    /// A non-retryable answer.
    Rejected { status: u16, body: Bytes },
    /// No answer for good: attempts ran out, or shutdown cut them; why.
    GaveUp(String),
}

/// What waiting out the loader's backoff came to.
enum Backoff {
    /// It has passed: attempt now.
    Passed,
    /// Another batch extended it meanwhile: wait again.
    Extended,
    /// A signal came: spool instead of waiting.
    Stopped,
}
