//! What a run tells its operator: the counters, the summary and its exit code, Prometheus exposition, the
//! progress line, logging, the resource report and CPU/heap profiles.
//!
//! May use: `config`, `model`, `inventory` (its error in the outcome), `spool` (to count files for `/metrics`). Used by the actors (counters) and the
//! commands (everything else).

pub mod exit;
pub mod logging;
pub mod metrics;
pub mod outcome;
pub mod profile;
pub mod progress;
pub mod prom;
pub mod resources;
pub mod summary;
