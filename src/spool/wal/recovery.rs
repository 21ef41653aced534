//! Recovery of the WAL at start: reads every segment once, in sequence order; keeps the valid prefix of each
//! (a torn or bad tail is cut: the file truncated at the last good entry, a bad tail first copied to
//! `spool/quarantine/`); moves a segment whose header cannot be parsed to `spool/quarantine/`; deletes segments
//! whose batches are all resolved; and returns the un-resolved batches in WAL order with their original ids.
//! Bodies are not held: [`read_batch`] reads one back (checking its checksum again) when it is sent.
//!
//! Long because every way a segment can be damaged (header, torn tail, bad checksum, bad payload) is handled
//! here, next to the scan that finds it; about a third of the file is its tests.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::segment::{self, Codec, Corrupt, Entry, HeaderError, ENTRY_HEAD_LEN, HEADER_LEN, MAGIC};
use super::{WalError, SEGMENT_BYTES, WAL_DIR};
use crate::spool;

/// Largest decompressed batch a WAL entry may declare (a damaged length cannot make recovery allocate more):
/// a batch is at most `load.batch_bytes`, far below this.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// What a segment holds, as the writer fills it: it starts a new segment once one passes `segment_bytes` (at most
/// [`SEGMENT_BYTES`]), so at most that plus one whole entry of batches. A damaged tail longer than this (after the
/// last good entry) is not a torn or damaged write of ours but a file that is not a segment (a sparse file,
/// something else): the whole file is moved to quarantine, never copied. (Resolution entries can push the active
/// segment past this bound in theory, but only with a tail of good entries, which is never cut.)
pub const MAX_SEGMENT_FILE: u64 =
    (HEADER_LEN + ENTRY_HEAD_LEN + segment::MAX_BODY_LEN) as u64 + SEGMENT_BYTES;

/// An un-resolved batch found in the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredBatch {
    pub id: String,
    pub worker: usize,
    pub records: usize,
    /// Its segment's number and path, and where its entry starts and how long it is.
    pub seq: u64,
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// A segment kept after recovery.
#[derive(Debug, Clone)]
pub struct RecoveredSegment {
    pub seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What recovery did besides reading (each is logged by the caller).
#[derive(Debug, Clone)]
pub enum RecoveryEvent {
    /// The segment was cut to `at` bytes; `dropped` bytes after it were a torn write (`saved` is `None`) or not
    /// entries (`saved` is their copy in quarantine, or `None` if that copy failed).
    Cut {
        path: PathBuf,
        at: u64,
        dropped: u64,
        why: String,
        saved: Option<PathBuf>,
    },
    /// The segment's header is not one: moved to `to` (or left in place when the move failed: `None`).
    Quarantined {
        path: PathBuf,
        to: Option<PathBuf>,
        why: String,
    },
    /// The segment was deleted: every batch in it is resolved, or it is an empty file from a cut creation.
    Removed { path: PathBuf, why: &'static str },
}

/// The WAL as found at start.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Un-resolved batches, in WAL order, to send before new data.
    pub batches: Vec<RecoveredBatch>,
    /// Un-resolved batches whose spool file exists (a crash came between the file and its `spooled` entry):
    /// not to be sent from the WAL; the caller records them as spooled.
    pub already_spooled: Vec<RecoveredBatch>,
    pub segments: Vec<RecoveredSegment>,
    pub events: Vec<RecoveryEvent>,
    /// The number for the next new segment.
    pub next_seq: u64,
}

/// Why a segment's entries stop where they do.
enum Stop {
    Clean,
    Torn,
    Corrupt(Corrupt),
}

/// One segment's readable content.
struct Scan {
    batches: Vec<RecoveredBatch>,
    resolved: Vec<String>,
    valid: u64,
    stop: Stop,
}

/// Reads the entries of a segment (its header already checked) up to the first that is not whole and valid.
/// Reads each entry once; allocates at most one entry's body (bounded by `segment::MAX_BODY_LEN`).
fn scan(path: &Path, seq: u64, file: File, file_len: u64) -> io::Result<Scan> {
    let mut r = BufReader::with_capacity(256 << 10, file);
    r.seek(SeekFrom::Start(HEADER_LEN as u64))?;
    let mut at = HEADER_LEN as u64;
    let mut out = Scan {
        batches: Vec::new(),
        resolved: Vec::new(),
        valid: at,
        stop: Stop::Clean,
    };
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; ENTRY_HEAD_LEN];
        let got = read_full(&mut r, &mut head)?;
        if got == 0 {
            return Ok(out);
        }
        if got < ENTRY_HEAD_LEN {
            out.stop = Stop::Torn;
            return Ok(out);
        }
        let (len, crc) = match segment::decode_head(&head) {
            Ok(v) => v,
            Err(c) => {
                out.stop = Stop::Corrupt(c);
                return Ok(out);
            }
        };
        let end = at + (ENTRY_HEAD_LEN + len) as u64;
        if end > file_len {
            out.stop = Stop::Torn;
            return Ok(out);
        }
        body.resize(len, 0);
        if read_full(&mut r, &mut body)? < len {
            out.stop = Stop::Torn;
            return Ok(out);
        }
        match segment::decode_body(&body, crc) {
            Ok(Entry::Batch {
                id,
                worker,
                records,
                ..
            }) => out.batches.push(RecoveredBatch {
                id: id.to_string(),
                worker: worker as usize,
                records: records as usize,
                seq,
                path: path.to_path_buf(),
                offset: at,
                len: end - at,
            }),
            Ok(Entry::Resolved { id, .. }) => out.resolved.push(id.to_string()),
            Err(c) => {
                out.stop = Stop::Corrupt(c);
                return Ok(out);
            }
        }
        at = end;
        out.valid = at;
    }
}

/// Reads until `buf` is full or the end; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        log::warn!("[WAL] fsync of {}: {e}", dir.display());
    }
}

/// Recovers the WAL of the spool directory `spool_dir` (see the module doc). An I/O error that stops the
/// directory from being read is returned; a bad segment never is (it is quarantined or cut).
pub fn recover(spool_dir: &Path) -> Result<Recovery, WalError> {
    let dir = spool_dir.join(WAL_DIR);
    let mut rec = Recovery {
        next_seq: 1,
        ..Recovery::default()
    };
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(rec),
        Err(e) => return Err(WalError::io("read", &dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io("read", &dir, e))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(segment::parse_segment_name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort();
    let mut batches = Vec::new();
    let mut resolved = HashSet::new();
    let mut kept = Vec::new();
    for (seq, path) in found {
        rec.next_seq = rec.next_seq.max(seq + 1);
        match recover_segment(spool_dir, seq, &path, &mut rec.events)
            .map_err(|e| WalError::io("recover", &path, e))?
        {
            Some(scan) => {
                batches.extend(scan.batches);
                resolved.extend(scan.resolved);
                kept.push(RecoveredSegment {
                    seq,
                    path,
                    bytes: scan.valid,
                });
            }
            None => continue,
        }
    }
    let mut seen = HashSet::new();
    let mut live_segments = HashSet::new();
    for b in batches {
        if resolved.contains(&b.id) || !seen.insert(b.id.clone()) {
            continue;
        }
        live_segments.insert(b.seq);
        let spooled = spool_dir.join(spool::file_name(
            b.worker,
            &crate::model::BatchId(b.id.clone()),
        ));
        if spooled.exists() {
            rec.already_spooled.push(b);
        } else {
            rec.batches.push(b);
        }
    }
    for s in kept {
        if live_segments.contains(&s.seq) {
            rec.segments.push(s);
            continue;
        }
        match fs::remove_file(&s.path) {
            Ok(()) => rec.events.push(RecoveryEvent::Removed {
                path: s.path,
                why: "every batch in it is resolved",
            }),
            Err(e) => {
                log::warn!("[WAL] {} could not be deleted: {e}", s.path.display());
            }
        }
    }
    sync_dir(&dir);
    Ok(rec)
}

/// Checks one segment's header and cuts its tail; `None` when the segment is gone (quarantined or removed).
fn recover_segment(
    spool_dir: &Path,
    seq: u64,
    path: &Path,
    events: &mut Vec<RecoveryEvent>,
) -> io::Result<Option<Scan>> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(&mut file, &mut header)?;
    let header_error = match segment::decode_header(&header[..got]) {
        Ok(s) if s == seq => None,
        Ok(s) => Some(format!("its header says segment {s}")),
        // A creation cut short: the header was not (all) written, and nothing after it ever was.
        Err(HeaderError::Short) if MAGIC.starts_with(&header[..got.min(MAGIC.len())]) => {
            drop(file);
            fs::remove_file(path)?;
            events.push(RecoveryEvent::Removed {
                path: path.to_path_buf(),
                why: "a segment whose creation was cut (no complete header)",
            });
            return Ok(None);
        }
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = header_error {
        drop(file);
        quarantine_whole(spool_dir, path, why, events);
        return Ok(None);
    }
    let scan = scan(path, seq, file, file_len)?;
    let tail = file_len - scan.valid;
    if tail > MAX_SEGMENT_FILE {
        let why = format!(
            "{tail} bytes after its last good entry, more than a segment can hold ({MAX_SEGMENT_FILE}): not a segment of this program"
        );
        quarantine_whole(spool_dir, path, why, events);
        return Ok(None);
    }
    if scan.valid < file_len {
        let dropped = file_len - scan.valid;
        let (why, saved) = match &scan.stop {
            Stop::Clean | Stop::Torn => ("a torn write (a partial entry)".to_string(), None),
            Stop::Corrupt(c) => {
                if tail_is_zeros(path, scan.valid)? {
                    (format!("zeros ({c})"), None)
                } else {
                    let name = format!(
                        "{}.tail-{}",
                        path.file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or("segment"),
                        scan.valid
                    );
                    let mut tail = File::open(path)?;
                    tail.seek(SeekFrom::Start(scan.valid))?;
                    let saved = spool::write_atomic_from(
                        &spool_dir.join(spool::QUARANTINE_DIR),
                        &name,
                        &mut tail,
                    )
                    .map_err(|e| {
                        log::error!(
                            "[WAL] could not save the cut tail of {}: {e}",
                            path.display()
                        )
                    })
                    .ok();
                    (c.to_string(), saved)
                }
            }
        };
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(scan.valid)?;
        f.sync_all()?;
        events.push(RecoveryEvent::Cut {
            path: path.to_path_buf(),
            at: scan.valid,
            dropped,
            why,
            saved,
        });
    }
    Ok(Some(scan))
}

/// Moves a segment that is not one to `spool/quarantine/` byte for byte (a rename: nothing read), or leaves it in
/// place, unread, when the move fails.
fn quarantine_whole(spool_dir: &Path, path: &Path, why: String, events: &mut Vec<RecoveryEvent>) {
    let to = match spool::move_into(spool_dir, spool::QUARANTINE_DIR, path) {
        Ok(to) => Some(to),
        Err(e) => {
            log::error!(
                "[WAL] {} could not be moved to quarantine: {e}; left in place, not read",
                path.display()
            );
            None
        }
    };
    events.push(RecoveryEvent::Quarantined {
        path: path.to_path_buf(),
        to,
        why,
    });
}

/// Whether everything in `path` from `from` on is zero bytes; read through a fixed buffer.
fn tail_is_zeros(path: &Path, from: u64) -> io::Result<bool> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = read_full(&mut f, &mut buf)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        if n < buf.len() {
            return Ok(true);
        }
    }
}

/// How many segment files are in the WAL of the spool directory `spool_dir`.
pub fn segments_in(spool_dir: &Path) -> usize {
    fs::read_dir(spool_dir.join(WAL_DIR))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(segment::parse_segment_name)
                        .is_some()
                })
                .count()
        })
        .unwrap_or(0)
}

/// Why a recovered batch could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadBatchError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} at {offset}: the entry changed since recovery ({why})", path.display())]
    Changed {
        path: PathBuf,
        offset: u64,
        why: String,
    },
}

/// The payload (the JSON array) of a recovered batch, its checksum checked again.
pub fn read_batch(b: &RecoveredBatch) -> Result<Bytes, ReadBatchError> {
    let io_err = |source| ReadBatchError::Io {
        path: b.path.clone(),
        source,
    };
    let mut f = File::open(&b.path).map_err(io_err)?;
    f.seek(SeekFrom::Start(b.offset)).map_err(io_err)?;
    let mut buf = vec![0u8; b.len as usize];
    f.read_exact(&mut buf).map_err(io_err)?;
    let changed = |why: String| ReadBatchError::Changed {
        path: b.path.clone(),
        offset: b.offset,
        why,
    };
    match segment::decode(&buf) {
        segment::Decoded::Entry(
            Entry::Batch {
                id, codec, payload, ..
            },
            _,
        ) if id == b.id => match codec {
            Codec::Json => {
                let start = payload.as_ptr() as usize - buf.as_ptr() as usize;
                let mut bytes = Bytes::from(buf);
                Ok(bytes.split_off(start))
            }
            Codec::Lz4 => {
                let declared = payload
                    .get(..4)
                    .map(|n| u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize);
                match declared {
                    Some(n) if n <= MAX_BATCH_BYTES => lz4_flex::decompress_size_prepended(payload)
                        .map(Bytes::from)
                        .map_err(|e| changed(format!("LZ4: {e}"))),
                    _ => Err(changed("LZ4 length out of range".into())),
                }
            }
        },
        segment::Decoded::Entry(..) => Err(changed("another entry".into())),
        segment::Decoded::Incomplete => Err(changed("cut short".into())),
        segment::Decoded::Corrupt(c) => Err(changed(c.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment::{
        encode_batch, encode_header, encode_resolved, segment_name, Resolution,
    };
    use super::*;
    use rand::{Rng, SeedableRng};

    fn id(i: usize) -> String {
        format!("20261201T000000Z-0000abcd-w{}-{i:06}", i % 4)
    }

    fn payload(i: usize) -> String {
        format!("[{{\"name\":\"device-{i}\",\"n\":{}}}]", i * 7)
    }

    /// A segment of `n` batches where every third is resolved; returns its bytes and the end offset of each
    /// entry.
    fn segment_bytes(seq: u64, n: usize) -> (Vec<u8>, Vec<(usize, Option<usize>)>) {
        let mut out = encode_header(seq).to_vec();
        let mut ends = Vec::new();
        for i in 0..n {
            let codec = if i % 2 == 0 { Codec::Json } else { Codec::Lz4 };
            let stored = match codec {
                Codec::Json => payload(i).into_bytes(),
                Codec::Lz4 => lz4_flex::compress_prepend_size(payload(i).as_bytes()),
            };
            encode_batch(&mut out, &id(i), (i % 4) as u32, 1, codec, &stored);
            ends.push((out.len(), Some(i)));
            if i % 3 == 2 {
                encode_resolved(&mut out, &id(i), Resolution::Delivered);
                ends.push((out.len(), None));
            }
        }
        (out, ends)
    }

    /// The un-resolved batch indexes an intact prefix ending at `cut` holds (a resolution follows its batch).
    fn expected(ends: &[(usize, Option<usize>)], cut: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for (end, i) in ends {
            if *end > cut {
                break;
            }
            match i {
                Some(i) => out.push(*i),
                None => {
                    out.pop();
                }
            }
        }
        out
    }

    fn setup(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join(WAL_DIR);
        fs::create_dir_all(&wal).unwrap();
        let path = wal.join(segment_name(1));
        fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    fn check(rec: &Recovery, want: &[usize]) {
        let got: Vec<&str> = rec.batches.iter().map(|b| b.id.as_str()).collect();
        let want_ids: Vec<String> = want.iter().map(|i| id(*i)).collect();
        assert_eq!(got, want_ids);
        for (b, i) in rec.batches.iter().zip(want) {
            assert_eq!(read_batch(b).unwrap(), payload(*i).as_bytes(), "{}", b.id);
            assert_eq!(b.worker, i % 4);
        }
    }

    /// Truncating a segment at random offsets: recovery keeps exactly the entries before the cut, cuts the file
    /// there, and a second recovery finds the same with nothing more to cut.
    #[test]
    fn a_segment_truncated_anywhere_keeps_exactly_its_valid_prefix() {
        let (bytes, ends) = segment_bytes(1, 30);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(161);
        let mut cuts: Vec<usize> = (0..150)
            .map(|_| rng.random_range(HEADER_LEN..=bytes.len()))
            .collect();
        cuts.extend([HEADER_LEN, bytes.len(), bytes.len() - 1]);
        for cut in cuts {
            let (dir, path) = setup(&bytes[..cut]);
            let rec = recover(dir.path()).unwrap();
            let want = expected(&ends, cut);
            check(&rec, &want);
            let valid = ends
                .iter()
                .map(|(e, _)| *e)
                .filter(|e| *e <= cut)
                .max()
                .unwrap_or(HEADER_LEN);
            if want.is_empty() {
                assert!(
                    !path.exists(),
                    "cut {cut}: a segment with nothing live is deleted"
                );
            } else {
                assert_eq!(
                    fs::metadata(&path).unwrap().len() as usize,
                    valid,
                    "cut {cut}"
                );
            }
            assert_eq!(
                rec.events
                    .iter()
                    .any(|e| matches!(e, RecoveryEvent::Cut { .. })),
                valid < cut,
                "cut {cut}: {:?}",
                rec.events
            );
            // A torn write is cut without a copy in quarantine.
            assert!(
                !dir.path().join(spool::QUARANTINE_DIR).exists(),
                "cut {cut}"
            );
            let again = recover(dir.path()).unwrap();
            check(&again, &want);
            assert!(again
                .events
                .iter()
                .all(|e| !matches!(e, RecoveryEvent::Cut { .. })));
        }
    }

    /// A flipped byte anywhere after the header: recovery keeps the entries before the damaged one and nothing
    /// else, never a changed payload, and saves the bad tail in quarantine.
    #[test]
    fn a_flipped_byte_keeps_the_prefix_before_it_and_never_yields_garbage() {
        let (bytes, ends) = segment_bytes(1, 20);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(16);
        let mut saved_tails = 0;
        for _ in 0..200 {
            let pos = rng.random_range(HEADER_LEN..bytes.len());
            let mut bad = bytes.clone();
            bad[pos] ^= rng.random_range(1..=255u8);
            let (dir, _) = setup(&bad);
            let rec = recover(dir.path()).unwrap();
            // The entry holding `pos` and everything after it are gone.
            let start = ends
                .iter()
                .map(|(e, _)| *e)
                .filter(|e| *e <= pos)
                .max()
                .unwrap_or(HEADER_LEN);
            check(&rec, &expected(&ends, start));
            let cut = rec.events.iter().find_map(|e| match e {
                RecoveryEvent::Cut { at, saved, .. } => Some((*at, saved.clone())),
                _ => None,
            });
            let (at, saved) = cut.expect("a damaged segment is cut");
            assert_eq!(at as usize, start);
            // A flipped length that runs past the end looks like a torn write (cut, not saved); any other
            // damage is saved in quarantine byte for byte.
            if let Some(saved) = saved {
                assert_eq!(fs::read(saved).unwrap(), &bad[start..]);
                saved_tails += 1;
            }
        }
        assert!(saved_tails > 150, "{saved_tails} of 200 bad tails saved");
    }

    #[test]
    fn a_bad_header_is_quarantined_and_a_cut_creation_removed_and_later_segments_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join(WAL_DIR);
        fs::create_dir_all(&wal).unwrap();
        let (good, ends) = segment_bytes(3, 5);
        let mut bad = good.clone();
        bad[2] = b'X';
        fs::write(wal.join(segment_name(1)), &bad).unwrap();
        fs::write(wal.join(segment_name(2)), &MAGIC[..5]).unwrap();
        fs::write(wal.join(segment_name(3)), &good).unwrap();
        fs::write(wal.join(segment_name(4)), b"").unwrap();
        let rec = recover(dir.path()).unwrap();
        check(&rec, &expected(&ends, good.len()));
        assert_eq!(rec.next_seq, 5);
        let q = dir.path().join(spool::QUARANTINE_DIR).join(segment_name(1));
        assert_eq!(fs::read(&q).unwrap(), bad, "quarantined byte for byte");
        assert!(!wal.join(segment_name(2)).exists() && !wal.join(segment_name(4)).exists());
        assert_eq!(
            rec.events
                .iter()
                .filter(|e| matches!(e, RecoveryEvent::Quarantined { .. }))
                .count(),
            1
        );
        // A second start finds the same batches and does nothing else.
        let again = recover(dir.path()).unwrap();
        check(&again, &expected(&ends, good.len()));
        assert!(again.events.is_empty(), "{:?}", again.events);
    }

    /// A segment of a few KiB followed by a 300 MiB hole (a sparse file: nothing on disk): more than a segment
    /// can hold, so it is not ours; it is moved to quarantine whole, never read into memory or copied.
    #[test]
    fn a_sparse_segment_larger_than_a_segment_can_hold_is_quarantined_whole_without_reading_it() {
        for tail in [&b""[..], b"not zeros"] {
            let (good, _) = segment_bytes(1, 5);
            let (dir, path) = setup(&good);
            let f = OpenOptions::new().write(true).open(&path).unwrap();
            let len = good.len() as u64 + (300 << 20);
            f.set_len(len).unwrap();
            if !tail.is_empty() {
                use std::io::Write;
                (&f).seek(SeekFrom::Start(len)).unwrap();
                (&f).write_all(tail).unwrap();
            }
            drop(f);
            let len = fs::metadata(&path).unwrap().len();
            assert!(len > MAX_SEGMENT_FILE);
            let rec = recover(dir.path()).unwrap();
            assert!(rec.batches.is_empty(), "{:?}", rec.batches);
            assert!(!path.exists());
            let quarantine = dir.path().join(spool::QUARANTINE_DIR);
            let moved = quarantine.join(segment_name(1));
            assert_eq!(fs::metadata(&moved).unwrap().len(), len, "moved whole");
            let names: Vec<_> = fs::read_dir(&quarantine)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names.len(), 1, "no tail copied: {names:?}");
            match &rec.events[..] {
                [RecoveryEvent::Quarantined {
                    why, to: Some(_), ..
                }] => {
                    assert!(why.contains("more than a segment can hold"), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn resolutions_in_a_later_segment_count_and_a_batch_with_a_spool_file_is_not_resent() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join(WAL_DIR);
        fs::create_dir_all(&wal).unwrap();
        let mut one = encode_header(1).to_vec();
        for i in 0..3 {
            encode_batch(
                &mut one,
                &id(i),
                (i % 4) as u32,
                1,
                Codec::Json,
                payload(i).as_bytes(),
            );
        }
        let mut two = encode_header(2).to_vec();
        encode_resolved(&mut two, &id(0), Resolution::Delivered);
        fs::write(wal.join(segment_name(1)), &one).unwrap();
        fs::write(wal.join(segment_name(2)), &two).unwrap();
        let spooled = dir
            .path()
            .join(spool::file_name(2, &crate::model::BatchId(id(2))));
        fs::write(&spooled, b"x").unwrap();
        let rec = recover(dir.path()).unwrap();
        check(&rec, &[1]);
        assert_eq!(rec.already_spooled.len(), 1);
        assert_eq!(rec.already_spooled[0].id, id(2));
        assert!(
            !wal.join(segment_name(2)).exists(),
            "nothing live in segment 2"
        );
        assert_eq!(rec.segments.len(), 1);
    }
}
