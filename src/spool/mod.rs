//! The spool: batches that could not be delivered, on disk, synchronous (the `FailedBufferActor` calls these on
//! its own thread).
//!
//! # On-disk layout
//!
//! ```text
//! spool/
//!   .lock                                     exclusive lock: one process per spool directory
//!   buffer_failed_worker{N}-{batch id}.json.gz  one undelivered batch: gzip of its JSON array (the original's
//!                                             format; its `buffer_failed_worker{N}.json.gz` files are read too)
//!   .tmp-*                                    a write under way (a leftover is settled at the next start: see
//!                                             `leftover`)
//!   quarantine/                               files that could not be parsed (never deleted, never replayed)
//!   rejected/{spool file name}                batches the API refused (non-retryable answers), not replayed
//!   rejected/{spool file name}.rejection.json the status and response body of the refusal
//!   wal/segment-{n}.wal                       the write-ahead log of `spool.durable` (layout, fsync order and
//!                                             crash table: `wal/mod.rs`)
//!   {spool file name}.rejection.json          the sidecar of a dead letter `replay --rejected` moved back to
//!                                             be sent again (removed with the file once it is resolved)
//! ```
//!
//! # Writes and crashes
//!
//! A file is written to `.tmp-…`, fsync'd, linked to its final name (which fails rather than overwrite; rename
//! where the file system has no hard links), the temp name removed, and the directory fsync'd; mode 0600. A crash
//! before the link leaves only a temp file; at the next start (`leftover`) it is deleted when the write-ahead log
//! holds its batch (or its spool file exists: a crash after the link), recovered into the spool under its batch id
//! when it decodes whole, and quarantined, with a warning naming the batch, only when it is torn with no other
//! copy (its batch was never acknowledged as spooled); after the link the file is whole. A spool file is
//! deleted only after its batch was acknowledged or dead-lettered, a temp file only when another copy of its batch
//! exists; nothing here deletes a file that is the only copy of a batch.
//!
//! Files: `names` (names and replay order), `disk` (lock, atomic writes, moves), `read` (reading files back),
//! `leftover` (temp files of interrupted writes, settled at start),
//! `dead_letter` (`rejected/`), `wal` (the write-ahead log: segments, writer thread, recovery).
//!
//! May use: `model`, `codec`.

mod dead_letter;
mod disk;
mod leftover;
mod names;
mod read;
pub mod wal;

pub use dead_letter::*;
pub use disk::*;
pub use leftover::*;
pub use names::*;
pub use read::*;

use std::io;
use std::path::{Path, PathBuf};

#[cfg(test)]
use crate::codec::count_records;
use crate::codec::gzip;
use crate::model::Batch;
#[cfg(test)]
use crate::model::{BatchId, Origin};
#[cfg(test)]
use bytes::Bytes;
#[cfg(test)]
use std::fs;

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
/// The lock file that keeps two processes from sharing one spool directory.
pub const LOCK_FILE: &str = ".lock";

/// Writes a batch to the spool; returns the file's path.
pub fn persist(dir: &Path, batch: &Batch) -> io::Result<PathBuf> {
    write_atomic(
        dir,
        &file_name(batch.worker, &batch.id),
        &gzip(batch.body.json()),
    )
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
            )
            .into(),
            request: None,
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
        fs::write(&path, gzip(batch("x").body.json())).unwrap();
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
            assert_eq!(count_records(p.body.json()), Ok(p.records as u64));
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
    fn a_planted_link_as_probe_or_lock_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        create_dir(&spool).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        // The probe's old name (this pid) and every pid around it: none may truncate the victim.
        let pid = std::process::id();
        for p in pid.saturating_sub(2)..=pid + 2 {
            std::os::unix::fs::symlink(&victim, spool.join(format!("{TEMP_PREFIX}probe-{p}")))
                .unwrap();
        }
        ensure_dir(&spool).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // A `.lock` planted as a link to a file elsewhere: refused, nothing created or locked there.
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, spool.join(LOCK_FILE)).unwrap();
        let err = lock_dir(&spool).unwrap_err();
        assert!(err.to_string().contains(".lock"), "{err}");
        assert!(!elsewhere.exists());
        fs::remove_file(spool.join(LOCK_FILE)).unwrap();
        std::os::unix::fs::symlink(&victim, spool.join(LOCK_FILE)).unwrap();
        assert!(lock_dir(&spool).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn the_spool_directory_is_checked_before_it_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        // Created 0700 when missing, and accepted.
        assert_eq!(check_dir(&spool, false).unwrap(), spool);
        assert_eq!(
            fs::metadata(&spool).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // A link to a directory is resolved once: the real path is returned.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&spool, &link).unwrap();
        assert_eq!(
            check_dir(&link, false).unwrap(),
            fs::canonicalize(&spool).unwrap()
        );
        // Writable by others: refused even though this process owns it, naming the path, owner and mode.
        fs::set_permissions(&spool, fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_dir(&spool, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let text = err.to_string();
        assert!(
            text.contains(&spool.display().to_string())
                && text.contains("mode 0777")
                && text.contains("owner uid")
                && text.contains("writable by others")
                && text.contains("spool.shared_dir"),
            "{text}"
        );
        assert!(check_dir(&link, false).is_err());
        // The operator's explicit choice.
        assert!(check_dir(&spool, true).is_ok());
        fs::set_permissions(&spool, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_dir(&spool, false).is_ok());
        // A file is not a directory.
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(check_dir(&file, false).is_err());
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
