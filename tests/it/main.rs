//! Integration tests: one binary. `helpers` starts the real mock API (in-process on port 0, or the binary) and the
//! real `app` binary in a temp dir per test; one file per area.

mod helpers;

mod config;
mod inventory_cli;
mod mock_api;
mod mock_binary;
mod observability;
mod pipeline;
mod shutdown;
mod spool_replay;
mod tls;
