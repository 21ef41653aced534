//! `[inventory]`: where the inventory is and what to do with its bad rows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to do with an inventory row that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Check the whole inventory (a shard: its own rows) first; any invalid row stops the run before it starts
    /// (exit 2).
    Fail,
    /// Log and count invalid rows, run the valid ones (exit 3 at the end).
    Skip,
}

/// `[inventory]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventorySettings {
    pub path: PathBuf,
    pub on_invalid: OnInvalid,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("appliances.csv"),
            on_invalid: OnInvalid::Fail,
        }
    }
}
