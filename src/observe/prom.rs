//! Prometheus exposition (prometheus-client, OpenMetrics text): the run's counters for `app etl --metrics-addr`,
//! the encoding helpers the mock's collector (`mock::metrics`) uses too, and the `/metrics` server. Collectors read the same atomics the summary reads, at scrape time,
//! so the two always agree and the hot path pays nothing for it.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::observe::metrics::RunMetrics;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A counter family with one label (shared with the mock's collector): `name_total{label="value"} n` for each pair.
pub fn labelled_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let probe = ConstCounter::new(0u64);
    let mut family = encoder.encode_descriptor(name, help, None, probe.metric_type())?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

pub fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    n: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(n);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

pub fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: i64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

/// The run's counters, read at scrape time.
#[derive(Debug)]
struct RunCollector {
    metrics: Arc<RunMetrics>,
    spool_dir: PathBuf,
}

/// The Prometheus families of the run's counters, in exposition order: name, help, and the label that tells the
/// family's counters apart (`""` for a family of one unlabelled counter). Which counter goes where is said by
/// `observe::metrics::COUNTERS`.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("app_devices", "Devices by outcome", "outcome"),
    ("app_records", "Records by what happened to them", "state"),
    ("app_batches", "Batches by result", "result"),
    ("app_requests", "POST /load attempts", ""),
    (
        "app_retries",
        "Failed attempts that are retried, by reason",
        "reason",
    ),
    ("app_sent_bytes", "Request body bytes acknowledged", ""),
    (
        "app_attempted_bytes",
        "Request body bytes sent, acknowledged or not",
        "",
    ),
    (
        "app_rejected_records",
        "Records dead-lettered by the store's reason (out_of_order, duplicate, too_old; other refusals count only in app_records_total{state=\"rejected\"})",
        "reason",
    ),
    (
        "app_spool_file_events",
        "Spool files written, replayed (deleted after delivery), quarantined, unreadable",
        "event",
    ),
];

impl Collector for RunCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.metrics;
        let values = m.values();
        for (name, help, label) in FAMILIES {
            let members: Vec<(&str, u64)> = values
                .iter()
                .filter(|(c, _)| c.family == *name)
                .map(|(c, v)| (c.label.unwrap_or(""), *v))
                .collect();
            if label.is_empty() {
                let total = members.iter().map(|(_, v)| v).sum();
                counter(&mut e, name, help, total)?;
            } else {
                labelled_counter(&mut e, name, help, label, &members)?;
            }
            if *name == "app_devices" {
                labelled_counter(
                    &mut e,
                    "app_device_failures",
                    "Failed devices by reason (they sum to app_devices_total{outcome=\"failed\"})",
                    "reason",
                    &m.failures_by_reason(),
                )?;
            }
            if *name == "app_sent_bytes" {
                gauge(
                    &mut e,
                    "app_in_flight_requests",
                    "Requests under way",
                    m.in_flight_requests.load(Relaxed),
                )?;
                gauge(
                    &mut e,
                    "app_requests_waiting_for_connection",
                    "Requests waiting for a connection to the API (load.max_connections)",
                    m.waiting_for_connection.load(Relaxed),
                )?;
            }
        }
        counter(
            &mut e,
            "app_circuit_opened",
            "Times a loader's circuit opened (the API considered down: new batches spooled, one probe per backoff)",
            RunMetrics::get(&m.circuit_openings),
        )?;
        gauge(
            &mut e,
            "app_circuit_open_loaders",
            "Loaders whose circuit is open now",
            m.circuit_open_loaders.load(Relaxed),
        )?;
        let w = &m.wal;
        let wg = crate::spool::wal::WalStats::get;
        counter(
            &mut e,
            "app_wal_appends",
            "Batches written ahead to the WAL (spool.durable)",
            wg(&w.appends),
        )?;
        counter(
            &mut e,
            "app_wal_fsyncs",
            "fdatasync calls of log segments",
            wg(&w.fsyncs),
        )?;
        gauge(
            &mut e,
            "app_wal_bytes",
            "Bytes of log segments held (not yet deletable)",
            wg(&w.bytes_held) as i64,
        )?;
        let waited = ConstCounter::new(wg(&w.backpressure_ns) as f64 / 1e9);
        waited.encode(e.encode_descriptor(
            "app_wal_backpressure_seconds",
            "Seconds new batches waited because the WAL held spool.max_bytes",
            None,
            waited.metric_type(),
        )?)?;
        let (files, bytes) = spool_usage(&self.spool_dir);
        gauge(
            &mut e,
            "app_spool_files",
            "Spool files waiting for replay",
            files,
        )?;
        gauge(
            &mut e,
            "app_spool_bytes",
            "Bytes of spool files waiting for replay",
            bytes,
        )?;
        Ok(())
    }
}

/// Files and bytes waiting in the spool directory.
pub fn spool_usage(dir: &std::path::Path) -> (i64, i64) {
    let files = crate::spool::list(dir).unwrap_or_default();
    let bytes: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    (files.len() as i64, bytes as i64)
}

/// The registry of an ETL run: its counters and the request latency histogram.
pub fn run_registry(metrics: Arc<RunMetrics>, spool_dir: PathBuf) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "app_request_duration_seconds",
        "Latency of POST /load attempts",
        metrics.request_seconds.clone(),
    );
    registry.register_collector(Box::new(RunCollector { metrics, spool_dir }));
    registry
}

/// The exposition text of `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

/// Serves `GET /metrics` for `registry` on `listener` (one worker); the handle stops it.
pub fn serve(
    registry: Registry,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let registry = web::Data::new(registry);
    Ok(HttpServer::new(move || {
        App::new().app_data(registry.clone()).route(
            "/metrics",
            web::get().to(|r: web::Data<Registry>| async move {
                HttpResponse::Ok()
                    .content_type(CONTENT_TYPE)
                    .body(encode(&r))
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::FailureReason;
    use crate::observe::outcome::{Mode, RunOutcome};
    use crate::observe::summary::Summary;
    use std::collections::HashMap;

    /// `name{labels}` → value, from the exposition text.
    fn parse(text: &str) -> HashMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("a sample line is `name value`");
                (k.to_string(), v.parse().expect("a number"))
            })
            .collect()
    }

    #[test]
    fn failed_devices_are_exposed_by_reason() {
        let m = Arc::new(RunMetrics::default());
        m.device_failed(FailureReason::Timeout);
        m.device_failed(FailureReason::Timeout);
        m.device_failed(FailureReason::WrongDigest);
        m.device_failed(FailureReason::Report);
        let dir = tempfile::tempdir().unwrap();
        let got = parse(&encode(&run_registry(m, dir.path().to_path_buf())));
        let failures = |r: &str| got[&format!("app_device_failures_total{{reason=\"{r}\"}}")];
        assert_eq!(failures("timeout"), 2.0);
        assert_eq!(failures("wrong_digest"), 1.0);
        assert_eq!(failures("report"), 1.0);
        for r in FailureReason::ALL {
            assert!(got.contains_key(&format!(
                "app_device_failures_total{{reason=\"{}\"}}",
                r.label()
            )));
        }
        assert_eq!(got["app_devices_total{outcome=\"failed\"}"], 4.0);
    }

    #[test]
    fn the_exposition_equals_the_summary() {
        let m = Arc::new(RunMetrics::default());
        let fields = [
            (&m.devices_ok, 7),
            (&m.devices_failed, 2),
            (&m.devices_cancelled, 1),
            (&m.records_extracted, 70),
            (&m.records_loaded, 50),
            (&m.records_spooled, 20),
            (&m.records_replayed, 5),
            (&m.batches_sent, 3),
            (&m.requests, 9),
            (&m.retries_connect, 4),
            (&m.retries_status, 2),
            (&m.bytes_sent, 1234),
        ];
        for (c, v) in fields {
            RunMetrics::add(c, v);
        }
        m.request_seconds.observe(0.003);
        let dir = tempfile::tempdir().unwrap();
        let text = encode(&run_registry(m.clone(), dir.path().to_path_buf()));
        let got = parse(&text);
        let outcome = RunOutcome {
            run_id: "r".into(),
            metrics: m,
            duration: std::time::Duration::from_secs(1),
            signal: None,
            inventory_error: None,
            sharded: false,
        };
        let s = serde_json::to_value(Summary::new(&outcome, Mode::Etl, dir.path())).unwrap();
        for (state, key) in [
            ("extracted", "extracted"),
            ("loaded", "loaded"),
            ("spooled", "spooled"),
            ("replayed", "replayed"),
        ] {
            assert_eq!(
                got[&format!("app_records_total{{state=\"{state}\"}}")],
                s["records"][key].as_f64().unwrap()
            );
        }
        for outcome in ["ok", "failed", "cancelled"] {
            assert_eq!(
                got[&format!("app_devices_total{{outcome=\"{outcome}\"}}")],
                s["devices"][outcome].as_f64().unwrap()
            );
        }
        assert_eq!(
            got["app_requests_total"],
            s["batches"]["requests"].as_f64().unwrap()
        );
        assert_eq!(got["app_retries_total{reason=\"connect\"}"], 4.0);
        assert_eq!(got["app_sent_bytes_total"], 1234.0);
        assert_eq!(got["app_request_duration_seconds_count"], 1.0);
        assert_eq!(got["app_spool_files"], 0.0);
        // Conventions: app_ prefix, counters end in _total, base units.
        for name in got.keys() {
            assert!(name.starts_with("app_"), "{name}");
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with("# TYPE") && l.ends_with(" counter"))
        {
            let family = line.split_whitespace().nth(2).unwrap();
            assert!(
                got.keys()
                    .any(|k| k.starts_with(&format!("{family}_total"))),
                "{family}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
