//! app: extracts CPU statistics from a fleet of appliances listed in a CSV inventory, transforms them, and loads
//! them in batches into an ingestion API with retries and a gzip spool, so that no record is lost.
//!
//! # Layout
//!
//! One folder per subsystem; each `mod.rs` says what it owns and what it may use. A module uses only modules
//! listed before it here (checked by `scripts/check-layout.py` in `.ci/run`, which also fails on any import
//! cycle between files); `commands` wires everything.
//!
//! - `model`: the shared vocabulary: `CpuStats`, `DeviceRecord`, `Batch` and its `Origin`, `BatchId`, the stable
//!   name hash.
//! - `codec`: wire formats shared by the loaders, the spool and the mock: gzip, bounded gunzip, the check of a
//!   records array (and `body_scan`, its one-pass fast path).
//! - `config`: the configuration as declared values: one struct per section, defaults, `load()`, `validate()`.
//! - `resolve`: what a run builds from those values, once, at start: the bearer token, the SNMP secrets, the TLS
//!   configurations.
//! - `inventory`: the streaming CSV reader with line-numbered errors, the whole-file check, duplicate names, the
//!   kept rows of the check, the loopback inventory generator.
//! - `transform`: pure `CpuStats` → `DeviceRecord`.
//! - `snmp`: the SNMP protocol without I/O (BER, PDUs, v2c/v3 messages, USM keys and crypto), for the snmp source
//!   and the mock SNMP fleet.
//! - `extract`: the sources (`simulated`, `http`, `snmp`) that give a device's `CpuStats`.
//! - `spool`: spool files on disk (its on-disk layout and crash behaviour documented at the top).
//! - `observe`: the one list of run counters, the run's outcome, exit codes, the summary, Prometheus, the
//!   end-of-run push (Pushgateway, textfile), progress, logging, resources, profiles.
//! - `load`: the pure steps of loading: record encoder, batches, retry rules, the circuit, the sinks (one folder
//!   per wire format: `ingest_json`, `prometheus_remote_write`, `influx_line`), the HTTP client.
//! - `actors`: `ExtractSupervisor`, `LoaderActor` (with the delivery task and its outcomes), `FailedBufferActor`,
//!   the stage; the topology, replay and the shutdown sequence.
//! - `mock`: the mock ingestion API (server, routes for the JSON array, remote write and line protocol, state, its
//!   metrics, its traffic line) and the mock SNMP fleet.
//! - `commands`: the subcommands (`etl`, `replay`, `mock-server`, `validate`, `demo`, `healthcheck`), their flags,
//!   typed errors and the one mapping of outcomes to exit codes.

pub mod actors;
pub mod codec;
pub mod commands;
pub mod config;
pub mod extract;
pub mod inventory;
pub mod load;
pub mod mock;
pub mod model;
pub mod observe;
pub mod resolve;
pub mod snmp;
pub mod spool;
pub mod transform;
