//! Splitting an inventory into one file per shard (`app split-inventory`): each row goes to the shard its name falls
//! in (the reader's rule, `InventoryReader::with_shard`), as written (extra columns and quotes kept; comments,
//! blank lines and the header left out — but a header naming the `credentials` or `port` column, which every file
//! gets first), so that a shard then reads only its own rows instead of hashing every
//! other shard's.

use std::io::{self, Write};
use std::path::Path;

use super::*;
use crate::model::{stable_hash_bytes, ShardIndexer};

/// Why a split stopped.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A bad row: the inventory changed since it was checked.
    #[error("{0} (the inventory changed since it was checked?)")]
    Row(RowError),
    /// Writing the file of shard `.0`.
    #[error("shard {0}: {1}")]
    Write(usize, io::Error),
}

/// Copies each row of `path` to `outs[K]`, K its shard of `outs.len()`, each line followed by `\n`; the rows per
/// shard. The inventory must have been checked: a bad row stops the split.
pub fn split(path: &Path, outs: &mut [impl Write]) -> Result<Vec<u64>, SplitError> {
    let indexer = ShardIndexer::new(outs.len() as u64);
    let mut rows = vec![0u64; outs.len()];
    // The header, read with the first row: the optional columns it names mean the same in every file.
    let mut first = InventoryReader::open(path)?;
    let _ = first.next();
    if let Some(header) = first.columns_header() {
        for (k, out) in outs.iter_mut().enumerate() {
            out.write_all(header)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| SplitError::Write(k, e))?;
        }
    }
    let mut reader = InventoryReader::open(path)?;
    while let Some(row) = reader.next_with_line(|_, _, name, _, line| {
        let k = indexer.index(stable_hash_bytes(name)) as usize;
        let out = &mut outs[k];
        rows[k] += 1;
        out.write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| SplitError::Write(k, e))
    }) {
        row?.map_err(SplitError::Row)??;
    }
    Ok(rows)
}
