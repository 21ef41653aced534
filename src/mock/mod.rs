//! The mock ingestion API (`app mock-server`, and in-process for `app demo` and the tests).
//!
//! Layout: `server` binds and runs actix-web, `routes` holds the handlers, `state` the counters, the idempotency
//! keys and fault injection, `metrics` its Prometheus collector, `traffic` the periodic traffic line. Body decoding
//! and validation live in `crate::codec` (the spool reads the same format).
//!
//! May use: `config`, `resolve` (its TLS), `codec`, `extract` (the simulated stats its `/device` route serves),
//! `observe` (Prometheus encoding).

pub mod metrics;
pub mod routes;
pub mod server;
pub mod state;
pub mod traffic;

pub use server::{start, MockServer};
pub use state::{MockState, StatsSnapshot};
