//! File-system primitives of the spool: the directory and its lock, atomic never-overwriting writes (temp file,
//! fsync, link, fsync of the directory), moves into `quarantine/` and `rejected/`, removal.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::*;

pub(super) fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates the spool directory if needed and checks that a file can be written in it. The probe is a new file
/// of a random name (`O_EXCL`, `O_NOFOLLOW`): a link planted in the directory is never followed, nothing existing
/// is truncated.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    create_dir(dir)?;
    let probe = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}probe-{}-", std::process::id()))
        .tempfile_in(dir)?;
    probe.close()
}

/// Checks the spool directory before the run trusts it, creating it (0700) if needed; returns the path to use
/// from then on (a symbolic link to a directory resolved once). Refused (`PermissionDenied`, naming the path, its
/// owner and mode) unless it is a directory owned by the user the run runs as or by root, and writable by no
/// other user: not by others, and by its group only when that group is the run's own (a Kubernetes `fsGroup`).
/// `shared` (`spool.shared_dir`) is the operator's choice of a directory others may write: only a warning.
pub fn check_dir(dir: &Path, shared: bool) -> io::Result<PathBuf> {
    if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        // Said plainly: making the directory would fail with "File exists (os error 17)".
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "is not a directory (a file of that name is in the way)",
        ));
    }
    create_dir(dir)?;
    check_existing_dir(dir, shared)
}

/// [`check_dir`] of a directory that exists, making nothing (`validate`).
pub fn check_existing_dir(dir: &Path, shared: bool) -> io::Result<PathBuf> {
    let link = fs::symlink_metadata(dir)?;
    let path = if link.file_type().is_symlink() {
        fs::canonicalize(dir)?
    } else {
        dir.to_path_buf()
    };
    let meta = fs::symlink_metadata(&path)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", path.display()),
        ));
    }
    // SAFETY: geteuid and getegid take no arguments, cannot fail and touch no memory of ours.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mode = meta.mode() & 0o7777;
    let problem = if meta.uid() != uid && meta.uid() != 0 {
        Some(format!(
            "it is owned by uid {}, not by this run's uid {uid} or root",
            meta.uid()
        ))
    } else if mode & 0o002 != 0 {
        Some("it is writable by others".to_string())
    } else if mode & 0o020 != 0 && meta.gid() != gid {
        Some(format!(
            "it is writable by its group (gid {}), not this run's gid {gid}",
            meta.gid()
        ))
    } else {
        None
    };
    match problem {
        None => Ok(path),
        Some(why) if shared => {
            log::warn!(
                "[Spool] {} (owner uid {}, gid {}, mode {mode:04o}): {why}; used because spool.shared_dir = true: whoever can write it can make this run send records",
                path.display(),
                meta.uid(),
                meta.gid()
            );
            Ok(path)
        }
        Some(why) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} (owner uid {}, gid {}, mode {mode:04o}) is not trusted: {why}; whoever can write the spool can make the run send records and delete files. Fix its owner or mode (chmod go-w), or set spool.shared_dir = true to share it on purpose",
                path.display(),
                meta.uid(),
                meta.gid()
            ),
        )),
    }
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
    // O_NOFOLLOW: a link planted as `.lock` is refused (ELOOP), never followed to create or lock a file elsewhere.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
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
    write_atomic_from(dir, name, &mut &data[..])
}

/// [`write_atomic`] of what `from` reads to its end, copied through a fixed buffer (memory does not grow with
/// the length).
pub fn write_atomic_from(dir: &Path, name: &str, from: &mut dyn io::Read) -> io::Result<PathBuf> {
    create_dir(dir)?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{name}"));
    let target = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        io::copy(from, &mut f)?;
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
