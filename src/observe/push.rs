//! The end-of-run report for batch monitoring: a run's figures pushed to a Prometheus Pushgateway
//! (`metrics.push_url`) and/or written for node_exporter's textfile collector (`metrics.textfile`), after every
//! `etl` and `replay` run, whatever its exit code (signals and failures included).
//!
//! A batch job's `/metrics` lives only while it runs, so it reports the way Prometheus documents for batch jobs:
//! the run's counters (the same families as `/metrics`, see `prom.rs`) plus
//!
//! - `app_last_run_timestamp_seconds`: when this run ended, whatever its exit code;
//! - `app_last_success_timestamp_seconds`: when the last run that exited 0 ended;
//! - `app_run_duration_seconds` and `app_run_exit_code` of this run.
//!
//! The success timestamp must survive failing runs:
//!
//! - **Pushgateway.** Each shard is one group, `{push_url}/metrics/job/app_etl/shard/{K_of_N|all}` (job
//!   `app_replay` for `replay`). The push is a POST, which replaces only the metric families it carries: every run
//!   carries all of them except `app_last_success_timestamp_seconds`, which only a successful run carries, so a
//!   failing run leaves the last success's value in place (a PUT would delete it). The gateway adds `job`, `shard`
//!   and its own `push_time_seconds`.
//! - **Textfile.** The file is rewritten whole (a temp file in the same directory, fsync, rename, so node_exporter
//!   never reads half a file), every sample labelled `shard="K_of_N"` (several shards' files on one host do not
//!   collide); a failing run copies the success timestamp from the file it replaces.
//!
//! The text is Prometheus' text format 0.0.4, which both accept (the OpenMetrics text of `/metrics` is converted:
//! counter families named with `_total`, no `# UNIT`, no `# EOF`). Neither report changes the exit code: a push that
//! fails is logged as an error (the records themselves are delivered or spooled either way).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{MetricsSettings, Shard};
use crate::observe::exit::ExitCode;
use crate::observe::metrics::RunMetrics;

/// Content type of the text format 0.0.4.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metric whose value a failing run must not overwrite.
pub const LAST_SUCCESS: &str = "app_last_success_timestamp_seconds";

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("metrics.push_url: POST {url}: {message}")]
    Push { url: String, message: String },
    #[error("metrics.push_url: POST {url} answered HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("metrics.textfile {path}: {source}")]
    Textfile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a finished run reports.
pub struct RunReport {
    pub metrics: Arc<RunMetrics>,
    pub spool_dir: PathBuf,
    /// `app_etl` for `etl`, `app_replay` for `replay`.
    pub job: &'static str,
    pub shard: Option<Shard>,
    pub exit_code: i32,
    pub duration: Duration,
    /// When the run ended.
    pub finished: SystemTime,
}

impl RunReport {
    fn succeeded(&self) -> bool {
        self.exit_code == ExitCode::Ok.code()
    }
    fn finished_s(&self) -> f64 {
        self.finished
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    }
}

/// The `shard` label: `K_of_N`, or `all` for a run without `--shard`.
pub fn shard_label(shard: Option<Shard>) -> String {
    match shard {
        Some(s) => format!("{}_of_{}", s.index, s.count),
        None => "all".to_string(),
    }
}

/// The Pushgateway group of a run: `{base}/metrics/job/{job}/shard/{label}`.
pub fn group_url(base: &str, job: &str, shard: Option<Shard>) -> String {
    format!(
        "{}/metrics/job/{job}/shard/{}",
        base.trim_end_matches('/'),
        shard_label(shard)
    )
}

/// Converts the OpenMetrics text of `prom::encode` to the text format 0.0.4: a counter family's `# HELP` and
/// `# TYPE` name its samples (`name_total`), `# UNIT` and `# EOF` go.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let name = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    ));
}

/// The run's figures in the text format 0.0.4; `last_success` is the success timestamp to carry (this run's if it
/// succeeded, else the previous one, or none).
pub fn exposition(report: &RunReport, last_success: Option<f64>) -> String {
    let registry =
        crate::observe::prom::run_registry(report.metrics.clone(), report.spool_dir.clone());
    let mut out = openmetrics_to_text(&crate::observe::prom::encode(&registry));
    gauge(
        &mut out,
        "app_last_run_timestamp_seconds",
        "When the last run ended (Unix time), whatever its exit code",
        report.finished_s(),
    );
    if let Some(t) = last_success {
        gauge(
            &mut out,
            LAST_SUCCESS,
            "When the last run that delivered everything (exit 0) ended (Unix time)",
            t,
        );
    }
    gauge(
        &mut out,
        "app_run_duration_seconds",
        "Duration of the last run",
        report.duration.as_secs_f64(),
    );
    gauge(
        &mut out,
        "app_run_exit_code",
        "Exit code of the last run (0 delivered, 1 records lost, 2 bad configuration, 3 something spooled or failed, 130/143 signal)",
        f64::from(report.exit_code),
    );
    out
}

/// Adds `label="value"` to every sample line of a text exposition.
pub fn with_label(text: &str, label: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
        } else if let Some((name, rest)) = line.split_once('{') {
            out.push_str(&format!("{name}{{{label}=\"{value}\",{rest}"));
        } else if let Some((name, rest)) = line.split_once(' ') {
            out.push_str(&format!("{name}{{{label}=\"{value}\"}} {rest}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The value of `name` (one sample, any labels) in a text exposition.
pub fn sample_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            return None;
        }
        line.rsplit_once(' ')?.1.trim().parse().ok()
    })
}

/// POSTs the run's figures to its Pushgateway group (see the module's doc for why POST).
pub fn push(settings: &MetricsSettings, report: &RunReport) -> Result<String, PushError> {
    let url = group_url(&settings.push_url, report.job, report.shard);
    let body = exposition(report, report.succeeded().then(|| report.finished_s()));
    let timeout = settings.push_timeout();
    let tls = if url.starts_with("https://") {
        Some(
            crate::resolve::tls::ClientTls::build(&crate::resolve::tls::ClientKeys {
                section: "metrics",
                ca_file: Path::new(""),
                insecure_skip_verify: false,
                client_cert_file: Path::new(""),
                client_key_file: Path::new(""),
            })
            .map_err(|e| PushError::Push {
                url: url.clone(),
                message: e.to_string(),
            })?,
        )
    } else {
        None
    };
    let answer = actix_rt::System::new().block_on(async {
        let mut connector = awc::Connector::new();
        if let Some(tls) = tls {
            connector = connector.rustls_0_23(tls);
        }
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .finish();
        let mut response = client
            .post(&url)
            .insert_header(("Content-Type", TEXT_FORMAT))
            .send_body(body)
            .await
            .map_err(|e| e.to_string())?;
        let text = response.body().limit(4096).await.unwrap_or_default();
        Ok::<_, String>((
            response.status().as_u16(),
            String::from_utf8_lossy(&text).trim().to_string(),
        ))
    });
    match answer {
        Err(message) => Err(PushError::Push { url, message }),
        Ok((status, _)) if (200..300).contains(&status) => Ok(url),
        Ok((status, body)) => Err(PushError::Refused { url, status, body }),
    }
}

/// Rewrites the textfile atomically: a temp file beside it (mode 0644, for node_exporter's user), fsync, rename,
/// fsync of the directory. A failing run keeps the success timestamp of the file it replaces.
pub fn write_textfile(path: &Path, report: &RunReport) -> Result<(), PushError> {
    let error = |source| PushError::Textfile {
        path: path.to_path_buf(),
        source,
    };
    let last_success = if report.succeeded() {
        Some(report.finished_s())
    } else {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|old| sample_value(&old, LAST_SUCCESS))
    };
    let text = with_label(
        &exposition(report, last_success),
        "shard",
        &shard_label(report.shard),
    );
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".app-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(error)?;
    tmp.write_all(text.as_bytes()).map_err(error)?;
    tmp.as_file().sync_all().map_err(error)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(error)?;
    tmp.persist(path).map_err(|e| error(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Both reports as configured; failures are logged, never fatal.
pub fn report(settings: &MetricsSettings, report: &RunReport) {
    if !settings.push_url.is_empty() {
        match push(settings, report) {
            Ok(url) => log::info!("[Metrics] pushed the run's figures to {url}"),
            Err(e) => log::error!("[Metrics] {e}"),
        }
    }
    if !settings.textfile.as_os_str().is_empty() {
        match write_textfile(&settings.textfile, report) {
            Ok(()) => log::info!(
                "[Metrics] wrote the run's figures to {}",
                settings.textfile.display()
            ),
            Err(e) => log::error!("[Metrics] {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(exit_code: i32, finished_s: u64) -> RunReport {
        let metrics = Arc::new(RunMetrics::default());
        RunMetrics::add(&metrics.records_loaded, 40);
        RunMetrics::add(&metrics.records_spooled, 2);
        RunReport {
            metrics,
            spool_dir: PathBuf::from("/nonexistent-spool"),
            job: "app_etl",
            shard: Some(Shard { index: 1, count: 4 }),
            exit_code,
            duration: Duration::from_millis(2500),
            finished: UNIX_EPOCH + Duration::from_secs(finished_s),
        }
    }

    #[test]
    fn the_group_is_job_and_shard() {
        assert_eq!(
            group_url(
                "http://127.0.0.1:9091/",
                "app_etl",
                Some(Shard { index: 2, count: 8 })
            ),
            "http://127.0.0.1:9091/metrics/job/app_etl/shard/2_of_8"
        );
        assert_eq!(
            group_url("http://127.0.0.1:9091", "app_replay", None),
            "http://127.0.0.1:9091/metrics/job/app_replay/shard/all"
        );
    }

    #[test]
    fn counters_are_named_with_total_in_the_text_format() {
        let om = "# HELP app_records Records.\n# TYPE app_records counter\napp_records_total{state=\"loaded\"} 3\n\
                  # HELP app_spool_files Files.\n# TYPE app_spool_files gauge\n# UNIT app_spool_files files\n\
                  app_spool_files 0\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP app_records_total Records.\n# TYPE app_records_total counter\n\
             app_records_total{state=\"loaded\"} 3\n# HELP app_spool_files Files.\n# TYPE app_spool_files gauge\n\
             app_spool_files 0\n"
        );
    }

    #[test]
    fn only_a_successful_run_carries_the_success_timestamp() {
        let ok = exposition(&report(0, 1000), Some(1000.0));
        assert_eq!(sample_value(&ok, LAST_SUCCESS), Some(1000.0));
        assert_eq!(
            sample_value(&ok, "app_last_run_timestamp_seconds"),
            Some(1000.0)
        );
        assert_eq!(sample_value(&ok, "app_run_duration_seconds"), Some(2.5));
        assert_eq!(
            sample_value(&ok, "app_records_total{state=\"loaded\"}"),
            Some(40.0)
        );
        let failed = exposition(&report(3, 2000), None);
        assert_eq!(sample_value(&failed, LAST_SUCCESS), None);
        assert_eq!(sample_value(&failed, "app_run_exit_code"), Some(3.0));
        assert!(!failed.contains("# EOF") && !failed.contains("# UNIT"));
    }

    #[test]
    fn the_label_goes_on_every_sample() {
        let text = "# TYPE a gauge\na 1\nb_total{x=\"y\"} 2\n";
        assert_eq!(
            with_label(text, "shard", "0_of_2"),
            "# TYPE a gauge\na{shard=\"0_of_2\"} 1\nb_total{shard=\"0_of_2\",x=\"y\"} 2\n"
        );
    }

    #[test]
    fn sample_value_matches_the_whole_name() {
        let text = "app_last_success_timestamp_seconds_x 9\napp_last_success_timestamp_seconds{shard=\"all\"} 7\n";
        assert_eq!(sample_value(text, LAST_SUCCESS), Some(7.0));
        assert_eq!(sample_value(text, "app_missing"), None);
    }
}
