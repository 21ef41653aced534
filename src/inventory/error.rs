//! What can be wrong with an inventory: a bad row (`RowError`, its `RowProblem`, file and line) or a file that
//! cannot be read (`InventoryError`).

use std::fmt;
use std::io::{self};
use std::path::PathBuf;

use super::*;

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    MissingField(&'static str),
    BadAddress(String),
    /// An IPv6 address in brackets, as URLs write it (`[::1]`): the address is what is inside.
    BracketedAddress(String),
    EmptyName,
    /// A control character in the name (C0, DEL or C1: a corrupt or binary file).
    ControlCharacter(char),
    DuplicateName {
        first_line: u64,
    },
    NotUtf8,
    Malformed(String),
    TooLong,
    /// The `credentials` column names no `[extract.snmp.credentials]` set.
    UnknownCredentials(String),
    /// The `port` column is not a port number.
    BadPort(String),
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::MissingField(field) => {
                write!(f, "missing field `{field}` (rows are ip,name)")
            }
            RowProblem::BadAddress(a) => {
                write!(
                    f,
                    "field `ip`: `{a}` is not an IPv4 or IPv6 address{}",
                    address_hint(a)
                )
            }
            RowProblem::BracketedAddress(a) => write!(
                f,
                "field `ip`: `[{a}]` is not an IPv4 or IPv6 address: brackets are for URLs; write {a}"
            ),
            RowProblem::EmptyName => write!(f, "field `name` is empty"),
            RowProblem::ControlCharacter(c) => {
                write!(
                    f,
                    "field `name` holds the control character U+{:04X}",
                    u32::from(*c)
                )
            }
            RowProblem::DuplicateName { first_line } => {
                write!(f, "field `name`: the same name is on line {first_line}")
            }
            RowProblem::NotUtf8 => write!(f, "the row is not valid UTF-8"),
            RowProblem::Malformed(m) => write!(f, "malformed CSV: {m}"),
            RowProblem::TooLong => write!(f, "line longer than {MAX_LINE_BYTES} bytes"),
            RowProblem::UnknownCredentials(name) => write!(
                f,
                "field `credentials`: `{name}` is no [extract.snmp.credentials.NAME] set of the configuration"
            ),
            RowProblem::BadPort(port) => {
                write!(f, "field `port`: `{port}` is not a port (1 to 65535)")
            }
        }
    }
}

/// A bad row: file, line and problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {problem}", path.display())]
pub struct RowError {
    pub path: PathBuf,
    pub line: u64,
    pub problem: RowProblem,
}

/// The inventory could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory {}: {source}{}", path.display(), relative_hint(path, source))]
    Open { path: PathBuf, source: io::Error },
    /// An inventory that can be read only once (a pipe, a FIFO, `/dev/stdin`) whose rows could not be kept for the
    /// run.
    #[error(
        "inventory {}: not a regular file (a pipe, FIFO or /dev/stdin is read only once), and its rows cannot be \
         kept in a temporary file: {source}; set TMPDIR to a writable directory, or save the inventory to a file \
         and pass that file",
        path.display()
    )]
    NotKept { path: PathBuf, source: io::Error },
    #[error("inventory {}: line {line}: {message}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// For a relative path that is not there: where it was looked for (a path from a configuration file is not
/// relative to that file).
fn relative_hint(path: &std::path::Path, source: &io::Error) -> String {
    if source.kind() != io::ErrorKind::NotFound || !path.is_relative() {
        return String::new();
    }
    let cwd = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
    format!(
        " (inventory.path, from the configuration or --inventory, is relative to the current directory {cwd}, \
         not to the configuration file)"
    )
}

/// Why an address that is not one may have been written so: a zone id, a header the other way round, a name.
fn address_hint(a: &str) -> &'static str {
    if a.contains('%') && a.contains(':') {
        return ": zone ids (`%eth0`) are refused: a link-local address names a device on one host's link only; \
                write the device's global or loopback address";
    }
    if a.eq_ignore_ascii_case("name") {
        return ": the columns are ip,name (this header has them the other way round)";
    }
    let name_like = !a.is_empty()
        && a.chars().any(|c| c.is_ascii_alphabetic())
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if name_like {
        return ": names are not resolved (write the device's address; the columns are ip,name)";
    }
    ""
}
