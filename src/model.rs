//! Data model: `CpuStats` (what a device returns), `DeviceRecord` (what the API receives), `Batch` and `BatchId`.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// `text` as a log line may hold it when someone else chose it (a device's name or value, an API's answer): every
/// control or unprintable character and backslash escaped as `escape_debug` does (a `\n` cannot start a forged
/// line, in text or JSON logs; quotes are kept, JSON bodies stay readable) and at most `max_chars` characters of
/// it, then `…(N bytes)` saying how long it was.
pub fn log_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars) + 16);
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        match c {
            '"' | '\'' => out.push(c),
            c => out.extend(c.escape_debug()),
        }
    }
    if chars.next().is_some() {
        out.push_str(&format!("…({} bytes)", text.len()));
    }
    out
}

/// A stat's text: owned when read from a device, borrowed from a table when the simulated source makes it (so
/// that a record's stats cost no allocation each).
pub type StatText = Cow<'static, str>;

/// CPU statistics as a device reports them (the original's extraction shape: every stat is a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub name: String,
    pub timestamp: i64,
    #[serde(rename = "cpu_number")]
    pub cpu_number: StatText,
    pub p_idle: StatText,
    pub p_user: StatText,
    pub p_sys: StatText,
    #[serde(rename = "pIRQ")]
    pub p_irq: StatText,
    pub p_nice: StatText,
}

/// The cores this process may run on, as the OS grants them (1 when it cannot tell): the one count the thread
/// pools and defaults follow. Read once (it reads the cgroup's quota files), so every caller sees the same count.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The names of the indicators the transform makes, in the order of a record's `indicators`: the one list the
/// encoders' tables are checked against.
pub const INDICATORS: [&str; 5] = ["utilization", "nice", "user", "system", "irq"];

/// One named value of a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    pub name: &'static str,
    pub value: f64,
}

/// A transformed record, as the ingestion API receives it (a JSON array of these is one batch).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRecord {
    pub name: String,
    pub cpu_number: StatText,
    pub timestamp: i64,
    pub indicators: [Indicator; 5],
}

/// Identifies a batch for its whole life: `Idempotency-Key` on every attempt and replay, and the spool file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchId(pub String);

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl BatchId {
    /// `{run}-w{worker}-{seq}`: unique across runs (the run id holds the start time and a random part).
    pub fn new(run_id: &str, worker: usize, seq: u64) -> BatchId {
        BatchId(format!("{run_id}-w{worker}-{seq:06}"))
    }

    /// Whether `text` may be used as a batch id (and so in a file name and a header).
    pub fn is_valid(text: &str) -> bool {
        !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !text.starts_with('.')
    }
}

/// A new run id: UTC start time and 32 random bits, e.g. `20261127T002716Z-3f9a0c1d`.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, secs) = (now / 86_400, now % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{:08x}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rand::random::<u32>()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A formed batch: its id, how many records it holds and its JSON array (shared, never copied).
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: BatchId,
    pub worker: usize,
    pub records: usize,
    /// The uncompressed JSON array (built when first asked for, for a batch formed for another sink).
    pub body: Body,
    /// For a sink other than ingest-json, the request body as the batch was formed (its records written straight
    /// into the sink's format, and compressed, by `load`); `None` for a batch read back from the disk, which the
    /// sink encodes from `body`.
    pub request: Option<Bytes>,
    /// Where the batch came from, which decides what happens to a spool file once it is resolved.
    pub origin: Origin,
}

/// A batch's records as the JSON array the ingestion API receives, the form a batch is spooled, written ahead
/// and dead-lettered in: built as the batch was formed (ingest-json, and every batch read back from the disk), or,
/// for a batch formed for another sink, kept in the lossless form of `load::encoder::RecordForm` and built from it
/// the first time [`Body::json`] is asked for (the spool, the WAL, a dead letter, or a request the sink could not
/// form from the records), byte for byte what it would have been.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Bytes),
    Records(Arc<LazyJson>),
}

/// Builds the JSON array, `len` bytes long, of records in the lossless form (`load::encoder::json_array`: the
/// encoder lives in `load`, above this module, so the batch is given it).
pub type BuildJson = fn(records: &[u8], len: usize) -> Vec<u8>;

/// The records of a batch in the lossless form, and their JSON array once built.
#[derive(Debug)]
pub struct LazyJson {
    records: Bytes,
    /// The JSON array's length (known without building it).
    len: usize,
    build: BuildJson,
    json: OnceLock<Bytes>,
}

impl LazyJson {
    /// Whether the JSON array was built.
    pub fn is_built(&self) -> bool {
        self.json.get().is_some()
    }
}

impl Body {
    /// A batch's records in the lossless form (`load::encoder::RecordForm`, one after another), whose JSON array
    /// is `len` bytes long, built by `build` when asked for.
    pub fn records(records: Bytes, len: usize, build: BuildJson) -> Body {
        Body::Records(Arc::new(LazyJson {
            records,
            len,
            build,
            json: OnceLock::new(),
        }))
    }

    /// The JSON array, built now if it was not yet (once per batch, shared by its clones).
    pub fn json(&self) -> &Bytes {
        match self {
            Body::Json(json) => json,
            Body::Records(lazy) => lazy.json.get_or_init(|| {
                let json = (lazy.build)(&lazy.records, lazy.len);
                debug_assert_eq!(
                    json.len(),
                    lazy.len,
                    "the JSON length counted as the batch was formed"
                );
                Bytes::from(json)
            }),
        }
    }

    /// The JSON array's length, without building it.
    pub fn len(&self) -> usize {
        match self {
            Body::Json(json) => json.len(),
            Body::Records(lazy) => lazy.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for Body {
    fn from(json: Bytes) -> Self {
        Body::Json(json)
    }
}

/// Two bodies are equal when their JSON arrays are.
impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// Where a batch came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Formed by this run and held in memory only.
    New,
    /// Formed by this run and appended to the write-ahead log before its first send (`spool.durable`): its
    /// acknowledgement (or spool file, or dead letter) is recorded in the WAL once it is resolved.
    WrittenAhead,
    /// Recovered from the write-ahead log of an earlier run (this segment of `spool/wal/`), under its own id.
    FromWal(PathBuf),
    /// Read back from a spool file that an earlier run (or the original program) left: one part of it.
    Replayed(Arc<SpoolFile>),
}

impl Origin {
    /// Whether the write-ahead log holds this batch (it is resolved there).
    pub fn in_wal(&self) -> bool {
        matches!(self, Origin::WrittenAhead | Origin::FromWal(_))
    }

    /// The spool file that holds this batch, if one does.
    pub fn spool_file(&self) -> Option<&Arc<SpoolFile>> {
        match self {
            Origin::New | Origin::WrittenAhead | Origin::FromWal(_) => None,
            Origin::Replayed(f) => Some(f),
        }
    }
}

/// A spool file that holds one or more batches (a large replayed file is split into parts, all sharing it).
/// The file may be deleted once every part is resolved (acknowledged or dead-lettered) and none had to stay.
#[derive(Debug)]
pub struct SpoolFile {
    pub path: PathBuf,
    parts_left: AtomicUsize,
    kept: AtomicBool,
}

impl SpoolFile {
    pub fn new(path: PathBuf, parts: usize) -> Arc<Self> {
        Arc::new(SpoolFile {
            path,
            parts_left: AtomicUsize::new(parts),
            kept: AtomicBool::new(false),
        })
    }

    /// A part was acknowledged or dead-lettered; true when the file may now be deleted.
    pub fn part_resolved(&self) -> bool {
        self.parts_left.fetch_sub(1, SeqCst) == 1 && !self.kept.load(SeqCst)
    }

    /// A part could not be delivered: the file stays for the next replay.
    pub fn part_kept(&self) {
        self.kept.store(true, SeqCst);
        self.parts_left.fetch_sub(1, SeqCst);
    }
}

/// FNV-1a, 64 bits: a hash of a device name that is the same on every machine, version and run.
pub fn stable_hash(name: &str) -> u64 {
    stable_hash_bytes(name.as_bytes())
}

/// [`stable_hash`] of any bytes.
pub fn stable_hash_bytes(data: &[u8]) -> u64 {
    let mut h = StableHasher::default();
    h.update(data);
    h.finish()
}

/// [`stable_hash_bytes`] of data that comes in pieces (a spool file read as a stream): the same value as of
/// the pieces joined.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHasher {
    pub fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(self) -> u64 {
        let mut h = self.0;
        // Final avalanche (from splitmix64) so that the low and high halves are both well mixed.
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// The loader a device's records go to: the low half of its stable hash, modulo the number of loaders.
pub fn loader_index(hash: u64, workers: usize) -> usize {
    ((hash & 0xffff_ffff) % workers as u64) as usize
}

/// The shard a device belongs to: the high half of its stable hash, modulo the shard count
/// (independent of the loader choice, so a shard still spreads over every loader).
pub fn shard_index(hash: u64, count: u64) -> u64 {
    (hash >> 32) % count
}

/// [`shard_index`] for one shard count, without its division: Lemire's "fastmod" (two multiplications, exact for a
/// 32-bit dividend and divisor), for a reader that places every row of a large inventory.
#[derive(Debug, Clone, Copy)]
pub struct ShardIndexer {
    count: u64,
    /// `2^64 / count` rounded up; 0 when `count` is above 32 bits (plain division then).
    magic: u64,
}

impl ShardIndexer {
    pub fn new(count: u64) -> Self {
        let magic = match u32::try_from(count) {
            Ok(c) if c > 0 => (u64::MAX / u64::from(c)).wrapping_add(1),
            _ => 0,
        };
        ShardIndexer { count, magic }
    }

    /// `shard_index(hash, count)`.
    pub fn index(&self, hash: u64) -> u64 {
        if self.magic == 0 {
            return shard_index(hash, self.count);
        }
        let low = self.magic.wrapping_mul(hash >> 32);
        ((u128::from(low) * u128::from(self.count)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_indexer_agrees_with_shard_index() {
        let mut hashes: Vec<u64> = (0..20_000u64)
            .map(|k| stable_hash(&format!("d{k}")))
            .collect();
        hashes.extend([0, u64::MAX, 0xffff_ffff_0000_0000, 0x0000_0001_0000_0000]);
        for count in (1..=64).chain([100, 1000, 65_537, u64::from(u32::MAX), 1 << 33]) {
            let fast = ShardIndexer::new(count);
            for &h in &hashes {
                assert_eq!(fast.index(h), shard_index(h, count), "{h:#x} % {count}");
            }
        }
    }

    /// Pinned values (computed independently from the algorithm's definition).
    const STABLE_DEVICE_1: u64 = 0x9a42_5baa_2e7d_7b35;
    const STABLE_EMPTY: u64 = 0xf52a_15e9_a9b5_e89b;

    #[test]
    fn stable_hash_is_fixed_forever() {
        // Changing these values re-shards every deployment and moves devices between loaders: do not.
        assert_eq!(stable_hash("device-1"), STABLE_DEVICE_1);
        assert_eq!(stable_hash(""), STABLE_EMPTY);
        assert_ne!(stable_hash("device-1"), stable_hash("device-2"));
    }

    #[test]
    fn a_spool_file_goes_only_when_every_part_is_resolved_and_none_kept() {
        let o = SpoolFile::new("f".into(), 3);
        assert!(!o.part_resolved());
        assert!(!o.part_resolved());
        assert!(o.part_resolved());
        let o = SpoolFile::new("f".into(), 2);
        o.part_kept();
        assert!(!o.part_resolved());
        let o = SpoolFile::new("f".into(), 2);
        assert!(!o.part_resolved());
        o.part_kept();
    }

    #[test]
    fn loaders_are_all_used_within_one_shard() {
        let mut used = [false; 10];
        for i in 0..1000 {
            let h = stable_hash(&format!("device-{i}"));
            if shard_index(h, 2) == 0 {
                used[loader_index(h, 10)] = true;
            }
        }
        assert!(used.iter().all(|u| *u));
    }

    #[test]
    fn batch_ids_are_safe_file_names() {
        let id = BatchId::new(&new_run_id(), 3, 7);
        assert!(BatchId::is_valid(&id.0), "{id}");
        assert!(!BatchId::is_valid("../etc"));
        assert!(!BatchId::is_valid(""));
    }

    #[test]
    fn log_text_escapes_and_caps() {
        assert_eq!(log_text("dev-1", 64), "dev-1");
        assert_eq!(
            log_text("a\n2026-12-07 ERROR forged\r\"\\\u{1b}[31m", 64),
            "a\\n2026-12-07 ERROR forged\\r\"\\\\\\u{1b}[31m"
        );
        let long = "x".repeat(300_000);
        let shown = log_text(&long, 100);
        assert_eq!(shown, format!("{}…(300000 bytes)", "x".repeat(100)));
        assert!(!log_text("\n\n", 1).contains('\n'));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
    }
}
