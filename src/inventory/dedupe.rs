//! Duplicate device names found in bounded memory: `(name hash, line)` pairs are sorted in runs of at most
//! `RUN_ENTRIES` (16 bytes each), runs beyond the first are spilled to temporary files, and a k-way merge finds
//! equal hashes. Peak memory is one run (16 MiB) whatever the inventory's size; a 10-million-row inventory costs
//! 160 MB of temporary disk instead of memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

/// Pairs per sorted run.
pub const RUN_ENTRIES: usize = 1 << 20;

/// Collects `(hash, line)` pairs and reports the lines whose hash came before.
pub struct DuplicateFinder {
    run: Vec<(u64, u64)>,
    spilled: Vec<File>,
    run_entries: usize,
}

impl Default for DuplicateFinder {
    fn default() -> Self {
        Self::with_run_entries(RUN_ENTRIES)
    }
}

impl DuplicateFinder {
    /// A finder that spills every `run_entries` pairs (tests use small runs).
    pub fn with_run_entries(run_entries: usize) -> Self {
        DuplicateFinder {
            run: Vec::new(),
            spilled: Vec::new(),
            run_entries: run_entries.max(1),
        }
    }

    pub fn add(&mut self, hash: u64, line: u64) -> io::Result<()> {
        self.run.push((hash, line));
        if self.run.len() >= self.run_entries {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        sort_pairs(&mut self.run);
        let file = tempfile::tempfile()?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        for (hash, line) in self.run.drain(..) {
            w.write_all(&hash.to_le_bytes())?;
            w.write_all(&line.to_le_bytes())?;
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.spilled.push(file);
        Ok(())
    }

    /// `(duplicate line, first line with the same name)`, in line order.
    pub fn finish(mut self) -> io::Result<Vec<(u64, u64)>> {
        sort_pairs(&mut self.run);
        let mut grouping = Grouping::default();
        if self.spilled.is_empty() {
            // One run, in memory and sorted: no merge needed.
            for &(hash, line) in &self.run {
                grouping.visit(hash, line);
            }
            return Ok(grouping.finish());
        }
        let mut sources: Vec<Run> = Vec::new();
        for file in self.spilled.drain(..) {
            sources.push(Box::new(RunReader(BufReader::with_capacity(1 << 16, file))));
        }
        sources.push(Box::new(std::mem::take(&mut self.run).into_iter().map(Ok)));
        let mut heap = BinaryHeap::new();
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some(pair) = source.next() {
                heap.push(Reverse((pair?, i)));
            }
        }
        while let Some(Reverse(((hash, line), i))) = heap.pop() {
            grouping.visit(hash, line);
            if let Some(pair) = sources[i].next() {
                heap.push(Reverse((pair?, i)));
            }
        }
        Ok(grouping.finish())
    }
}

/// Walks `(hash, line)` pairs in sorted order: the first line of each hash is the first occurrence of its name,
/// the others are its duplicates.
#[derive(Default)]
struct Grouping {
    current: Option<(u64, u64)>,
    duplicates: Vec<(u64, u64)>,
}

impl Grouping {
    fn visit(&mut self, hash: u64, line: u64) {
        match self.current {
            Some((h, first)) if h == hash => self.duplicates.push((line, first)),
            _ => self.current = Some((hash, line)),
        }
    }
    fn finish(mut self) -> Vec<(u64, u64)> {
        self.duplicates.sort_unstable();
        self.duplicates
    }
}

/// Sorts `(hash, line)` pairs as `sort_unstable` would, comparing hashes only and then the lines of equal hashes
/// (rare): a quarter fewer instructions than comparing pairs. (An LSD radix sort counted about the same and needs a
/// scratch copy of the run, 16 MiB more memory.)
fn sort_pairs(pairs: &mut [(u64, u64)]) {
    pairs.sort_unstable_by_key(|&(hash, _)| hash);
    for group in pairs.chunk_by_mut(|a, b| a.0 == b.0) {
        if group.len() > 1 {
            group.sort_unstable();
        }
    }
}

/// A sorted run being merged: spilled (read back from its file) or the last one, in memory.
type Run = Box<dyn Iterator<Item = io::Result<(u64, u64)>>>;

/// Reads back a spilled run.
struct RunReader(BufReader<File>);

impl Iterator for RunReader {
    type Item = io::Result<(u64, u64)>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = [0u8; 16];
        match self.0.read_exact(&mut buf) {
            Ok(()) => {
                let hash = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
                let line = u64::from_le_bytes(buf[8..].try_into().expect("8 bytes"));
                Some(Ok((hash, line)))
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(pairs: &[(u64, u64)], run: usize) -> Vec<(u64, u64)> {
        let mut f = DuplicateFinder::with_run_entries(run);
        for (h, l) in pairs {
            f.add(*h, *l).unwrap();
        }
        f.finish().unwrap()
    }

    #[test]
    fn finds_duplicates_in_memory_and_across_spilled_runs() {
        let pairs: Vec<(u64, u64)> = (1..=1000u64).map(|l| (l % 300, l)).collect();
        let in_memory = find(&pairs, 1 << 20);
        let spilled = find(&pairs, 7);
        assert_eq!(in_memory, spilled);
        assert_eq!(in_memory.len(), 700);
        assert_eq!(in_memory[0], (301, 1));
        assert!(in_memory
            .iter()
            .all(|(dup, first)| dup > first && dup % 300 == first % 300));
    }

    #[test]
    fn pairs_sort_like_sort_unstable() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [0, 1, 2, 255, 256, 1000, 70_000] {
            // Full-width hashes, hashes sharing digits, repeats, and lines in any order.
            let mut pairs: Vec<(u64, u64)> = (0..n)
                .map(|i| match i % 4 {
                    0 => (next(), next() % 1000),
                    1 => (next() & 0xff00, i),
                    2 => (next() % 5, next() % 7),
                    _ => (u64::MAX - (next() % 3), i),
                })
                .collect();
            let mut expected = pairs.clone();
            expected.sort_unstable();
            sort_pairs(&mut pairs);
            assert_eq!(pairs, expected, "{n} pairs");
        }
    }

    #[test]
    fn no_duplicates_no_reports() {
        assert!(find(&[(1, 1), (2, 2), (3, 3)], 2).is_empty());
        assert!(find(&[], 2).is_empty());
    }
}
