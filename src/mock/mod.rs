//! The mock ingestion API (`app mock-server`, and in-process for `app demo` and the tests), and the mock SNMP fleet
//! beside it.
//!
//! Layout: `server` binds and runs actix-web, `routes` holds the handlers, `state` the counters, the idempotency
//! keys and fault injection, `metrics` its Prometheus collector, `traffic` the periodic traffic line; `snmp` is the
//! mock SNMP fleet (`mock.snmp_port`), started beside the API by `start`. Body decoding and validation live in
//! `crate::codec` (the spool reads the same format), and for remote write and line protocol in the sinks that write
//! them (`crate::load::sinks`).
//!
//! May use: `config`, `resolve` (its TLS), `codec`, `load` (the sinks' readers), `snmp` (the protocol), `extract`
//! (the simulated stats its `/device` route serves), `observe` (Prometheus encoding).

pub mod metrics;
pub mod routes;
pub mod server;
pub mod snmp;
pub mod state;
pub mod traffic;

pub use server::{start, MockError, MockServer};
pub use state::{MockState, StatsSnapshot};
