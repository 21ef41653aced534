//! The mock ingestion API (`app mock-server`, and in-process for `app demo` and the tests).
//!
//! Layout: `server` binds and runs actix-web, `routes` holds the handlers, `state` the counters, the idempotency
//! keys and fault injection; body decoding and validation live in `crate::codec`.

pub mod body_scan;
pub mod routes;
pub mod server;
pub mod state;

pub use server::{start, MockServer};
pub use state::{MockState, StatsSnapshot};
