//! `[extract]`, `[extract.simulated]`, `[extract.http]`: where device statistics come from (`[extract.snmp]` is in
//! `snmp.rs`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::{check_at_most, check_one_of, check_positive, check_rate};
use super::{wire, Secret, SettingsError, Shard, SnmpSettings};

/// Where device statistics come from: `extract.source`, and the values of `demo --source` (clap's `ValueEnum`
/// gives the same lowercase names as serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Simulated,
    Http,
    Snmp,
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
    pub snmp: SnmpSettings,
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
            snmp: SnmpSettings::default(),
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
    /// Bearer token sent to the devices (`Authorization: Bearer …`), e.g. the mock's `mock.token`; `""` sends none.
    pub token: Secret,
    /// A file holding that token (one line; a mounted secret), read once at start; replaces `token`.
    pub token_file: PathBuf,
}

impl Default for HttpSourceSettings {
    fn default() -> Self {
        Self {
            url_template: "http://127.0.0.1:8080/device/{name}/cpu?cpus=1".to_string(),
            ca_file: PathBuf::new(),
            insecure_skip_verify: false,
            token: Secret::default(),
            token_file: PathBuf::new(),
        }
    }
}

impl ExtractSettings {
    /// Checks the `extract.*` keys (`[extract.snmp]` with them, as the source decides which it needs).
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        check_positive("extract.concurrency", self.concurrency as u64)?;
        check_at_most("extract.concurrency", self.concurrency as u64, 1_000_000)?;
        check_positive("extract.timeout_ms", self.timeout_ms)?;
        if !self.shard.trim().is_empty() {
            Shard::parse(&self.shard).map_err(|m| SettingsError::invalid("extract.shard", m))?;
        }
        check_positive(
            "extract.simulated.cpus_per_device",
            self.simulated.cpus_per_device as u64,
        )?;
        check_rate(
            "extract.simulated.failure_rate",
            self.simulated.failure_rate,
        )?;
        wire::check_url_template("extract.http.url_template", &self.http.url_template)?;
        wire::check_token("extract.http.token", self.http.token.expose())?;
        check_one_of(
            "extract.http.token",
            &self.http.token,
            &self.http.token_file,
        )?;
        self.snmp
            .validate(self.source == SourceKind::Snmp, self.timeout_ms)
    }
}
