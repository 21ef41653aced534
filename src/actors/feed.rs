//! The inventory feed of a run: the rows the check before the run kept (or the CSV read again), read on their
//! own thread, skipped rows (repeated names, other shards, bad rows) counted and logged, the rest handed to the
//! `ExtractSupervisor` in chunks through a bounded channel.

use tokio::sync::mpsc;

use crate::inventory::kept::{PreparedReader, PreparedRows};
use crate::inventory::{ChunkBuilder, DeviceChunk, InventoryError, InventoryReader, RowError};
use crate::model::stable_hash_bytes;
use crate::observe::metrics::RunMetrics;

/// Devices per message from the reader thread (large: each message may wake the supervisor's thread).
const CHUNK: usize = 1024;

/// Lines whose device name repeats an earlier line's (found by the full check before the run), with that line.
pub type Repeated = std::collections::HashMap<u64, u64>;

/// What the check before the run hands to it.
#[derive(Debug, Default)]
pub struct Checked {
    /// Rows to skip: their name repeats an earlier row's.
    pub repeated: Repeated,
    /// The valid rows as the check read them (when every row parsed): read instead of the CSV.
    pub prepared: Option<PreparedRows>,
    /// Rows of other shards the check skipped (and kept none of).
    pub other_shard: u64,
}

/// Where the run's rows come from: the rows the check kept (with how many rows of other shards it skipped), or
/// the CSV file read again (by a reader that skips other shards' rows itself).
pub(super) enum RowSource {
    Csv(InventoryReader),
    Prepared(PreparedReader, u64),
}

impl RowSource {
    /// Rows skipped so far as other shards'.
    fn other_shard(&self) -> u64 {
        match self {
            RowSource::Csv(reader) => reader.other_shard(),
            RowSource::Prepared(_, skipped) => *skipped,
        }
    }

    /// The next row, as `InventoryReader::next_with` gives it.
    fn next_with<T>(
        &mut self,
        path: &std::path::Path,
        make: impl FnMut(u64, std::net::IpAddr, &[u8], crate::inventory::Via) -> T,
    ) -> Option<Result<Result<T, RowError>, InventoryError>> {
        match self {
            RowSource::Csv(reader) => reader.next_with(make),
            RowSource::Prepared(reader, _) => reader.next_with(make).map(|row| {
                row.map(Ok).map_err(|e| InventoryError::Read {
                    path: path.to_path_buf(),
                    line: reader.line(),
                    message: e.to_string(),
                })
            }),
        }
    }
}

/// Reads the inventory on its own thread: counts invalid rows and rows of other shards, sends the rest in chunks.
/// Skipped rows are logged in line order up to `inventory::REPORTED_PROBLEMS`, then only counted, and a last line
/// says how many more (a binary file would log a line for nearly every line it has).
pub(super) fn read_inventory(
    path: &std::path::Path,
    reader: RowSource,
    repeated: &Repeated,
    metrics: &RunMetrics,
    tx: mpsc::Sender<DeviceChunk>,
) -> Result<(), InventoryError> {
    let limit = crate::inventory::REPORTED_PROBLEMS as u64;
    let mut skipped = 0u64;
    let mut skip = |text: String| {
        skipped += 1;
        if skipped <= limit {
            log::warn!("[Inventory] {text}; row skipped");
        }
    };
    let result = read_rows(path, reader, repeated, metrics, tx, &mut skip);
    if skipped > limit {
        log::warn!(
            "[Inventory] … and {} more skipped ({skipped} rows in all)",
            skipped - limit
        );
    }
    result
}

/// [`read_inventory`]'s loop; `skip` logs a skipped row.
fn read_rows(
    path: &std::path::Path,
    mut reader: RowSource,
    repeated: &Repeated,
    metrics: &RunMetrics,
    tx: mpsc::Sender<DeviceChunk>,
    skip: &mut impl FnMut(String),
) -> Result<(), InventoryError> {
    /// What became of a valid row.
    enum Kept {
        Yes,
        Repeated { line: u64, first: u64 },
    }
    // A filled chunk, checked, for the supervisor (an error names the line of a name that is not UTF-8).
    let finish = |chunk: ChunkBuilder| {
        chunk.finish().map_err(|line| InventoryError::Read {
            path: path.to_path_buf(),
            line,
            message: "the device name is not UTF-8 (a damaged temporary file?)".into(),
        })
    };
    let mut chunk = ChunkBuilder::with_capacity(CHUNK);
    let mut other_counted = 0;
    loop {
        if tx.is_closed() {
            return Ok(()); // extraction stopped
        }
        // The name is copied straight into the chunk's arena: nothing is allocated per row.
        let row = reader.next_with(path, |line, ip, name, via| {
            if let Some(&first) = repeated.get(&line) {
                return Kept::Repeated { line, first };
            }
            // Hashed here, once, for the loader and the simulated stats.
            let hash = stable_hash_bytes(name);
            chunk.push_parts(line, ip, name, hash, via);
            Kept::Yes
        });
        let other = reader.other_shard();
        if other > other_counted {
            RunMetrics::add(&metrics.devices_skipped_shard, other - other_counted);
            other_counted = other;
        }
        let row = match row {
            None => break,
            Some(Ok(row)) => row,
            Some(Err(e)) => {
                // Hand over what was read before the error, then report it.
                let _ = tx.blocking_send(finish(chunk)?);
                return Err(e);
            }
        };
        match row {
            Ok(Kept::Yes) => {
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, ChunkBuilder::with_capacity(CHUNK));
                    if tx.blocking_send(finish(full)?).is_err() {
                        return Ok(()); // extraction stopped
                    }
                }
            }
            Ok(Kept::Repeated { line, first }) => {
                RunMetrics::add(&metrics.devices_invalid, 1);
                skip(format!(
                    "{}:{line}: field `name`: the same name is on line {first}",
                    path.display()
                ));
            }
            Err(e) => {
                RunMetrics::add(&metrics.devices_invalid, 1);
                skip(e.to_string());
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(finish(chunk)?);
    }
    Ok(())
}
