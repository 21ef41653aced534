//! `[log]`, `[profile]` and `[metrics]`: how a run reports itself.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::check_positive;
use super::{wire, SettingsError};

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address where `etl` and `replay` serve Prometheus `/metrics` while they run; empty for none.
    pub addr: String,
    /// Pushgateway base URL: at the end of every run its figures are POSTed to
    /// `{push_url}/metrics/job/app_etl/shard/{K_of_N|all}` (`app_replay` for `replay`); empty for none.
    pub push_url: String,
    /// Timeout of that push.
    pub push_timeout_ms: u64,
    /// node_exporter textfile collector file (`*.prom`), rewritten atomically at the end of every run; empty for none.
    pub textfile: PathBuf,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            addr: String::new(),
            push_url: String::new(),
            push_timeout_ms: 5000,
            textfile: PathBuf::new(),
        }
    }
}

impl MetricsSettings {
    pub fn push_timeout(&self) -> Duration {
        Duration::from_millis(self.push_timeout_ms)
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

impl MetricsSettings {
    /// Checks the `metrics.*` keys.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !self.push_url.is_empty() {
            wire::check_url("metrics.push_url", &self.push_url)?;
            check_positive("metrics.push_timeout_ms", self.push_timeout_ms)?;
        }
        let textfile = &self.textfile;
        if !textfile.as_os_str().is_empty()
            && textfile.extension().and_then(|e| e.to_str()) != Some("prom")
        {
            return Err(SettingsError::invalid(
                "metrics.textfile",
                format!(
                    "`{}` must end in .prom (node_exporter's textfile collector reads only those)",
                    textfile.display()
                ),
            ));
        }
        if !self.addr.is_empty() {
            wire::check_listen_addr("metrics.addr", &self.addr, "127.0.0.1:9898")?;
        }
        Ok(())
    }
}

impl LogSettings {
    /// Checks the `log.*` keys.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.level.parse::<log::LevelFilter>().is_err() {
            return Err(SettingsError::invalid(
                "log.level",
                format!(
                    "`{}` is not one of off, error, warn, info, debug, trace",
                    self.level
                ),
            ));
        }
        check_positive("log.progress_interval_ms", self.progress_interval_ms)
    }
}

impl ProfileSettings {
    /// Checks the `profile.*` keys.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=10_000).contains(&self.frequency_hz) {
            return Err(SettingsError::invalid(
                "profile.frequency_hz",
                "must be between 1 and 10000",
            ));
        }
        Ok(())
    }
}
