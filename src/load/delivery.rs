//! Delivery of one batch by a loader: POST with retries, the loader's shared backoff and circuit, then
//! acknowledge, dead-letter or spool. Runs as a task on the loader's arbiter, holding one in-flight slot.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::Addr;
use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

use crate::actors::failed_buffer::{AckSpoolFile, FailedBufferActor, PersistBatch, RejectBatch};
use crate::actors::shutdown::Shutdown;
use crate::codec::gzip;
use crate::config::{Compression, LoadSettings};
use crate::load::retry::{backoff, classify_status, parse_retry_after, Outcome, RetryReason};
use crate::model::{Batch, SpoolOrigin};
use crate::observe::metrics::RunMetrics;

/// Largest response body kept (for the dead-letter sidecar and logs).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// The loader's view of the API's health, shared by all its in-flight batches, so that a sick API is backed off
/// once per loader, not once per request.
#[derive(Debug)]
struct Health {
    /// Failed attempts since the last success.
    failures: Cell<u32>,
    /// No attempt starts before this instant.
    blocked_until: Cell<Instant>,
    /// A batch used up all its attempts (not on 429): the API is treated as down until an attempt succeeds.
    circuit_open: Cell<bool>,
    /// While the circuit is open, the one batch allowed to try (others go to the spool at once).
    probing: Cell<bool>,
}

/// What one attempt came to.
enum Attempt {
    Answer {
        status: u16,
        retry_after: Option<Duration>,
        body: Bytes,
    },
    Failed(RetryReason, String),
    Aborted,
}

/// Everything a loader needs to deliver a batch.
pub struct Delivery {
    pub worker: usize,
    client: awc::Client,
    endpoint: String,
    authorization: Option<String>,
    settings: LoadSettings,
    health: Health,
    metrics: Arc<RunMetrics>,
    failed_buffer: Addr<FailedBufferActor>,
    spool_dir: std::path::PathBuf,
    shutdown: Arc<Shutdown>,
}

impl Delivery {
    /// Builds the loader's HTTP client; call on the loader's arbiter (the client is not `Send`).
    pub fn new(
        worker: usize,
        settings: LoadSettings,
        metrics: Arc<RunMetrics>,
        failed_buffer: Addr<FailedBufferActor>,
        spool_dir: std::path::PathBuf,
        shutdown: Arc<Shutdown>,
    ) -> Self {
        let mut connector = awc::Connector::new().limit(settings.max_in_flight);
        if let Some(tls) = settings.tls.config() {
            connector = connector.rustls_0_23(tls);
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(settings.request_timeout())
            .disable_redirects()
            .finish();
        let authorization =
            (!settings.token.is_empty()).then(|| format!("Bearer {}", settings.token.expose()));
        Delivery {
            worker,
            client,
            endpoint: settings.endpoint.clone(),
            authorization,
            health: Health {
                failures: Cell::new(0),
                blocked_until: Cell::new(Instant::now()),
                circuit_open: Cell::new(false),
                probing: Cell::new(false),
            },
            settings,
            metrics,
            failed_buffer,
            spool_dir,
            shutdown,
        }
    }

    /// Backs the whole loader off after a failed attempt: exponential with full jitter, or the server's
    /// `Retry-After` (capped) when that is longer.
    fn record_failure(&self, retry_after: Option<Duration>) {
        let h = &self.health;
        h.failures.set(h.failures.get().saturating_add(1));
        let r = &self.settings.retry;
        let computed = backoff(
            h.failures.get(),
            r.initial_backoff(),
            r.max_backoff(),
            &mut rand::rng(),
        );
        let wait = match retry_after {
            Some(after) => after.min(r.max_retry_after()).max(computed),
            None => computed,
        };
        let until = Instant::now() + wait;
        if until > h.blocked_until.get() {
            h.blocked_until.set(until);
        }
    }

    async fn attempt(&self, batch: &Batch, body: &Bytes) -> Attempt {
        let mut req = self
            .client
            .post(&self.endpoint)
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Idempotency-Key", batch.id.0.as_str()));
        if let Some(auth) = &self.authorization {
            req = req.insert_header(("Authorization", auth.as_str()));
        }
        if self.settings.compression == Compression::Gzip {
            req = req.insert_header(("Content-Encoding", "gzip"));
        }
        RunMetrics::add(&self.metrics.requests, 1);
        let started = Instant::now();
        self.metrics
            .in_flight_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let send = async {
            let mut resp = match req.send_body(body.clone()).await {
                Ok(r) => r,
                Err(awc::error::SendRequestError::Timeout) => {
                    return Attempt::Failed(RetryReason::Timeout, "timeout".into())
                }
                Err(e) => return Attempt::Failed(RetryReason::Connect, connect_error(&e)),
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = resp
                .body()
                .limit(MAX_RESPONSE_BYTES)
                .await
                .unwrap_or_default();
            Attempt::Answer {
                status,
                retry_after,
                body,
            }
        };
        let result = tokio::select! {
            r = send => r,
            _ = self.shutdown.aborted() => Attempt::Aborted,
        };
        if !matches!(result, Attempt::Aborted) {
            self.metrics
                .request_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        self.metrics
            .in_flight_requests
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Delivers `batch`, retrying per the rules; the slot is released when the batch is acknowledged, dead-lettered
    /// or on disk.
    pub async fn deliver(self: Rc<Self>, batch: Batch, _slot: OwnedSemaphorePermit) {
        let body = match self.settings.compression {
            Compression::Gzip => Bytes::from(gzip(&batch.body)),
            Compression::None => batch.body.clone(),
        };
        let h = &self.health;
        // A batch formed while the circuit is open gets one attempt, and only if no other probe is under way and
        // the backoff has passed; otherwise it goes straight to the spool. A batch formed while the circuit was
        // closed keeps all its attempts whatever happens to the circuit meanwhile.
        let probe = h.circuit_open.get();
        if probe {
            if h.probing.get() || h.blocked_until.get() > Instant::now() {
                let why = format!(
                    "API considered down ({} failed attempts in a row); probing every backoff interval",
                    h.failures.get()
                );
                return self.give_up(batch, why).await;
            }
            h.probing.set(true);
        }
        let max_attempts = if probe {
            1
        } else {
            self.settings.retry.max_attempts
        };
        let mut attempts = 0;
        let mut last_reason = None;
        let why = loop {
            if self.shutdown.is_aborted() {
                break "shutdown grace period over".to_string();
            }
            let until = h.blocked_until.get();
            if until > Instant::now() {
                tokio::select! {
                    _ = actix_rt::time::sleep_until(until.into()) => {}
                    _ = self.shutdown.aborted() => continue,
                }
                if h.blocked_until.get() > Instant::now() {
                    continue; // another batch of this loader extended the backoff meanwhile
                }
            }
            attempts += 1;
            let (reason, retry_after, text) = match self.attempt(&batch, &body).await {
                Attempt::Aborted => continue,
                Attempt::Failed(reason, text) => (reason, None, text),
                Attempt::Answer {
                    status,
                    retry_after,
                    body: resp,
                } => match classify_status(status, retry_after) {
                    Outcome::Delivered => {
                        if h.circuit_open.replace(false) {
                            log::info!(
                                "[Loader-{}] API answers again: circuit closed",
                                self.worker
                            );
                        }
                        h.failures.set(0);
                        h.blocked_until.set(Instant::now());
                        if probe {
                            h.probing.set(false);
                        }
                        return self.delivered(batch, body.len()).await;
                    }
                    Outcome::Reject { status } => {
                        if probe {
                            h.probing.set(false);
                        }
                        return self.reject(batch, status, resp).await;
                    }
                    Outcome::Retry { reason, after } => (reason, after, format!("HTTP {status}")),
                },
            };
            self.count_retry(reason);
            self.record_failure(retry_after);
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
        if probe {
            h.probing.set(false);
        }
        // A rate limit (429) says the API is alive: it never opens the circuit.
        let down = attempts >= max_attempts
            && !matches!(last_reason, Some(RetryReason::Status(429)) | None);
        if down && !h.circuit_open.replace(true) {
            log::warn!(
                "[Loader-{}] API considered down: new batches go to the spool at once, one probe per backoff interval",
                self.worker
            );
        }
        self.give_up(batch, why).await;
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

    async fn delivered(&self, batch: Batch, bytes: usize) {
        let m = &self.metrics;
        RunMetrics::add(&m.batches_sent, 1);
        RunMetrics::add(&m.bytes_sent, bytes as u64);
        match &batch.spool_file {
            Some(origin) if !origin.write_ahead => {
                RunMetrics::add(&m.records_replayed, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully replayed {} records from {}",
                    self.worker,
                    batch.records,
                    origin.path.display()
                );
                self.resolve_part(origin).await;
            }
            _ => {
                RunMetrics::add(&m.records_loaded, batch.records as u64);
                log::info!(
                    worker = self.worker, batch_id = batch.id.0.as_str(), records = batch.records;
                    "[Loader-{}] Successfully flushed {} records",
                    self.worker,
                    batch.records
                );
                if let Some(origin) = &batch.spool_file {
                    self.resolve_part(origin).await; // the write-ahead copy goes
                }
            }
        }
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
                batch.spool_file = Some(SpoolOrigin::write_ahead(path));
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

    /// One part of a replayed file is acknowledged or dead-lettered: delete the file once all are.
    async fn resolve_part(&self, origin: &SpoolOrigin) {
        if !origin.part_resolved() {
            return;
        }
        let path = origin.path.clone();
        let ack = AckSpoolFile {
            path: path.clone(),
            replayed: !origin.write_ahead,
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

    async fn reject(&self, batch: Batch, status: u16, resp: Bytes) {
        let m = &self.metrics;
        let (id, records, origin) = (
            batch.id.clone(),
            batch.records as u64,
            batch.spool_file.clone(),
        );
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
                if let Some(origin) = &origin {
                    self.resolve_part(origin).await;
                }
            }
            Ok(Err(e)) => match &origin {
                // The batch is still safe in its spool file.
                Some(origin) => {
                    origin.part_kept();
                    RunMetrics::add(&m.records_spooled, records);
                    log::error!(
                        "[Loader-{}] API rejected batch {id} with HTTP {status}; writing the dead letter failed ({e}); it stays in {}",
                        self.worker,
                        origin.path.display()
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

    async fn give_up(&self, batch: Batch, why: String) {
        let m = &self.metrics;
        let records = batch.records as u64;
        if let Some(origin) = &batch.spool_file {
            origin.part_kept();
            RunMetrics::add(&m.records_spooled, records);
            if origin.write_ahead {
                RunMetrics::add(&m.batches_spooled, 1);
            }
            log::warn!(
                "[Loader-{}] API load failed: {why}. Batch {} stays in {}",
                self.worker,
                batch.id,
                origin.path.display()
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

/// A failed request's text; a refused certificate says which keys decide trust.
fn connect_error(e: &awc::error::SendRequestError) -> String {
    let text = e.to_string();
    if text.contains("CertificateRequired") {
        format!("{text} (TLS: the API wants a client certificate: load.client_cert_file and load.client_key_file)")
    } else if text.contains("certificate") {
        format!("{text} (TLS: the API's certificate is checked against load.ca_file, or the system roots if unset)")
    } else {
        text
    }
}
