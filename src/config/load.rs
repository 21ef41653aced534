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
    /// Connections to the API open at once, over all loaders (shared out among the loader threads, at least one
    /// each); 0: one per in-flight slot (`workers` × `max_in_flight`). A request waits for a free connection before
    /// its `request_timeout_ms` starts.
    pub max_connections: usize,
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
            max_connections: 0,
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

    /// The in-flight slots of all loaders: `workers` × `max_in_flight`.
    pub fn slots(&self) -> usize {
        self.workers.saturating_mul(self.max_in_flight)
    }

    /// The loaders' threads: one per core, no more than loaders.
    pub fn threads(&self) -> usize {
        crate::model::cores().clamp(1, self.workers.max(1))
    }

    /// The loader thread that loader `worker` runs on.
    pub fn thread_of(&self, worker: usize) -> usize {
        worker % self.threads()
    }

    /// How many loaders each loader thread hosts.
    pub fn loaders_per_thread(&self) -> Vec<usize> {
        let mut loaders = vec![0; self.threads()];
        for worker in 0..self.workers {
            loaders[self.thread_of(worker)] += 1;
        }
        loaders
    }

    /// The connections to the API open at most at once, over all loader threads.
    pub fn connections(&self) -> usize {
        self.connection_shares(&self.loaders_per_thread())
            .iter()
            .sum()
    }

    /// What the settings deserve a warning for: a connection cap that caps nothing, or one below the threads.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_connections == 0 {
            return out;
        }
        let (slots, threads) = (self.slots(), self.threads());
        if self.max_connections >= slots {
            out.push(format!(
                "load.max_connections = {} caps nothing: the loaders have load.workers × load.max_in_flight = {slots} \
                 slots, one connection each at most",
                self.max_connections
            ));
        } else if self.max_connections < threads {
            out.push(format!(
                "load.max_connections = {} is below the {threads} loader threads (one per core): each holds one, so \
                 {threads} connections",
                self.max_connections
            ));
        }
        out
    }

    /// The connections each loader thread may hold at once, for threads hosting `loaders` loaders each: by
    /// default (`max_connections` = 0) one per in-flight slot of its loaders; with a cap, the cap shared out in
    /// proportion to the threads' slots (the remainder to the largest fractions), at least one each and never more
    /// than their slots. A thread's connections serve its own loaders only.
    pub fn connection_shares(&self, loaders: &[usize]) -> Vec<usize> {
        let slots: Vec<usize> = loaders
            .iter()
            .map(|&n| self.max_in_flight.saturating_mul(n).max(1))
            .collect();
        let total: usize = slots.iter().sum();
        let cap = self.max_connections;
        if cap == 0 || cap >= total {
            return slots;
        }
        let mut shares: Vec<usize> = slots.iter().map(|&n| cap * n / total).collect();
        let mut left = cap - shares.iter().sum::<usize>();
        let mut by_fraction: Vec<usize> = (0..slots.len()).collect();
        by_fraction.sort_by_key(|&t| std::cmp::Reverse(cap * slots[t] % total));
        for t in by_fraction {
            if left == 0 {
                break;
            }
            shares[t] += 1;
            left -= 1;
        }
        shares
            .iter()
            .zip(&slots)
            .map(|(&share, &n)| share.clamp(1, n))
            .collect()
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
        check_at_most("load.max_connections", self.max_connections as u64, 65_536)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(workers: usize, max_in_flight: usize, max_connections: usize) -> LoadSettings {
        LoadSettings {
            workers,
            max_in_flight,
            max_connections,
            ..LoadSettings::default()
        }
    }

    #[test]
    fn without_a_cap_a_thread_has_a_connection_per_slot_of_its_loaders() {
        let s = capped(10, 16, 0);
        assert_eq!(s.connection_shares(&[5, 5]), [80, 80]);
        assert_eq!(s.connection_shares(&[4, 3, 3]), [64, 48, 48]);
        assert!(s.warnings().is_empty());
    }

    #[test]
    fn a_cap_is_shared_out_in_proportion_to_the_threads_slots_at_least_one_each() {
        // 10 loaders on 4 threads: 48, 48, 32, 32 slots.
        let s = capped(10, 16, 100);
        assert_eq!(s.connection_shares(&[3, 3, 2, 2]), [30, 30, 20, 20]);
        // The remainder to the largest fractions: 7 × (4, 3, 3) / 10 = 2.8, 2.1, 2.1.
        assert_eq!(capped(10, 1, 7).connection_shares(&[4, 3, 3]), [3, 2, 2]);
        assert_eq!(capped(10, 1, 8).connection_shares(&[4, 3, 3]), [3, 3, 2]);
        assert_eq!(
            capped(10, 16, 1).connection_shares(&[5, 5]),
            [1, 1],
            "one each"
        );
        // A cap at or above the slots caps nothing, whatever the layout.
        assert_eq!(
            capped(10, 16, 160).connection_shares(&[3, 3, 2, 2]),
            [48, 48, 32, 32]
        );
        assert_eq!(capped(3, 4, 12).connection_shares(&[2, 1]), [8, 4]);
        for cap in 2..160 {
            let shares = capped(10, 16, cap).connection_shares(&[3, 3, 2, 2]);
            assert_eq!(
                shares.iter().sum::<usize>(),
                cap.max(4),
                "cap {cap}: {shares:?}"
            );
        }
    }

    #[test]
    fn a_cap_that_caps_nothing_or_falls_below_the_threads_is_a_warning() {
        let nothing = capped(2, 4, 8).warnings();
        assert!(nothing[0].contains("caps nothing"), "{nothing:?}");
        let few = capped(1024, 16, 1);
        if few.threads() > 1 {
            // One core: a single thread, which one connection suits.
            assert!(
                few.warnings()[0].contains("below the"),
                "{:?}",
                few.warnings()
            );
        }
        assert!(capped(10, 16, 32).warnings().is_empty());
    }

    #[test]
    fn the_cap_is_at_most_65536() {
        let err = capped(10, 16, 65_537).validate().unwrap_err().to_string();
        assert!(err.contains("load.max_connections"), "{err}");
        assert!(capped(10, 16, 65_536).validate().is_ok());
    }
}
