//! What can stop a command before or while it runs, typed up to here; `CommandError::exit_code` says which exit
//! code each kind ends with.

use std::path::PathBuf;

use crate::actors::PipelineError;
use crate::config::SettingsError;
use crate::inventory::InventoryError;
use crate::observe::exit::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] SettingsError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("inventory {}: {count} invalid rows (fix them, or set inventory.on_invalid = \"skip\" to run the valid rows)", path.display())]
    InvalidRows { path: PathBuf, count: u64 },
    /// `split-inventory` splits only a clean inventory.
    #[error("inventory {}: {count} invalid rows or repeated names (listed above): fix them, then split", path.display())]
    NotSplit { path: PathBuf, count: u64 },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A user SNMP profile (`extract.snmp.profiles_dir`) that cannot be used.
    #[error(transparent)]
    Profiles(#[from] crate::extract::snmp::profiles::ProfileError),
    /// An address key (`mock.bind`, `metrics.addr`) that cannot be bound.
    #[error("{key} {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: String,
        source: std::io::Error,
    },
    /// A flag's value that cannot be used (`healthcheck --url`).
    #[error("{flag}: {message}")]
    BadFlag { flag: &'static str, message: String },
    /// Setting up what the run needs: the log file, the profiler, a server.
    #[error("{0}")]
    Setup(String),
    /// A file the command was asked to write.
    #[error("{}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("summary file {}: {source}", path.display())]
    SummaryFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CommandError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::Config(_)
            | CommandError::Inventory(_)
            | CommandError::InvalidRows { .. }
            | CommandError::NotSplit { .. }
            | CommandError::Pipeline(_)
            | CommandError::Profiles(_)
            | CommandError::Bind { .. }
            | CommandError::BadFlag { .. }
            | CommandError::Setup(_)
            | CommandError::WriteFile { .. }
            | CommandError::SummaryFile { .. } => ExitCode::Usage,
        }
    }
}
