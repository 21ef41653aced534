//! Spool file names: `buffer_failed_worker{N}-{batch id}.json.gz` (and the original's `…{N}.json.gz`), the
//! replay order, and the leftovers of interrupted writes.

use std::fs::{self};
use std::io::{self};
use std::path::{Path, PathBuf};

use super::*;
use crate::model::BatchId;

/// The file name of a batch.
pub fn file_name(worker: usize, id: &BatchId) -> String {
    format!("{PREFIX}{worker}-{id}{SUFFIX}")
}

/// Worker and batch id from a spool file name; `None` for names that are not spool files.
/// The original's `buffer_failed_worker{N}.json.gz` gives no id (`Some((N, None))`).
pub fn parse_file_name(name: &str) -> Option<(usize, Option<BatchId>)> {
    let middle = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (worker, id) = match middle.split_once('-') {
        Some((w, id)) => (w, Some(id)),
        None => (middle, None),
    };
    let worker = worker.parse().ok()?;
    match id {
        Some(id) if BatchId::is_valid(id) => Some((worker, Some(BatchId(id.to_string())))),
        Some(_) => None,
        None => Some((worker, None)),
    }
}

/// Spool files in `dir`, oldest name first (ids start with the run's time, so this is replay order).
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    list_all(dir).map(|(files, _)| files)
}

/// [`list`], and the entries named like spool files that are not regular files (a symlink, even to a valid file,
/// a dangling one, a directory, a FIFO), in name order: never followed nor replayed (the spool is this process's
/// own files; a link could make a replay read, and its acknowledgement delete, a file elsewhere), but reported.
pub fn list_all(dir: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut out, mut others) = (Vec::new(), Vec::new());
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((out, others)),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
            // `file_type` does not follow a symlink.
            if entry.file_type()?.is_file() {
                out.push(entry.path());
            } else {
                others.push(entry.path());
            }
        }
    }
    out.sort_by_cached_key(|p| replay_order(p));
    others.sort();
    Ok((out, others))
}

/// Oldest first: the original's files (no id, so from before any run of ours), then ours by batch id, which
/// starts with the run's UTC start time.
pub(super) fn replay_order(path: &Path) -> (bool, String) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match parse_file_name(name) {
        Some((_, Some(id))) => (true, id.0),
        _ => (false, name.to_string()),
    }
}

/// Temporary files left by a process that was killed while writing.
pub fn leftover_temp_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}
