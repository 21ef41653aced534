//! What a sink reads of a record, whichever form it comes in: a record as the transform made it
//! (`DeviceRecord`, encoded by the supervisor's stage straight into the sink's format as the batch is formed) or
//! one read back from a batch's JSON array (`records::RecordView`, a spool file or a logged batch replayed).

use crate::model::DeviceRecord;

use super::records::RecordView;

/// A record's fields as every sink reads them.
pub trait Fields {
    /// The device's name (the inventory's).
    fn device(&self) -> &str;
    /// The CPU number as the device reports it.
    fn cpu(&self) -> &str;
    /// Seconds since the epoch.
    fn seconds(&self) -> i64;
    /// Each indicator's name and value, `None` when it is not finite (`null` in a batch).
    fn indicators(&self) -> impl Iterator<Item = (&str, Option<f64>)>;
}

impl Fields for DeviceRecord {
    fn device(&self) -> &str {
        &self.name
    }
    fn cpu(&self) -> &str {
        &self.cpu_number
    }
    fn seconds(&self) -> i64 {
        self.timestamp
    }
    fn indicators(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.indicators
            .iter()
            .map(|i| (i.name, i.value.is_finite().then_some(i.value)))
    }
}

impl Fields for RecordView<'_> {
    fn device(&self) -> &str {
        &self.name
    }
    fn cpu(&self) -> &str {
        &self.cpu_number.0
    }
    fn seconds(&self) -> i64 {
        self.timestamp.0
    }
    fn indicators(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.indicators.iter().map(|i| (i.name.as_ref(), i.value.0))
    }
}
