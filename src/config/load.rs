//! `[load]` and `[load.retry]`: the ingestion API, batching, in-flight limits, TLS keys and retry rules.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::{check_at_most, check_one_of, check_pair, check_positive};
use super::*;

/// Request body compression towards the ingestion API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// What the loaders speak to the store (`load.sink`): the wire format, its headers and how its answers are read
/// (`load::sinks`). Batching, retries, the spool and the write-ahead log are the same for every sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// The ingestion API's JSON array by `POST` (the original's format).
    IngestJson,
    /// Prometheus remote write 1.0: snappy-compressed protobuf `WriteRequest`.
    PrometheusRemoteWrite,
    /// InfluxDB line protocol (1.x and VictoriaMetrics `/write`, 2.x `/api/v2/write`).
    InfluxLine,
}

impl SinkKind {
    pub const ALL: [SinkKind; 3] = [
        SinkKind::IngestJson,
        SinkKind::PrometheusRemoteWrite,
        SinkKind::InfluxLine,
    ];
    /// The name as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::IngestJson => "ingest-json",
            SinkKind::PrometheusRemoteWrite => "prometheus-remote-write",
            SinkKind::InfluxLine => "influx-line",
        }
    }
}

/// `[load]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadSettings {
    pub endpoint: String,
    pub sink: SinkKind,
    pub token: Secret,
    /// A file holding the token (trimmed), e.g. a mounted secret; read once at start.
    pub token_file: PathBuf,
    /// HTTP basic authentication (user and password), e.g. for InfluxDB 1.x; the password never logged.
    pub username: String,
    pub password: Secret,
    /// A file holding the password (trimmed); read once at start.
    pub password_file: PathBuf,
    pub workers: usize,
    pub batch_size: usize,
    pub batch_bytes: usize,
    pub flush_interval_ms: u64,
    pub max_in_flight: usize,
    pub request_timeout_ms: u64,
    pub compression: Compression,
    /// PEM file of the CA(s) trusted for an `https://` endpoint, instead of the system's roots.
    pub ca_file: PathBuf,
    /// Accept any server certificate. Off by default; a warning is logged on every run that sets it.
    pub insecure_skip_verify: bool,
    /// PEM certificate (chain) presented to the API; needs `client_key_file`.
    pub client_cert_file: PathBuf,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: PathBuf,
    pub retry: RetrySettings,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:8080/load".to_string(),
            sink: SinkKind::IngestJson,
            token: Secret::default(),
            token_file: PathBuf::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: PathBuf::new(),
            workers: 10,
            batch_size: 200,
            batch_bytes: 1 << 20,
            flush_interval_ms: 1000,
            max_in_flight: 16,
            request_timeout_ms: 15_000,
            compression: Compression::None,
            ca_file: PathBuf::new(),
            insecure_skip_verify: false,
            client_cert_file: PathBuf::new(),
            client_key_file: PathBuf::new(),
            retry: RetrySettings::default(),
        }
    }
}

impl LoadSettings {
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `[load.retry]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub max_retry_after_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff_ms: 200,
            max_backoff_ms: 10_000,
            max_retry_after_ms: 60_000,
        }
    }
}

impl RetrySettings {
    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms)
    }
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }
    pub fn max_retry_after(&self) -> Duration {
        Duration::from_millis(self.max_retry_after_ms)
    }
}

impl LoadSettings {
    /// Checks the `load.*` keys: the endpoint, how it authenticates, TLS files, and the sizes and times of loading.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        self.validate_endpoint()?;
        self.validate_credentials()?;
        check_pair(
            ("load.client_cert_file", &self.client_cert_file),
            ("load.client_key_file", &self.client_key_file),
        )?;
        self.validate_sizes()?;
        self.retry.validate()
    }

    fn validate_endpoint(&self) -> Result<(), SettingsError> {
        wire::check_url("load.endpoint", &self.endpoint)?;
        if self.sink == SinkKind::InfluxLine && self.endpoint.contains("precision=") {
            return Err(SettingsError::invalid(
                "load.endpoint",
                "the influx-line sink adds precision=s itself (its timestamps are seconds); remove precision= from the URL",
            ));
        }
        Ok(())
    }

    /// A token or basic authentication (or neither), each given once.
    fn validate_credentials(&self) -> Result<(), SettingsError> {
        wire::check_token("load.token", self.token.expose())?;
        check_one_of("load.token", &self.token, &self.token_file)?;
        check_one_of("load.password", &self.password, &self.password_file)?;
        let has_password = !self.password.is_empty() || !self.password_file.as_os_str().is_empty();
        if has_password == self.username.is_empty() {
            return Err(SettingsError::invalid(
                if self.username.is_empty() { "load.username" } else { "load.password" },
                "basic authentication needs both load.username and load.password (or load.password_file)",
            ));
        }
        if self.username.contains(':') || self.username.chars().any(char::is_control) {
            return Err(SettingsError::invalid(
                "load.username",
                "must not contain ':' or control characters (HTTP basic authentication)",
            ));
        }
        if !self.username.is_empty()
            && (!self.token.is_empty() || !self.token_file.as_os_str().is_empty())
        {
            return Err(SettingsError::invalid(
                "load.username",
                "set either a token (load.token, load.token_file) or basic authentication (load.username), not both",
            ));
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<(), SettingsError> {
        check_positive("load.workers", self.workers as u64)?;
        check_at_most("load.workers", self.workers as u64, 1024)?;
        check_positive("load.batch_size", self.batch_size as u64)?;
        if self.batch_bytes < 1024 {
            return Err(SettingsError::invalid(
                "load.batch_bytes",
                "must be at least 1024",
            ));
        }
        check_positive("load.flush_interval_ms", self.flush_interval_ms)?;
        check_positive("load.max_in_flight", self.max_in_flight as u64)?;
        check_at_most("load.max_in_flight", self.max_in_flight as u64, 1024)?;
        check_positive("load.request_timeout_ms", self.request_timeout_ms)
    }
}

impl RetrySettings {
    /// Checks the `load.retry.*` keys.
    fn validate(&self) -> Result<(), SettingsError> {
        check_positive("load.retry.max_attempts", self.max_attempts as u64)?;
        check_positive("load.retry.initial_backoff_ms", self.initial_backoff_ms)?;
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(SettingsError::invalid(
                "load.retry.max_backoff_ms",
                "must be at least load.retry.initial_backoff_ms",
            ));
        }
        Ok(())
    }
}
