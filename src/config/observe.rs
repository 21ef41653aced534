//! `[log]`, `[profile]` and `[metrics]`: how a run reports itself.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[metrics]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address where `etl` and `replay` serve Prometheus `/metrics` while they run; empty for none.
    pub addr: String,
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
