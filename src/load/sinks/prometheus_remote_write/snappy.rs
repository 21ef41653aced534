//! Snappy block compression by a writer that knows where its bytes repeat: a `WriteRequest` is its series one
//! after another, and a series repeats its metric's `__name__` label from an earlier series of the batch and its
//! record's other labels from the series before it. The series writer (`request::Request`) says so, and the block
//! gets a copy element for each repeat instead of searching for it: no hash table, no match search, and a block any
//! snappy decoder reads (`snap`'s in the tests, Go's in Prometheus and VictoriaMetrics).
//!
//! The block format (github.com/google/snappy, `format_description.txt`): the uncompressed length as a varint,
//! then elements. A literal is a tag `(len-1) << 2` for up to 60 bytes (or 60–63 and 1–4 bytes of `len-1`), then
//! its bytes. A copy of `len` bytes from `offset` bytes back is `0b01` (len 4–11, offset under 2048: 2 bytes) or
//! `0b10` (len 1–64, offset under 65,536: 3 bytes); longer copies are split. Offsets of 65,536 and more (`0b11`)
//! are never written: a repeat that far back is written again as a literal ([`Block::repeat`]).

use bytes::Bytes;

/// The farthest back a copy reaches (a two-byte offset).
pub const MAX_OFFSET: usize = 65_535;

/// Room for the length preamble (a varint of up to 5 bytes: a block is under 4 GiB) before the elements.
const PREAMBLE: usize = 5;

/// A snappy block being written.
#[derive(Debug)]
pub struct Block {
    /// [`PREAMBLE`] bytes of room for the length, then the elements so far. Literal bytes go here as they come,
    /// behind a tag byte written when the literal ends.
    elements: Vec<u8>,
    /// Where the open literal's tag byte is (adjacent literals make one element).
    literal_at: Option<usize>,
    /// Uncompressed bytes so far.
    len: usize,
}

impl Default for Block {
    fn default() -> Self {
        Block::with_capacity(0)
    }
}

impl Block {
    /// Bytes written so far (the position the next byte will have).
    pub fn position(&self) -> usize {
        self.len
    }

    /// Whether the bytes at `from` can be copied from here.
    pub fn can_copy(&self, from: usize) -> bool {
        self.position() - from <= MAX_OFFSET
    }

    /// Appends `bytes`: a copy of the same bytes written at `from` when there are some and they are in reach
    /// (and the copy is no longer than the bytes: 4 or more), else the bytes as a literal.
    #[inline(always)]
    pub fn repeat(&mut self, from: Option<usize>, bytes: &[u8]) {
        match from.filter(|at| bytes.len() >= 4 && self.can_copy(*at)) {
            Some(at) => self.copy(at, bytes.len()),
            None => self.literal(bytes),
        }
    }

    /// Appends bytes.
    #[inline]
    pub fn literal(&mut self, bytes: &[u8]) {
        if self.literal_at.is_none() {
            self.literal_at = Some(self.elements.len());
            self.elements.push(0);
        }
        self.elements.extend_from_slice(bytes);
        self.len += bytes.len();
    }
    /// Appends the `len` bytes that start at `from`, already written and in reach ([`Block::can_copy`]).
    #[inline(always)]
    pub fn copy(&mut self, from: usize, len: usize) {
        // A copy out of reach would wrap its offset and decode to other bytes: a bug, never a body.
        assert!(
            from + len <= self.len && self.len - from <= MAX_OFFSET,
            "snappy copy of {len} bytes from {from} at {} is out of reach",
            self.len
        );
        self.end_literal();
        let offset = self.len - from;
        self.len += len;
        let mut left = len;
        while left > 0 {
            let n = left.min(64);
            left -= n;
            self.copy_element(n, offset);
        }
    }

    /// A copy element of `n` bytes (1–64) from `offset` bytes back.
    #[inline]
    fn copy_element(&mut self, n: usize, offset: usize) {
        if (4..=11).contains(&n) && offset < 2048 {
            let tag = 0b01 | ((n - 4) as u8) << 2 | ((offset >> 8) as u8) << 5;
            self.elements.extend_from_slice(&[tag, offset as u8]);
        } else {
            let [lo, hi] = (offset as u16).to_le_bytes();
            self.elements
                .extend_from_slice(&[0b10 | ((n - 1) as u8) << 2, lo, hi]);
        }
    }

    fn with_capacity(capacity: usize) -> Self {
        let mut elements = Vec::with_capacity(capacity.max(PREAMBLE));
        elements.resize(PREAMBLE, 0);
        Block {
            elements,
            literal_at: None,
            len: 0,
        }
    }

    /// Writes the open literal's tag: one byte up to 60 bytes, else the tag and 1–4 bytes of length, moved in
    /// before the literal's bytes (rare: the series' literals are short).
    #[inline(always)]
    fn end_literal(&mut self) {
        let Some(at) = self.literal_at.take() else {
            return;
        };
        if self.elements.len() == at + 1 {
            self.elements.pop(); // nothing was written after all
            return;
        }
        let m = self.elements.len() - at - 2; // the literal's length - 1
        if m < 60 {
            self.elements[at] = (m as u8) << 2;
        } else {
            let bytes = (usize::BITS - m.leading_zeros()).div_ceil(8) as usize;
            self.elements[at] = ((59 + bytes) as u8) << 2;
            let length = m.to_le_bytes();
            self.elements
                .splice(at + 1..at + 1, length[..bytes].iter().copied());
        }
    }

    /// The block (its length preamble and elements), leaving the writer empty for the next one, with room for a
    /// block as large.
    pub fn finish(&mut self) -> Bytes {
        self.end_literal();
        let (preamble, n) = crate::codec::varint(self.len as u64);
        let start = PREAMBLE - n;
        let next = Block::with_capacity(self.elements.len());
        let mut block = std::mem::replace(self, next).elements;
        block[start..PREAMBLE].copy_from_slice(&preamble[..n]);
        Bytes::from(block).slice(start..)
    }

    /// Forgets what was written (a batch whose request is not formed here).
    pub fn clear(&mut self) {
        self.elements.truncate(PREAMBLE);
        self.literal_at = None;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(block: &[u8]) -> Vec<u8> {
        snap::raw::Decoder::new().decompress_vec(block).unwrap()
    }

    /// A literal, then maybe a copy of (how far back, how many bytes).
    type Op<'a> = (&'a [u8], Option<(usize, usize)>);

    /// Writes the same literals and copies to plain bytes and to a block; the block decodes to the plain bytes.
    fn both(ops: &[Op]) -> (Vec<u8>, Bytes) {
        let (mut plain, mut block) = (Vec::new(), Block::default());
        for (lit, copy) in ops {
            plain.extend_from_slice(lit);
            block.literal(lit);
            if let Some((back, len)) = *copy {
                let from = plain.len() - back;
                assert!(block.can_copy(from));
                plain.extend_from_within(from..from + len);
                block.copy(from, len);
            }
        }
        assert_eq!(block.position(), plain.len());
        (plain, block.finish())
    }

    #[test]
    fn literals_of_every_tag_size_decode() {
        for n in [
            0, 1, 59, 60, 61, 255, 256, 257, 65_535, 65_536, 65_537, 300_000,
        ] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
            let (plain, block) = both(&[(&bytes, None)]);
            assert_eq!(decode(&block), plain, "{n}");
        }
    }

    #[test]
    fn copies_near_far_short_long_and_overlapping_decode() {
        let base: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        for (back, len) in [
            (1, 1),
            (100, 100),
            (4, 4),
            (2047, 11),
            (2048, 11),
            (2047, 12),
            (100, 64),
            (100, 65),
            (200, 200),
            (65_535, 70),
            (500, 3),
        ] {
            let (plain, block) = both(&[(&base, Some((back, len))), (b"tail", None)]);
            assert_eq!(decode(&block), plain, "{back} {len}");
        }
    }

    #[test]
    #[should_panic(expected = "out of reach")]
    fn a_copy_out_of_reach_is_a_panic_never_a_body() {
        let mut block = Block::default();
        block.literal(&vec![7u8; MAX_OFFSET + 1]);
        block.copy(0, 4);
    }

    #[test]
    fn repeat_copies_only_what_is_in_reach_and_worth_it() {
        let mut block = Block::default();
        block.literal(b"abcdefgh");
        block.repeat(Some(0), b"abcd"); // a copy
        block.repeat(Some(4), b"efg"); // 3 bytes: a literal
        block.repeat(None, b"xyzw");
        let far = vec![1u8; MAX_OFFSET];
        block.literal(&far);
        block.repeat(Some(0), b"abcd"); // out of reach: a literal
        let mut plain = b"abcdefghabcdefgxyzw".to_vec();
        plain.extend_from_slice(&far);
        plain.extend_from_slice(b"abcd");
        let block = block.finish();
        assert_eq!(decode(&block), plain);
        // One copy element among literals: the block is the literals' bytes and tags, plus 2 for the copy.
        assert!(block.len() < plain.len() - 4 + 16, "{}", block.len());
    }

    #[test]
    fn a_block_is_reused_after_finish_and_clear() {
        let mut block = Block::default();
        block.literal(b"abcdabcd");
        block.copy(0, 8);
        assert_eq!(decode(&block.finish()), b"abcdabcdabcdabcd");
        block.literal(b"x");
        block.clear();
        block.literal(b"yz");
        assert_eq!(decode(&block.finish()), b"yz");
        assert_eq!(decode(&block.finish()), b"");
    }
}
