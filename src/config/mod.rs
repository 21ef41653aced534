//! Typed configuration: one struct per section, serde defaults, `load()` (defaults < file < `APP__…` env) and `validate()`.
//!
//! CLI flags are applied by the caller on the loaded struct (see `cli.rs`), after which `validate()` runs again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Prefix of environment variables that override configuration keys: `APP__SECTION__KEY`.
pub const ENV_PREFIX: &str = "APP";
/// Separator between the prefix, sections and keys in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// The configuration file used when `--config` is not given; missing means built-in defaults.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// Errors from loading or validating the configuration. Each names the file or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path}: not found")]
    NotFound { path: PathBuf },
    #[error("configuration {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
    pub(crate) fn invalid(key: &str, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// A secret value (a bearer token): never printed by `Debug` or `Display`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub inventory: InventorySettings,
    pub extract: ExtractSettings,
    pub load: LoadSettings,
    pub spool: SpoolSettings,
    pub shutdown: ShutdownSettings,
    pub log: LogSettings,
    pub profile: ProfileSettings,
    pub metrics: MetricsSettings,
    pub mock: MockSettings,
}

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address where `etl` and `replay` serve Prometheus `/metrics` while they run; empty for none.
    pub addr: String,
}

/// What to do with an inventory row that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Check the whole inventory first; any invalid row stops the run before it starts (exit 2).
    Fail,
    /// Log and count invalid rows, run the valid ones (exit 3 at the end).
    Skip,
}

/// `[inventory]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventorySettings {
    pub path: PathBuf,
    pub on_invalid: OnInvalid,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("appliances.csv"),
            on_invalid: OnInvalid::Fail,
        }
    }
}

/// Where device statistics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Simulated,
    Http,
}

/// `[extract]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractSettings {
    pub source: SourceKind,
    pub concurrency: usize,
    pub timeout_ms: u64,
    /// `K/N`, or empty for the whole inventory.
    pub shard: String,
    pub simulated: SimulatedSettings,
    pub http: HttpSourceSettings,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        Self {
            source: SourceKind::Simulated,
            concurrency: 1000,
            timeout_ms: 15_000,
            shard: String::new(),
            simulated: SimulatedSettings::default(),
            http: HttpSourceSettings::default(),
        }
    }
}

impl ExtractSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[extract.simulated]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatedSettings {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub cpus_per_device: u32,
    pub failure_rate: f64,
}

impl Default for SimulatedSettings {
    fn default() -> Self {
        Self {
            latency_ms: 50,
            jitter_ms: 25,
            cpus_per_device: 1,
            failure_rate: 0.0,
        }
    }
}

/// `[extract.http]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSourceSettings {
    pub url_template: String,
    /// `https://` devices: trust only the CA(s) in this PEM file instead of the system's roots.
    pub ca_file: PathBuf,
    /// Accept any device certificate (appliances with self-signed certificates); warned on every run.
    pub insecure_skip_verify: bool,
}

impl Default for HttpSourceSettings {
    fn default() -> Self {
        Self {
            url_template: "http://127.0.0.1:8080/device/{name}/cpu?cpus=1".to_string(),
            ca_file: PathBuf::new(),
            insecure_skip_verify: false,
        }
    }
}

/// Request body compression towards the ingestion API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// `[load]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadSettings {
    pub endpoint: String,
    pub token: Secret,
    /// A file holding the token (trimmed), e.g. a mounted secret; read once at start.
    pub token_file: PathBuf,
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
            token: Secret::default(),
            token_file: PathBuf::new(),
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

/// Default of `spool.max_bytes`: 1 GiB of write-ahead log.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// `[spool]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    pub replay_on_start: bool,
    /// Append every batch to the write-ahead log (`spool/wal/`, group-committed) before its first send and record
    /// its acknowledgement, so that a crash (`kill -9`, power loss) loses at most the records still being gathered
    /// into batches.
    pub durable: bool,
    /// Most bytes the write-ahead log may hold; at the bound, new batches wait (backpressure).
    pub max_bytes: u64,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("spool"),
            replay_on_start: true,
            durable: false,
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    pub grace_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { grace_ms: 10_000 }
    }
}

impl ShutdownSettings {
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `[timestamp LEVEL target] message`
    Text,
    /// One JSON object per line: timestamp, level, target, message and structured fields.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    /// Log file of `etl`, `replay` and `demo`; empty for none.
    pub file: PathBuf,
    pub format: LogFormat,
    /// A `[Progress]` line this often when stderr is not a terminal.
    pub progress_interval_ms: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_string(),
            file: PathBuf::from("etl.log"),
            format: LogFormat::Text,
            progress_interval_ms: 5000,
        }
    }
}

impl LogSettings {
    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }
}

/// `[profile]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileSettings {
    pub enabled: bool,
    pub frequency_hz: i32,
    pub cpu_file: PathBuf,
    pub flamegraph_file: PathBuf,
    pub heap_file: PathBuf,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            frequency_hz: 99,
            cpu_file: PathBuf::from("cpu.prof"),
            flamegraph_file: PathBuf::from("flamegraph.svg"),
            heap_file: PathBuf::from("mem.prof"),
        }
    }
}

/// `[mock]`: the mock ingestion API served by `app mock-server` and `app demo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSettings {
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub token: Secret,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub fail_rate: f64,
    pub fail_status: u16,
    /// The first N `/load` requests fail with `fail_status` (deterministic fault injection).
    pub fail_first: u64,
    /// `Retry-After` seconds sent with injected 429 and 503 answers; 0 sends none.
    pub retry_after_s: u64,
    /// Seed of the fault-injection generator; 0 seeds from entropy.
    pub seed: u64,
    pub max_body_bytes: usize,
    /// A client must send its request head (line and headers) within this long, or gets 408 (at least 1000: the
    /// deadline is checked on a clock that ticks about every 500 ms).
    pub header_timeout_ms: u64,
    /// A `/load` body must arrive in full within this long, or gets 408 (a slow sender cannot hold a worker).
    pub body_timeout_ms: u64,
    pub max_idempotency_keys: usize,
    pub log_file: PathBuf,
    pub log_body_preview: usize,
    pub device_delay_ms: u64,
    pub device_fail_rate: f64,
    /// Serve HTTPS with this PEM certificate (chain); needs `tls_key_file`.
    pub tls_cert_file: PathBuf,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: PathBuf,
    /// Require client certificates signed by a CA in this PEM file (mutual TLS).
    pub tls_client_ca_file: PathBuf,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_string(),
            workers: 0,
            token: Secret::default(),
            delay_ms: 20,
            jitter_ms: 10,
            fail_rate: 0.0,
            fail_status: 503,
            fail_first: 0,
            retry_after_s: 0,
            seed: 0,
            max_body_bytes: 16 << 20,
            header_timeout_ms: 5_000,
            body_timeout_ms: 30_000,
            max_idempotency_keys: 1_000_000,
            log_file: PathBuf::from("mock_server.log"),
            log_body_preview: 500,
            device_delay_ms: 0,
            device_fail_rate: 0.0,
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            tls_client_ca_file: PathBuf::new(),
        }
    }
}

impl MockSettings {
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.workers
        }
    }
}

/// A shard selector `K/N`: keep devices whose stable hash falls in shard K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` with `0 <= K < N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not of the form K/N (for example 0/3)"))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("`{k}` in `{text}` is not a whole number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` in `{text}` is not a whole number"))?;
        if count == 0 || index >= count {
            return Err(format!("`{text}`: K must be below N and N at least 1"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn check_url(key: &str, url: &str) -> Result<(), SettingsError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SettingsError::invalid(
            key,
            format!("`{url}` must be an http:// or https:// URL"),
        ));
    }
    Ok(())
}

/// Two file keys that go together: both set or neither.
fn check_pair(a: (&str, &Path), b: (&str, &Path)) -> Result<(), SettingsError> {
    match (a.1.as_os_str().is_empty(), b.1.as_os_str().is_empty()) {
        (false, true) => Err(SettingsError::invalid(
            b.0,
            format!("must be set when {} is", a.0),
        )),
        (true, false) => Err(SettingsError::invalid(
            a.0,
            format!("must be set when {} is", b.0),
        )),
        _ => Ok(()),
    }
}

fn check_rate(key: &str, value: f64) -> Result<(), SettingsError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(SettingsError::invalid(
            key,
            format!("{value} must be between 0.0 and 1.0"),
        ));
    }
    Ok(())
}

fn check_positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::invalid(key, "must be at least 1"));
    }
    Ok(())
}

impl Settings {
    /// Loads built-in defaults, then `path` (if it exists; an explicit path must exist), then `APP__…` variables.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        Self::load_from(path, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment given (tests pass their own).
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder();
        let mut origin = "(built-in defaults)".to_string();
        let file = match path {
            Some(p) if !p.exists() => return Err(SettingsError::NotFound { path: p.into() }),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
        };
        if let Some(file) = &file {
            origin = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| SettingsError::Parse {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
            .collect();
        let env_names: Vec<String> = vars.keys().cloned().collect();
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(vars)),
        );
        let built = builder.build().map_err(|e| SettingsError::Parse {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let settings: Settings = built.try_deserialize().map_err(|e| {
            let mut origin = origin.clone();
            if !env_names.is_empty() {
                origin.push_str(&format!(" with environment {}", env_names.join(", ")));
            }
            SettingsError::Parse {
                origin,
                message: e.to_string(),
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value; the error names the key and says what is allowed.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let e = &self.extract;
        check_positive("extract.concurrency", e.concurrency as u64)?;
        if e.concurrency > 1_000_000 {
            return Err(SettingsError::invalid(
                "extract.concurrency",
                "must be at most 1000000",
            ));
        }
        check_positive("extract.timeout_ms", e.timeout_ms)?;
        if !e.shard.trim().is_empty() {
            Shard::parse(&e.shard).map_err(|m| SettingsError::invalid("extract.shard", m))?;
        }
        check_positive(
            "extract.simulated.cpus_per_device",
            e.simulated.cpus_per_device as u64,
        )?;
        check_rate("extract.simulated.failure_rate", e.simulated.failure_rate)?;
        check_url("extract.http.url_template", &e.http.url_template)?;
        if !e.http.url_template.contains("{name}") && !e.http.url_template.contains("{ip}") {
            return Err(SettingsError::invalid(
                "extract.http.url_template",
                "must contain {name} or {ip}",
            ));
        }
        let l = &self.load;
        check_url("load.endpoint", &l.endpoint)?;
        if !l.token.is_empty() && !l.token_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "load.token_file",
                "set either load.token or load.token_file, not both",
            ));
        }
        check_pair(
            ("load.client_cert_file", &l.client_cert_file),
            ("load.client_key_file", &l.client_key_file),
        )?;
        let m = &self.mock;
        check_pair(
            ("mock.tls_cert_file", &m.tls_cert_file),
            ("mock.tls_key_file", &m.tls_key_file),
        )?;
        if !m.tls_client_ca_file.as_os_str().is_empty() && m.tls_cert_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "mock.tls_client_ca_file",
                "needs mock.tls_cert_file and mock.tls_key_file (client certificates are a TLS feature)",
            ));
        }
        if m.header_timeout_ms < 1000 {
            // actix-web checks this deadline against a clock that ticks about every 500 ms: shorter values
            // refuse prompt clients.
            return Err(SettingsError::invalid(
                "mock.header_timeout_ms",
                "must be at least 1000 (the server's clock for it ticks about every 500 ms)",
            ));
        }
        check_positive("mock.body_timeout_ms", m.body_timeout_ms)?;
        check_positive("load.workers", l.workers as u64)?;
        if l.workers > 1024 {
            return Err(SettingsError::invalid(
                "load.workers",
                "must be at most 1024",
            ));
        }
        check_positive("load.batch_size", l.batch_size as u64)?;
        if l.batch_bytes < 1024 {
            return Err(SettingsError::invalid(
                "load.batch_bytes",
                "must be at least 1024",
            ));
        }
        check_positive("load.flush_interval_ms", l.flush_interval_ms)?;
        check_positive("load.max_in_flight", l.max_in_flight as u64)?;
        if l.max_in_flight > 1024 {
            return Err(SettingsError::invalid(
                "load.max_in_flight",
                "must be at most 1024",
            ));
        }
        check_positive("load.request_timeout_ms", l.request_timeout_ms)?;
        check_positive("load.retry.max_attempts", l.retry.max_attempts as u64)?;
        check_positive("load.retry.initial_backoff_ms", l.retry.initial_backoff_ms)?;
        if l.retry.max_backoff_ms < l.retry.initial_backoff_ms {
            return Err(SettingsError::invalid(
                "load.retry.max_backoff_ms",
                "must be at least load.retry.initial_backoff_ms",
            ));
        }
        if self.spool.max_bytes < 1 << 20 {
            return Err(SettingsError::invalid(
                "spool.max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if self.spool.dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid("spool.dir", "must not be empty"));
        }
        if self.log.level.parse::<log::LevelFilter>().is_err() {
            return Err(SettingsError::invalid(
                "log.level",
                format!(
                    "`{}` is not one of off, error, warn, info, debug, trace",
                    self.log.level
                ),
            ));
        }
        check_positive("log.progress_interval_ms", self.log.progress_interval_ms)?;
        if !(1..=10_000).contains(&self.profile.frequency_hz) {
            return Err(SettingsError::invalid(
                "profile.frequency_hz",
                "must be between 1 and 10000",
            ));
        }
        if !self.metrics.addr.is_empty()
            && self.metrics.addr.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(SettingsError::invalid(
                "metrics.addr",
                format!(
                    "`{}` is not an address:port like 127.0.0.1:9898",
                    self.metrics.addr
                ),
            ));
        }
        let m = &self.mock;
        if m.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(SettingsError::invalid(
                "mock.bind",
                format!("`{}` is not an address:port like 127.0.0.1:8080", m.bind),
            ));
        }
        check_rate("mock.fail_rate", m.fail_rate)?;
        check_rate("mock.device_fail_rate", m.device_fail_rate)?;
        if !(400..=599).contains(&m.fail_status) {
            return Err(SettingsError::invalid(
                "mock.fail_status",
                format!("{} must be an HTTP error status (400-599)", m.fail_status),
            ));
        }
        check_positive("mock.max_body_bytes", m.max_body_bytes as u64)?;
        check_positive("mock.max_idempotency_keys", m.max_idempotency_keys as u64)?;
        Ok(())
    }

    /// The shard this run keeps, if any (validated by `validate`).
    pub fn shard(&self) -> Option<Shard> {
        let text = self.extract.shard.trim();
        (!text.is_empty()).then(|| Shard::parse(text).expect("validated by Settings::validate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shard_parses_and_rejects() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/3").is_err());
        assert!(Shard::parse("13").is_err());
    }

    #[test]
    fn secret_is_never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn env_overrides_nested_keys() {
        let s = Settings::load_from(
            Some(Path::new("/dev/null")),
            env(&[
                ("APP__MOCK__DELAY_MS", "50"),
                ("APP__LOAD__RETRY__MAX_ATTEMPTS", "9"),
                ("APP__LOAD__TOKEN", "abc"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mock.delay_ms, 50);
        assert_eq!(s.load.retry.max_attempts, 9);
        assert_eq!(s.load.token.expose(), "abc");
    }
}
