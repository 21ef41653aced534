//! The inventory's rows as the check before a run read them, kept in a compact binary temporary file so that the
//! run reads them back instead of parsing the CSV a second time (the second parse was ~15 % of the ETL's CPU).
//! The run also gets exactly the rows that were checked, even if the CSV file changes in between.
//!
//! Bad rows are kept too, in line order with the others, so that the run reports them as the CSV pass would: an
//! inventory that can be read only once (a pipe, a FIFO, `/dev/stdin`) is never read again.
//!
//! Format, per row: the line number as a LEB128 delta from the previous row's, `4` and 4 address bytes or `6` and
//! 16 (the tag's high bit set when the row's `Via` follows: its credential set and port as LEB128), the name's
//! length as LEB128, the name's bytes (UTF-8, as the reader checked it); a bad row: the line delta, `0`, its
//! message's length as LEB128 and the message (empty past the first ones: only they are logged). The file is
//! anonymous (`tempfile::tempfile`, in `TMPDIR`): about 20 bytes a row, gone when the run ends, even on a crash.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::net::IpAddr;

use super::Via;

/// Writes the rows of the check.
pub struct KeptWriter {
    out: BufWriter<File>,
    last_line: u64,
    rows: u64,
}

/// Rows written and ready to be read back (by one run).
#[derive(Debug)]
pub struct KeptRows {
    file: File,
    rows: u64,
}

/// Writes `v` as LEB128 at the start of `out`; the bytes written.
fn put_varint(out: &mut [u8], v: u64) -> usize {
    let (bytes, n) = crate::codec::varint(v);
    out[..n].copy_from_slice(&bytes[..n]);
    n
}

/// The longest row head: line delta and name length (10 bytes each at most), tag, an IPv6 address and a `Via`
/// (3 bytes a number).
const MAX_HEAD: usize = 10 + 1 + 16 + 3 + 3 + 10;
/// The tag's bit saying that a `Via` follows the address.
const VIA: u8 = 0x80;

impl KeptWriter {
    /// A writer into a new anonymous temporary file.
    pub fn new() -> io::Result<Self> {
        Ok(KeptWriter {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            last_line: 0,
            rows: 0,
        })
    }

    /// Appends a valid row; lines must grow.
    pub fn push(&mut self, line: u64, ip: IpAddr, name: &[u8], via: Via) -> io::Result<()> {
        debug_assert!(line > self.last_line, "rows come in line order");
        let mut head = [0u8; MAX_HEAD];
        let mut n = put_varint(&mut head, line - self.last_line);
        self.last_line = line;
        let tag = n;
        match ip {
            IpAddr::V4(v4) => {
                head[n] = 4;
                head[n + 1..n + 5].copy_from_slice(&v4.octets());
                n += 5;
            }
            IpAddr::V6(v6) => {
                head[n] = 6;
                head[n + 1..n + 17].copy_from_slice(&v6.octets());
                n += 17;
            }
        }
        if !via.is_default() {
            head[tag] |= VIA;
            n += put_varint(&mut head[n..], u64::from(via.credentials));
            n += put_varint(&mut head[n..], u64::from(via.port));
        }
        n += put_varint(&mut head[n..], name.len() as u64);
        self.out.write_all(&head[..n])?;
        self.out.write_all(name)?;
        self.rows += 1;
        Ok(())
    }

    /// Appends a bad row with its message (cut to a line's length); lines must grow.
    pub fn push_bad(&mut self, line: u64, message: &str) -> io::Result<()> {
        debug_assert!(line > self.last_line, "rows come in line order");
        let mut cut = message.len().min(crate::inventory::MAX_LINE_BYTES);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let message = &message.as_bytes()[..cut];
        let mut head = [0u8; MAX_HEAD];
        let mut n = put_varint(&mut head, line - self.last_line);
        self.last_line = line;
        head[n] = 0;
        n += 1;
        n += put_varint(&mut head[n..], message.len() as u64);
        self.out.write_all(&head[..n])?;
        self.out.write_all(message)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes the rows and rewinds the file for reading.
    pub fn finish(self) -> io::Result<KeptRows> {
        let rows = self.rows;
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(KeptRows { file, rows })
    }
}

impl KeptRows {
    /// How many rows there are, bad rows included.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// Reads kept rows back, in the order they were written, from a block buffer (no copy per row).
pub struct KeptReader {
    file: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    left: u64,
    line: u64,
}

/// A file of kept rows that does not hold what was written (it is this process's own file: a bug or a disk fault).
fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("kept inventory rows: {what}"),
    )
}

impl KeptReader {
    pub fn new(rows: KeptRows) -> Self {
        KeptReader {
            file: rows.file,
            buf: vec![0; 1 << 16],
            pos: 0,
            end: 0,
            left: rows.rows,
            line: 0,
        }
    }

    /// The line of the last row read.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads until `n` bytes are unread (fewer only at the end of the file).
    fn fill(&mut self, n: usize) -> io::Result<()> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn byte(&mut self) -> io::Result<u8> {
        let b = *self.buf[..self.end]
            .get(self.pos)
            .ok_or_else(|| corrupt("the file ends inside a row"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("a number runs past 64 bits"))
    }

    fn bytes<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let b: [u8; N] = self.buf[..self.end]
            .get(self.pos..self.pos + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt("the file ends inside a row"))?;
        self.pos += N;
        Ok(b)
    }

    /// The next row, made by `make` from its line, address and name (UTF-8), or a bad row's message (empty past
    /// the first ones); `None` after the last one.
    pub fn next_with<T>(
        &mut self,
        make: impl FnOnce(u64, IpAddr, &[u8], Via) -> T,
    ) -> Option<io::Result<Result<T, String>>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let row = self.read_row();
        if row.is_err() {
            self.left = 0; // no row after a broken one
        }
        Some(row.map(|(line, ip, text, via)| match ip {
            Some(ip) => Ok(make(line, ip, &self.buf[text], via)),
            None => Err(String::from_utf8_lossy(&self.buf[text]).into_owned()),
        }))
    }

    /// The next row's line, address (`None`: a bad row), where its name (or message) is in `buf`, and how it is
    /// reached.
    fn read_row(&mut self) -> io::Result<(u64, Option<IpAddr>, std::ops::Range<usize>, Via)> {
        self.fill(MAX_HEAD)?;
        self.line += self.varint()?;
        let tag = self.byte()?;
        let ip = match tag & !VIA {
            0 if tag == 0 => None,
            4 => Some(IpAddr::from(self.bytes::<4>()?)),
            6 => Some(IpAddr::from(self.bytes::<16>()?)),
            _ => return Err(corrupt("unknown address tag")),
        };
        let mut via = Via::default();
        if tag & VIA != 0 {
            let number = |v: u64| {
                u16::try_from(v).map_err(|_| corrupt("a credential set or port past 65535"))
            };
            via.credentials = number(self.varint()?)?;
            via.port = number(self.varint()?)?;
        }
        let len = usize::try_from(self.varint()?)
            .ok()
            .filter(|&n| n <= crate::inventory::MAX_LINE_BYTES)
            .ok_or_else(|| corrupt("a name longer than a line"))?;
        self.fill(len)?;
        if self.end - self.pos < len {
            return Err(corrupt("the file ends inside a row"));
        }
        let name = self.pos..self.pos + len;
        self.pos += len;
        Ok((self.line, ip, name, via))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_written() {
        let via = |credentials, port| Via { credentials, port };
        let mut rows: Vec<(u64, IpAddr, Vec<u8>, Via)> = vec![
            (1, "127.0.0.1".parse().unwrap(), b"a".to_vec(), via(0, 0)),
            (
                2,
                "::1".parse().unwrap(),
                "café".as_bytes().to_vec(),
                via(3, 0),
            ),
            (
                300,
                "127.255.0.9".parse().unwrap(),
                vec![b'n'; 4096],
                via(65535, 65535),
            ),
        ];
        // Enough rows, long and short, for many blocks and rows across their ends.
        let mut line = 300;
        for i in 0..20_000u64 {
            line += 1 + i % 3 * 200;
            let ip = if i % 7 == 0 { "::2" } else { "127.1.2.3" };
            let len = if i % 1000 == 999 {
                4096
            } else {
                (i % 40) as usize
            };
            let v = if i % 5 == 0 {
                via(i as u16 % 7, 161 + i as u16)
            } else {
                via(0, 0)
            };
            rows.push((
                line,
                ip.parse().unwrap(),
                vec![b'a' + (i % 26) as u8; len],
                v,
            ));
        }
        rows.push((
            1 << 40,
            "fe80::1".parse().unwrap(),
            b"last".to_vec(),
            via(1, 0),
        ));
        let mut w = KeptWriter::new().unwrap();
        let mut written = Vec::new();
        for (i, (line, ip, name, v)) in rows.iter().enumerate() {
            // A bad row now and then, on the line before (when free), with a message or none.
            if i % 5 == 1 && *line > rows[i - 1].0 + 1 {
                let message = if i % 10 == 1 { "bad row ü" } else { "" };
                w.push_bad(line - 1, message).unwrap();
                written.push(Err((line - 1, message.to_string())));
            }
            w.push(*line, *ip, name, *v).unwrap();
            written.push(Ok((*line, *ip, name.clone(), *v)));
        }
        let kept = w.finish().unwrap();
        assert_eq!(kept.rows(), written.len() as u64);
        let mut r = KeptReader::new(kept);
        let mut back = Vec::new();
        while let Some(row) = r.next_with(|line, ip, name, v| (line, ip, name.to_vec(), v)) {
            back.push(row.unwrap().map_err(|m| (r.line(), m)));
        }
        assert!(back.iter().any(|r| r.is_err()));
        assert_eq!(back, written);
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_row() {
        let mut w = KeptWriter::new().unwrap();
        w.push(1, "127.0.0.1".parse().unwrap(), b"abc", Via::default())
            .unwrap();
        let kept = w.finish().unwrap();
        kept.file.set_len(5).unwrap();
        let mut r = KeptReader::new(kept);
        assert!(r.next_with(|_, _, _, _| ()).unwrap().is_err());
        assert!(r.next_with(|_, _, _, _| ()).is_none());
    }
}
