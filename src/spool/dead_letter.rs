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
        &gzip(&batch.body),
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
