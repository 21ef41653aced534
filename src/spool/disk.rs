//! File-system primitives of the spool: the directory and its lock, atomic never-overwriting writes (temp file,
//! fsync, link, fsync of the directory), moves into `quarantine/` and `rejected/`, removal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::*;

pub(super) fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates the spool directory if needed and checks that a file can be written in it.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    create_dir(dir)?;
    let probe = dir.join(format!("{TEMP_PREFIX}probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)?;
    fs::remove_file(&probe)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Syncs a directory after a change that already happened: a failure is logged, not returned (the change is
/// done and must not be reported as failed).
pub(super) fn sync_dir_after(dir: &Path) {
    if let Err(e) = sync_dir(dir) {
        log::warn!("[Spool] fsync of directory {}: {e}", dir.display());
    }
}

/// Takes the spool directory for this process: an exclusive lock on `dir/.lock`, held while the file lives.
/// A second process on the same directory gets an error instead of racing the first one's files.
pub fn lock_dir(dir: &Path) -> io::Result<File> {
    create_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!(
                "{} is locked: another app process uses this spool directory",
                path.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes `data` to `dir/name` atomically; never replaces an existing file (`AlreadyExists`).
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<PathBuf> {
    create_dir(dir)?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let target = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        match fs::hard_link(&tmp, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // A filesystem without hard links: rename, after checking the name is free (the directory lock
            // keeps other processes of ours out).
            Err(_) if !target.exists() => fs::rename(&tmp, &target),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result?;
    sync_dir_after(dir);
    Ok(target)
}

/// A free name for `name` in `dir`: `name`, else `name.1`, `name.2`, … (moves never overwrite).
pub(super) fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut candidate = dir.join(name);
    let mut n = 1;
    while candidate.exists() {
        candidate = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    candidate
}

/// Moves `path` into `dir/sub/`, never over an existing file; returns the new path.
pub fn move_into(dir: &Path, sub: &str, path: &Path) -> io::Result<PathBuf> {
    let target_dir = dir.join(sub);
    create_dir(&target_dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("unnamed");
    let target = free_name(&target_dir, name);
    fs::rename(path, &target)?;
    sync_dir_after(&target_dir);
    sync_dir_after(dir);
    Ok(target)
}

/// Deletes an acknowledged spool file.
pub fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        sync_dir_after(dir);
    }
    Ok(())
}
