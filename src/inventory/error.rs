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
                write!(f, "field `ip`: `{a}` is not an IPv4 or IPv6 address")
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
    #[error("inventory {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("inventory {}: line {line}: {message}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        message: String,
    },
}
