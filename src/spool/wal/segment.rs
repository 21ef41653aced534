//! The write-ahead log's bytes: segment names, the segment header, and the framing of entries (encode and
//! decode). Pure: no file is touched here, so every torn or flipped byte can be tested without a disk.
//!
//! All integers are little-endian. See `mod.rs` for the layout as a whole.

/// First 8 bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"appwal1\n";
/// Segment header: magic (8), segment sequence number (u64), CRC-32 of the 16 bytes before it (u32).
pub const HEADER_LEN: usize = 20;
/// Entry head: length of the body (u32), CRC-32 of the length's 4 bytes followed by the body (u32).
pub const ENTRY_HEAD_LEN: usize = 8;
/// Body of a batch entry before its id: kind (1), worker (u32), records (u32), codec (1), id length (1).
const BATCH_FIXED: usize = 11;
/// Body of a resolution entry before its id: kind (1), resolution (1), id length (1).
const RESOLVED_FIXED: usize = 3;
/// Largest body accepted: a batch is at most `load.batch_bytes` (validated far below this). A length above it is
/// corruption, and reading stops there instead of allocating what a flipped byte asks for.
pub const MAX_BODY_LEN: usize = (64 << 20) + 512;

/// Entry kinds (the body's first byte).
const KIND_BATCH: u8 = 1;
const KIND_RESOLVED: u8 = 2;
/// How the payload of a batch entry holds the JSON array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The JSON array as sent.
    Json,
    /// An LZ4 block of the JSON array, its length (u32) first (`lz4_flex::compress_prepend_size`).
    Lz4,
}

impl Codec {
    fn to_byte(self) -> u8 {
        match self {
            Codec::Json => 0,
            Codec::Lz4 => 1,
        }
    }
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Codec::Json),
            1 => Some(Codec::Lz4),
            _ => None,
        }
    }
}

/// File name of segment `seq` (zero-padded, so names sort in sequence order).
pub fn segment_name(seq: u64) -> String {
    format!("segment-{seq:012}.wal")
}

/// The sequence number of a segment file name; `None` for other names.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".wal")?;
    if digits.len() < 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of segment `seq`.
pub fn encode_header(seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a segment header is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("shorter than the {HEADER_LEN}-byte segment header")]
    Short,
    #[error("not a WAL segment (bad magic)")]
    Magic,
    #[error("segment header checksum mismatch")]
    Checksum,
}

/// The sequence number in a segment header.
pub fn decode_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    if bytes.len() < HEADER_LEN {
        return Err(HeaderError::Short);
    }
    if &bytes[..8] != MAGIC {
        return Err(HeaderError::Magic);
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..16]) != crc {
        return Err(HeaderError::Checksum);
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    ))
}

/// How a batch in the WAL was settled; each makes its entry dead (the segment may go once all its batches are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A 2xx acknowledged it.
    Delivered,
    /// It is in a spool file (`buffer_failed_worker{N}-{id}.json.gz`), written and fsynced before this entry.
    Spooled,
    /// It was dead-lettered into `rejected/`, written and fsynced before this entry.
    DeadLettered,
}

impl Resolution {
    fn to_byte(self) -> u8 {
        match self {
            Resolution::Delivered => 1,
            Resolution::Spooled => 2,
            Resolution::DeadLettered => 3,
        }
    }
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Resolution::Delivered),
            2 => Some(Resolution::Spooled),
            3 => Some(Resolution::DeadLettered),
            _ => None,
        }
    }
}

/// One decoded entry, borrowing from the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Batch {
        id: &'a str,
        worker: u32,
        records: u32,
        codec: Codec,
        payload: &'a [u8],
    },
    Resolved {
        id: &'a str,
        how: Resolution,
    },
}

/// Why bytes are not an entry. Everything from such a point on is cut at recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corrupt {
    #[error("entry length {0} out of range")]
    Length(u32),
    #[error("entry checksum mismatch")]
    Checksum,
    #[error("entry body malformed: {0}")]
    Body(&'static str),
}

/// What the bytes at a position hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole, checked entry of `len` bytes (head included).
    Entry(Entry<'a>, usize),
    /// Fewer bytes than the entry needs: at the end of a file, a torn write.
    Incomplete,
    /// Not an entry.
    Corrupt(Corrupt),
}

fn head(len: u32, crc: u32) -> [u8; ENTRY_HEAD_LEN] {
    let mut h = [0u8; ENTRY_HEAD_LEN];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(&crc.to_le_bytes());
    h
}

fn checksum(len: u32, body_parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    for part in body_parts {
        hasher.update(part);
    }
    hasher.finalize()
}

fn id_len(id: &str) -> u8 {
    u8::try_from(id.len()).expect("batch ids are at most 128 bytes (BatchId::is_valid)")
}

/// Appends the entry of a batch to `out`; returns the entry's length.
pub fn encode_batch(
    out: &mut Vec<u8>,
    id: &str,
    worker: u32,
    records: u32,
    codec: Codec,
    payload: &[u8],
) -> usize {
    let mut fixed = [0u8; BATCH_FIXED];
    fixed[0] = KIND_BATCH;
    fixed[1..5].copy_from_slice(&worker.to_le_bytes());
    fixed[5..9].copy_from_slice(&records.to_le_bytes());
    fixed[9] = codec.to_byte();
    fixed[10] = id_len(id);
    let len = BATCH_FIXED + id.len() + payload.len();
    let len32 = u32::try_from(len).expect("a batch body is far below 4 GiB");
    let crc = checksum(len32, &[&fixed, id.as_bytes(), payload]);
    out.reserve(ENTRY_HEAD_LEN + len);
    out.extend_from_slice(&head(len32, crc));
    out.extend_from_slice(&fixed);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(payload);
    ENTRY_HEAD_LEN + len
}

/// Appends the entry saying batch `id` was resolved; returns the entry's length.
pub fn encode_resolved(out: &mut Vec<u8>, id: &str, how: Resolution) -> usize {
    let fixed = [KIND_RESOLVED, how.to_byte(), id_len(id)];
    let len = RESOLVED_FIXED + id.len();
    let len32 = len as u32;
    let crc = checksum(len32, &[&fixed, id.as_bytes()]);
    out.extend_from_slice(&head(len32, crc));
    out.extend_from_slice(&fixed);
    out.extend_from_slice(id.as_bytes());
    ENTRY_HEAD_LEN + len
}

/// Reads an entry head: the body's length and checksum, or why they cannot be.
pub fn decode_head(head: &[u8; ENTRY_HEAD_LEN]) -> Result<(usize, u32), Corrupt> {
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    let n = len as usize;
    if !(RESOLVED_FIXED..=MAX_BODY_LEN).contains(&n) {
        return Err(Corrupt::Length(len));
    }
    Ok((n, crc))
}

/// Checks and parses a body read after its head.
pub fn decode_body(body: &[u8], crc: u32) -> Result<Entry<'_>, Corrupt> {
    if checksum(body.len() as u32, &[body]) != crc {
        return Err(Corrupt::Checksum);
    }
    let id_of = |at: usize, n: usize| -> Result<&str, Corrupt> {
        let raw = body
            .get(at..at + n)
            .ok_or(Corrupt::Body("id runs past the entry"))?;
        let id = std::str::from_utf8(raw).map_err(|_| Corrupt::Body("id is not UTF-8"))?;
        if !crate::model::BatchId::is_valid(id) {
            return Err(Corrupt::Body("id is not a valid batch id"));
        }
        Ok(id)
    };
    match body[0] {
        KIND_BATCH => {
            if body.len() < BATCH_FIXED {
                return Err(Corrupt::Body("batch entry too short"));
            }
            let codec = Codec::from_byte(body[9]).ok_or(Corrupt::Body("unknown payload codec"))?;
            let n = body[10] as usize;
            let id = id_of(BATCH_FIXED, n)?;
            Ok(Entry::Batch {
                id,
                worker: u32::from_le_bytes(body[1..5].try_into().expect("4 bytes")),
                records: u32::from_le_bytes(body[5..9].try_into().expect("4 bytes")),
                codec,
                payload: &body[BATCH_FIXED + n..],
            })
        }
        KIND_RESOLVED => {
            let how = Resolution::from_byte(body[1]).ok_or(Corrupt::Body("unknown resolution"))?;
            let n = body[2] as usize;
            if RESOLVED_FIXED + n != body.len() {
                return Err(Corrupt::Body(
                    "resolution entry length does not match its id",
                ));
            }
            Ok(Entry::Resolved {
                id: id_of(RESOLVED_FIXED, n)?,
                how,
            })
        }
        _ => Err(Corrupt::Body("unknown entry kind")),
    }
}

/// Decodes the entry at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(h) = buf.get(..ENTRY_HEAD_LEN) else {
        return Decoded::Incomplete;
    };
    let (len, crc) = match decode_head(h.try_into().expect("8 bytes")) {
        Ok(v) => v,
        Err(e) => return Decoded::Corrupt(e),
    };
    let Some(body) = buf.get(ENTRY_HEAD_LEN..ENTRY_HEAD_LEN + len) else {
        return Decoded::Incomplete;
    };
    match decode_body(body, crc) {
        Ok(entry) => Decoded::Entry(entry, ENTRY_HEAD_LEN + len),
        Err(e) => Decoded::Corrupt(e),
    }
}

/// Where the valid prefix of a segment's entry bytes (after the header) ends, and why it ends there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The bytes end exactly after the last entry.
    Clean,
    /// A partial entry at the end (a write cut by a crash).
    Torn,
    /// Bytes that are not an entry (a flipped bit, zeros, garbage).
    Corrupt(Corrupt),
}

/// Decodes every entry of `buf` up to the first that is not whole and valid: the entries, the length of the
/// valid prefix and why it stops. Nothing after the first bad byte is trusted.
pub fn decode_all(buf: &[u8]) -> (Vec<Entry<'_>>, usize, End) {
    let mut entries = Vec::new();
    let mut at = 0;
    loop {
        if at == buf.len() {
            return (entries, at, End::Clean);
        }
        match decode(&buf[at..]) {
            Decoded::Entry(e, n) => {
                entries.push(e);
                at += n;
            }
            Decoded::Incomplete => return (entries, at, End::Torn),
            Decoded::Corrupt(c) => return (entries, at, End::Corrupt(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample(n: usize) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let mut out = Vec::new();
        let mut batches = Vec::new();
        for i in 0..n {
            let id = format!("20261201T000000Z-0000abcd-w{}-{i:06}", i % 10);
            let payload = format!(
                "[{}]",
                "{\"name\":\"d\"},".repeat(i % 7).trim_end_matches(',')
            );
            encode_batch(
                &mut out,
                &id,
                (i % 10) as u32,
                (i % 7) as u32,
                Codec::Json,
                payload.as_bytes(),
            );
            if i % 3 == 0 {
                encode_resolved(&mut out, &id, Resolution::Delivered);
            }
            batches.push((id, payload.into_bytes()));
        }
        (out, batches)
    }

    #[test]
    fn names_and_headers_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("segment-42.wal"), None);
        assert_eq!(parse_segment_name("segment-00000000004x.wal"), None);
        assert_eq!(parse_segment_name("other"), None);
        assert!(segment_name(9) < segment_name(10));
        let h = encode_header(7);
        assert_eq!(decode_header(&h), Ok(7));
        assert_eq!(decode_header(&h[..10]), Err(HeaderError::Short));
        let mut bad = h;
        bad[0] ^= 1;
        assert_eq!(decode_header(&bad), Err(HeaderError::Magic));
        let mut bad = h;
        bad[9] ^= 1;
        assert_eq!(decode_header(&bad), Err(HeaderError::Checksum));
    }

    #[test]
    fn entries_round_trip() {
        let mut out = Vec::new();
        let n = encode_batch(&mut out, "r-w1-000001", 1, 2, Codec::Lz4, b"[1,2]");
        let m = encode_resolved(&mut out, "r-w1-000001", Resolution::Spooled);
        assert_eq!(n + m, out.len());
        let (entries, len, end) = decode_all(&out);
        assert_eq!(len, out.len());
        assert_eq!(end, End::Clean);
        assert_eq!(
            entries,
            vec![
                Entry::Batch {
                    id: "r-w1-000001",
                    worker: 1,
                    records: 2,
                    codec: Codec::Lz4,
                    payload: b"[1,2]"
                },
                Entry::Resolved {
                    id: "r-w1-000001",
                    how: Resolution::Spooled
                }
            ]
        );
    }

    /// Every cut point of a WAL keeps exactly the entries that end before it; the rest is a torn tail.
    #[test]
    fn a_truncated_log_keeps_exactly_the_entries_before_the_cut() {
        let (log, _) = sample(20);
        let (all, _, _) = decode_all(&log);
        let mut ends = vec![0];
        let mut at = 0;
        while let Decoded::Entry(_, n) = decode(&log[at..]) {
            at += n;
            ends.push(at);
        }
        for cut in 0..=log.len() {
            let (entries, len, end) = decode_all(&log[..cut]);
            let whole = ends.iter().filter(|e| **e <= cut).count() - 1;
            assert_eq!(entries.len(), whole, "cut {cut}");
            assert_eq!(entries[..], all[..whole]);
            assert_eq!(len, ends[whole]);
            assert_eq!(
                end,
                if len == cut { End::Clean } else { End::Torn },
                "cut {cut}"
            );
        }
    }

    /// A flipped byte anywhere never yields a changed entry: the prefix before the damaged entry is kept whole,
    /// and decoding stops at (or before) the damaged one.
    #[test]
    fn a_flipped_byte_never_yields_garbage() {
        let (log, _) = sample(12);
        let (all, _, _) = decode_all(&log);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(16);
        for pos in 0..log.len() {
            let mut bad = log.clone();
            bad[pos] ^= rng.random_range(1..=255u8);
            let (entries, len, end) = decode_all(&bad);
            assert!(
                len <= pos,
                "pos {pos}: the prefix kept ends before the damage"
            );
            // every decoded entry is one that was written, in order
            assert_eq!(entries[..], all[..entries.len()], "pos {pos}");
            assert!(
                entries.len() < all.len(),
                "pos {pos}: the damaged entry was accepted"
            );
            assert_ne!(end, End::Clean, "pos {pos}");
        }
    }

    #[test]
    fn zeros_and_huge_lengths_are_corrupt_not_allocations() {
        assert_eq!(decode(&[0u8; 64]), Decoded::Corrupt(Corrupt::Length(0)));
        let mut h = [0xffu8; 8];
        h[4..].fill(0);
        assert_eq!(decode(&h), Decoded::Corrupt(Corrupt::Length(u32::MAX)));
    }

    #[test]
    fn random_bytes_are_never_entries() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let n = rng.random_range(0..200);
            let buf: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            let (entries, _, _) = decode_all(&buf);
            assert!(entries.is_empty());
        }
    }
}
