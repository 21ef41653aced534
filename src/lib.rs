//! app: extracts CPU statistics from a fleet of appliances listed in a CSV inventory, transforms them, and loads
//! them in batches into an ingestion API with retries and a gzip spool, so that no record is lost.
//!
//! # Layout
//!
//! - `cli`, `commands`: the subcommands (`etl`, `replay`, `mock-server`, `validate`, `demo`, `healthcheck`) and
//!   their flags.
//! - `settings`: one struct per configuration section, defaults, `load()` and `validate()`.
//! - `inventory`, `dedupe`: streaming CSV reader with line-numbered errors; duplicate names in bounded memory.
//! - `model`: `CpuStats`, `DeviceRecord`, `Batch`, `BatchId`, the stable name hash.
//! - `extract`: the `simulated`, `http` and `snmp` sources.
//! - `snmp`: the SNMP protocol without I/O (BER, PDUs, v2c/v3 messages, USM keys and crypto), for the snmp source
//!   and the mock SNMP fleet.
//! - `transform`: pure `CpuStats` → `DeviceRecord`.
//! - `batch`, `codec`, `retry`: pure steps of loading (encode a batch, gzip, classify an answer, back off).
//! - `body_scan`: the quick check of a records body in its common shape (the full parser decides the rest).
//! - `spool`: spool files on disk (atomic writes, replay, quarantine, dead letters).
//! - `actors`: `ExtractSupervisor`, `LoaderActor`, `FailedBufferActor`, the topology and shutdown order.
//! - `mock`: the mock ingestion API.
//! - `metrics`, `summary`, `logging`: counters, the run summary and exit code, logs (text or JSON).
//! - `prom`, `progress`, `resources`, `profile`: Prometheus exposition, progress display, the resource report,
//!   CPU and heap profiles.

pub mod actors;
pub mod batch;
pub mod body_scan;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod dedupe;
pub mod extract;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod model;
pub mod prepared;
pub mod profile;
pub mod progress;
pub mod prom;
pub mod resources;
pub mod retry;
pub mod settings;
pub mod snmp;
pub mod spool;
pub mod summary;
pub mod tls;
pub mod transform;
