//! One line as a row: the fast path for the common `a.b.c.d,name` row (one pass), the general path (quoted
//! fields through the csv crate, IPv6, headers, comments), and the problems a row can have.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

use super::*;

/// One step of the reader.
#[derive(Debug)]
pub enum Row {
    Device(Device),
    Invalid(RowError),
}

/// `(ip field, name field, number of fields)`.
pub(super) type SplitLine<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>, usize);

/// The first two fields of a line, trimmed and unquoted, and how many fields it has. A line without quotes is
/// split in place (no allocation); one with quotes goes through the csv crate.
pub(super) fn split_fields(line: &[u8]) -> Result<SplitLine<'_>, String> {
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
    if unterminated_quote(line) {
        return Err("unterminated quoted field (a `\"` opens the field and none closes it)".into());
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

/// Whether a field of `line` opens a quote (its first byte but spaces is `"`) that no quote closes: the csv crate
/// would read the rest of the line into that field, so `127.0.0.4,"name` would pass as the name `name`.
pub(super) fn unterminated_quote(line: &[u8]) -> bool {
    let mut i = 0;
    loop {
        while matches!(line.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match line.get(i) {
                    None => return true,
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        match line
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == b','))
        {
            Some(j) => i += j + 1,
            None => return false,
        }
    }
}

/// The common row, read in one pass: `a.b.c.d,name` (an optional `\r` at the end) with a dotted-quad address
/// (no leading zeros) and a name of printable ASCII without `"` or `,` and without a space at either end — what
/// the general path makes of it too, for a fifth of the instructions. `None` for any other line (the general path
/// then reads it: headers, comments, quotes, spaces, IPv6, bad rows).
pub(super) fn plain_row(raw: &[u8]) -> Option<(IpAddr, &[u8])> {
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
pub(super) fn dotted_quad(b: &[u8]) -> Option<([u8; 4], usize)> {
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
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub(super) path: &'a Path,
    pub(super) line: u64,
}

impl At<'_> {
    pub(super) fn invalid(&self, problem: RowProblem) -> RowError {
        RowError {
            path: self.path.to_path_buf(),
            line: self.line,
            problem,
        }
    }
}

/// A valid row's address and name (checked to be UTF-8; borrowed from the line unless it was quoted).
pub(super) type Parts<'a> = (IpAddr, Cow<'a, [u8]>);

/// Where the optional columns are, as the header names them (`ip,name,credentials,port`: the two after `ip,name`
/// in any order, among other columns, which stay ignored). A file without a header, or whose header names
/// neither, has none: every row is reached the default way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Columns {
    pub(super) credentials: Option<usize>,
    pub(super) port: Option<usize>,
}

impl Columns {
    pub(super) fn any(self) -> bool {
        self.credentials.is_some() || self.port.is_some()
    }

    /// The columns a header line names (its fields trimmed and unquoted, compared without case).
    fn of_header(text: &[u8]) -> Columns {
        let mut columns = Columns::default();
        for (k, field) in all_fields(text).iter().enumerate().skip(2) {
            let field = field.trim_ascii();
            if field.eq_ignore_ascii_case(b"credentials") && columns.credentials.is_none() {
                columns.credentials = Some(k);
            } else if field.eq_ignore_ascii_case(b"port") && columns.port.is_none() {
                columns.port = Some(k);
            }
        }
        columns
    }

    /// A row's `Via` from its columns (empty or missing cells: the default); `sets` are the credential sets' names
    /// in order (`None`: not checked, the set numbered 0). `text` is the line without its BOM.
    pub(super) fn via(
        self,
        text: &[u8],
        sets: Option<&[String]>,
        at: At<'_>,
    ) -> Result<Via, RowError> {
        let fields = all_fields(text.trim_ascii());
        let cell = |k: Option<usize>| {
            k.and_then(|k| fields.get(k))
                .map(|f| f.trim_ascii())
                .filter(|f| !f.is_empty())
        };
        let mut via = Via::default();
        if let Some(name) = cell(self.credentials) {
            if let Some(sets) = sets {
                let found = sets.binary_search_by(|s| s.as_bytes().cmp(name)).ok();
                let shown = || String::from_utf8_lossy(name).chars().take(64).collect();
                let k = found.ok_or_else(|| at.invalid(RowProblem::UnknownCredentials(shown())))?;
                via.credentials = u16::try_from(k + 1)
                    .map_err(|_| at.invalid(RowProblem::UnknownCredentials(shown())))?;
            }
        }
        if let Some(port) = cell(self.port) {
            via.port = std::str::from_utf8(port)
                .ok()
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|&p| p != 0)
                .ok_or_else(|| {
                    let shown = String::from_utf8_lossy(port).chars().take(64).collect();
                    at.invalid(RowProblem::BadPort(shown))
                })?;
        }
        Ok(via)
    }
}

/// Every field of a line (quoted ones through the csv crate; a line that does not parse has only its first).
fn all_fields(text: &[u8]) -> Vec<Cow<'_, [u8]>> {
    if !text.contains(&b'"') {
        return text.split(|&b| b == b',').map(Cow::Borrowed).collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(_) => record.iter().map(|f| Cow::Owned(f.to_vec())).collect(),
        Err(_) => vec![Cow::Borrowed(text)],
    }
}

/// The row of one line — a valid row's address and name, or the problem — or `None` for a blank, comment or
/// header line (`first_row` says whether a header may still come; a header's optional columns go to `columns`).
pub(super) fn parse_line<'a>(
    raw: &'a [u8],
    at: At<'_>,
    first_row: &mut bool,
    columns: &mut Columns,
) -> Option<Result<Parts<'a>, RowError>> {
    if let Some((ip, name)) = plain_row(raw) {
        *first_row = false;
        return Some(Ok((ip, Cow::Borrowed(name))));
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
        *columns = Columns::of_header(text);
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
        let bracketed = ip_raw
            .strip_prefix(b"[")
            .and_then(|r| r.strip_suffix(b"]"))
            .and_then(|inner| std::str::from_utf8(inner).ok())
            .filter(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok());
        if let Some(inner) = bracketed {
            return Some(Err(
                at.invalid(RowProblem::BracketedAddress(inner.to_string()))
            ));
        }
        return Some(Err(at.invalid(RowProblem::BadAddress(shown))));
    };
    let Some(name) = name else {
        return Some(if name_raw.is_empty() {
            Err(at.invalid(RowProblem::EmptyName))
        } else {
            Ok((ip, name_raw))
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
    Some(Ok((ip, name_raw)))
}

/// The name of a line without quotes, read without parsing the rest: its second field, trimmed. `None` for a line
/// with a quote (only the full parse unquotes it), a blank or comment line, and a line with no name (no second
/// field, or an empty one). Where the full parse finds a row, this is its name, byte for byte. Another shard's
/// row costs this and a hash, so the line is scanned for commas and quotes 8 bytes at a time.
pub(super) fn quick_name(raw: &[u8]) -> Option<&[u8]> {
    let text = raw.trim_ascii_start();
    if text.first().is_none_or(|&b| b == b'#') {
        return None;
    }
    let (mut first, mut second) = (None, text.len());
    let words = text.chunks_exact(8);
    let tail = words.remainder().len();
    // The last bytes as a word padded with zeros (neither a comma nor a quote): the line's last 8 bytes shifted
    // down past those already read, or, for a line shorter than a word, its bytes one by one.
    let last = match text.len().checked_sub(8) {
        Some(at) if tail > 0 => {
            let word = u64::from_le_bytes(text[at..].try_into().expect("8 bytes"));
            word >> (8 * (8 - tail))
        }
        Some(_) => 0,
        None => text
            .iter()
            .rev()
            .fold(0u64, |word, &b| (word << 8) | u64::from(b)),
    };
    let words = words.map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
    for (k, word) in words.chain([last]).enumerate() {
        if bytes_equal(word, b'"') != 0 {
            return None;
        }
        let mut commas = bytes_equal(word, b',');
        while commas != 0 && second == text.len() {
            let at = k * 8 + (commas.trailing_zeros() / 8) as usize;
            match first {
                None => first = Some(at),
                Some(_) => second = at,
            }
            commas &= commas - 1;
        }
    }
    let name = text[first? + 1..second].trim_ascii();
    (!name.is_empty()).then_some(name)
}

/// The high bit of each byte of `word` that equals `byte`, and no other bit (exact: no carry crosses bytes).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (0x0101_0101_0101_0101 * u64::from(byte));
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The name a bad line gives, for the shard that reports it: its second field as the full parse splits it, or
/// `None` when it has none (no second field, an empty one, a quote that does not close, a line too long).
pub(super) fn bad_row_name(raw: &[u8]) -> Option<Vec<u8>> {
    match split_fields(raw.trim_ascii()) {
        Ok((_, name, _)) if !name.is_empty() => Some(name.into_owned()),
        _ => None,
    }
}

/// An address as `IpAddr::from_str` reads it: dotted-quad IPv4 without leading zeros directly (the inventory's
/// common case), anything else through the standard parser.
pub(super) fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    match dotted_quad(b) {
        Some((octets, end)) if end == b.len() => Some(IpAddr::from(octets)),
        _ => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}
