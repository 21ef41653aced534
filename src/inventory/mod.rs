//! Inventory: a streaming reader of `ip,name` rows with line-numbered errors.
//!
//! Accepted: an optional `ip,name` header, blank lines and `#` comments, surrounding whitespace, CRLF, a UTF-8 BOM
//! and extra columns (ignored). Each bad row is reported with its line and the reader goes on, so `validate` can
//! list every problem. Duplicate names are a property of the whole file: `check` finds them in bounded memory
//! (`dedupe.rs`); the streaming reader does not.

pub mod dedupe;
pub mod kept;

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::inventory::dedupe::DuplicateFinder;
use crate::inventory::kept::{PreparedRows, PreparedWriter};
use crate::model::stable_hash_bytes;

/// One valid inventory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub line: u64,
    pub ip: IpAddr,
    pub name: String,
}

/// A device borrowed from a `DeviceChunk`, with the stable hash of its name (made once, by the reader thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    pub line: u64,
    pub ip: IpAddr,
    pub name: &'a str,
    pub hash: u64,
}

impl DeviceRef<'_> {
    pub fn to_device(self) -> Device {
        Device {
            line: self.line,
            ip: self.ip,
            name: self.name.to_string(),
        }
    }
}

/// Devices read in one go, their names in one string: handed from the reader thread to the supervisor as one
/// allocation (freeing many small strings on another thread than the one that made them is slow). Made by a
/// [`ChunkBuilder`].
#[derive(Debug, Default)]
pub struct DeviceChunk {
    names: String,
    /// `(line, address, end of the name in names, the name's stable_hash)`.
    entries: Vec<(u64, IpAddr, u32, u64)>,
}

/// A [`DeviceChunk`] being filled: names as the reader hands them, checked to be UTF-8 once for the whole chunk.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    names: Vec<u8>,
    entries: Vec<(u64, IpAddr, u32, u64)>,
}

impl ChunkBuilder {
    pub fn with_capacity(devices: usize) -> Self {
        ChunkBuilder {
            names: Vec::with_capacity(devices * 16),
            entries: Vec::with_capacity(devices),
        }
    }
    /// Appends a device: its name (UTF-8, as the reader hands it) goes into the chunk's one buffer, beside the
    /// name's `stable_hash`.
    pub fn push_parts(&mut self, line: u64, ip: IpAddr, name: &[u8], hash: u64) {
        self.names.extend_from_slice(name);
        let end = u32::try_from(self.names.len()).expect("a chunk's names are far below 4 GiB");
        self.entries.push((line, ip, end, hash));
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The chunk, its names checked to be UTF-8 (at once for all: the reader checks each row's, so only a fault,
    /// such as a damaged temporary file, fails this); else the line of the first name that is not.
    pub fn finish(self) -> Result<DeviceChunk, u64> {
        match String::from_utf8(self.names) {
            Ok(names) => Ok(DeviceChunk {
                names,
                entries: self.entries,
            }),
            Err(e) => {
                let bad = e.utf8_error().valid_up_to();
                let entry = self
                    .entries
                    .iter()
                    .find(|&&(_, _, end, _)| end as usize > bad);
                Err(entry.map_or(0, |&(line, ..)| line))
            }
        }
    }
}

impl DeviceChunk {
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The devices, borrowed from the chunk (`to_device` makes an owned one where it must outlive it).
    pub fn devices(&self) -> impl Iterator<Item = DeviceRef<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(line, ip, end, hash)| {
            let name = &self.names[start..end as usize];
            start = end as usize;
            DeviceRef {
                line,
                ip,
                name,
                hash,
            }
        })
    }
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    MissingField(&'static str),
    BadAddress(String),
    EmptyName,
    /// A control character in the name (C0, DEL or C1: a corrupt or binary file).
    ControlCharacter(char),
    DuplicateName {
        first_line: u64,
    },
    NotUtf8,
    Malformed(String),
    TooLong,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::MissingField(field) => {
                write!(f, "missing field `{field}` (rows are ip,name)")
            }
            RowProblem::BadAddress(a) => {
                write!(f, "field `ip`: `{a}` is not an IPv4 or IPv6 address")
            }
            RowProblem::EmptyName => write!(f, "field `name` is empty"),
            RowProblem::ControlCharacter(c) => {
                write!(
                    f,
                    "field `name` holds the control character U+{:04X}",
                    u32::from(*c)
                )
            }
            RowProblem::DuplicateName { first_line } => {
                write!(f, "field `name`: the same name is on line {first_line}")
            }
            RowProblem::NotUtf8 => write!(f, "the row is not valid UTF-8"),
            RowProblem::Malformed(m) => write!(f, "malformed CSV: {m}"),
            RowProblem::TooLong => write!(f, "line longer than {MAX_LINE_BYTES} bytes"),
        }
    }
}

/// A bad row: file, line and problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {problem}", path.display())]
pub struct RowError {
    pub path: PathBuf,
    pub line: u64,
    pub problem: RowProblem,
}

/// The inventory could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("inventory {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("inventory {}: line {line}: {message}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// Streams the rows of an inventory; `next()` yields a device, a bad row, or a fatal read error.
///
/// The file is read in blocks and split into lines in place (so line numbers are exact whatever blank or comment
/// lines come between, and nothing is copied per line); a line with a `"` is split by the csv crate (quoted
/// fields, `""` escapes), any other at its commas.
pub struct InventoryReader {
    path: PathBuf,
    lines: Lines,
    line: u64,
    first_row: bool,
    failed: bool,
}

/// Longest line read; a longer one is an error for that line (a binary file cannot exhaust memory).
pub const MAX_LINE_BYTES: usize = 4096;

/// Bytes read from the file at a time (more than a line: a whole line always fits beside what is left).
const BLOCK_BYTES: usize = 64 << 10;

/// The lines of a byte stream, split in a block buffer.
struct Lines {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    /// Where the newlines of the unread bytes are, found for each block read at once (one vectorised search per
    /// block instead of one per line); `newlines[next..]` are still ahead.
    newlines: Vec<usize>,
    next: usize,
    eof: bool,
}

/// One line of input.
enum Line {
    /// `buf[start..end]`, without its `\n`.
    Text(usize, usize),
    /// Longer than `MAX_LINE_BYTES` (skipped to its end).
    TooLong,
}

impl Lines {
    fn new(input: Box<dyn Read + Send>, block: usize) -> Self {
        Lines {
            input,
            buf: vec![0; block.max(MAX_LINE_BYTES + 1)],
            pos: 0,
            end: 0,
            newlines: Vec::new(),
            next: 0,
            eof: false,
        }
    }

    /// The position of the next newline, if the unread bytes hold one.
    fn newline(&mut self) -> Option<usize> {
        let i = *self.newlines.get(self.next)?;
        self.next += 1;
        Some(i)
    }

    /// Reads more input after the unread bytes (moved to the front; they hold no newline); `false` at the end of
    /// the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    let new = self.end..self.end + n;
                    self.end += n;
                    self.newlines.clear();
                    self.next = 0;
                    let found = memchr::memchr_iter(b'\n', &self.buf[new.clone()]);
                    self.newlines.extend(found.map(|i| new.start + i));
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line, or `None` at the end of the input.
    fn next(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(i) = self.newline() {
                let start = std::mem::replace(&mut self.pos, i + 1);
                return Ok(Some(if i - start > MAX_LINE_BYTES {
                    Line::TooLong
                } else {
                    Line::Text(start, i)
                }));
            }
            if self.end - self.pos > MAX_LINE_BYTES {
                self.skip_line()?;
                return Ok(Some(Line::TooLong));
            }
            if !self.fill()? {
                // The last line, without a newline.
                if self.pos == self.end {
                    return Ok(None);
                }
                let start = std::mem::replace(&mut self.pos, self.end);
                return Ok(Some(Line::Text(start, self.end)));
            }
        }
    }

    /// Consumes the rest of an over-long line.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = self.newline() {
                self.pos = i + 1;
                return Ok(());
            }
            self.pos = self.end;
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}

/// One step of the reader.
#[derive(Debug)]
pub enum Row {
    Device(Device),
    Invalid(RowError),
}

/// `(ip field, name field, number of fields)`.
type SplitLine<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>, usize);

/// The first two fields of a line, trimmed and unquoted, and how many fields it has. A line without quotes is
/// split in place (no allocation); one with quotes goes through the csv crate.
fn split_fields(line: &[u8]) -> Result<SplitLine<'_>, String> {
    if !line.contains(&b'"') {
        let comma = |b: &u8| *b == b',';
        let (ip, rest) = match line.iter().position(comma) {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        let (name, more) = match rest {
            Some(rest) => match rest.iter().position(comma) {
                Some(j) => (&rest[..j], true),
                None => (rest, false),
            },
            None => (&b""[..], false),
        };
        let count = 1 + usize::from(rest.is_some()) + usize::from(more);
        return Ok((
            Cow::Borrowed(ip.trim_ascii()),
            Cow::Borrowed(name.trim_ascii()),
            count,
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(line);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(_) => Ok((
            Cow::Owned(record.get(0).unwrap_or(b"").to_vec()),
            Cow::Owned(record.get(1).unwrap_or(b"").to_vec()),
            record.len(),
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The common row, read in one pass: `a.b.c.d,name` (an optional `\r` at the end) with a dotted-quad address
/// (no leading zeros) and a name of printable ASCII without `"` or `,` and without a space at either end — what
/// the general path makes of it too, for a fifth of the instructions. `None` for any other line (the general path
/// then reads it: headers, comments, quotes, spaces, IPv6, bad rows).
fn plain_row(raw: &[u8]) -> Option<(IpAddr, &[u8])> {
    let (octets, end) = dotted_quad(raw)?;
    if raw.get(end) != Some(&b',') {
        return None;
    }
    let i = end + 1;
    let name = &raw[i..];
    let name = name.strip_suffix(b"\r").unwrap_or(name);
    let (&first, &last) = (name.first()?, name.last()?);
    let plain = |c: u8| (0x20..0x7f).contains(&c) && c != b'"' && c != b',';
    (first != b' ' && last != b' ' && name.iter().all(|&c| plain(c)))
        .then(|| (IpAddr::from(octets), name))
}

/// A dotted-quad IPv4 address at the start of `b` (1–3 digits an octet, no leading zero, at most 255), and where
/// it ends: at the first byte that cannot continue it (the caller decides whether that byte may follow). `None`
/// when `b` does not start with four such octets.
fn dotted_quad(b: &[u8]) -> Option<([u8; 4], usize)> {
    let (mut octets, mut k) = ([0u8; 4], 0);
    let (mut value, mut digits) = (0u32, 0);
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' if digits < 3 && !(digits == 1 && value == 0) => {
                value = value * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && k < 3 && value <= 255 => {
                octets[k] = value as u8;
                k += 1;
                (value, digits) = (0, 0);
            }
            _ => break,
        }
        i += 1;
    }
    if k != 3 || digits == 0 || value > 255 {
        return None;
    }
    octets[3] = value as u8;
    Some((octets, i))
}

/// Where a row is: its file and line, for its errors.
struct At<'a> {
    path: &'a Path,
    line: u64,
}

impl At<'_> {
    fn invalid(&self, problem: RowProblem) -> RowError {
        RowError {
            path: self.path.to_path_buf(),
            line: self.line,
            problem,
        }
    }
}

/// The row of one line — what `make` builds from a valid row's line, address and name (checked to be UTF-8), or
/// the problem — or `None` for a blank, comment or header line (`first_row` says whether a header may still come).
fn parse_line<T>(
    raw: &[u8],
    at: At<'_>,
    first_row: &mut bool,
    make: impl FnOnce(u64, IpAddr, &[u8]) -> T,
) -> Option<Result<T, RowError>> {
    if let Some((ip, name)) = plain_row(raw) {
        *first_row = false;
        return Some(Ok(make(at.line, ip, name)));
    }
    let mut text = raw;
    if at.line == 1 {
        text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    }
    let text = text.trim_ascii();
    if text.is_empty() || text.starts_with(b"#") {
        return None;
    }
    let (ip_raw, name_raw, field_count) = match split_fields(text) {
        Ok(f) => f,
        Err(_) if std::str::from_utf8(text).is_err() => {
            return Some(Err(at.invalid(RowProblem::NotUtf8)))
        }
        Err(e) => return Some(Err(at.invalid(RowProblem::Malformed(e)))),
    };
    let first = std::mem::replace(first_row, false);
    if first && ip_raw.eq_ignore_ascii_case(b"ip") && name_raw.eq_ignore_ascii_case(b"name") {
        return None;
    }
    // A printable ASCII field (the common case) is UTF-8 without a check; a printable name holds no control
    // character and is not blank once trimmed.
    let printable = name_raw.iter().all(|b| (0x20..0x7f).contains(b));
    let name = if printable {
        None
    } else {
        match std::str::from_utf8(&name_raw) {
            Ok(name) => Some(name),
            Err(_) => return Some(Err(at.invalid(RowProblem::NotUtf8))),
        }
    };
    if !ip_raw.is_ascii() && std::str::from_utf8(&ip_raw).is_err() {
        return Some(Err(at.invalid(RowProblem::NotUtf8)));
    }
    if ip_raw.is_empty() {
        return Some(Err(at.invalid(RowProblem::MissingField("ip"))));
    }
    if field_count < 2 {
        return Some(Err(at.invalid(RowProblem::MissingField("name"))));
    }
    let Some(ip) = parse_ip(&ip_raw) else {
        let shown: String = String::from_utf8_lossy(&ip_raw).chars().take(64).collect();
        return Some(Err(at.invalid(RowProblem::BadAddress(shown))));
    };
    let Some(name) = name else {
        return Some(if name_raw.is_empty() {
            Err(at.invalid(RowProblem::EmptyName))
        } else {
            Ok(make(at.line, ip, &name_raw))
        });
    };
    // Other names: ASCII ones are checked byte by byte; others by character (Unicode whitespace only is empty,
    // C1 controls are controls). Not empty: the empty name is printable.
    let ascii = name.is_ascii();
    if !ascii && name.trim().is_empty() {
        return Some(Err(at.invalid(RowProblem::EmptyName)));
    }
    let control = if ascii {
        name.bytes()
            .find(|&b| b < 0x20 || b == 0x7f)
            .map(char::from)
    } else {
        name.chars().find(|c| c.is_control())
    };
    if let Some(c) = control {
        return Some(Err(at.invalid(RowProblem::ControlCharacter(c))));
    }
    Some(Ok(make(at.line, ip, name.as_bytes())))
}

impl InventoryReader {
    /// Opens `path` for streaming.
    pub fn open(path: &Path) -> Result<Self, InventoryError> {
        let file = File::open(path).map_err(|source| InventoryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_reader(path, Box::new(file)))
    }

    /// Reads rows from any reader (it is read in blocks: no buffering needed); `path` names it in errors.
    pub fn from_reader(path: &Path, input: Box<dyn Read + Send>) -> Self {
        Self::with_block(path, input, BLOCK_BYTES)
    }

    /// A reader with blocks of `block` bytes (at least a line; tests use the smallest).
    fn with_block(path: &Path, input: Box<dyn Read + Send>, block: usize) -> Self {
        InventoryReader {
            path: path.to_path_buf(),
            lines: Lines::new(input, block),
            line: 0,
            first_row: true,
            failed: false,
        }
    }

    /// The next row, made by `make` from a valid row's line, address and name (borrowed, and checked to be UTF-8:
    /// a caller that only hashes or copies the name allocates and validates nothing per row); `None` at the end.
    pub fn next_with<T>(
        &mut self,
        mut make: impl FnMut(u64, IpAddr, &[u8]) -> T,
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
                    return Some(Ok(Err(at.invalid(RowProblem::TooLong))));
                }
                Ok(Some(Line::Text(start, end))) => {
                    self.line += 1;
                    let raw = &self.lines.buf[start..end];
                    if let Some(row) = parse_line(raw, at, &mut self.first_row, &mut make) {
                        return Some(Ok(row));
                    }
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

/// An address as `IpAddr::from_str` reads it: dotted-quad IPv4 without leading zeros directly (the inventory's
/// common case), anything else through the standard parser.
fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    match dotted_quad(b) {
        Some((octets, end)) if end == b.len() => Some(IpAddr::from(octets)),
        _ => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

impl Iterator for InventoryReader {
    type Item = Result<Row, InventoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_with(|line, ip, name| Device {
            line,
            ip,
            name: String::from_utf8(name.to_vec()).expect("the reader hands over UTF-8 names only"),
        })?;
        Some(row.map(|row| match row {
            Ok(device) => Row::Device(device),
            Err(e) => Row::Invalid(e),
        }))
    }
}

/// What a full pass over an inventory found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InventoryCheck {
    /// Valid rows whose name is not a repeat.
    pub devices: u64,
    /// Bad rows, duplicates included.
    pub problems: u64,
    /// `(line, first line with that name)` of every repeated name, in line order.
    pub duplicates: Vec<(u64, u64)>,
}

/// Reads the whole inventory, handing every bad row to `on_problem` (rows as they are found, then repeated
/// names). Nothing is kept per row but 16 bytes in the duplicate finder's bounded runs, so a huge file costs no
/// memory. Used by `validate`.
pub fn check(
    path: &Path,
    on_problem: impl FnMut(&RowError),
) -> Result<InventoryCheck, InventoryError> {
    check_rows(path, on_problem, None).map(|(check, _)| check)
}

/// [`check`], before a run: the valid rows are also written to a prepared file (`prepared.rs`) for the run to read
/// back, and handed over when every row parsed. `None` (the run then reads the CSV again) when a row is bad or
/// the file could not be written (a warning says why).
pub fn check_and_keep(
    path: &Path,
    on_problem: impl FnMut(&RowError),
) -> Result<(InventoryCheck, Option<PreparedRows>), InventoryError> {
    let mut writer = match PreparedWriter::new() {
        Ok(w) => Some(w),
        Err(e) => {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            None
        }
    };
    let (check, kept) = check_rows(path, on_problem, writer.as_mut())?;
    let clean = check.problems == check.duplicates.len() as u64;
    let rows = match writer.map(PreparedWriter::finish) {
        Some(Ok(rows)) if clean && kept => Some(rows),
        Some(Err(e)) => {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            None
        }
        _ => None,
    };
    Ok((check, rows))
}

/// [`check`], each valid row also pushed to `keep`; and whether every one was (a write error stops keeping).
fn check_rows(
    path: &Path,
    mut on_problem: impl FnMut(&RowError),
    mut keep: Option<&mut PreparedWriter>,
) -> Result<(InventoryCheck, bool), InventoryError> {
    let mut kept = keep.is_some();
    let mut out = InventoryCheck::default();
    let mut finder = DuplicateFinder::default();
    let io_error = |e: io::Error| InventoryError::Read {
        path: path.to_path_buf(),
        line: 0,
        message: format!("duplicate check: {e}"),
    };
    let mut reader = InventoryReader::open(path)?;
    let mut keep_error = None;
    while let Some(row) = reader.next_with(|line, ip, name| {
        if let Some(w) = keep.as_mut() {
            if let Err(e) = w.push(line, ip, name) {
                keep_error = Some(e);
            }
        }
        (line, stable_hash_bytes(name))
    }) {
        if let Some(e) = keep_error.take() {
            log::warn!(
                "[Inventory] cannot keep the checked rows ({e}); the run reads the file again"
            );
            (keep, kept) = (None, false);
        }
        match row? {
            Ok((line, hash)) => {
                out.devices += 1;
                finder.add(hash, line).map_err(io_error)?;
            }
            Err(e) => {
                out.problems += 1;
                on_problem(&e);
            }
        }
    }
    out.duplicates = finder.finish().map_err(io_error)?;
    for &(line, first_line) in &out.duplicates {
        on_problem(&RowError {
            path: path.to_path_buf(),
            line,
            problem: RowProblem::DuplicateName { first_line },
        });
    }
    out.devices -= out.duplicates.len() as u64;
    out.problems += out.duplicates.len() as u64;
    Ok((out, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Vec<Row> {
        let reader = InventoryReader::from_reader(
            Path::new("inv.csv"),
            Box::new(io::Cursor::new(text.to_vec())),
        );
        reader.map(|r| r.unwrap()).collect()
    }

    fn devices(rows: &[Row]) -> Vec<(u64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Device(d) => Some((d.line, d.name.clone())),
                Row::Invalid(_) => None,
            })
            .collect()
    }

    fn problems(rows: &[Row]) -> Vec<(u64, RowProblem)> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Invalid(e) => Some((e.line, e.problem.clone())),
                Row::Device(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_quick_address_parser_agrees_with_the_standard_one() {
        let mut texts: Vec<String> = (0..=300).map(|o| format!("127.{o}.0.1")).collect();
        texts.extend(
            [
                "0.0.0.0",
                "255.255.255.255",
                "256.1.1.1",
                "01.2.3.4",
                "1.2.3",
                "1.2.3.4.5",
                "1..2.3",
                "",
                ".",
                "1.2.3.4.",
                " 1.2.3.4",
                "1.2.3.-4",
                "1.2.3.4a",
                "::1",
                "fe80::1",
                "::ffff:127.0.0.1",
                "0000.1.1.1",
                "1.2.3.00",
                "1.2.3.0",
                "999.1.1.1",
                "1.2.3.04",
                "00.1.1.1",
                "0.0.0.00",
                "1234.1.1.1",
                "1.2.3.",
                "1.2.3.256",
                "127.10.0.255",
                "1.2.3.4:80",
                "0.10.100.200",
                "1.2.3.٣",
            ]
            .map(String::from),
        );
        for t in texts {
            assert_eq!(parse_ip(t.as_bytes()), t.parse::<IpAddr>().ok(), "{t:?}");
        }
    }

    #[test]
    fn reads_plain_rows_like_the_original() {
        let rows = read(b"127.0.0.1,Device-1\n127.0.0.2,Device-2\n");
        assert_eq!(
            devices(&rows),
            [(1, "Device-1".into()), (2, "Device-2".into())]
        );
    }

    #[test]
    fn tolerates_header_bom_crlf_blanks_comments_spaces_and_extra_columns() {
        let text = "\u{feff}ip,name\r\n\r\n# a comment\r\n  127.0.0.1 , a ,extra\r\n   # indented\r\n::1,b\r\n";
        let rows = read(text.as_bytes());
        assert_eq!(devices(&rows), [(4, "a".into()), (6, "b".into())]);
        assert!(problems(&rows).is_empty());
    }

    #[test]
    fn reports_each_bad_row_with_its_line() {
        let text = b"127.0.0.1,a\n127.0.0.300,b\n127.0.0.2\n127.0.0.3,\n127.0.0.4,a\n,x\n\xff\xfe,c\n127.0.0.5,d\n127.0.0.6,\x0b\n127.0.0.7,e\x00f\n127.0.0.8,\xc2\xa0\xe3\x80\x80\n127.0.0.9,x\xc2\x85\n127.0.0.10,caf\xc3\xa9\n";
        let rows = read(text);
        assert_eq!(
            devices(&rows),
            [
                (1, "a".into()),
                (5, "a".into()),
                (8, "d".into()),
                (13, "café".into())
            ]
        );
        assert_eq!(
            problems(&rows),
            [
                (2, RowProblem::BadAddress("127.0.0.300".into())),
                (3, RowProblem::MissingField("name")),
                (4, RowProblem::EmptyName),
                (6, RowProblem::MissingField("ip")),
                (7, RowProblem::NotUtf8),
                (9, RowProblem::ControlCharacter('\u{b}')),
                (10, RowProblem::ControlCharacter('\0')),
                (11, RowProblem::EmptyName),
                (12, RowProblem::ControlCharacter('\u{85}')),
            ]
        );
    }

    #[test]
    fn check_reports_repeated_names_with_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.csv");
        std::fs::write(
            &path,
            "127.0.0.1,a\n127.0.0.2,b\nbad\n127.0.0.3,a\n127.0.0.4,b\n127.0.0.5,a\n",
        )
        .unwrap();
        let mut seen = Vec::new();
        let c = check(&path, |e| seen.push((e.line, e.problem.clone()))).unwrap();
        assert_eq!(c.devices, 2);
        assert_eq!(c.problems, 4);
        assert_eq!(c.duplicates, [(4, 1), (5, 2), (6, 1)]);
        assert_eq!(seen[0], (3, RowProblem::MissingField("name")));
        assert_eq!(seen[1], (4, RowProblem::DuplicateName { first_line: 1 }));
    }

    /// A reader that hands out at most `step` bytes per read, as a pipe or a slow disk may.
    struct Trickle(io::Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    fn rows_with(text: &[u8], step: usize, block: usize) -> Vec<String> {
        let input = Trickle(io::Cursor::new(text.to_vec()), step);
        let mut reader = InventoryReader::with_block(Path::new("inv.csv"), Box::new(input), block);
        std::iter::from_fn(|| reader.next())
            .map(|r| format!("{:?}", r.unwrap()))
            .collect()
    }

    #[test]
    fn lines_are_the_same_whatever_the_reads_and_blocks() {
        let long = "x".repeat(MAX_LINE_BYTES + 7);
        let limit = format!("127.0.0.9,{}", "n".repeat(MAX_LINE_BYTES - 10));
        let text = format!(
            "\u{feff}ip,name\r\n127.0.0.1,a\r\n\n# c\n{long}\n127.0.0.2,\"b,\"\"q\"\"\"\n{limit}\n{limit}x\n{long}{long}\n127.0.0.3,c,extra\n::1,d"
        );
        let whole = rows_with(text.as_bytes(), usize::MAX, BLOCK_BYTES);
        assert_eq!(whole.len(), 8, "{whole:#?}");
        for (step, block) in [
            (1, 0),
            (3, 0),
            (4097, 0),
            (1000, MAX_LINE_BYTES + 2),
            (7, 5000),
        ] {
            assert_eq!(
                rows_with(text.as_bytes(), step, block),
                whole,
                "step {step}, block {block}"
            );
        }
        let rows = read(text.as_bytes());
        assert_eq!(
            problems(&rows),
            [
                (5, RowProblem::TooLong),
                (8, RowProblem::TooLong),
                (9, RowProblem::TooLong)
            ]
        );
        let names: Vec<_> = devices(&rows)
            .into_iter()
            .map(|(l, n)| (l, n.len()))
            .collect();
        assert_eq!(
            names,
            [(2, 1), (6, 5), (7, MAX_LINE_BYTES - 10), (10, 1), (11, 1)]
        );
    }

    #[test]
    fn an_overlong_last_line_without_newline_is_one_error() {
        let mut text = b"127.0.0.1,a\n".to_vec();
        text.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
        for step in [1, 100, usize::MAX] {
            let rows = rows_with(&text, step, 0);
            assert_eq!(rows.len(), 2);
            assert!(rows[1].contains("TooLong"), "{rows:?}");
        }
    }

    #[test]
    fn the_rows_kept_by_the_check_are_the_rows_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.csv");
        let text = "ip,name\n127.0.0.1,a\n# c\n::1, b \n127.0.0.3,\"c,d\"\n127.0.0.4,a\n";
        std::fs::write(&path, text).unwrap();
        let (c, rows) = check_and_keep(&path, |_| {}).unwrap();
        assert_eq!((c.devices, c.problems), (3, 1));
        let mut kept = Vec::new();
        let mut reader =
            crate::inventory::kept::PreparedReader::new(rows.expect("every row parsed"));
        while let Some(row) = reader.next_with(|line, ip, name| Device {
            line,
            ip,
            name: String::from_utf8(name.to_vec()).unwrap(),
        }) {
            kept.push(row.unwrap());
        }
        // Repeated names are kept too: the run skips them by line.
        let read: Vec<Device> = read(text.as_bytes())
            .into_iter()
            .map(|r| match r {
                Row::Device(d) => d,
                Row::Invalid(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(kept, read);

        std::fs::write(&path, "127.0.0.1,a\nbad\n").unwrap();
        let (c, rows) = check_and_keep(&path, |_| {}).unwrap();
        assert_eq!(c.problems, 1);
        assert!(rows.is_none(), "a bad row: the run reads the file itself");
    }

    #[test]
    fn an_overlong_line_is_one_error_and_reading_goes_on() {
        let mut text = vec![b'x'; MAX_LINE_BYTES * 3];
        text.extend_from_slice(b"\n127.0.0.1,a\n");
        let rows = read(&text);
        assert_eq!(problems(&rows), [(1, RowProblem::TooLong)]);
        assert_eq!(devices(&rows), [(2, "a".into())]);
    }

    #[test]
    fn a_chunk_gives_back_its_devices() {
        let rows = read(b"127.0.0.1,a\n::1,bb\n127.0.0.3,ccc\n");
        let mut chunk = ChunkBuilder::with_capacity(3);
        for r in &rows {
            if let Row::Device(d) = r {
                chunk.push_parts(d.line, d.ip, d.name.as_bytes(), d.line * 100);
            }
        }
        let chunk = chunk.finish().unwrap();
        let hashes: Vec<u64> = chunk.devices().map(|d| d.hash).collect();
        assert_eq!(hashes, [100, 200, 300]);
        let back: Vec<Device> = chunk.devices().map(DeviceRef::to_device).collect();
        let orig: Vec<Device> = rows
            .into_iter()
            .filter_map(|r| match r {
                Row::Device(d) => Some(d),
                Row::Invalid(_) => None,
            })
            .collect();
        assert_eq!(back, orig);
    }

    #[test]
    fn a_chunk_with_a_name_that_is_not_utf8_names_its_line() {
        let mut chunk = ChunkBuilder::with_capacity(3);
        let ip = IpAddr::from([127, 0, 0, 1]);
        chunk.push_parts(4, ip, b"ok", 0);
        chunk.push_parts(7, ip, b"bad\xff", 0);
        chunk.push_parts(9, ip, b"ok", 0);
        assert_eq!(chunk.finish().unwrap_err(), 7);
    }

    #[test]
    fn quoted_fields_are_unquoted() {
        let rows = read(b"127.0.0.1,\"Device, \"\"one\"\"\"\n");
        assert_eq!(devices(&rows), [(1, "Device, \"one\"".into())]);
    }

    #[test]
    fn header_is_only_skipped_on_the_first_row() {
        let rows = read(b"127.0.0.1,a\nip,name\n");
        assert_eq!(problems(&rows), [(2, RowProblem::BadAddress("ip".into()))]);
    }

    #[test]
    fn error_text_names_file_line_and_field() {
        let rows = read(b"nope,a\n");
        let Row::Invalid(e) = &rows[0] else {
            panic!("expected an invalid row")
        };
        assert_eq!(
            e.to_string(),
            "inv.csv:1: field `ip`: `nope` is not an IPv4 or IPv6 address"
        );
    }
}
