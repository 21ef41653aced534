//! Inventory: a streaming reader of `ip,name` rows with line-numbered errors.
//!
//! Accepted: an optional `ip,name` header, blank lines and `#` comments, surrounding whitespace, CRLF, a UTF-8 BOM
//! and extra columns (ignored). Each bad row is reported with its line and the reader goes on, so `validate` can
//! list every problem. Duplicate names are a property of the whole file: `check` finds them in bounded memory
//! (`dedupe.rs`); the streaming reader does not.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::dedupe::DuplicateFinder;
use crate::model::stable_hash;

/// One valid inventory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub line: u64,
    pub ip: IpAddr,
    pub name: String,
}

/// A device borrowed from a `DeviceChunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRef<'a> {
    pub line: u64,
    pub ip: IpAddr,
    pub name: &'a str,
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
    /// Appends a device: its name goes into the chunk's one string.
    pub fn push_parts(&mut self, line: u64, ip: IpAddr, name: &str) {
        self.names.push_str(name);
        let end = u32::try_from(self.names.len()).expect("a chunk's names are far below 4 GiB");
        self.entries.push((line, ip, end));
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The devices, borrowed from the chunk (`to_device` makes an owned one where it must outlive it).
    pub fn devices(&self) -> impl Iterator<Item = DeviceRef<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(line, ip, end)| {
            let name = &self.names[start..end as usize];
            start = end as usize;
            DeviceRef { line, ip, name }
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
/// Lines are read one at a time (so line numbers are exact whatever blank or comment lines come between); a line
/// with a `"` is split by the csv crate (quoted fields, `""` escapes), any other at its commas.
pub struct InventoryReader {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
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
            first_row: true,
            failed: false,
        }
    }

    fn invalid(&self, problem: RowProblem) -> RowError {
        RowError {
            path: self.path.clone(),
            line: self.line,
            problem,
        }
    }

    /// The row of the line in `buf` — what `make` builds from a valid row's line, address and name, or the
    /// problem — or `None` for a blank, comment or header line.
    fn parse_line<T>(
        &mut self,
        make: impl FnOnce(u64, IpAddr, &str) -> T,
    ) -> Option<Result<T, RowError>> {
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
                return Some(Err(self.invalid(RowProblem::NotUtf8)))
            }
            Err(e) => return Some(Err(self.invalid(RowProblem::Malformed(e)))),
        };
        let first = std::mem::replace(&mut self.first_row, false);
        if first && ip_raw.eq_ignore_ascii_case(b"ip") && name_raw.eq_ignore_ascii_case(b"name") {
            return None;
        }
        let (Ok(ip_text), Ok(name)) =
            (std::str::from_utf8(&ip_raw), std::str::from_utf8(&name_raw))
        else {
            return Some(Err(self.invalid(RowProblem::NotUtf8)));
        };
        if ip_text.is_empty() {
            return Some(Err(self.invalid(RowProblem::MissingField("ip"))));
        }
        if field_count < 2 {
            return Some(Err(self.invalid(RowProblem::MissingField("name"))));
        }
        let Some(ip) = parse_ip(ip_text) else {
            let shown: String = ip_text.chars().take(64).collect();
            return Some(Err(self.invalid(RowProblem::BadAddress(shown))));
        };
        // ASCII names (the common case) are checked byte by byte; others by character (Unicode whitespace
        // only is empty, C1 controls are controls).
        let ascii = name.is_ascii();
        if name.is_empty() || (!ascii && name.trim().is_empty()) {
            return Some(Err(self.invalid(RowProblem::EmptyName)));
        }
        let control = if ascii {
            name.bytes()
                .find(|&b| b < 0x20 || b == 0x7f)
                .map(char::from)
        } else {
            name.chars().find(|c| c.is_control())
        };
        if let Some(c) = control {
            return Some(Err(self.invalid(RowProblem::ControlCharacter(c))));
        }
        Some(Ok(make(self.line, ip, name)))
    }

    /// The next row, made by `make` from a valid row's line, address and name (borrowed: a caller that only
    /// hashes or copies the name allocates nothing per row); `None` at the end.
    pub fn next_with<T>(
        &mut self,
        mut make: impl FnMut(u64, IpAddr, &str) -> T,
    ) -> Option<Result<Result<T, RowError>, InventoryError>> {
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
                        return Some(Ok(Err(self.invalid(RowProblem::TooLong))));
                    }
                    if let Some(row) = self.parse_line(&mut make) {
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
fn parse_ip(text: &str) -> Option<IpAddr> {
    let b = text.as_bytes();
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return text.parse().ok();
            }
            i += 1;
        }
        let start = i;
        let mut value: u32 = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit() && i - start < 3) {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || value > 255 || (len > 1 && b[start] == b'0') {
            return text.parse().ok();
        }
        *octet = value as u8;
    }
    if i != b.len() {
        return text.parse().ok();
    }
    Some(IpAddr::from(octets))
}

impl Iterator for InventoryReader {
    type Item = Result<Row, InventoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_with(|line, ip, name| Device {
            line,
            ip,
            name: name.to_string(),
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
/// memory. Used by `validate` and before every `etl` run.
pub fn check(
    path: &Path,
    mut on_problem: impl FnMut(&RowError),
) -> Result<InventoryCheck, InventoryError> {
    let mut out = InventoryCheck::default();
    let mut finder = DuplicateFinder::default();
    let io_error = |e: io::Error| InventoryError::Read {
        path: path.to_path_buf(),
        line: 0,
        message: format!("duplicate check: {e}"),
    };
    let mut reader = InventoryReader::open(path)?;
    while let Some(row) = reader.next_with(|line, _, name| (line, stable_hash(name))) {
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
                "1.2.3.٣",
            ]
            .map(String::from),
        );
        for t in texts {
            assert_eq!(parse_ip(&t), t.parse::<IpAddr>().ok(), "{t:?}");
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
                chunk.push_parts(d.line, d.ip, &d.name);
            }
        }
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
