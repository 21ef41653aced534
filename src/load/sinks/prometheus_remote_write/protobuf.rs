//! Remote write 1.0's protobuf `WriteRequest`, written and read by hand (four messages, two wire types), so that
//! no code generator is needed:
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in milliseconds
//! ```
//!
//! `label_field` and `varint` are the pieces `request` writes a batch's series from (sharing what repeats);
//! `write_series` writes one series field by field, the tests' reference; the reader (the mock's, and the tests')
//! gives the series back and refuses anything that is not this shape.

/// Appends `v` as a base-128 varint.
pub fn varint(out: &mut Vec<u8>, v: u64) {
    let (bytes, n) = crate::codec::varint(v);
    out.extend_from_slice(&bytes[..n]);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a length-delimited field of `len` bytes with a one-byte tag.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn label_len(name: &str, value: &[u8]) -> usize {
    field_len(name.len()) + field_len(value.len())
}

/// Appends the `TimeSeries.labels` field of one label (a record's labels are encoded once and copied by its
/// series: `request`).
pub fn label_field(out: &mut Vec<u8>, name: &str, value: impl AsRef<[u8]>) {
    let value = value.as_ref();
    out.push(0x0a); // TimeSeries.labels
    varint(out, label_len(name, value) as u64);
    out.push(0x0a); // Label.name
    varint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    out.push(0x12); // Label.value
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Appends one `TimeSeries` with `labels` (sorted by name, as the protocol wants) and one sample to a
/// `WriteRequest` being written in `out`, field by field as protoc would: the tests' reference for the request
/// `request::Writer` writes with its repeats.
#[cfg(test)]
pub fn write_series(out: &mut Vec<u8>, labels: &[(&str, &str)], value: f64, timestamp_ms: i64) {
    let mut fields = Vec::new();
    for (name, value) in labels {
        label_field(&mut fields, name, value);
    }
    let sample = 9 + 1 + varint_len(timestamp_ms as u64);
    out.push(0x0a); // WriteRequest.timeseries
    varint(out, (fields.len() + field_len(sample)) as u64);
    out.extend_from_slice(&fields);
    out.push(0x12); // TimeSeries.samples
    varint(out, sample as u64);
    out.push(0x09); // Sample.value, 64-bit
    out.extend_from_slice(&value.to_le_bytes());
    out.push(0x10); // Sample.timestamp, varint
    varint(out, timestamp_ms as u64);
}

/// A series as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    /// (value, timestamp in milliseconds)
    pub samples: Vec<(f64, i64)>,
}

/// A reader over a protobuf message.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.at).ok_or("truncated varint")?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        let end = self.at.checked_add(len).filter(|e| *e <= self.buf.len());
        let end = end.ok_or("length-delimited field past the end of its message")?;
        let b = &self.buf[self.at..end];
        self.at = end;
        Ok(b)
    }
    fn fixed64(&mut self) -> Result<u64, String> {
        let b = self
            .buf
            .get(self.at..self.at + 8)
            .ok_or("truncated 64-bit field")?;
        self.at += 8;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    /// Skips a field of an unknown number (protobuf's forward compatibility).
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed64().map(drop),
            2 => self.bytes().map(drop),
            5 => {
                self.at += 4;
                (self.at <= self.buf.len())
                    .then_some(())
                    .ok_or("truncated 32-bit field".into())
            }
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a label is not UTF-8".to_string())
}

/// Reads a `WriteRequest` (already decompressed): its series, or why it is not one.
pub fn read_write_request(buf: &[u8]) -> Result<Vec<Series>, String> {
    let mut r = Reader { buf, at: 0 };
    let mut out = Vec::new();
    while !r.done() {
        match r.key()? {
            (1, 2) => out.push(read_series(r.bytes()?)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(out)
}

fn read_series(buf: &[u8]) -> Result<Series, String> {
    let mut r = Reader { buf, at: 0 };
    let mut s = Series {
        labels: Vec::new(),
        samples: Vec::new(),
    };
    while !r.done() {
        match r.key()? {
            (1, 2) => {
                let mut l = Reader {
                    buf: r.bytes()?,
                    at: 0,
                };
                let (mut name, mut value) = (String::new(), String::new());
                while !l.done() {
                    match l.key()? {
                        (1, 2) => name = text(l.bytes()?)?,
                        (2, 2) => value = text(l.bytes()?)?,
                        (_, wire) => l.skip(wire)?,
                    }
                }
                s.labels.push((name, value));
            }
            (2, 2) => {
                let mut m = Reader {
                    buf: r.bytes()?,
                    at: 0,
                };
                let (mut value, mut ts) = (0.0, 0i64);
                while !m.done() {
                    match m.key()? {
                        (1, 1) => value = f64::from_bits(m.fixed64()?),
                        (2, 0) => ts = m.varint()? as i64,
                        (_, wire) => m.skip(wire)?,
                    }
                }
                s.samples.push((value, ts));
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_protobuf_writes_them() {
        for (v, bytes) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn a_series_is_written_as_protoc_would() {
        // protoc --encode=prometheus.WriteRequest of
        // timeseries { labels { name: "a" value: "b" } samples { value: 1.5 timestamp: 1000 } }
        let mut out = Vec::new();
        write_series(&mut out, &[("a", "b")], 1.5, 1000);
        let expected = [
            0x0a, 0x16, // timeseries, 22 bytes
            0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // labels
            0x12, 0x0c, 0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xe8, 0x07, // samples
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn what_is_written_reads_back_and_garbage_is_refused() {
        let mut out = Vec::new();
        let labels = [("__name__", "m"), ("cpu", "0"), ("device", "d é")];
        write_series(&mut out, &labels, 12.25, 1_700_000_000_000);
        write_series(&mut out, &labels, -0.5, -3);
        let back = read_write_request(&out).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].labels[2], ("device".into(), "d é".into()));
        assert_eq!(back[0].samples, vec![(12.25, 1_700_000_000_000)]);
        assert_eq!(back[1].samples, vec![(-0.5, -3)]);
        assert!(read_write_request(&out[..out.len() - 1]).is_err());
        assert!(read_write_request(b"not a protobuf at all").is_err());
        assert_eq!(read_write_request(b"").unwrap(), vec![]);
    }
}
