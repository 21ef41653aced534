//! Inventory: a streaming reader of `ip,name` rows with line-numbered errors.
//!
//! Accepted: an optional `ip,name` header, blank lines and `#` comments, surrounding whitespace, CRLF, a UTF-8 BOM
//! and extra columns (ignored). Each bad row is reported with its line and the reader goes on, so `validate` can
//! list every problem. Duplicate names are found through a map of 64-bit name hashes to first lines (8 + 8 bytes a
//! device, never the names themselves).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::model::stable_hash;

/// One valid inventory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub line: u64,
    pub ip: IpAddr,
    pub name: String,
}

/// Devices read in one go, their names in one string: handed from the reader thread to the supervisor as one
/// allocation (freeing many small strings on another thread than the one that made them is slow).
#[derive(Debug, Default)]
pub struct DeviceChunk {
    names: String,
    entries: Vec<(u64, IpAddr, u32)>,
}

impl DeviceChunk {
    pub fn with_capacity(devices: usize) -> Self {
        DeviceChunk {
            names: String::with_capacity(devices * 16),
            entries: Vec::with_capacity(devices),
        }
    }
    pub fn push(&mut self, device: &Device) {
        self.names.push_str(&device.name);
        let end = u32::try_from(self.names.len()).expect("a chunk's names are far below 4 GiB");
        self.entries.push((device.line, device.ip, end));
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The devices, as owned values made on the caller's thread.
    pub fn devices(&self) -> impl Iterator<Item = Device> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(line, ip, end)| {
            let name = self.names[start..end as usize].to_string();
            start = end as usize;
            Device { line, ip, name }
        })
    }
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    MissingField(&'static str),
    BadAddress(String),
    EmptyName,
    DuplicateName { first_line: u64 },
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

/// Hasher of keys that are already stable hashes (well mixed): passes them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Name hash → first line, for the duplicate check.
type SeenNames = HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

/// Streams the rows of an inventory; `next()` yields a device, a bad row, or a fatal read error.
///
/// Lines are read one at a time (so line numbers are exact whatever blank or comment lines come between); a line
/// with a `"` is split by the csv crate (quoted fields, `""` escapes), any other at its commas.
pub struct InventoryReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
    seen: Option<SeenNames>,
    first_row: bool,
    failed: bool,
}

/// Longest line read; a longer one is an error for that line (a binary file cannot exhaust memory).
pub const MAX_LINE_BYTES: usize = 4096;

/// Consumes the rest of an over-long line.
fn skip_line(input: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                input.consume(n);
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
        let mut fields = line.splitn(3, |b| *b == b',');
        let ip = fields.next().unwrap_or(b"").trim_ascii();
        let name = fields.next();
        let count = 1 + usize::from(name.is_some()) + usize::from(fields.next().is_some());
        return Ok((
            Cow::Borrowed(ip),
            Cow::Borrowed(name.unwrap_or(b"").trim_ascii()),
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

impl InventoryReader {
    /// Opens `path` for streaming.
    pub fn open(path: &Path) -> Result<Self, InventoryError> {
        let file = File::open(path).map_err(|source| InventoryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_reader(
            path,
            Box::new(io::BufReader::with_capacity(1 << 16, file)),
        ))
    }

    /// Reads rows from any buffered reader; `path` names it in errors.
    pub fn from_reader(path: &Path, input: Box<dyn BufRead + Send>) -> Self {
        InventoryReader {
            path: path.to_path_buf(),
            input,
            buf: Vec::with_capacity(256),
            line: 0,
            seen: Some(SeenNames::default()),
            first_row: true,
            failed: false,
        }
    }

    /// Skips the duplicate-name check (and its 16 bytes per device) when a full check already ran.
    pub fn without_duplicate_check(mut self) -> Self {
        self.seen = None;
        self
    }

    fn invalid(&self, problem: RowProblem) -> Row {
        Row::Invalid(RowError {
            path: self.path.clone(),
            line: self.line,
            problem,
        })
    }

    /// The row of the line in `buf`, or `None` for a blank, comment or header line.
    fn parse_line(&mut self) -> Option<Row> {
        let mut text: &[u8] = &self.buf;
        if self.line == 1 {
            text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        }
        let text = text.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") {
            return None;
        }
        let (ip_raw, name_raw, field_count) = match split_fields(text) {
            Ok(f) => f,
            Err(_) if std::str::from_utf8(text).is_err() => {
                return Some(self.invalid(RowProblem::NotUtf8))
            }
            Err(e) => return Some(self.invalid(RowProblem::Malformed(e))),
        };
        let first = std::mem::replace(&mut self.first_row, false);
        if first && ip_raw.eq_ignore_ascii_case(b"ip") && name_raw.eq_ignore_ascii_case(b"name") {
            return None;
        }
        let (Ok(ip_text), Ok(name)) =
            (std::str::from_utf8(&ip_raw), std::str::from_utf8(&name_raw))
        else {
            return Some(self.invalid(RowProblem::NotUtf8));
        };
        if ip_text.is_empty() {
            return Some(self.invalid(RowProblem::MissingField("ip")));
        }
        if field_count < 2 {
            return Some(self.invalid(RowProblem::MissingField("name")));
        }
        let Ok(ip) = ip_text.parse::<IpAddr>() else {
            let shown: String = ip_text.chars().take(64).collect();
            return Some(self.invalid(RowProblem::BadAddress(shown)));
        };
        if name.is_empty() {
            return Some(self.invalid(RowProblem::EmptyName));
        }
        if let Some(seen) = &mut self.seen {
            match seen.entry(stable_hash(name)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    let first_line = *first.get();
                    return Some(self.invalid(RowProblem::DuplicateName { first_line }));
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(self.line);
                }
            }
        }
        Some(Row::Device(Device {
            line: self.line,
            ip,
            name: name.to_string(),
        }))
    }
}

impl Iterator for InventoryReader {
    type Item = Result<Row, InventoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            self.buf.clear();
            match io::Read::take(&mut self.input, MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(0) => return None,
                Ok(_) => {
                    self.line += 1;
                    if self.buf.len() > MAX_LINE_BYTES && !self.buf.ends_with(b"\n") {
                        if let Err(e) = skip_line(&mut self.input) {
                            self.failed = true;
                            return Some(Err(InventoryError::Read {
                                path: self.path.clone(),
                                line: self.line,
                                message: e.to_string(),
                            }));
                        }
                        return Some(Ok(self.invalid(RowProblem::TooLong)));
                    }
                    if let Some(row) = self.parse_line() {
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

/// What a full pass over an inventory found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InventoryCheck {
    pub devices: u64,
    pub problems: u64,
}

/// Reads the whole inventory, handing every bad row to `on_problem` as it is found (nothing is kept, so a huge
/// file of garbage costs no memory). Used by `validate` and by `on_invalid = "fail"`.
pub fn check(
    path: &Path,
    mut on_problem: impl FnMut(&RowError),
) -> Result<InventoryCheck, InventoryError> {
    let mut out = InventoryCheck::default();
    for row in InventoryReader::open(path)? {
        match row? {
            Row::Device(_) => out.devices += 1,
            Row::Invalid(e) => {
                out.problems += 1;
                on_problem(&e);
            }
        }
    }
    Ok(out)
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
        let text = b"127.0.0.1,a\n127.0.0.300,b\n127.0.0.2\n127.0.0.3,\n127.0.0.4,a\n,x\n\xff\xfe,c\n127.0.0.5,d\n";
        let rows = read(text);
        assert_eq!(devices(&rows), [(1, "a".into()), (8, "d".into())]);
        assert_eq!(
            problems(&rows),
            [
                (2, RowProblem::BadAddress("127.0.0.300".into())),
                (3, RowProblem::MissingField("name")),
                (4, RowProblem::EmptyName),
                (5, RowProblem::DuplicateName { first_line: 1 }),
                (6, RowProblem::MissingField("ip")),
                (7, RowProblem::NotUtf8),
            ]
        );
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
        let mut chunk = DeviceChunk::with_capacity(3);
        for r in &rows {
            if let Row::Device(d) = r {
                chunk.push(d);
            }
        }
        let back: Vec<Device> = chunk.devices().collect();
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
