//! The mock ingestion API (`app mock-server`, and in-process for `app demo` and the tests).
//!
//! Layout: `server` binds and runs actix-web, `routes` holds the handlers, `state` the counters, the idempotency
//! keys and fault injection; body decoding and validation live in `crate::codec`. `snmp` is the mock SNMP fleet
//! (`mock.snmp_port`), started beside the API by `start`.

pub mod routes;
pub mod server;
pub mod snmp;
pub mod state;

pub use server::{start, MockServer};
pub use state::{MockState, StatsSnapshot};
