//! What a run was asked to do (`Mode`) and what it ended with (`RunOutcome`): the input of the summary and of
//! the exit code.

use std::sync::Arc;
use std::time::Duration;

use crate::inventory::InventoryError;
use crate::observe::metrics::RunMetrics;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replay the spool (if `spool.replay_on_start`), then extract the inventory.
    Etl,
    /// Deliver the spool, nothing else.
    Replay,
    /// Deliver the dead letters of `spool/rejected/` again (`replay --rejected`), nothing else.
    ReplayRejected,
}

impl Mode {
    /// The tag of its log lines: `[ETL]`, `[Replay]`.
    pub fn tag(self) -> &'static str {
        match self {
            Mode::Etl => "[ETL]",
            Mode::Replay | Mode::ReplayRejected => "[Replay]",
        }
    }
}

/// The raw outcome of a run; `summary.rs` turns it into the report and the exit code.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub metrics: Arc<RunMetrics>,
    pub duration: Duration,
    pub signal: Option<i32>,
    /// The inventory could not be read to its end.
    pub inventory_error: Option<InventoryError>,
    /// The run kept one shard of the inventory (`--shard`, `extract.shard`): an empty one is no problem.
    pub sharded: bool,
}
