//! The `--summary-json` file: checked before the run starts (a path that cannot be written is bad usage, exit 2,
//! before anything is sent), written atomically at the end; a write that fails then is logged and does not change
//! the run's exit code (exit 2 after a full delivery would tell a wrapper to run again and send everything twice).

use std::io::Write as _;
use std::path::Path;

use super::CommandError;
use crate::observe::summary::Summary;

/// The directory the file goes in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn error(path: &Path, source: std::io::Error) -> CommandError {
    CommandError::SummaryFile {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `path` can be written at the end of the run: not a directory, in an existing directory where a file
/// can be created, and writable when it exists already. Leaves no file behind.
pub fn check(path: &Path) -> Result<(), CommandError> {
    if path.is_dir() {
        return Err(error(path, std::io::Error::other("is a directory")));
    }
    let dir = parent(path);
    if !dir.is_dir() {
        return Err(error(
            path,
            std::io::Error::other(format!("directory {} does not exist", dir.display())),
        ));
    }
    tempfile::Builder::new()
        .prefix(".summary-check-")
        .tempfile_in(dir)
        .map_err(|e| error(path, e))?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| error(path, e))?;
    }
    Ok(())
}

/// Writes `summary` as JSON to `path` (a temporary file renamed into place, so a reader never sees half of it).
/// A failure is logged; the caller's exit code stands.
pub fn write(summary: &Summary, path: &Path) {
    let text = serde_json::to_vec_pretty(summary).expect("a Summary always serialises");
    let result = tempfile::Builder::new()
        .prefix(".summary-")
        // As `std::fs::write` would create it (the umask applies), not the 0600 of a temporary file.
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(parent(path))
        .and_then(|mut tmp| {
            tmp.write_all(&text)?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        });
    if let Err(e) = result {
        log::error!(
            "[Summary] cannot write the summary file {}: {e}; the run's exit code ({}) stands",
            path.display(),
            summary.exit_code
        );
    }
}
