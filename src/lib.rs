//! app: extracts CPU statistics from a fleet of appliances listed in a CSV inventory, transforms them, and loads
//! them in batches into an ingestion API with retries and a gzip spool, so that no record is lost.
//!
//! # Layout
//!
//! One folder per subsystem, in pipeline order; each `mod.rs` says what it owns and what it may use. A module
//! only uses modules listed before it here (checked by `scripts/check-layout.py` in `.ci/run`), except
//! `commands`, which wires everything.
//!
//! - `model`: the shared vocabulary: `CpuStats`, `DeviceRecord`, `Batch`, `BatchId`, the stable name hash.
//! - `codec`: wire formats shared by the loaders, the spool and the mock: gzip, bounded gunzip, records arrays.
//! - `config`: the configuration as declared values: one struct per section, defaults, `load()`, `validate()`.
//! - `net`: TLS for clients and servers, built from the configuration's values.
//! - `observe`: run counters, the summary and its exit code, Prometheus, progress, logging, resources, profiles.
//! - `inventory`: the streaming CSV reader with line-numbered errors, the whole-file check, duplicate names, the
//!   kept rows of the check.
//! - `transform`: pure `CpuStats` → `DeviceRecord`.
//! - `extract`: the sources (`simulated`, `http`) that give a device's `CpuStats`.
//! - `load`: the record encoder and batches, retry rules, the circuit, the HTTP client and the delivery of a batch.
//! - `spool`: spool files on disk (atomic writes, read-back, quarantine, dead letters).
//! - `actors`: `ExtractSupervisor`, `LoaderActor`, `FailedBufferActor`, the stage, replay; topology and shutdown.
//! - `mock`: the mock ingestion API (server, routes, state, its metrics and its body scanner).
//! - `commands`: the subcommands (`etl`, `replay`, `mock-server`, `validate`, `demo`, `healthcheck`), their flags
//!   and the one mapping of outcomes to exit codes.

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
pub mod spool;
pub mod transform;
