//! `InventoryReader`: streams the rows of an inventory file, each a device, a bad row or a fatal read error.

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::Shard;
use crate::model::{stable_hash_bytes, ShardIndexer};

/// Streams the rows of an inventory; `next()` yields a device, a bad row, or a fatal read error.
///
/// The file is read in blocks and split into lines in place (so line numbers are exact whatever blank or comment
/// lines come between, and nothing is copied per line); a line with a `"` is split by the csv crate (quoted
/// fields, `""` escapes), any other at its commas.
///
/// With a shard ([`InventoryReader::with_shard`]) it yields only the rows of that shard and counts the others: a
/// row belongs to the shard of its name's stable hash, valid or not, so every row, bad rows included, is reported
/// by exactly one shard; a bad row without a name (no second field, an empty one, an unclosed quote, a line too
/// long) by shard 0. A line without quotes whose name is another shard's costs a hash and nothing more: its
/// address is not parsed.
pub struct InventoryReader {
    path: PathBuf,
    lines: Lines,
    line: u64,
    first_row: bool,
    failed: bool,
    shard: Option<(Shard, ShardIndexer)>,
    other_shard: u64,
    /// The optional columns the header names.
    columns: Columns,
    /// The credential sets' names, sorted (`None`: the `credentials` column is not checked).
    sets: Option<Vec<String>>,
    /// The header line as written, when it names an optional column (a split copies it into every file).
    header: Option<Vec<u8>>,
}

/// Whether a row named `name` is in `shard`.
fn in_shard(name: &[u8], (shard, indexer): (Shard, ShardIndexer)) -> bool {
    indexer.index(stable_hash_bytes(name)) == shard.index
}

impl InventoryReader {
    /// Opens `path` for streaming.
    pub fn open(path: &Path) -> Result<Self, InventoryError> {
        let file = File::open(path).map_err(|source| InventoryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // Said so, not as a read error of its line 1.
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(InventoryError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
            });
        }
        Ok(Self::from_reader(path, Box::new(file)))
    }

    /// Reads rows from any reader (it is read in blocks: no buffering needed); `path` names it in errors.
    pub fn from_reader(path: &Path, input: Box<dyn Read + Send>) -> Self {
        Self::with_block(path, input, BLOCK_BYTES)
    }

    /// A reader with blocks of `block` bytes (at least a line; tests use the smallest).
    pub(super) fn with_block(path: &Path, input: Box<dyn Read + Send>, block: usize) -> Self {
        InventoryReader {
            path: path.to_path_buf(),
            lines: Lines::new(input, block),
            line: 0,
            first_row: true,
            failed: false,
            shard: None,
            other_shard: 0,
            columns: Columns::default(),
            sets: None,
            header: None,
        }
    }

    /// Checks the `credentials` column against these set names (`extract.snmp.credentials`' keys, sorted) and
    /// numbers each row's set by its place among them (1 for the first). Without it the column is not checked (a
    /// split copies rows as written).
    pub fn with_credentials(mut self, sets: Vec<String>) -> Self {
        debug_assert!(
            sets.windows(2).all(|w| w[0] < w[1]),
            "sorted, without repeats"
        );
        self.sets = Some(sets);
        self
    }

    /// Yields only the rows of `shard` (all rows for `None`); see the type's doc.
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard
            .filter(|s| s.count > 1)
            .map(|s| (s, ShardIndexer::new(s.count)));
        self
    }

    /// The header line (without a BOM), once read, when it names the `credentials` or `port` column.
    pub fn columns_header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    /// Rows skipped so far as another shard's.
    pub fn other_shard(&self) -> u64 {
        self.other_shard
    }

    /// The next row, made by `make` from a valid row's line, address, name (borrowed, and checked to be UTF-8: a
    /// caller that only hashes or copies the name allocates and validates nothing per row) and how it is reached;
    /// `None` at the end.
    pub fn next_with<T>(
        &mut self,
        mut make: impl FnMut(u64, IpAddr, &[u8], Via) -> T,
    ) -> Option<Result<Result<T, RowError>, InventoryError>> {
        self.next_with_line(|line, ip, name, via, _| make(line, ip, name, via))
    }

    /// [`InventoryReader::next_with`], `make` also given the row's line as written (without a leading BOM and the
    /// newline): what `split-inventory` copies.
    pub fn next_with_line<T>(
        &mut self,
        mut make: impl FnMut(u64, IpAddr, &[u8], Via, &[u8]) -> T,
    ) -> Option<Result<Result<T, RowError>, InventoryError>> {
        if self.failed {
            return None;
        }
        loop {
            let next = self.lines.next();
            let at = At {
                path: &self.path,
                line: self.line + 1,
            };
            match next {
                Ok(None) => return None,
                Ok(Some(Line::TooLong)) => {
                    self.line += 1;
                    if self.shard.is_some_and(|(s, _)| s.index != 0) {
                        self.other_shard += 1;
                        continue;
                    }
                    return Some(Ok(Err(at.invalid(RowProblem::TooLong))));
                }
                Ok(Some(Line::Text(start, end))) => {
                    self.line += 1;
                    let raw = &self.lines.buf[start..end];
                    // The line as written, without the BOM a first line may start with.
                    let text = match self.line {
                        1 => raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw),
                        _ => raw,
                    };
                    // Another shard's row is known by its name alone (but the first, which may be a header).
                    let mut mine = self.shard.is_none();
                    if let Some(shard) = self.shard.filter(|_| !self.first_row) {
                        if let Some(name) = quick_name(raw) {
                            if !in_shard(name, shard) {
                                self.other_shard += 1;
                                continue;
                            }
                            mine = true;
                        }
                    }
                    let Some(parsed) = parse_line(raw, at, &mut self.first_row, &mut self.columns)
                    else {
                        if self.columns.any() && self.header.is_none() {
                            self.header = Some(text.to_vec());
                        }
                        continue; // a blank, comment or header line
                    };
                    let row = match parsed {
                        Ok((ip, name)) => {
                            if mine || self.shard.is_none_or(|s| in_shard(&name, s)) {
                                // The optional columns cost nothing unless the header names them.
                                let via = match self.columns.any() {
                                    false => Ok(Via::default()),
                                    true => self.columns.via(text, self.sets.as_deref(), at),
                                };
                                return Some(Ok(
                                    via.map(|via| make(self.line, ip, &name, via, text))
                                ));
                            }
                            self.other_shard += 1;
                            continue;
                        }
                        Err(e) => e,
                    };
                    let owner = |s: (Shard, ShardIndexer)| match bad_row_name(text) {
                        Some(name) => in_shard(&name, s),
                        None => s.0.index == 0,
                    };
                    if mine || self.shard.is_none_or(owner) {
                        return Some(Ok(Err(row)));
                    }
                    self.other_shard += 1;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(InventoryError::Read {
                        path: self.path.clone(),
                        line: self.line + 1,
                        message: e.to_string(),
                    }));
                }
            }
        }
    }
}

impl Iterator for InventoryReader {
    type Item = Result<Row, InventoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_with(|line, ip, name, via| Device {
            line,
            ip,
            name: String::from_utf8(name.to_vec()).expect("the reader hands over UTF-8 names only"),
            via,
        })?;
        Some(row.map(|row| match row {
            Ok(device) => Row::Device(device),
            Err(e) => Row::Invalid(e),
        }))
    }
}
