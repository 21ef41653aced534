//! The whole-file check before a run and for `validate`: every bad row, the repeated names (in bounded memory),
//! and the valid rows kept for the run to read back.

use std::io;
use std::path::Path;

use super::*;
use crate::config::Shard;
use crate::inventory::dedupe::DuplicateFinder;
use crate::inventory::kept::{PreparedRows, PreparedWriter};
use crate::model::stable_hash_bytes;

/// What a full pass over an inventory found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InventoryCheck {
    /// Valid rows whose name is not a repeat.
    pub devices: u64,
    /// Bad rows, duplicates included.
    pub problems: u64,
    /// `(line, first line with that name)` of every repeated name, in line order.
    pub duplicates: Vec<(u64, u64)>,
    /// Rows of other shards (before a sharded run), neither checked nor kept: their own shard checks them.
    pub other_shard: u64,
}

/// Reads the whole inventory, handing every bad row to `on_problem` (rows as they are found, then repeated
/// names). Nothing is kept per row but 16 bytes in the duplicate finder's bounded runs, so a huge file costs no
/// memory. `sets` are the credential sets' names (`SnmpSettings::credential_names`), which the `credentials`
/// column must name. Used by `validate`.
pub fn check(
    path: &Path,
    sets: &[String],
    on_problem: impl FnMut(&RowError),
) -> Result<InventoryCheck, InventoryError> {
    check_rows(path, None, sets, on_problem, None).map(|(check, _)| check)
}

/// [`check`], before a run, of the rows of `shard` only (the reader's rule: a row is its name's shard's; a name
/// repeats only within one shard, so the repeated names are found exactly): the valid rows are also written to a
/// prepared file (`kept.rs`) for the run to read back, and handed over when every row parsed. `None` (the run
/// then reads the CSV again) when a row is bad or the file could not be written (a warning says why).
pub fn check_and_keep(
    path: &Path,
    shard: Option<Shard>,
    sets: &[String],
    on_problem: impl FnMut(&RowError),
) -> Result<(InventoryCheck, Option<PreparedRows>), InventoryError> {
    let mut writer = match PreparedWriter::new() {
        Ok(w) => Some(w),
        Err(e) => {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            None
        }
    };
    let (check, kept) = check_rows(path, shard, sets, on_problem, writer.as_mut())?;
    let clean = check.problems == check.duplicates.len() as u64;
    let rows = match writer.map(PreparedWriter::finish) {
        Some(Ok(rows)) if clean && kept => Some(rows),
        Some(Err(e)) => {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            None
        }
        _ => None,
    };
    Ok((check, rows))
}

/// [`check`] of `shard`'s rows, each valid row also pushed to `keep`; and whether every one was (a write error stops
/// keeping).
pub(super) fn check_rows(
    path: &Path,
    shard: Option<Shard>,
    sets: &[String],
    mut on_problem: impl FnMut(&RowError),
    mut keep: Option<&mut PreparedWriter>,
) -> Result<(InventoryCheck, bool), InventoryError> {
    let mut kept = keep.is_some();
    let mut out = InventoryCheck::default();
    let mut finder = DuplicateFinder::default();
    let io_error = |e: io::Error| InventoryError::Read {
        path: path.to_path_buf(),
        line: 0,
        message: format!("duplicate check: {e}"),
    };
    let mut reader = InventoryReader::open(path)?
        .with_shard(shard)
        .with_credentials(sets.to_vec());
    let mut keep_error = None;
    while let Some(row) = reader.next_with(|line, ip, name, via| {
        if let Some(w) = keep.as_mut() {
            if let Err(e) = w.push(line, ip, name, via) {
                keep_error = Some(e);
            }
        }
        (line, stable_hash_bytes(name))
    }) {
        if let Some(e) = keep_error.take() {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            (keep, kept) = (None, false);
        }
        match row? {
            Ok((line, hash)) => {
                out.devices += 1;
                finder.add(hash, line).map_err(io_error)?;
            }
            Err(e) => {
                out.problems += 1;
                on_problem(&e);
            }
        }
    }
    out.other_shard = reader.other_shard();
    out.duplicates = finder.finish().map_err(io_error)?;
    for &(line, first_line) in &out.duplicates {
        on_problem(&RowError {
            path: path.to_path_buf(),
            line,
            problem: RowProblem::DuplicateName { first_line },
        });
    }
    out.devices -= out.duplicates.len() as u64;
    out.problems += out.duplicates.len() as u64;
    Ok((out, kept))
}
