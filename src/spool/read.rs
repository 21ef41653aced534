//! Reading a spool file back as batches, as a stream: a first pass checks the whole file (gunzip, the JSON
//! array record by record) and counts its parts; only a file that passes is read again to emit its parts one at a
//! time. Memory is bounded by the part size (`load.batch_size` records, `load.batch_bytes`), not the file's.
//!
//! A file that fails the first pass (torn, not gzip, not a records array) is quarantined whole: nothing of it is
//! sent, not even the valid records before the bad point, so a replay never delivers half a file and then
//! quarantines the rest.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::*;
use crate::codec::check_record;
use crate::model::{Batch, BatchId, Origin, SpoolFile, StableHasher};

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

/// What the first pass found in a valid spool file: how it will be replayed.
#[derive(Debug, Clone)]
pub struct SpoolPlan {
    pub path: PathBuf,
    pub worker: usize,
    /// The batch id: from the file name, or (the original's files) derived from the content.
    pub id: BatchId,
    pub records: usize,
    /// Decompressed bytes.
    pub bytes: u64,
    /// Batches it is replayed as.
    pub parts: usize,
    /// Replayed in parts `{id}-p{k}` (larger than one batch), or whole under `id`.
    pub split: bool,
}

/// Where the gzip stream of a spool file comes from: the file (opened once per pass), or bytes in memory.
pub(super) trait Source {
    fn open(&self) -> io::Result<Box<dyn Read + '_>>;
}

impl Source for Path {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(BufReader::with_capacity(
            64 << 10,
            File::open(self)?,
        )))
    }
}

impl Source for [u8] {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(self))
    }
}

/// Reads a spool file back as batches: one, or — for a file larger than `max_records` records or `max_bytes`
/// bytes (the original's, or one written with a larger batch size) — parts with ids `{id}-p{k}`, the same on every
/// replay with the same limits. All parts at once: for tests and benchmarks; replay uses [`plan`] and [`emit`].
pub fn read(path: &Path, max_records: usize, max_bytes: usize) -> Result<Vec<Batch>, ReadError> {
    collect(path, path, max_records, max_bytes)
}

/// The pure form of [`read`]: the batches in `raw`, the content of the spool file at `path` (whose name gives the
/// worker and the batch id). Never panics.
pub fn decode(
    path: &Path,
    raw: &[u8],
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Batch>, ReadError> {
    collect(path, raw, max_records, max_bytes)
}

fn collect(
    path: &Path,
    source: &(impl Source + ?Sized),
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Batch>, ReadError> {
    let plan = plan_from(path, source, max_records, max_bytes)?;
    let mut out = Vec::with_capacity(plan.parts);
    emit_from(&plan, source, max_records, max_bytes, |b| {
        out.push(b);
        true
    })?;
    Ok(out)
}

/// The first pass: checks the whole file as a stream (no more than one record in memory) and says how it will be
/// replayed. An `Err(Content)` is a file to quarantine; `Err(Io)` one that cannot be opened now.
pub fn plan(path: &Path, max_records: usize, max_bytes: usize) -> Result<SpoolPlan, ReadError> {
    plan_from(path, path, max_records, max_bytes)
}

/// The second pass over a file [`plan`] accepted: hands its batches to `sink` one at a time, in order, until
/// `sink` answers false. Holds one part in memory.
pub fn emit(
    plan: &SpoolPlan,
    max_records: usize,
    max_bytes: usize,
    sink: impl FnMut(Batch) -> bool,
) -> Result<(), ReadError> {
    emit_from(plan, plan.path.as_path(), max_records, max_bytes, sink)
}

pub(super) fn plan_from(
    path: &Path,
    source: &(impl Source + ?Sized),
    max_records: usize,
    max_bytes: usize,
) -> Result<SpoolPlan, ReadError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (worker, id) = parse_file_name(name).ok_or_else(|| ReadError::Name(path.into()))?;
    let raw = source.open().map_err(|e| ReadError::Io(path.into(), e))?;
    let mut parts = Parts::new(max_records, max_bytes, false);
    let scan = scan(raw, true, &mut |text| {
        parts.push(text);
        true
    })
    .map_err(|e| ReadError::Content(path.into(), e))?;
    // The original's files have no id: derive a stable one from the content, the same on every replay.
    let id = id.unwrap_or_else(|| BatchId(format!("legacy-w{worker}-{:016x}", scan.hash)));
    let split = !(scan.records <= max_records && scan.bytes <= max_bytes as u64);
    Ok(SpoolPlan {
        path: path.into(),
        worker,
        id,
        records: scan.records,
        bytes: scan.bytes,
        parts: if split { parts.finish().1 } else { 1 },
        split,
    })
}

fn emit_from(
    plan: &SpoolPlan,
    source: &(impl Source + ?Sized),
    max_records: usize,
    max_bytes: usize,
    mut sink: impl FnMut(Batch) -> bool,
) -> Result<(), ReadError> {
    let path = &plan.path;
    let origin = SpoolFile::new(path.clone(), plan.parts);
    let raw = source.open().map_err(|e| ReadError::Io(path.clone(), e))?;
    if !plan.split {
        // It fits one batch: it goes as it is, byte for byte.
        let mut body = Vec::with_capacity(plan.bytes as usize);
        Members::new(raw)
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| ReadError::Content(path.clone(), format!("invalid gzip body: {e}")))?;
        if body.len() as u64 != plan.bytes {
            return Err(ReadError::Content(
                path.clone(),
                "the file changed between its check and its replay".into(),
            ));
        }
        sink(Batch {
            id: plan.id.clone(),
            worker: plan.worker,
            records: plan.records,
            body: Bytes::from(body).into(),
            request: None,
            origin: Origin::Replayed(origin),
        });
        return Ok(());
    }
    let mut parts = Parts::new(max_records, max_bytes, true);
    let mut k = 0;
    let mut give = |(body, records): (Bytes, usize)| {
        k += 1;
        sink(Batch {
            id: BatchId(format!("{}-p{k}", plan.id)),
            worker: plan.worker,
            records,
            body: body.into(),
            request: None,
            origin: Origin::Replayed(origin.clone()),
        })
    };
    let mut more = true;
    // Checked by the first pass: this one only cuts.
    let scanned = scan(raw, false, &mut |text| {
        if let Some(part) = parts.push(text) {
            more = give(part);
        }
        more
    });
    match scanned {
        Err(_) if !more => return Ok(()), // the sink wants no more
        Err(e) => return Err(ReadError::Content(path.clone(), e)),
        Ok(_) => {}
    }
    {
        if let (Some(part), _) = parts.finish() {
            give(part);
        }
    }
    Ok(())
}

/// Cuts a stream of array elements into arrays of at most `max_records` elements and about `max_bytes` bytes (an
/// element larger than that is a part of its own). Without `build` it only counts the parts.
struct Parts {
    max_records: usize,
    max_bytes: usize,
    build: bool,
    current: Vec<u8>,
    len: usize,
    n: usize,
    done: usize,
}

impl Parts {
    fn new(max_records: usize, max_bytes: usize, build: bool) -> Self {
        Parts {
            max_records,
            max_bytes,
            build,
            current: Vec::new(),
            len: 0,
            n: 0,
            done: 0,
        }
    }

    /// Adds one element; answers the part it completed, if it did (with `build`).
    fn push(&mut self, text: &[u8]) -> Option<(Bytes, usize)> {
        let mut full = None;
        if self.n > 0 && (self.n >= self.max_records || self.len + text.len() + 2 > self.max_bytes)
        {
            full = self.close();
        }
        if self.build {
            if self.current.capacity() == 0 {
                self.current.reserve(self.max_bytes.min(1 << 20));
            }
            self.current.push(if self.n == 0 { b'[' } else { b',' });
            self.current.extend_from_slice(text);
        }
        self.len += 1 + text.len();
        self.n += 1;
        full
    }

    fn close(&mut self) -> Option<(Bytes, usize)> {
        let part = self.build.then(|| {
            self.current.push(b']');
            (Bytes::from(std::mem::take(&mut self.current)), self.n)
        });
        self.done += 1;
        self.len = 0;
        self.n = 0;
        part
    }

    /// The last part (if any element is left), and how many parts there were in all.
    fn finish(mut self) -> (Option<(Bytes, usize)>, usize) {
        let last = if self.n > 0 { self.close() } else { None };
        (last, self.done)
    }
}

/// What one pass over a valid file saw.
struct Scan {
    records: usize,
    bytes: u64,
    /// [`crate::model::stable_hash_bytes`] of the decompressed content.
    hash: u64,
}

/// The decompressed bytes of a gzip stream of one or more members (the original's files may hold several), whose
/// errors say what a user can act on: "empty file" for a file of no byte, "data after the gzip stream" for bytes
/// after the last member that do not start another (where a multi-member decoder only said "unexpected end of
/// file").
struct Members<R: BufRead> {
    /// The member being read; `None` at the end.
    member: Option<flate2::bufread::GzDecoder<R>>,
    /// Nothing read yet: an empty input is said to be one.
    first: Option<R>,
}

impl<R: Read> Members<BufReader<R>> {
    fn new(raw: R) -> Self {
        Members {
            member: None,
            first: Some(BufReader::with_capacity(64 << 10, raw)),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(mut raw) = self.first.take() {
            if raw.fill_buf()?.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "empty file"));
            }
            self.member = Some(flate2::bufread::GzDecoder::new(raw));
        }
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // A member ended: another one, or the end of the file, or bytes that are neither.
            let mut raw = self.member.take().expect("just read").into_inner();
            let rest = raw.fill_buf()?;
            if rest.is_empty() {
                return Ok(0);
            }
            if !rest.starts_with(&[0x1f, 0x8b]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the gzip stream",
                ));
            }
            self.member = Some(flate2::bufread::GzDecoder::new(raw));
        }
    }
}

/// Largest single record (its JSON text) read back: a corrupt or hostile file (one endless string) cannot exhaust
/// memory. Our records are a few hundred bytes.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// The decompressed stream, hashed and counted as it is read; `since` counts the bytes since the last element
/// boundary (reset by the element visitor) and stops a record larger than [`MAX_RECORD_BYTES`].
struct Counting<R> {
    inner: R,
    hash: StableHasher,
    bytes: u64,
    since: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        self.since.set(self.since.get() + n as u64);
        if self.since.get() > MAX_RECORD_BYTES + (64 << 10) {
            return Err(io::Error::other(format!(
                "a record exceeds {MAX_RECORD_BYTES} bytes"
            )));
        }
        Ok(n)
    }
}

/// One streaming pass over a gzip stream: checks that it is a JSON array (with `check`, of records in the
/// original's shape), nothing after it, and hands each element's text to `each` until it answers false (then the rest is not
/// read, and the answer is an error that the caller ignores).
fn scan(raw: impl Read, check: bool, each: &mut dyn FnMut(&[u8]) -> bool) -> Result<Scan, String> {
    let since = Rc::new(Cell::new(0));
    let mut counting = Counting {
        inner: Members::new(raw),
        hash: StableHasher::default(),
        bytes: 0,
        since: since.clone(),
    };
    let records = {
        let reader = BufReader::with_capacity(64 << 10, &mut counting);
        let mut de = serde_json::Deserializer::from_reader(reader);
        let n = Elements { each, since, check }
            .deserialize(&mut de)
            .and_then(|n| de.end().map(|_| n))
            .map_err(|e| {
                if e.is_io() {
                    format!("invalid gzip body: {e}")
                } else {
                    format!("invalid JSON body: {e}")
                }
            })?;
        n
    };
    Ok(Scan {
        records,
        bytes: counting.bytes,
        hash: counting.hash.finish(),
    })
}

/// The elements of a JSON array, each checked as a record and handed on; the value is their count.
struct Elements<'a> {
    each: &'a mut dyn FnMut(&[u8]) -> bool,
    since: Rc<Cell<u64>>,
    /// Check each element's shape (the first pass).
    check: bool,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0usize;
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            self.since.set(0);
            n += 1;
            if self.check {
                check_record(element.get())
                    .map_err(|e| de::Error::custom(format!("record {n}: {e}")))?;
            }
            if !(self.each)(element.get().as_bytes()) {
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::gzip;

    const ONE: &str = r#"{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]}"#;

    fn file(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, gzip(body.as_bytes())).unwrap();
        path
    }

    /// The ids and bodies of the parts, as the in-memory read gave them before reads were streamed (values
    /// recorded from that code): a file split then is split the same way now, so a receiver that dedupes on the
    /// `Idempotency-Key` sees each record once across a replay by the old binary and one by the new.
    #[test]
    fn parts_keep_the_ids_and_bodies_of_the_in_memory_read() {
        let dir = tempfile::tempdir().unwrap();
        // Whitespace between elements, as another writer may leave it: parts hold the elements' own text.
        let body = format!("[ {} ]\n", vec![ONE; 25].join(" ,\n "));
        let legacy = file(dir.path(), "buffer_failed_worker1.json.gz", &body);
        let ours = file(
            dir.path(),
            "buffer_failed_worker2-20261127T000000Z-0000abcd-w2-000001.json.gz",
            &body,
        );
        let parts = read(&legacy, 10, 1 << 20).unwrap();
        let ids: Vec<&str> = parts.iter().map(|b| b.id.0.as_str()).collect();
        assert_eq!(ids, LEGACY_IDS);
        for (k, p) in parts.iter().enumerate() {
            let n = [10, 10, 5][k];
            assert_eq!(p.records, n);
            assert_eq!(
                p.body.json(),
                format!("[{}]", vec![ONE; n].join(",")).as_bytes()
            );
        }
        let ids: Vec<String> = read(&ours, 10, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|b| b.id.0)
            .collect();
        assert_eq!(
            ids,
            ["p1", "p2", "p3"].map(|p| format!("20261127T000000Z-0000abcd-w2-000001-{p}"))
        );
        // A file that fits one batch goes as it is, byte for byte, under its own id.
        let whole = read(&legacy, 100, 1 << 20).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].id.0, LEGACY_WHOLE_ID);
        assert_eq!(whole[0].body.json(), body.as_bytes());
        // The byte limit splits as before.
        let by_bytes: Vec<usize> = read(&legacy, 100, 3 * ONE.len() + 5)
            .unwrap()
            .iter()
            .map(|b| b.records)
            .collect();
        assert_eq!(by_bytes, BY_BYTES);
    }

    const LEGACY_IDS: [&str; 3] = [
        "legacy-w1-8c764517c482230d-p1",
        "legacy-w1-8c764517c482230d-p2",
        "legacy-w1-8c764517c482230d-p3",
    ];
    const LEGACY_WHOLE_ID: &str = "legacy-w1-8c764517c482230d";
    const BY_BYTES: [usize; 9] = [3, 3, 3, 3, 3, 3, 3, 3, 1];

    #[test]
    fn an_empty_file_and_bytes_after_the_gzip_stream_are_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"[{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]}]"#;
        let name = "buffer_failed_worker0-r-w0-000001.json.gz";
        let err = |bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            plan(&path, 200, 1 << 20)
                .map(|p| p.records)
                .map_err(|e| e.to_string())
        };
        assert!(err(b"").unwrap_err().contains("empty file"));
        let mut trailing = gzip(body.as_bytes());
        trailing.extend_from_slice(b"xyz");
        assert!(err(&trailing)
            .unwrap_err()
            .contains("data after the gzip stream"));
        // Two members are one stream (the original's files may hold several), and one member is fine.
        let half = body.len() / 2;
        let mut two = gzip(&body.as_bytes()[..half]);
        two.extend(gzip(&body.as_bytes()[half..]));
        assert_eq!(err(&two), Ok(1));
        assert_eq!(err(&gzip(body.as_bytes())), Ok(1));
    }
}
