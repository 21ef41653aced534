//! Spool files on disk, synchronous (the `FailedBufferActor` calls these on its own thread).
//!
//! A file is `buffer_failed_worker{N}-{batch id}.json.gz`: a gzip of the JSON array, as the original wrote (whose
//! `buffer_failed_worker{N}.json.gz` files are read too). Writes are atomic (temp file, fsync, link to the final
//! name, which fails rather than overwrite, fsync of the directory) and mode 0600. Unreadable files go to
//! `quarantine/`, dead letters with a sidecar to `rejected/`; nothing here deletes a file that is not acknowledged.

pub mod wal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::codec::{count_records, gunzip_limited, gzip};
use crate::model::{stable_hash_bytes, Batch, BatchId, Origin, SpoolFile};

/// Name prefix of spool files (the original's).
pub const PREFIX: &str = "buffer_failed_worker";
/// Name suffix of spool files.
pub const SUFFIX: &str = ".json.gz";
/// Sub-directory for files that could not be read.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Sub-directory for batches the API refused (non-retryable answers).
pub const REJECTED_DIR: &str = "rejected";
/// Prefix of temporary files being written.
pub const TEMP_PREFIX: &str = ".tmp-";
/// Largest decompressed spool file read back (a corrupt or hostile file cannot exhaust memory). Our own files
/// hold one batch (`load.batch_bytes`, 1 MiB by default); the original's held 200 records.
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// The lock file that keeps two processes from sharing one spool directory.
pub const LOCK_FILE: &str = ".lock";

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

fn create_dir(dir: &Path) -> io::Result<()> {
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Syncs a directory after a change that already happened: a failure is logged, not returned (the change is
/// done and must not be reported as failed).
fn sync_dir_after(dir: &Path) {
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

/// Writes a batch to the spool; returns the file's path.
pub fn persist(dir: &Path, batch: &Batch) -> io::Result<PathBuf> {
    write_atomic(dir, &file_name(batch.worker, &batch.id), &gzip(&batch.body))
}

/// Spool files in `dir`, oldest name first (ids start with the run's time, so this is replay order).
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(SUFFIX) && entry.file_type()?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort_by_cached_key(|p| replay_order(p));
    Ok(out)
}

/// Oldest first: the original's files (no id, so from before any run of ours), then ours by batch id, which
/// starts with the run's UTC start time.
fn replay_order(path: &Path) -> (bool, String) {
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

/// Why a spool file could not be turned back into a batch.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: not a spool file name", .0.display())]
    Name(PathBuf),
    #[error("{}: {err}", .0.display(), err = .1)]
    Io(PathBuf, io::Error),
    #[error("{}: {err}", .0.display(), err = .1)]
    Content(PathBuf, String),
}

/// Reads a spool file back as batches: one, or — for a file larger than `max_records` records or `max_bytes`
/// bytes (the original's, or one written with a larger batch size) — parts with ids `{id}-p{k}`, the same on every
/// replay with the same limits. The body is the JSON array, checked record by record.
pub fn read(path: &Path, max_records: usize, max_bytes: usize) -> Result<Vec<Batch>, ReadError> {
    let mut raw = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| ReadError::Io(path.into(), e))?;
    decode(path, &raw, max_records, max_bytes)
}

/// The pure part of `read`: the batches in `raw`, the content of the spool file at `path` (whose name gives the
/// worker and the batch id). Never panics, and never holds more than `MAX_FILE_BYTES` of decompressed body.
pub fn decode(
    path: &Path,
    raw: &[u8],
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Batch>, ReadError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (worker, id) = parse_file_name(name).ok_or_else(|| ReadError::Name(path.into()))?;
    let body = gunzip_limited(raw, MAX_FILE_BYTES)
        .map_err(|e| ReadError::Content(path.into(), e.to_string()))?;
    let records =
        count_records(&body).map_err(|e| ReadError::Content(path.into(), e.to_string()))? as usize;
    // The original's files have no id: derive a stable one from the content, the same on every replay.
    let id = id.unwrap_or_else(|| {
        BatchId(format!(
            "legacy-w{worker}-{:016x}",
            stable_hash_bytes(&body)
        ))
    });
    if records <= max_records && body.len() <= max_bytes {
        let origin = SpoolFile::new(path.to_path_buf(), 1);
        return Ok(vec![Batch {
            id,
            worker,
            records,
            body: Bytes::from(body),
            origin: Origin::Replayed(origin),
        }]);
    }
    let parts = split_array(&body, max_records, max_bytes)
        .map_err(|e| ReadError::Content(path.into(), e))?;
    let origin = SpoolFile::new(path.to_path_buf(), parts.len());
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(k, (body, records))| Batch {
            id: BatchId(format!("{id}-p{}", k + 1)),
            worker,
            records,
            body,
            origin: Origin::Replayed(origin.clone()),
        })
        .collect())
}

/// Splits a JSON array into arrays of at most `max_records` elements and about `max_bytes` bytes.
pub fn split_array(
    body: &[u8],
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<(Bytes, usize)>, String> {
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    let mut current = Vec::with_capacity(max_bytes.min(1 << 20));
    let mut n = 0;
    for element in elements {
        let text = element.get().as_bytes();
        if n > 0 && (n >= max_records || current.len() + text.len() + 2 > max_bytes) {
            current.push(b']');
            parts.push((Bytes::from(std::mem::take(&mut current)), n));
            n = 0;
        }
        current.push(if n == 0 { b'[' } else { b',' });
        current.extend_from_slice(text);
        n += 1;
    }
    if n > 0 {
        current.push(b']');
        parts.push((Bytes::from(current), n));
    }
    Ok(parts)
}

/// A free name for `name` in `dir`: `name`, else `name.1`, `name.2`, … (moves never overwrite).
fn free_name(dir: &Path, name: &str) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn batch(id: &str) -> Batch {
        Batch {
            id: BatchId(id.into()),
            worker: 3,
            records: 1,
            body: Bytes::from_static(
                br#"[{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]}]"#,
            ),
            origin: Origin::New,
        }
    }

    #[test]
    fn names_round_trip_and_legacy_names_parse() {
        let id = BatchId("20261127T000000Z-0000abcd-w3-000001".into());
        assert_eq!(parse_file_name(&file_name(3, &id)), Some((3, Some(id))));
        assert_eq!(
            parse_file_name("buffer_failed_worker7.json.gz"),
            Some((7, None))
        );
        assert_eq!(parse_file_name("buffer_failed_workerX.json.gz"), None);
        assert_eq!(parse_file_name("other.json.gz"), None);
    }

    #[test]
    fn persist_is_0600_readable_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch("r-w3-000001");
        let path = persist(dir.path(), &b).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = read(&path, 200, 1 << 20).unwrap().remove(0);
        assert_eq!(back.body, b.body);
        assert_eq!(back.id, b.id);
        assert_eq!(back.records, 1);
        let again = persist(dir.path(), &b).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert!(leftover_temp_files(dir.path()).unwrap().is_empty());
        assert_eq!(list(dir.path()).unwrap(), vec![path]);
    }

    #[test]
    fn original_files_get_a_stable_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer_failed_worker2.json.gz");
        fs::write(&path, gzip(&batch("x").body)).unwrap();
        let a = read(&path, 200, 1 << 20).unwrap().remove(0);
        assert_eq!(a.worker, 2);
        assert!(a.id.0.starts_with("legacy-w2-"));
        assert_eq!(a.id, read(&path, 200, 1 << 20).unwrap()[0].id);
    }

    #[test]
    fn corrupt_files_are_errors_and_moves_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer_failed_worker1-a.json.gz");
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(
            read(&path, 200, 1 << 20),
            Err(ReadError::Content(..))
        ));
        let q1 = move_into(dir.path(), QUARANTINE_DIR, &path).unwrap();
        fs::write(&path, b"garbage").unwrap();
        let q2 = move_into(dir.path(), QUARANTINE_DIR, &path).unwrap();
        assert_ne!(q1, q2);
        assert!(q1.exists() && q2.exists());
    }

    #[test]
    fn a_large_file_is_replayed_in_parts_with_stable_ids() {
        let dir = tempfile::tempdir().unwrap();
        let one = r#"{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]}"#;
        let body = format!("[{}]", vec![one; 25].join(","));
        let path = dir.path().join("buffer_failed_worker1.json.gz");
        fs::write(&path, gzip(body.as_bytes())).unwrap();
        let parts = read(&path, 10, 1 << 20).unwrap();
        let counts: Vec<_> = parts.iter().map(|b| b.records).collect();
        assert_eq!(counts, [10, 10, 5]);
        for (k, p) in parts.iter().enumerate() {
            assert!(p.id.0.ends_with(&format!("-p{}", k + 1)), "{}", p.id);
            assert_eq!(count_records(&p.body), Ok(p.records as u64));
        }
        let again = read(&path, 10, 1 << 20).unwrap();
        assert_eq!(parts[1].id, again[1].id);
        // a byte limit splits too
        let small = read(&path, 100, 3 * one.len() + 5).unwrap();
        assert!(small.iter().all(|b| b.body.len() <= 3 * one.len() + 5));
        assert_eq!(small.iter().map(|b| b.records).sum::<usize>(), 25);
    }

    #[test]
    fn replay_order_is_original_files_then_ours_by_time() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "buffer_failed_worker10-20261127T010000Z-aaaaaaaa-w10-000001.json.gz",
            "buffer_failed_worker2-20261127T000000Z-bbbbbbbb-w2-000001.json.gz",
            "buffer_failed_worker3.json.gz",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let names: Vec<String> = list(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names[0].starts_with("buffer_failed_worker3."));
        assert!(names[1].contains("T000000Z"), "{names:?}");
    }

    #[test]
    fn a_second_process_cannot_take_a_locked_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_dir(dir.path()).unwrap();
        let err = lock_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another app process"), "{err}");
    }

    #[test]
    fn rejection_writes_batch_and_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch("r-w3-000002");
        let r = Rejection {
            batch_id: b.id.0.clone(),
            worker: 3,
            records: 1,
            status: 400,
            response_body: "bad".into(),
            rejected_at_unix: 0,
        };
        let p = reject(dir.path(), &b, &r).unwrap();
        assert!(p.starts_with(dir.path().join(REJECTED_DIR)));
        let side = fs::read_to_string(format!("{}.rejection.json", p.display())).unwrap();
        assert!(side.contains("\"status\": 400"));
        assert!(list(dir.path()).unwrap().is_empty());
    }
}
