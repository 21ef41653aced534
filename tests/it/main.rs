//! Integration tests: one binary. `helpers` starts the real mock API (in-process on port 0, or the binary) and the
//! real `app` binary in a temp dir per test; one file per area.

mod helpers;

mod config;
mod config_types;
mod dead_letters;
mod demo;
mod deploy_shards;
mod dry_run;
mod durable_crash;
mod full_disk;
mod healthcheck;
mod help_and_man;
mod inventory_cli;
mod logging;
mod mock_api;
mod mock_binary;
mod mock_limits;
mod mock_sinks;
mod new_user;
mod observability;
mod pipeline;
mod profiling;
mod push;
mod run_summary;
mod shutdown;
mod sinks;
mod snmp_agent;
mod snmp_mock;
mod snmp_profiles;
mod snmp_recordings;
mod spool_replay;
mod tls;
