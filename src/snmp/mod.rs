//! The SNMP protocol, without I/O: BER encoding (`ber`), object identifiers (`oid`), PDUs (`pdu`), v2c and v3
//! messages (`message`) and the User-based Security Model's keys, authentication and privacy (`usm`).
//!
//! Used by the SNMP source (`extract::snmp`) and by the mock SNMP fleet. Every decoder is strict and total: any
//! byte string gives a value or an error, never a panic.

pub mod ber;
pub mod message;
pub mod oid;
pub mod pdu;
pub mod usm;

pub use ber::{BerError, Value};
pub use message::{CommunityMessage, ScopedPdu, V3Message};
pub use oid::Oid;
pub use pdu::{Pdu, PduKind, VarBind};
