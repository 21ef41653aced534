//! The write-ahead log of `spool.durable = true`: every batch a loader forms is appended here, and sent only
//! once the group it was appended in is on disk; its acknowledgement (or its spool file, or its dead letter) is
//! recorded after. One writer thread serves every loader and group-commits: one `fdatasync` covers every entry
//! appended since the previous one.
//!
//! # On-disk layout
//!
//! ```text
//! spool/wal/segment-000000000001.wal      segments, in sequence order (the number never repeats in a directory)
//! spool/wal/segment-000000000002.wal      ← the active one: the only file written to
//! spool/quarantine/segment-….wal          a segment whose header cannot be parsed (moved here, never deleted)
//! spool/quarantine/segment-….wal.tail-N   the bytes cut from a segment at offset N when they were not a mere
//!                                          torn write (a bad checksum, a bad length): kept for inspection
//! ```
//!
//! A segment is a 20-byte header followed by entries, each written whole, back to back:
//!
//! ```text
//! header:   magic "appwal1\n" (8) | segment number u64 | CRC-32 of the 16 bytes before (u32)
//! entry:    length u32 (of the body) | CRC-32 of the length's 4 bytes + the body (u32) | body
//! body:     kind 1 = batch:    worker u32 | records u32 | codec u8 (0 = the JSON array) | id length u8 | id | payload
//!           kind 2 = resolved: resolution u8 (1 delivered, 2 spooled, 3 dead-lettered) | id length u8 | id
//! ```
//!
//! Integers are little-endian; the CRC is CRC-32 (IEEE, `crc32fast`). The payload of a batch entry is the JSON
//! array exactly as it is sent, under the batch id that is its `Idempotency-Key`, compressed with LZ4 by the
//! appending loader (the records' JSON shrinks about 4×, and the disk's bandwidth is what bounds durable mode). A resolution entry may sit in a
//! later segment than its batch. A new segment is started when the active one passes `segment_bytes`
//! ([`SEGMENT_BYTES`], or a quarter of `spool.max_bytes` if smaller), and every run starts a new one (a run never
//! appends to a segment of an earlier run, so a torn tail is only ever at the end of a segment).
//!
//! # Order of writes and fsyncs
//!
//! The writer thread loops: take every request queued since its last turn; encode the admitted batch entries
//! and the resolution entries into one buffer; `pwrite` it at the end of the active segment; if it holds a batch
//! entry, `fdatasync` the segment (and, the first time a segment is used, fsync `spool/wal/` so its name is
//! durable too); only then complete each appender. A loader sends a batch only after its append completed.
//! So a loader waits for its group at most one `fdatasync` already under way plus the write and `fdatasync` of
//! its own group (about 3–8 ms on this machine's disk), unless `spool.max_bytes` holds it back (below).
//! Resolution entries do not force an fsync of their own: they reach the disk with the next group (or at the end
//! of the run). A new segment is made with `O_EXCL`, mode 0600, its header written in the same write as its first
//! entries.
//!
//! Resolutions are written after the fact they record: `delivered` after the 2xx; `spooled` after the spool file
//! `buffer_failed_worker{N}-{id}.json.gz` was written atomically (fsync, link, directory fsync); `dead-lettered`
//! after the file in `rejected/` was. A segment is deleted (then the directory fsynced) once every batch in it is
//! resolved and it is not the active segment; at the end of a run the active one goes too when everything is
//! resolved, so a clean run leaves the WAL empty.
//!
//! # What a crash leaves
//!
//! | crash point | what the next start finds | what happens |
//! | --- | --- | --- |
//! | before a batch's group was written | nothing of the batch | never sent; its records are extracted again by the next run (they were not in any batch the API saw) |
//! | during the group's write or before its `fdatasync` returned | a whole entry, a torn tail or nothing | never sent; a torn or bad tail is cut at the last good entry (the file truncated); whole entries are sent |
//! | after the `fdatasync`, before the 2xx was recorded | the batch, unresolved | sent again under the same id before new data (the receiver dedupes it) |
//! | after the resolution was written but before its fsync | after a process crash: the resolution (the page cache has it); after a power loss maybe not | not sent again, or sent again under the same id |
//! | between a spool file and its `spooled` entry | the spool file and the unresolved batch | recovery sees the spool file and records the batch as spooled: sent once, from the file |
//! | during a segment's creation | an empty or partial header | the file is removed (nothing in it was ever acknowledged to a loader) |
//! | during a segment's deletion | the segment, all of it resolved | deleted at start |
//!
//! Recovery ([`recovery`]) reads every segment once, in order, never loops on bad input, and never yields an
//! entry whose checksum does not match: a bad header moves the segment to `spool/quarantine/`; a bad entry ends
//! the segment's valid prefix there. Un-resolved batches come back in WAL order with their original ids.
//!
//! # Bounded disk
//!
//! `spool.max_bytes` bounds the bytes of the segments held (every segment not yet deletable). When they reach it,
//! appends wait in the writer (the loader with them, then extraction: backpressure, nothing dropped) until
//! resolutions free a segment; [`WalStats`] counts the time spent so and the bytes held. If nothing in the WAL is
//! still in flight (every batch left is one whose spool file could not be written, see [`Wal::keep`]), appends
//! pass anyway rather than wait forever.

pub mod recovery;
pub mod segment;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

pub use recovery::{read_batch, RecoveredBatch, Recovery, RecoveryEvent};
pub use segment::Resolution;

/// Sub-directory of the spool directory holding the WAL's segments.
pub const WAL_DIR: &str = "wal";
/// Size at which the active segment is closed and a new one started (smaller segments are deleted sooner;
/// larger ones rotate less).
pub const SEGMENT_BYTES: u64 = 32 << 20;

/// Where the WAL lives and how much it may hold.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The spool directory; segments go to `spool/wal/`, quarantined ones to `spool/quarantine/`.
    pub spool_dir: PathBuf,
    /// `spool.max_bytes`.
    pub max_bytes: u64,
    /// Rotation size of a segment.
    pub segment_bytes: u64,
}

impl WalConfig {
    pub fn new(spool_dir: PathBuf, max_bytes: u64) -> Self {
        WalConfig {
            spool_dir,
            max_bytes,
            segment_bytes: SEGMENT_BYTES.min(max_bytes / 4).max(64 << 10),
        }
    }
    pub fn wal_dir(&self) -> PathBuf {
        self.spool_dir.join(WAL_DIR)
    }
}

/// Why the WAL could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("batch {0} is already in the WAL")]
    Duplicate(String),
    #[error("the WAL writer has stopped")]
    Closed,
}

impl WalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// Counters of the WAL (atomics: the writer thread counts, the summary and `/metrics` read).
#[derive(Debug, Default)]
pub struct WalStats {
    /// Batch entries written (and fsynced).
    pub appends: AtomicU64,
    /// `fdatasync` calls of segments.
    pub fsyncs: AtomicU64,
    /// Bytes written to segments.
    pub bytes_written: AtomicU64,
    /// Bytes of the segments held now (not yet deletable), and the most held at once.
    pub bytes_held: AtomicU64,
    pub bytes_held_peak: AtomicU64,
    /// Nanoseconds during which appends waited because the WAL held `spool.max_bytes`.
    pub backpressure_ns: AtomicU64,
    /// Un-resolved batches found at start.
    pub recovered: AtomicU64,
    /// Segments deleted once every batch in them was resolved.
    pub segments_deleted: AtomicU64,
    /// Segments moved to quarantine (bad header) and tails cut at recovery.
    pub segments_quarantined: AtomicU64,
    pub tails_cut: AtomicU64,
}

impl WalStats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
    fn set_held(&self, held: u64) {
        self.bytes_held.store(held, Relaxed);
        self.bytes_held_peak.fetch_max(held, Relaxed);
    }
}

/// The WAL, shared by every loader (`Arc<Wal>`); its writer thread runs until [`Wal::close`] (or drop).
pub struct Wal {
    shared: Arc<writer::Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The completion of one append: resolves once the batch is on disk (or the append failed).
pub struct AppendTicket(oneshot::Receiver<Result<(), WalError>>);

impl std::future::Future for AppendTicket {
    type Output = Result<(), WalError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(WalError::Closed)))
    }
}

impl Wal {
    /// Recovers the WAL in `config.spool_dir/wal/` (see [`recovery`]) and starts the writer thread. The caller
    /// delivers the returned batches (read each with [`read_batch`]) and resolves them like new ones.
    pub fn open(config: WalConfig, stats: Arc<WalStats>) -> Result<(Wal, Recovery), WalError> {
        let recovery = recovery::recover(&config.spool_dir)?;
        WalStats::add(&stats.recovered, recovery.batches.len() as u64);
        for e in &recovery.events {
            match e {
                RecoveryEvent::Quarantined { .. } => WalStats::add(&stats.segments_quarantined, 1),
                RecoveryEvent::Cut { .. } => WalStats::add(&stats.tails_cut, 1),
                RecoveryEvent::Removed { .. } => {}
            }
        }
        let shared = Arc::new(writer::Shared::default());
        let state = writer::Writer::new(config, stats, &recovery);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("wal-writer".into())
                .spawn(move || state.run(&shared))
                .map_err(|e| WalError::io("start the WAL writer for", "spool/wal", e))?
        };
        let wal = Wal {
            shared,
            thread: Mutex::new(Some(thread)),
        };
        // A crash came between their spool file and its entry: the file is the copy that counts.
        for b in &recovery.already_spooled {
            wal.resolve(&b.id, Resolution::Spooled);
        }
        Ok((wal, recovery))
    }

    /// Appends a batch (the JSON array `body`, compressed here, on the caller's thread, with LZ4); the ticket
    /// completes once it is on disk. Send the batch only then.
    pub fn append(&self, id: &str, worker: usize, records: usize, body: &[u8]) -> AppendTicket {
        let (done, rx) = oneshot::channel();
        let payload = Bytes::from(lz4_flex::compress_prepend_size(body));
        self.shared.push(writer::Request::Append(writer::Append {
            id: id.to_string(),
            worker: u32::try_from(worker).unwrap_or(u32::MAX),
            records: u32::try_from(records).unwrap_or(u32::MAX),
            codec: segment::Codec::Lz4,
            payload,
            done,
        }));
        AppendTicket(rx)
    }

    /// Records how batch `id` was settled. Call only after the fact is safe (the 2xx came, the spool file or the
    /// dead letter is written). An id the WAL does not hold is ignored.
    pub fn resolve(&self, id: &str, how: Resolution) {
        self.shared
            .push(writer::Request::Resolve(id.to_string(), how));
    }

    /// Batch `id` stays in the WAL for the next run (it could not be delivered, nor written to a spool file):
    /// it no longer counts as in flight, so appends do not wait for it.
    pub fn keep(&self, id: &str) {
        self.shared.push(writer::Request::Keep(id.to_string()));
    }

    /// Completes once the writer has handled everything queued before this call (appends admitted so far are on
    /// disk; appends held back by `spool.max_bytes` still wait).
    pub async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        self.shared.push(writer::Request::Barrier(tx));
        let _ = rx.await;
    }

    /// Writes what is queued, deletes the WAL if everything in it is resolved (else fsyncs it), and stops the
    /// writer thread. Appends after this fail with [`WalError::Closed`]. Blocks until done.
    pub fn close(&self) {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            self.shared.push(writer::Request::Close);
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    fn id(worker: usize, i: usize) -> String {
        format!("20261201T000000Z-0000abcd-w{worker}-{i:06}")
    }

    /// A payload of about `size` bytes that LZ4 cannot shrink (so the WAL's bytes are what the test sizes).
    fn payload(worker: usize, i: usize, size: usize) -> Bytes {
        let mut out = format!("[{{\"w\":{worker},\"i\":{i}}}]").into_bytes();
        let mut x = (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1);
        for _ in 0..size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push((x >> 32) as u8);
        }
        Bytes::from(out)
    }

    fn segments(spool: &std::path::Path) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(spool.join(WAL_DIR)) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Eight appenders that each wait for their batch before the next (as loaders do): every batch is on disk
    /// when its ticket completes, and one fsync covers several appends.
    #[test]
    fn concurrent_appends_are_group_committed_and_all_recovered_after_a_stop() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(WalStats::default());
        let (wal, rec) =
            Wal::open(WalConfig::new(dir.path().into(), 1 << 30), stats.clone()).unwrap();
        assert!(rec.batches.is_empty());
        let wal = Arc::new(wal);
        let (workers, per) = (8, 60);
        let threads: Vec<_> = (0..workers)
            .map(|w| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    rt().block_on(async {
                        for i in 0..per {
                            wal.append(&id(w, i), w, 1, &payload(w, i, 300))
                                .await
                                .unwrap();
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let appends = WalStats::get(&stats.appends);
        let fsyncs = WalStats::get(&stats.fsyncs);
        assert_eq!(appends, (workers * per) as u64);
        assert!(
            fsyncs < appends,
            "{fsyncs} fsyncs for {appends} appends: no grouping"
        );
        drop(wal); // close: nothing resolved, so the WAL stays

        let stats2 = Arc::new(WalStats::default());
        let (wal, rec) =
            Wal::open(WalConfig::new(dir.path().into(), 1 << 30), stats2.clone()).unwrap();
        assert_eq!(rec.batches.len(), workers * per);
        assert_eq!(WalStats::get(&stats2.recovered), (workers * per) as u64);
        for w in 0..workers {
            // each appender's batches come back in the order it appended them
            let mine: Vec<&RecoveredBatch> = rec.batches.iter().filter(|b| b.worker == w).collect();
            for (i, b) in mine.iter().enumerate() {
                assert_eq!(b.id, id(w, i));
                assert_eq!(read_batch(b).unwrap(), payload(w, i, 300));
            }
        }
        for b in &rec.batches {
            wal.resolve(&b.id, Resolution::Delivered);
        }
        wal.close();
        assert!(
            segments(dir.path()).is_empty(),
            "{:?}",
            segments(dir.path())
        );
    }

    /// Resolutions survive a stop: a restart sends only what was not resolved; once all are, the WAL is empty.
    #[test]
    fn only_unresolved_batches_come_back_and_a_resolved_log_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = WalConfig::new(dir.path().into(), 1 << 30);
        let (wal, _) = Wal::open(cfg.clone(), Arc::default()).unwrap();
        rt().block_on(async {
            for i in 0..10 {
                wal.append(&id(1, i), 1, 3, &payload(1, i, 10))
                    .await
                    .unwrap();
            }
        });
        for i in (0..10).step_by(2) {
            wal.resolve(&id(1, i), Resolution::Delivered);
        }
        wal.close();
        let (wal, rec) = Wal::open(cfg.clone(), Arc::default()).unwrap();
        let ids: Vec<String> = rec.batches.iter().map(|b| b.id.clone()).collect();
        assert_eq!(
            ids,
            (1..10).step_by(2).map(|i| id(1, i)).collect::<Vec<_>>()
        );
        assert!(rec.batches.iter().all(|b| b.records == 3));
        for b in &rec.batches {
            wal.resolve(&b.id, Resolution::Spooled);
        }
        rt().block_on(wal.barrier());
        wal.close();
        assert!(segments(dir.path()).is_empty());
        let (_wal, rec) = Wal::open(cfg, Arc::default()).unwrap();
        assert!(rec.batches.is_empty());
    }

    /// With `max_bytes` reached, appends wait until resolutions free a segment; the time is counted, the bytes
    /// held stay near the bound, and every append completes once the earlier batches are resolved.
    #[test]
    fn appends_wait_while_the_log_holds_max_bytes_and_go_on_when_segments_are_freed() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(WalStats::default());
        let max = 256 << 10;
        let cfg = WalConfig::new(dir.path().into(), max);
        assert_eq!(cfg.segment_bytes, 64 << 10);
        let (wal, _) = Wal::open(cfg, stats.clone()).unwrap();
        let entry = 8 << 10;
        rt().block_on(async {
            let tickets: Vec<_> = (0..200)
                .map(|i| (i, wal.append(&id(0, i), 0, 1, &payload(0, i, entry))))
                .collect();
            let mut done = Vec::new();
            let mut pending = Vec::new();
            wal.barrier().await;
            for (i, mut t) in tickets {
                match futures_util::FutureExt::now_or_never(&mut t) {
                    Some(r) => {
                        r.unwrap();
                        done.push(i)
                    }
                    None => pending.push((i, t)),
                }
            }
            assert!(!pending.is_empty(), "200 × 8 KiB do not fit in 256 KiB");
            assert!(
                done.len() * entry <= max as usize + 2 * entry,
                "{} admitted",
                done.len()
            );
            let held = WalStats::get(&stats.bytes_held);
            assert!(
                held < max + 2 * entry as u64 && held >= max - 2 * entry as u64,
                "held {held}"
            );
            // Resolve in order as they complete: everything gets through.
            for i in done {
                wal.resolve(&id(0, i), Resolution::Delivered);
            }
            for (i, t) in pending {
                t.await.unwrap();
                wal.resolve(&id(0, i), Resolution::Delivered);
            }
        });
        assert!(WalStats::get(&stats.backpressure_ns) > 0);
        assert!(WalStats::get(&stats.bytes_held_peak) < max + 2 * (entry as u64) + 64);
        assert!(WalStats::get(&stats.segments_deleted) > 3);
        wal.close();
        assert!(segments(dir.path()).is_empty());
    }

    /// A batch kept for the next run (its spool file could not be written) does not hold appends back forever.
    #[test]
    fn kept_batches_never_block_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) =
            Wal::open(WalConfig::new(dir.path().into(), 128 << 10), Arc::default()).unwrap();
        rt().block_on(async {
            for i in 0..40 {
                wal.append(&id(0, i), 0, 1, &payload(0, i, 8 << 10))
                    .await
                    .unwrap();
                wal.keep(&id(0, i));
            }
        });
        wal.close();
        let (_wal, rec) =
            Wal::open(WalConfig::new(dir.path().into(), 128 << 10), Arc::default()).unwrap();
        assert_eq!(rec.batches.len(), 40);
    }

    #[test]
    fn appends_after_close_fail_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) =
            Wal::open(WalConfig::new(dir.path().into(), 1 << 20), Arc::default()).unwrap();
        rt().block_on(async {
            wal.append(&id(0, 1), 0, 1, &payload(0, 1, 1))
                .await
                .unwrap();
            let dup = wal.append(&id(0, 1), 0, 1, &payload(0, 1, 1)).await;
            assert!(matches!(dup, Err(WalError::Duplicate(_))), "{dup:?}");
            wal.close();
            let after = wal.append(&id(0, 2), 0, 1, &payload(0, 2, 1)).await;
            assert!(matches!(after, Err(WalError::Closed)), "{after:?}");
        });
        let _ = Relaxed;
    }
}
