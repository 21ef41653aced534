//! The inventory feed of a run: the rows the check before the run kept (or the CSV read again), opened and read on
//! their own thread (a file that makes `open` or `read` wait, a FIFO, never holds up the run's thread, where the
//! signals are handled), skipped rows (repeated names, other shards, bad rows) counted and logged, the rest handed
//! to the `ExtractSupervisor` (or the dry run) in chunks through a bounded channel.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::config::Shard;
use crate::inventory::kept::{KeptReader, KeptRows};
use crate::inventory::{ChunkBuilder, DeviceChunk, InventoryError, InventoryReader};
use crate::model::stable_hash_bytes;
use crate::observe::metrics::RunMetrics;

/// Devices per message from the reader thread (large: each message may wake the supervisor's thread).
const CHUNK: usize = 1024;

/// Lines whose device name repeats an earlier line's (found by the full check before the run), with that line.
pub type Repeated = std::collections::HashMap<u64, u64>;

/// What the check of the inventory before the run hands to it.
#[derive(Debug, Default)]
pub struct Checked {
    /// Rows in the inventory, for the progress total (`None` for a replay, which reads none, or when a signal
    /// stopped the check).
    pub total: Option<u64>,
    /// Rows to skip: their name repeats an earlier row's.
    pub repeated: Repeated,
    /// The rows as the check read them and kept them (when it could): read instead of the CSV.
    pub kept: Option<KeptRows>,
    /// Rows of other shards the check skipped (and kept none of).
    pub other_shard: u64,
}

/// Where the run's rows come from: the rows the check kept (with how many rows of other shards it skipped), or
/// the CSV file read again (by a reader that skips other shards' rows itself).
pub(super) enum RowSource {
    Csv(InventoryReader),
    Kept(KeptReader, u64),
}

impl RowSource {
    /// The rows the check kept, or else the CSV opened again (which may wait: call on the feed's thread).
    fn open(
        path: &std::path::Path,
        shard: Option<Shard>,
        sets: Vec<String>,
        kept: Option<KeptRows>,
        other_shard: u64,
    ) -> Result<Self, InventoryError> {
        match kept {
            Some(rows) => Ok(RowSource::Kept(KeptReader::new(rows), other_shard)),
            None => InventoryReader::open(path)
                .map(|r| RowSource::Csv(r.with_shard(shard).with_credentials(sets))),
        }
    }

    /// Rows skipped so far as other shards'.
    fn other_shard(&self) -> u64 {
        match self {
            RowSource::Csv(reader) => reader.other_shard(),
            RowSource::Kept(_, skipped) => *skipped,
        }
    }

    /// The next row, as `InventoryReader::next_with` gives it, a bad row as its message.
    fn next_with<T>(
        &mut self,
        path: &std::path::Path,
        make: impl FnMut(u64, std::net::IpAddr, &[u8], crate::inventory::Via) -> T,
    ) -> Option<Result<Result<T, String>, InventoryError>> {
        match self {
            RowSource::Csv(reader) => reader
                .next_with(make)
                .map(|row| row.map(|r| r.map_err(|e| e.to_string()))),
            RowSource::Kept(reader, _) => reader.next_with(make).map(|row| {
                row.map_err(|e| InventoryError::Read {
                    path: path.to_path_buf(),
                    line: reader.line(),
                    message: e.to_string(),
                })
            }),
        }
    }
}

/// The feed of a run: its chunks of devices, and how the reading ended (after the last chunk).
pub struct Feed {
    pub chunks: mpsc::Receiver<DeviceChunk>,
    pub done: oneshot::Receiver<Result<(), InventoryError>>,
}

/// Starts the feed's thread: it opens the rows (those the check kept, or the CSV at `path`), and sends them in
/// chunks, at most `ahead` chunks ahead of the reader of [`Feed::chunks`]; it stops at its next row once that is
/// dropped. The rows of `checked` are taken.
pub fn start(
    path: PathBuf,
    shard: Option<Shard>,
    sets: Vec<String>,
    checked: &mut Checked,
    metrics: Arc<RunMetrics>,
    ahead: usize,
) -> Feed {
    let (tx, chunks) = mpsc::channel::<DeviceChunk>(ahead);
    let (done_tx, done) = oneshot::channel();
    let (kept, other_shard) = (checked.kept.take(), checked.other_shard);
    let repeated = std::mem::take(&mut checked.repeated);
    std::thread::Builder::new()
        .name("inventory".into())
        .spawn(move || {
            let result = RowSource::open(&path, shard, sets, kept, other_shard)
                .and_then(|reader| read_inventory(&path, reader, &repeated, &metrics, tx));
            let _ = done_tx.send(result);
        })
        .expect("spawning the inventory thread only fails when the OS is out of threads");
    Feed { chunks, done }
}

/// Reads the inventory on its own thread: counts invalid rows and rows of other shards, sends the rest in chunks.
/// Skipped rows are logged in line order up to `inventory::REPORTED_PROBLEMS`, then only counted, and a last line
/// says how many more (a binary file would log a line for nearly every line it has).
fn read_inventory(
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
            Err(message) => {
                RunMetrics::add(&metrics.devices_invalid, 1);
                skip(message);
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(finish(chunk)?);
    }
    Ok(())
}
