//! A UDP socket of the SNMP transport that could not be opened or used: the `io::Error` itself, kept whole (its
//! `io::ErrorKind` and errno) from the transport through the session to the device's `ExtractError`, where it is
//! classified and reported.

use std::io;
use std::sync::Arc;

/// An `io::Error` of a UDP socket, shared (the errors of an exchange are cloned) and compared by kind and text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SocketError(Arc<io::Error>);

impl SocketError {
    /// What kind of failure the system reported (`AddrNotAvailable`, `PermissionDenied`, `OutOfMemory`, …).
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }
}

impl From<io::Error> for SocketError {
    fn from(e: io::Error) -> Self {
        SocketError(Arc::new(e))
    }
}

impl PartialEq for SocketError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for SocketError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_and_the_errno_survive_the_wrapping() {
        let e = SocketError::from(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL));
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(e.to_string().contains("os error 99"), "{e}");
        assert_eq!(e.clone(), e);
        assert_ne!(
            e,
            SocketError::from(io::Error::from(io::ErrorKind::PermissionDenied))
        );
    }
}
