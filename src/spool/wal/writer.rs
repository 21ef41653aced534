//! The WAL's one writer thread: takes every queued append and resolution, writes them to the active segment in
//! one `pwrite`, covers them with one `fdatasync`, completes the appenders, rotates and deletes segments, and
//! holds appends back while the WAL holds `spool.max_bytes`. It alone touches the segment files after recovery.
//!
//! Longer than most files because the group commit, rotation, deletion and backpressure share one loop and its
//! state (the order of writes and fsyncs is the crash guarantee, so it stays in one place).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::recovery::Recovery;
use super::segment::{self, Resolution, HEADER_LEN};
use super::{WalConfig, WalError, WalStats};

/// A request to the writer.
pub(crate) enum Request {
    Append(Append),
    Resolve(String, Resolution),
    Keep(String),
    /// Answered once everything queued before it was handled (written, fsynced, deleted).
    Barrier(oneshot::Sender<()>),
    Close,
}

/// A batch to append, and who waits for it.
pub(crate) struct Append {
    pub id: String,
    pub worker: u32,
    pub records: u32,
    pub codec: segment::Codec,
    pub payload: Bytes,
    pub done: oneshot::Sender<Result<(), WalError>>,
}

/// The queue between the appenders (any thread) and the writer thread.
#[derive(Default)]
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    closed: bool,
}

impl Shared {
    pub fn push(&self, request: Request) {
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if q.closed {
            if let Request::Append(a) = request {
                let _ = a.done.send(Err(WalError::Closed));
            }
            return;
        }
        if matches!(request, Request::Close) {
            q.closed = true;
        }
        q.requests.push(request);
        drop(q);
        self.ready.notify_one();
    }

    /// Everything queued; waits for something first when `wait`.
    fn take(&self, wait: bool, into: &mut Vec<Request>) {
        let mut q = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while wait && q.requests.is_empty() {
            q = self
                .ready
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        std::mem::swap(&mut q.requests, into);
    }
}

/// A segment still on disk.
struct Segment {
    path: PathBuf,
    /// Its length (what was written successfully).
    bytes: u64,
    /// Batches in it not yet resolved.
    live: usize,
}

/// The segment being written.
struct Active {
    seq: u64,
    file: File,
    /// Its name is durable (the directory was fsynced after its creation).
    named: bool,
    /// It got a write that failed or an fsync that failed: no more writes go to it.
    broken: bool,
}

/// Where a live batch is.
struct Live {
    seq: u64,
    kept: bool,
}

pub(crate) struct Writer {
    cfg: WalConfig,
    dir: PathBuf,
    stats: Arc<WalStats>,
    segments: BTreeMap<u64, Segment>,
    active: Option<Active>,
    next_seq: u64,
    ids: HashMap<String, Live>,
    kept: usize,
    /// Bytes of every segment on disk.
    held: u64,
    blocked: VecDeque<Append>,
    /// Since when the front of `blocked` waits for `max_bytes`.
    held_back_since: Option<Instant>,
    buf: Vec<u8>,
    /// Appends encoded in `buf`, in order.
    group: Vec<(String, oneshot::Sender<Result<(), WalError>>)>,
}

impl Writer {
    pub fn new(cfg: WalConfig, stats: Arc<WalStats>, recovery: &Recovery) -> Self {
        let dir = cfg.wal_dir();
        let mut segments = BTreeMap::new();
        let mut ids = HashMap::new();
        let mut held = 0;
        for s in &recovery.segments {
            held += s.bytes;
            segments.insert(
                s.seq,
                Segment {
                    path: s.path.clone(),
                    bytes: s.bytes,
                    live: 0,
                },
            );
        }
        for b in recovery.batches.iter().chain(&recovery.already_spooled) {
            if let Some(seg) = segments.get_mut(&b.seq) {
                seg.live += 1;
            }
            // Recovered batches are not in flight until the replay sends them: appends never wait for them.
            ids.insert(
                b.id.clone(),
                Live {
                    seq: b.seq,
                    kept: true,
                },
            );
        }
        stats.set_held(held);
        Writer {
            kept: ids.len(),
            cfg,
            dir,
            stats,
            segments,
            active: None,
            next_seq: recovery.next_seq,
            ids,
            held,
            blocked: VecDeque::new(),
            held_back_since: None,
            buf: Vec::with_capacity(1 << 20),
            group: Vec::new(),
        }
    }

    /// The writer thread's loop; returns after `Close`.
    pub fn run(mut self, shared: &Shared) {
        let mut requests = Vec::new();
        loop {
            let admissible = !self.blocked.is_empty() && self.admits();
            shared.take(!admissible, &mut requests);
            let mut close = false;
            let mut barriers = Vec::new();
            for r in requests.drain(..) {
                match r {
                    Request::Append(a) => self.blocked.push_back(a),
                    Request::Resolve(id, how) => self.resolve(&id, how),
                    Request::Keep(id) => {
                        if let Some(l) = self.ids.get_mut(&id) {
                            if !l.kept {
                                l.kept = true;
                                self.kept += 1;
                            }
                        }
                    }
                    Request::Barrier(b) => barriers.push(b),
                    Request::Close => close = true,
                }
            }
            if close {
                self.finish();
                return;
            }
            self.admit();
            self.commit();
            self.collect();
            for b in barriers {
                let _ = b.send(());
            }
        }
    }

    /// Batches appended and neither resolved nor kept, plus those in the uncommitted group.
    fn in_flight(&self) -> usize {
        self.ids.len() - self.kept + self.group.len()
    }

    fn admits(&self) -> bool {
        self.held + (self.buf.len() as u64) < self.cfg.max_bytes || self.in_flight() == 0
    }

    /// Moves the appends that fit under `max_bytes` into the buffer, in order (rotating when the active segment
    /// is full); notes when the bound starts or stops holding them back.
    fn admit(&mut self) {
        while !self.blocked.is_empty() {
            if !self.admits() {
                self.held_back_since.get_or_insert_with(Instant::now);
                return;
            }
            if let Some(since) = self.held_back_since.take() {
                WalStats::add(
                    &self.stats.backpressure_ns,
                    since.elapsed().as_nanos() as u64,
                );
            }
            let a = self.blocked.pop_front().expect("not empty");
            if self.ids.contains_key(&a.id) || self.group.iter().any(|(id, _)| *id == a.id) {
                let _ = a.done.send(Err(WalError::Duplicate(a.id)));
                continue;
            }
            let entry_len = (segment::ENTRY_HEAD_LEN + 12 + a.id.len() + a.payload.len()) as u64;
            if let Some(active) = &self.active {
                let len = self.segments[&active.seq].bytes + self.buf.len() as u64;
                if len > HEADER_LEN as u64 && len + entry_len > self.cfg.segment_bytes {
                    self.commit();
                    self.retire_active();
                }
            }
            if let Err(e) = self.ensure_active() {
                let _ = a.done.send(Err(e));
                continue;
            }
            segment::encode_batch(
                &mut self.buf,
                &a.id,
                a.worker,
                a.records,
                a.codec,
                &a.payload,
            );
            self.group.push((a.id, a.done));
        }
    }

    /// Opens a new active segment if there is none (or it broke); its header goes into the buffer.
    fn ensure_active(&mut self) -> Result<u64, WalError> {
        if let Some(a) = &self.active {
            if !a.broken {
                return Ok(a.seq);
            }
        }
        self.retire_active();
        let seq = self.next_seq;
        let path = self.dir.join(segment::segment_name(seq));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| WalError::io("create", &self.dir, e))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| WalError::io("create", &path, e))?;
        self.next_seq += 1;
        debug_assert!(
            self.buf.is_empty(),
            "a buffer is committed before a rotation"
        );
        self.buf.extend_from_slice(&segment::encode_header(seq));
        self.segments.insert(
            seq,
            Segment {
                path,
                bytes: 0,
                live: 0,
            },
        );
        self.active = Some(Active {
            seq,
            file,
            named: false,
            broken: false,
        });
        Ok(seq)
    }

    /// The active segment is closed for writing; it goes at once if nothing in it is live.
    fn retire_active(&mut self) {
        if let Some(a) = self.active.take() {
            let empty = self.segments.get(&a.seq).is_some_and(|s| s.live == 0);
            if empty {
                self.delete(a.seq);
            }
        }
    }

    fn resolve(&mut self, id: &str, how: Resolution) {
        let Some(live) = self.ids.remove(id) else {
            return;
        };
        if live.kept {
            self.kept -= 1;
        }
        let active = self.active.as_ref().map(|a| a.seq);
        let seg = self
            .segments
            .get_mut(&live.seq)
            .expect("a live batch's segment is on disk");
        seg.live -= 1;
        if seg.live == 0 && Some(live.seq) != active {
            // Its segment goes: no entry needed.
            self.delete(live.seq);
            return;
        }
        if self.buf.is_empty() && self.ensure_active().is_err() {
            return; // the entry is an optimisation: without it the batch is sent again under the same id
        }
        segment::encode_resolved(&mut self.buf, id, how);
    }

    /// Writes the buffer to the active segment; when it holds appends, fsyncs and then completes them.
    fn commit(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let group = std::mem::take(&mut self.group);
        let Some(active) = self.active.as_mut() else {
            self.buf.clear();
            fail(group, &WalError::Closed);
            return;
        };
        let seg = self
            .segments
            .get_mut(&active.seq)
            .expect("the active segment is on disk");
        let at = seg.bytes;
        if let Err(e) = active.file.write_all_at(&self.buf, at) {
            let err = WalError::io("write", &seg.path, e);
            log::error!(
                "[WAL] {err}; the batches of this group are sent without a write-ahead copy"
            );
            // Cut what may have been written, so the segment's entries stay back to back.
            if active.file.set_len(at).is_err() {
                log::error!(
                    "[WAL] {} could not be cut back to {at} bytes; no more writes go to it",
                    seg.path.display()
                );
            }
            active.broken = true;
            self.buf.clear();
            fail(group, &err);
            return;
        }
        let n = self.buf.len() as u64;
        seg.bytes += n;
        self.held += n;
        self.stats.set_held(self.held);
        WalStats::add(&self.stats.bytes_written, n);
        self.buf.clear();
        if group.is_empty() {
            return;
        }
        // Registered before the fsync: should it fail, the entries may still be on disk, and they are resolved
        // like the others.
        seg.live += group.len();
        for (id, _) in &group {
            self.ids.insert(
                id.clone(),
                Live {
                    seq: active.seq,
                    kept: false,
                },
            );
        }
        let synced = active
            .file
            .sync_data()
            .map_err(|e| WalError::io("fdatasync", &seg.path, e))
            .and_then(|()| {
                if active.named {
                    return Ok(());
                }
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| WalError::io("fsync", &self.dir, e))
            });
        WalStats::add(&self.stats.fsyncs, 1);
        match synced {
            Ok(()) => {
                active.named = true;
                WalStats::add(&self.stats.appends, group.len() as u64);
                for (_, done) in group {
                    let _ = done.send(Ok(()));
                }
            }
            Err(err) => {
                log::error!(
                    "[WAL] {err}; the batches of this group are sent without a write-ahead copy"
                );
                active.broken = true;
                fail(group, &err);
            }
        }
    }

    /// Deletes segments nothing needs any more; retires the active one when it is full or when its deletion
    /// would let held-back appends in.
    fn collect(&mut self) {
        if let Some(a) = &self.active {
            let seg = &self.segments[&a.seq];
            let full = seg.bytes >= self.cfg.segment_bytes;
            let pressed = !self.blocked.is_empty() && self.held >= self.cfg.max_bytes;
            if seg.live == 0 && (full || pressed || a.broken) {
                self.retire_active();
            }
        }
    }

    fn delete(&mut self, seq: u64) {
        let Some(seg) = self.segments.remove(&seq) else {
            return;
        };
        match std::fs::remove_file(&seg.path) {
            Ok(()) => {
                self.held -= seg.bytes;
                self.stats.set_held(self.held);
                WalStats::add(&self.stats.segments_deleted, 1);
                if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
                    log::warn!("[WAL] fsync of {}: {e}", self.dir.display());
                }
            }
            Err(e) => {
                // Everything in it is resolved: a later start deletes it.
                log::warn!("[WAL] {} could not be deleted: {e}", seg.path.display());
                self.held -= seg.bytes;
                self.stats.set_held(self.held);
            }
        }
    }

    /// At the end of the run: write what is queued; delete the WAL when everything is resolved, else make the
    /// resolutions durable too.
    fn finish(&mut self) {
        // No loader is left to wait for space: write whatever still waits.
        self.cfg.max_bytes = u64::MAX;
        self.admit();
        self.commit();
        if self.ids.is_empty() {
            self.active = None;
            let seqs: Vec<u64> = self.segments.keys().copied().collect();
            for seq in seqs {
                self.delete(seq);
            }
        } else if let Some(a) = &self.active {
            if let Err(e) = a.file.sync_data() {
                log::warn!("[WAL] fdatasync at the end of the run: {e} (resolved batches may be sent again)");
            }
            WalStats::add(&self.stats.fsyncs, 1);
            if self.segments.get(&a.seq).is_some_and(|s| s.live == 0) {
                self.retire_active();
            }
        }
    }
}

fn fail(group: Vec<(String, oneshot::Sender<Result<(), WalError>>)>, err: &WalError) {
    for (_, done) in group {
        let _ = done.send(Err(err.clone()));
    }
}
