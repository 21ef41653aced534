//! Integration tests: one binary. `helpers` starts the real mock API (in-process on port 0, or the binary) and the
//! real `app` binary in a temp dir per test; one file per area.

mod helpers;

mod config;
mod deploy_shards;
mod durable_crash;
mod full_disk;
mod hardening;
mod hardening_cli;
mod hardening_config;
mod inventory_cli;
mod mock_api;
mod mock_binary;
mod mock_limits;
mod mock_sinks;
mod new_user;
mod observability;
mod pipeline;
mod push;
mod shutdown;
mod sinks;
mod snmp_agent;
mod snmp_mock;
mod snmp_profiles;
mod snmp_recordings;
mod spool_replay;
mod tls;
