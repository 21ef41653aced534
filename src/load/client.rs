//! The HTTP client of one loader: one `POST` of a batch body, as its sink encoded it (`load::sinks`), to
//! `load.endpoint` with its headers (the sink's `Content-Type`, `Content-Encoding` and others, `Idempotency-Key`,
//! `Authorization`), and what that attempt came to.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::config::{LoadSettings, Secret};
use crate::load::retry::{parse_retry_after, RetryReason};
use crate::load::sinks::{auth, EncodeError, Encoded, Sink};
use crate::model::{Batch, BatchId};
use crate::observe::metrics::RunMetrics;
use crate::resolve::tls::ClientTls;

/// Largest response body kept (for the dead-letter sidecar and logs).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// What one attempt came to.
pub enum Attempt {
    Answer {
        status: u16,
        retry_after: Option<std::time::Duration>,
        body: Bytes,
    },
    Failed(RetryReason, String),
    /// Cut by the end of the shutdown grace period.
    Aborted,
}

/// A loader's client. Not `Send`: build it on the loader's arbiter.
pub struct LoadClient {
    client: awc::Client,
    endpoint: String,
    authorization: Option<Secret>,
    sink: Sink,
}

impl LoadClient {
    /// `token`, `password` and `tls` come resolved from the configuration (`load.token` or `load.token_file`,
    /// `load.password` or `load.password_file`, `load.ca_file`…).
    pub fn new(
        settings: &LoadSettings,
        token: &Secret,
        password: &Secret,
        tls: &ClientTls,
    ) -> Self {
        let mut connector = awc::Connector::new().limit(settings.max_in_flight);
        if let Some(tls) = tls.config() {
            connector = connector.rustls_0_23(tls);
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(settings.request_timeout())
            .disable_redirects()
            .finish();
        let sink = Sink::new(settings);
        LoadClient {
            client,
            endpoint: sink.endpoint(&settings.endpoint),
            authorization: auth::authorization(settings.sink, token, &settings.username, password),
            sink,
        }
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The request of a batch, in the sink's format (`Sink::request`).
    pub fn request(&self, batch: &Batch) -> Result<Encoded, EncodeError> {
        self.sink.request(batch)
    }

    /// One `POST` of `request` (as [`request`](Self::request) made it), cut short when `abort` resolves. Counts the
    /// request, its latency and the requests in flight.
    pub async fn attempt(
        &self,
        id: &BatchId,
        request: &Encoded,
        metrics: &Arc<RunMetrics>,
        abort: impl Future<Output = ()>,
    ) -> Attempt {
        let body = &request.body;
        let mut req = self
            .client
            .post(&self.endpoint)
            .insert_header(("Content-Type", request.content_type))
            .insert_header(("Idempotency-Key", id.0.as_str()));
        for header in request.extra {
            req = req.insert_header(*header);
        }
        if let Some(auth) = &self.authorization {
            req = req.insert_header(("Authorization", auth.expose()));
        }
        if let Some(encoding) = request.content_encoding {
            req = req.insert_header(("Content-Encoding", encoding));
        }
        RunMetrics::add(&metrics.requests, 1);
        RunMetrics::add(&metrics.bytes_attempted, body.len() as u64);
        let started = Instant::now();
        metrics.in_flight_requests.fetch_add(1, Relaxed);
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
            _ = abort => Attempt::Aborted,
        };
        if !matches!(result, Attempt::Aborted) {
            metrics
                .request_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        metrics.in_flight_requests.fetch_sub(1, Relaxed);
        result
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
