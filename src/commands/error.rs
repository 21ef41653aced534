//! What can stop a command before or while it runs, typed up to here; `CommandError::exit_code` says which exit
//! code each kind ends with: bad input a person must fix (`Usage`), or a failure of the system at run time that a
//! later try may not meet (`Runtime`), told apart by what failed and, for a path or a port, by its `io::ErrorKind`.

use std::io;
use std::path::PathBuf;

use crate::actors::PipelineError;
use crate::config::SettingsError;
use crate::inventory::{InventoryError, RowError};
use crate::mock::MockError;
use crate::observe::exit::ExitCode;
use crate::observe::logging::LogFileError;
use crate::observe::profile::ProfilerError;
use crate::spool::wal::WalError;

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
    /// `split-inventory` met a bad row the check before it did not see.
    #[error("{0} (the inventory changed since it was checked?)")]
    InventoryChanged(RowError),
    /// The spool directory or the write-ahead log could not be set up for the run.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A user SNMP profile (`extract.snmp.profiles_dir`) that cannot be used.
    #[error(transparent)]
    Profiles(#[from] crate::extract::snmp::profiles::ProfileError),
    /// `log.file` (or `mock.log_file`) cannot be opened.
    #[error(transparent)]
    LogFile(#[from] LogFileError),
    /// `profile.enabled`: a profile file that cannot be written, or the profiler that did not start.
    #[error(transparent)]
    Profiler(#[from] ProfilerError),
    /// An address key (`mock.bind`, `metrics.addr`) that cannot be bound or served.
    #[error("{key} {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: String,
        source: io::Error,
    },
    /// The mock API (of `mock-server` or `demo`) that did not start or stopped serving.
    #[error("mock server: {0}")]
    MockServer(#[from] MockError),
    /// `demo` without `--spool-dir`: its temporary spool directory.
    #[error("demo: temporary spool directory: {0}")]
    TempSpool(io::Error),
    /// A thread the command needs that could not be started.
    #[error("{name} thread: {source}")]
    Thread {
        name: &'static str,
        source: io::Error,
    },
    /// The check of the inventory before a run ended without its answer (its thread panicked).
    #[error("the inventory check ended without an answer")]
    CheckLost,
    /// What the command writes to stdout (`man`).
    #[error("writing {what}: {source}")]
    Stdout {
        what: &'static str,
        source: io::Error,
    },
    /// A flag's value that cannot be used (`healthcheck --url`).
    #[error("{flag}: {message}")]
    BadFlag { flag: &'static str, message: String },
    /// A file the command was asked to write.
    #[error("{}: {source}", path.display())]
    WriteFile { path: PathBuf, source: io::Error },
    /// `--summary-json`, checked before the run: a path a person must fix, whatever the system said.
    #[error("summary file {}: {source}", path.display())]
    SummaryFile { path: PathBuf, source: io::Error },
}

impl CommandError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::Config(_)
            | CommandError::InvalidRows { .. }
            | CommandError::NotSplit { .. }
            | CommandError::InventoryChanged(_)
            | CommandError::Profiles(_)
            | CommandError::BadFlag { .. }
            | CommandError::SummaryFile { .. } => ExitCode::Usage,
            CommandError::Inventory(InventoryError::NotKept { source, .. }) => of_io(source.kind()),
            CommandError::Inventory(InventoryError::Open { .. } | InventoryError::Read { .. }) => {
                ExitCode::Usage
            }
            CommandError::Pipeline(PipelineError::Spool { source, .. }) => of_io(source.kind()),
            CommandError::Pipeline(PipelineError::Wal(WalError::Io { source, .. })) => {
                of_io(source.kind())
            }
            CommandError::Pipeline(PipelineError::Wal(
                WalError::Duplicate(_) | WalError::Closed,
            )) => ExitCode::Runtime,
            CommandError::LogFile(LogFileError { source, .. })
            | CommandError::Profiler(ProfilerError::Unwritable { source, .. })
            | CommandError::Bind { source, .. }
            | CommandError::MockServer(
                MockError::SnmpPort { source, .. } | MockError::Io(source),
            )
            | CommandError::WriteFile { source, .. } => of_io(source.kind()),
            CommandError::MockServer(MockError::Tls(_)) => ExitCode::Usage,
            CommandError::Profiler(ProfilerError::Start(_))
            | CommandError::TempSpool(_)
            | CommandError::Thread { .. }
            | CommandError::CheckLost
            | CommandError::Stdout { .. } => ExitCode::Runtime,
        }
    }
}

/// The code of a path or port the command could not use, by what the system said: refused as given (not there,
/// not a directory, not allowed, locked by another process, a bad name) is for a person to fix (`Usage`); any other
/// failure (a full disk, an I/O error, an address in use, no memory) is the system's at run time (`Runtime`).
fn of_io(kind: io::ErrorKind) -> ExitCode {
    use io::ErrorKind as K;
    match kind {
        K::NotFound
        | K::PermissionDenied
        | K::NotADirectory
        | K::IsADirectory
        | K::AlreadyExists
        | K::ResourceBusy
        | K::InvalidInput
        | K::InvalidFilename => ExitCode::Usage,
        _ => ExitCode::Runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind as K;

    fn os(kind: K) -> io::Error {
        io::Error::from(kind)
    }

    fn spool(kind: K) -> CommandError {
        CommandError::Pipeline(PipelineError::Spool {
            path: "spool".into(),
            source: os(kind),
        })
    }

    fn wal(kind: K) -> CommandError {
        CommandError::Pipeline(PipelineError::Wal(WalError::io(
            "opening",
            "spool/wal",
            os(kind),
        )))
    }

    fn bind(kind: K) -> CommandError {
        CommandError::Bind {
            key: "metrics.addr",
            addr: "127.0.0.1:9898".into(),
            source: os(kind),
        }
    }

    fn write(kind: K) -> CommandError {
        CommandError::WriteFile {
            path: "out.csv".into(),
            source: os(kind),
        }
    }

    #[test]
    fn bad_input_a_person_must_fix_is_usage() {
        let usage = [
            CommandError::Config(SettingsError::Invalid {
                key: "load.workers".into(),
                message: "must be at least 1".into(),
            }),
            CommandError::Inventory(InventoryError::Open {
                path: "appliances.csv".into(),
                source: os(K::NotFound),
            }),
            CommandError::Inventory(InventoryError::Read {
                path: "appliances.csv".into(),
                line: 3,
                message: "invalid UTF-8".into(),
            }),
            CommandError::InvalidRows {
                path: "appliances.csv".into(),
                count: 2,
            },
            CommandError::NotSplit {
                path: "appliances.csv".into(),
                count: 2,
            },
            CommandError::InventoryChanged(RowError {
                path: "appliances.csv".into(),
                line: 7,
                problem: crate::inventory::RowProblem::EmptyName,
            }),
            CommandError::Profiles(crate::extract::snmp::profiles::ProfileError {
                file: "mine.toml".into(),
                line: 4,
                key: "oid".into(),
                message: "not an OID".into(),
            }),
            CommandError::LogFile(LogFileError {
                path: "no/such/dir/app.log".into(),
                source: os(K::NotFound),
            }),
            CommandError::Profiler(ProfilerError::Unwritable {
                key: "profile.cpu_file",
                path: "/cpu.prof".into(),
                source: os(K::PermissionDenied),
            }),
            CommandError::MockServer(MockError::Tls(SettingsError::Invalid {
                key: "mock.tls_cert_file".into(),
                message: "no certificate in the file".into(),
            })),
            CommandError::BadFlag {
                flag: "--url",
                message: "not a URL".into(),
            },
            CommandError::SummaryFile {
                path: "s.json".into(),
                source: io::Error::other("is a directory"),
            },
            // The spool directory refused as given: not trusted (owner or mode), in the way, or locked.
            spool(K::PermissionDenied),
            spool(K::NotADirectory),
            spool(K::ResourceBusy),
            wal(K::PermissionDenied),
            bind(K::PermissionDenied),
            write(K::NotADirectory),
            write(K::NotFound),
        ];
        for e in usage {
            assert_eq!(e.exit_code(), ExitCode::Usage, "{e}");
            assert_eq!(e.exit_code().code(), 2, "{e}");
        }
    }

    #[test]
    fn a_failure_of_the_system_at_run_time_is_runtime_not_usage() {
        let runtime = [
            // The spool and the write-ahead log: a full disk, an I/O error, a read-only remount.
            spool(K::StorageFull),
            spool(K::Other),
            spool(K::ReadOnlyFilesystem),
            wal(K::StorageFull),
            wal(K::QuotaExceeded),
            CommandError::Pipeline(PipelineError::Wal(WalError::Closed)),
            CommandError::Pipeline(PipelineError::Wal(WalError::Duplicate(
                "r-w1-000001".into(),
            ))),
            CommandError::Inventory(InventoryError::NotKept {
                path: "/dev/stdin".into(),
                source: os(K::StorageFull),
            }),
            bind(K::AddrInUse),
            bind(K::AddrNotAvailable),
            CommandError::MockServer(MockError::SnmpPort {
                port: 1161,
                source: os(K::AddrInUse),
            }),
            CommandError::MockServer(MockError::Io(os(K::Other))),
            CommandError::Profiler(ProfilerError::Start(pprof::Error::CreatingError)),
            CommandError::LogFile(LogFileError {
                path: "app.log".into(),
                source: os(K::StorageFull),
            }),
            CommandError::TempSpool(os(K::StorageFull)),
            CommandError::Thread {
                name: "inventory check",
                source: os(K::OutOfMemory),
            },
            CommandError::CheckLost,
            CommandError::Stdout {
                what: "the man page",
                source: os(K::Other),
            },
            write(K::StorageFull),
        ];
        for e in runtime {
            assert_eq!(e.exit_code(), ExitCode::Runtime, "{e}");
            assert_eq!(e.exit_code().code(), 4, "{e}");
        }
    }

    #[test]
    fn the_messages_still_name_the_path_key_or_address() {
        for (e, named) in [
            (spool(K::StorageFull), "spool directory spool: "),
            (wal(K::StorageFull), "opening spool/wal: "),
            (bind(K::AddrInUse), "metrics.addr 127.0.0.1:9898: "),
            (
                CommandError::MockServer(MockError::SnmpPort {
                    port: 1161,
                    source: os(K::AddrInUse),
                }),
                "mock server: mock.snmp_port 1161: ",
            ),
            (
                CommandError::TempSpool(os(K::StorageFull)),
                "demo: temporary spool directory: ",
            ),
            (
                CommandError::Thread {
                    name: "inventory check",
                    source: os(K::OutOfMemory),
                },
                "inventory check thread: ",
            ),
            (
                CommandError::Stdout {
                    what: "the man page",
                    source: os(K::Other),
                },
                "writing the man page: ",
            ),
            (
                CommandError::InventoryChanged(RowError {
                    path: "appliances.csv".into(),
                    line: 7,
                    problem: crate::inventory::RowProblem::EmptyName,
                }),
                "(the inventory changed since it was checked?)",
            ),
        ] {
            assert!(e.to_string().contains(named), "{e} should contain {named}");
        }
    }
}
