//! Handlers of the mock API: `GET /health`, `POST /load` (the JSON array), `POST /api/v1/write` (Prometheus
//! remote write), `POST /write` and `POST /api/v2/write` (InfluxDB line protocol), `GET /stats`,
//! `GET /device/{name}/cpu`. The three load routes share everything (token, limits, counters, idempotency keys,
//! fault injection) but the format they decode and check (`Format`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::state::MockState;
use crate::codec::{count_records, decode_body, CodecError};
use crate::extract::simulated::device_stats;
use crate::extract::unix_now;
use crate::load::sinks::{influx_line, prometheus_remote_write as remote_write};

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/load", web::post().to(load))
        .route("/api/v1/write", web::post().to(remote_write))
        .route("/write", web::post().to(influx_write))
        .route("/api/v2/write", web::post().to(influx_write))
        .route("/stats", web::get().to(stats))
        .route("/device/{name}/cpu", web::get().to(device_cpu))
        .route("/metrics", web::get().to(metrics));
}

async fn metrics(registry: web::Data<prometheus_client::registry::Registry>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::observe::prom::CONTENT_TYPE)
        .body(crate::observe::prom::encode(&registry))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn stats(state: web::Data<Arc<MockState>>) -> HttpResponse {
    HttpResponse::Ok().json(state.snapshot())
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({"status": "error", "error": message.into()}))
}

/// Compares in time that depends only on the lengths, not on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    if token.is_empty() {
        return true;
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("Token "))
        })
        .unwrap_or("");
    constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<BytesMut, CodecError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| CodecError::Invalid(format!("reading body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(CodecError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn body_error(e: CodecError) -> HttpResponse {
    match e {
        CodecError::TooLarge { .. } => error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        CodecError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

/// Longest `Idempotency-Key` the mock takes (the ETL's are about 40 bytes): keys are remembered and logged, so
/// their length is bounded, not only their number.
pub const MAX_KEY_BYTES: usize = 256;

/// The request's `Idempotency-Key`: none, or one of at most [`MAX_KEY_BYTES`] visible ASCII bytes (400 otherwise).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    if v.len() > MAX_KEY_BYTES {
        return Err(format!(
            "Idempotency-Key of {} bytes: at most {MAX_KEY_BYTES}",
            v.len()
        ));
    }
    match v.to_str() {
        Ok(k) => Ok(Some(k.to_string())),
        Err(_) => Err("Idempotency-Key must be visible ASCII".into()),
    }
}

/// A key as the log shows it: its first 64 bytes, with `…` when there is more (keys are ASCII).
fn key_for_log(key: &str) -> String {
    match key.get(..64) {
        Some(head) if head.len() < key.len() => format!("{head}…"),
        _ => key.to_string(),
    }
}

/// The body preview of the log line: at most `n` bytes, lossily decoded, escaped (a body cannot start a line).
fn preview(body: &[u8], n: usize) -> String {
    crate::model::log_text(&String::from_utf8_lossy(&body[..body.len().min(n)]), n)
}

/// What a load route receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `/load`: the JSON array of records.
    Json,
    /// `/api/v1/write`: a snappy protobuf `WriteRequest`.
    RemoteWrite,
    /// `/write`, `/api/v2/write`: line protocol.
    Line,
}

async fn load(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Arc<MockState>>,
) -> HttpResponse {
    load_as(Format::Json, req, payload, state).await
}

async fn remote_write(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Arc<MockState>>,
) -> HttpResponse {
    load_as(Format::RemoteWrite, req, payload, state).await
}

async fn influx_write(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Arc<MockState>>,
) -> HttpResponse {
    load_as(Format::Line, req, payload, state).await
}

async fn load_as(
    format: Format,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<Arc<MockState>>,
) -> HttpResponse {
    let resp = load_inner(format, &req, payload, &state).await;
    if !resp.status().is_success() {
        state.refused(resp.status().as_u16());
    }
    resp
}

/// The records of a remote-write body: distinct device × CPU × timestamp of its series, each series checked as
/// Prometheus does (a metric name, labels sorted and unique, at least one sample).
fn count_remote_write(body: &[u8], limit: usize) -> Result<u64, CodecError> {
    let raw = remote_write::decompress(body, limit).map_err(CodecError::Invalid)?;
    let series = remote_write::protobuf::read_write_request(&raw).map_err(CodecError::Invalid)?;
    let mut records = std::collections::HashSet::new();
    for s in &series {
        let name = s
            .labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str());
        if name.is_none_or(str::is_empty) {
            return Err(CodecError::Invalid("a series without a metric name".into()));
        }
        if s.labels.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(CodecError::Invalid(
                "labels not sorted by name, or repeated".into(),
            ));
        }
        if s.samples.is_empty() {
            return Err(CodecError::Invalid("a series without samples".into()));
        }
        let label = |k: &str| {
            s.labels
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        for (_, ts) in &s.samples {
            records.insert((label("device"), label("cpu"), *ts));
        }
    }
    Ok(records.len() as u64)
}

/// The records of a line-protocol body: its lines, each checked.
fn count_lines(body: &[u8]) -> Result<u64, CodecError> {
    influx_line::parse::lines(body)
        .map(|points| points.len() as u64)
        .map_err(CodecError::Invalid)
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

async fn load_inner(
    format: Format,
    req: &HttpRequest,
    payload: web::Payload,
    state: &MockState,
) -> HttpResponse {
    let s = &state.settings;
    state.counters.requests.fetch_add(1, Relaxed);
    let headers = req.headers();
    if !authorized(headers, s.token.expose()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    match format {
        Format::Json if !is_json(headers) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            )
        }
        Format::RemoteWrite if content_type(headers) != remote_write::CONTENT_TYPE => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf",
            )
        }
        _ => {}
    }
    let key = match idempotency_key(headers) {
        Ok(k) => k,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > s.max_body_bytes) {
        return body_error(CodecError::TooLarge {
            limit: s.max_body_bytes,
        });
    }
    let read = read_limited(payload, s.max_body_bytes);
    let raw = match actix_web::rt::time::timeout(s.body_timeout(), read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return body_error(e),
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("body not received within {} ms", s.body_timeout_ms),
            )
        }
    };
    state.counters.bytes.fetch_add(raw.len() as u64, Relaxed);
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let gzip = match (format, encoding.as_deref()) {
        (Format::RemoteWrite, Some("snappy")) => false,
        (Format::RemoteWrite, other) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding `{}` is not supported (remote write is snappy)",
                    other.unwrap_or("")
                ),
            )
        }
        (_, None | Some("identity")) => false,
        (_, Some("gzip") | Some("x-gzip")) => true,
        (_, Some(other)) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding `{other}` is not supported (use gzip)"),
            )
        }
    };
    let body = match decode_body(&raw, gzip, s.max_body_bytes) {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    log::info!(
        target: "mock",
        "Received POST {} with size {} bytes{}{}",
        req.path(),
        raw.len(),
        key.as_deref().map(|k| format!(" key {}", key_for_log(k))).unwrap_or_default(),
        if s.log_body_preview > 0 {
            format!(" body: {}", preview(&body, s.log_body_preview))
        } else {
            String::new()
        }
    );
    let counted = match format {
        Format::Json => count_records(&body),
        Format::RemoteWrite => count_remote_write(&body, s.max_body_bytes),
        Format::Line => count_lines(&body),
    };
    let records = match counted {
        Ok(n) => n,
        Err(e) => return body_error(e),
    };
    let delay = state.load_delay();
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    if state.inject_failure() {
        let status = StatusCode::from_u16(s.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut resp = HttpResponse::build(status);
        if s.retry_after_s > 0 && matches!(s.fail_status, 429 | 503) {
            resp.insert_header((header::RETRY_AFTER, s.retry_after_s.to_string()));
        }
        return resp.json(json!({"status": "error", "error": "injected failure"}));
    }
    let fresh = state.acknowledge(key.as_deref(), records);
    log::info!(
        target: "mock",
        "Acknowledged key {} with {records} records{}",
        key.as_deref().map_or("-".into(), key_for_log),
        if fresh { "" } else { " (duplicate)" }
    );
    match format {
        Format::Json => HttpResponse::Ok()
            .json(json!({"status": "success", "received": records, "duplicate": !fresh})),
        // As Prometheus and InfluxDB answer a write.
        Format::RemoteWrite | Format::Line => HttpResponse::NoContent().finish(),
    }
}

#[derive(Deserialize)]
struct CpuQuery {
    cpus: Option<u32>,
}

/// Largest `cpus` a device answer may have.
const MAX_CPUS: u32 = 4096;
/// Longest device name the route answers for (a DNS name's limit).
pub const MAX_NAME_BYTES: usize = 255;
/// Most bytes of names an answer may repeat (`cpus` × the name's length): the answer stays under the http
/// source's 1 MiB read limit and the mock's memory per request stays small.
const MAX_NAME_CPU_BYTES: usize = 64 << 10;

async fn device_cpu(
    req: HttpRequest,
    name: web::Path<String>,
    query: web::Query<CpuQuery>,
    state: web::Data<Arc<MockState>>,
) -> HttpResponse {
    let s = &state.settings;
    state.counters.device_requests.fetch_add(1, Relaxed);
    // The same token as the load routes: every route that serves data checks it.
    if !authorized(req.headers(), s.token.expose()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let cpus = query.cpus.unwrap_or(1);
    if cpus == 0 || cpus > MAX_CPUS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("cpus must be between 1 and {MAX_CPUS}"),
        );
    }
    if name.len() > MAX_NAME_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "device name of {} bytes: at most {MAX_NAME_BYTES}",
                name.len()
            ),
        );
    }
    if cpus as usize * name.len() > MAX_NAME_CPU_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            format!("cpus × name bytes is at most {MAX_NAME_CPU_BYTES}"),
        );
    }
    if s.device_delay_ms > 0 {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(s.device_delay_ms)).await;
    }
    if state.chance(s.device_fail_rate) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "injected device failure");
    }
    HttpResponse::Ok().json(device_stats(&name, cpus, unix_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
