//! The whole-file check before a run and for `validate`: every bad row, the repeated names (in bounded memory),
//! and the valid rows kept for the run to read back.

use std::io;
use std::path::Path;

use super::*;
use crate::config::Shard;
use crate::inventory::dedupe::DuplicateFinder;
use crate::inventory::kept::{KeptRows, KeptWriter};
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
/// repeats only within one shard, so the repeated names are found exactly): every row, valid or bad, is also
/// written to a file of kept rows (`kept.rs`) for the run to read back instead of the CSV. When that file cannot be
/// written, `None` and a warning (the run reads the CSV again); but an inventory that is not a regular file (a
/// pipe, a FIFO, `/dev/stdin`) can be read only once, so then the check fails (`InventoryError::NotKept`).
pub fn check_and_keep(
    path: &Path,
    shard: Option<Shard>,
    sets: &[String],
    on_problem: impl FnMut(&RowError),
) -> Result<(InventoryCheck, Option<KeptRows>), InventoryError> {
    // `metadata` does not open the file: it does not wait for a FIFO's writer.
    let once = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    let not_kept = |source: io::Error| {
        if once {
            Err(InventoryError::NotKept {
                path: path.to_path_buf(),
                source,
            })
        } else {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({source}); the run reads the file again"
            );
            Ok(())
        }
    };
    let mut writer = match KeptWriter::new() {
        Ok(w) => Some(w),
        Err(e) => {
            not_kept(e)?;
            None
        }
    };
    let (check, kept) = check_rows(path, shard, sets, on_problem, writer.as_mut())?;
    let rows = match writer.map(KeptWriter::finish) {
        Some(Ok(rows)) if kept.is_ok() => Some(rows),
        Some(Err(e)) => {
            not_kept(e)?;
            None
        }
        _ => {
            if let Err(e) = kept {
                not_kept(e)?;
            }
            None
        }
    };
    Ok((check, rows))
}

/// [`check`] of `shard`'s rows, each row (valid or bad) also pushed to `keep`; and whether every one was (the
/// first write error stops keeping, and is answered).
pub(super) fn check_rows(
    path: &Path,
    shard: Option<Shard>,
    sets: &[String],
    mut on_problem: impl FnMut(&RowError),
    mut keep: Option<&mut KeptWriter>,
) -> Result<(InventoryCheck, io::Result<()>), InventoryError> {
    let mut kept = Ok(());
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
        let row = row?;
        if let (Err(e), Some(w)) = (&row, keep.as_mut()) {
            // Only the first bad rows are logged by the run: the others are kept without their message.
            let message = if out.problems < REPORTED_PROBLEMS as u64 {
                e.to_string()
            } else {
                String::new()
            };
            if let Err(e) = w.push_bad(e.line, &message) {
                keep_error = Some(e);
            }
        }
        if let Some(e) = keep_error.take() {
            (keep, kept) = (None, Err(e));
        }
        match row {
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
