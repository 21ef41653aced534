//! Dead letters: a batch the API refused, with its `.rejection.json` sidecar, in `rejected/`.

use std::io::{self};
use std::path::{Path, PathBuf};

use super::*;
use crate::codec::gzip;
use crate::model::Batch;

/// What the API said when it refused a batch (the `rejected/` sidecar).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    pub batch_id: String,
    pub worker: usize,
    pub records: usize,
    pub status: u16,
    pub response_body: String,
    pub rejected_at_unix: i64,
}

/// Dead-letters a batch: the batch and a `.rejection.json` sidecar into `rejected/`. (A replayed batch's own
/// spool file is deleted by the caller once all its parts are resolved.)
pub fn reject(dir: &Path, batch: &Batch, rejection: &Rejection) -> io::Result<PathBuf> {
    let rejected = dir.join(REJECTED_DIR);
    let path = write_atomic(
        &rejected,
        &file_name(batch.worker, &batch.id),
        &gzip(batch.body.json()),
    )?;
    let sidecar = format!(
        "{}.rejection.json",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("batch")
    );
    let text = serde_json::to_vec_pretty(rejection).expect("a Rejection always serialises");
    if let Err(e) = write_atomic(&rejected, &sidecar, &text) {
        // The batch itself is safe in rejected/; only the explanation is missing.
        log::error!(
            "[Spool] {}: could not write the rejection sidecar: {e}",
            rejected.join(&sidecar).display()
        );
    }
    Ok(path)
}

/// The `.rejection.json` sidecar of a dead letter (or of one moved back into the spool by [`redrive`]).
pub fn sidecar_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rejection.json");
    path.with_file_name(name)
}

/// Moves every dead letter in `rejected/` (with its sidecar) back into the spool under its own name, so that a
/// replay sends it again under its original batch id; answers the files moved, in replay order. Once delivered,
/// a file goes with its sidecar (see [`remove_sidecar`]); one rejected again is dead-lettered anew (a fresh
/// sidecar with the new answer); one that cannot be delivered now stays in the spool, an ordinary spool file. A
/// dead letter whose name is taken in the spool stays where it is.
pub fn redrive(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let rejected = dir.join(REJECTED_DIR);
    let mut moved = Vec::new();
    for path in list(&rejected)? {
        let Some(name) = path.file_name() else {
            continue;
        };
        let to = dir.join(name);
        // A link fails rather than overwrite: a file of that name in the spool is never replaced.
        if let Err(e) = std::fs::hard_link(&path, &to) {
            log::warn!(
                "[Spool] dead letter {} not re-driven: {}: {e}",
                path.display(),
                to.display()
            );
            continue;
        }
        std::fs::remove_file(&path)?;
        let side = sidecar_of(&path);
        if side.exists() {
            std::fs::rename(&side, sidecar_of(&to))?;
        }
        moved.push(to);
    }
    if !moved.is_empty() {
        sync_dir_after(dir);
        sync_dir_after(&rejected);
    }
    Ok(moved)
}

/// Removes the sidecar beside a spool file that was resolved (a re-driven dead letter's), if it has one.
pub fn remove_sidecar(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(sidecar_of(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
