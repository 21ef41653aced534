//! Crash leftovers: the temporary file `.tmp-buffer_failed_worker…json.gz` of a spool write that a crash (SIGKILL,
//! OOM kill, power loss) interrupted, settled at the next start. Deleted when another copy of its batch exists (its
//! spool file, or the write-ahead log); recovered into the spool under its batch id when it decodes whole;
//! quarantined only when it is torn and nothing else holds the batch.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::disk::{move_into, sync_dir_after};
use super::names::parse_file_name;
use super::read::{plan_from, ReadError};
use super::{QUARANTINE_DIR, TEMP_PREFIX};
use crate::model::BatchId;

/// What became of a leftover temporary file.
#[derive(Debug)]
pub enum Leftover {
    /// Its spool file was already complete (the crash came between the link and the removal of the temporary
    /// name): the temporary file was deleted.
    AlreadySpooled { file: PathBuf },
    /// The write-ahead log holds the batch (it is sent again from there): the temporary file was deleted.
    InWal { id: BatchId },
    /// It decoded whole: it is now the spool file of its batch, replayed with the others.
    Recovered { file: PathBuf, records: usize },
    /// Torn (or not a spool file's temporary name) with no other copy: moved to `quarantine/`.
    Quarantined {
        /// The batch it held, when its name says.
        batch: Option<(usize, BatchId)>,
        bytes: u64,
        why: String,
        to: PathBuf,
    },
    /// It cannot be read now: left in place for the next start.
    Unreadable { error: io::Error },
}

/// Settles one temporary file `tmp` of the spool directory `dir`; `in_wal` says whether the write-ahead log holds
/// a batch id. Errors are those of the file system while deleting, linking or moving.
pub fn settle_leftover(
    dir: &Path,
    tmp: &Path,
    in_wal: impl Fn(&BatchId) -> bool,
) -> io::Result<Leftover> {
    let name = tmp
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(TEMP_PREFIX))
        .unwrap_or("");
    let bytes = fs::metadata(tmp).map(|m| m.len()).unwrap_or(0);
    let Some((worker, id)) = parse_file_name(name) else {
        let to = move_into(dir, QUARANTINE_DIR, tmp)?;
        return Ok(Leftover::Quarantined {
            batch: None,
            bytes,
            why: "not the temporary name of a spool file".into(),
            to,
        });
    };
    let file = dir.join(name);
    if file.exists() {
        remove(dir, tmp)?;
        return Ok(Leftover::AlreadySpooled { file });
    }
    if let Some(id) = id.as_ref().filter(|id| in_wal(id)) {
        remove(dir, tmp)?;
        return Ok(Leftover::InWal { id: id.clone() });
    }
    match plan_from(&file, tmp, usize::MAX, usize::MAX) {
        Ok(plan) => {
            // Whole: on disk before it takes the spool file's name, as a write would have left it.
            File::open(tmp)?.sync_all()?;
            match fs::hard_link(tmp, &file) {
                Ok(()) => fs::remove_file(tmp)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
                Err(_) => fs::rename(tmp, &file)?,
            }
            sync_dir_after(dir);
            Ok(Leftover::Recovered {
                file,
                records: plan.records,
            })
        }
        Err(ReadError::Io(_, error)) => Ok(Leftover::Unreadable { error }),
        Err(e) => {
            let why = match e {
                ReadError::Content(_, why) => why,
                other => other.to_string(),
            };
            let to = move_into(dir, QUARANTINE_DIR, tmp)?;
            let batch = id.map(|id| (worker, id));
            Ok(Leftover::Quarantined {
                batch,
                bytes,
                why,
                to,
            })
        }
    }
}

fn remove(dir: &Path, tmp: &Path) -> io::Result<()> {
    fs::remove_file(tmp)?;
    sync_dir_after(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::gzip;
    use crate::spool::{file_name, leftover_temp_files, list};

    const BODY: &[u8] = br#"[{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]},{"name":"e","cpu_number":"0","timestamp":1,"indicators":[]}]"#;

    fn id() -> BatchId {
        BatchId("20261207T020000Z-0000abcd-w2-000007".into())
    }

    /// A temporary file as a killed write leaves it: the first `keep` bytes of the gzip (all of them: `None`).
    fn leftover(dir: &Path, keep: Option<usize>) -> PathBuf {
        let data = gzip(BODY);
        let data = &data[..keep.unwrap_or(data.len())];
        let tmp = dir.join(format!("{TEMP_PREFIX}{}", file_name(2, &id())));
        fs::write(&tmp, data).unwrap();
        tmp
    }

    #[test]
    fn a_whole_leftover_becomes_the_spool_file_of_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = leftover(dir.path(), None);
        let got = settle_leftover(dir.path(), &tmp, |_| false).unwrap();
        let Leftover::Recovered { file, records } = got else {
            panic!("{got:?}")
        };
        assert_eq!(records, 2);
        assert_eq!(file, dir.path().join(file_name(2, &id())));
        assert_eq!(list(dir.path()).unwrap(), vec![file.clone()]);
        assert_eq!(
            crate::codec::gunzip_limited(&fs::read(&file).unwrap(), 1 << 20).unwrap(),
            BODY
        );
        assert!(leftover_temp_files(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_leftover_whose_batch_the_log_holds_is_deleted_even_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = leftover(dir.path(), None);
        let got = settle_leftover(dir.path(), &tmp, |b| *b == id()).unwrap();
        assert!(
            matches!(got, Leftover::InWal { ref id } if *id == self::id()),
            "{got:?}"
        );
        assert!(!tmp.exists());
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(!dir.path().join(QUARANTINE_DIR).exists());
    }

    #[test]
    fn a_leftover_of_a_linked_spool_file_is_deleted_and_the_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = leftover(dir.path(), Some(10));
        let file = dir.path().join(file_name(2, &id()));
        fs::write(&file, gzip(BODY)).unwrap();
        let got = settle_leftover(dir.path(), &tmp, |_| false).unwrap();
        assert!(matches!(got, Leftover::AlreadySpooled { .. }), "{got:?}");
        assert!(!tmp.exists());
        assert_eq!(fs::read(&file).unwrap(), gzip(BODY));
    }

    #[test]
    fn only_a_torn_leftover_with_no_other_copy_is_quarantined_naming_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let len = gzip(BODY).len();
        let tmp = leftover(dir.path(), Some(len - 9));
        let got = settle_leftover(dir.path(), &tmp, |_| false).unwrap();
        let Leftover::Quarantined {
            batch, bytes, to, ..
        } = got
        else {
            panic!("{got:?}")
        };
        assert_eq!(batch, Some((2, id())));
        assert_eq!(bytes, (len - 9) as u64);
        assert!(to.starts_with(dir.path().join(QUARANTINE_DIR)) && to.exists());
        assert!(list(dir.path()).unwrap().is_empty());
        // Torn, but the WAL holds the batch: deleted, not quarantined.
        let tmp = leftover(dir.path(), Some(len - 9));
        let got = settle_leftover(dir.path(), &tmp, |_| true).unwrap();
        assert!(matches!(got, Leftover::InWal { .. }), "{got:?}");
    }

    #[test]
    fn a_leftover_that_is_no_spool_file_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(format!("{TEMP_PREFIX}notes.txt"));
        fs::write(&tmp, b"x").unwrap();
        let got = settle_leftover(dir.path(), &tmp, |_| false).unwrap();
        assert!(
            matches!(got, Leftover::Quarantined { batch: None, .. }),
            "{got:?}"
        );
    }
}
