//! BER (X.690) as SNMP uses it: tag-length-value encoding and strict decoding of INTEGER, OCTET STRING, NULL,
//! OBJECT IDENTIFIER, SEQUENCE and the SMIv2 application types (IpAddress, Counter32, Gauge32, TimeTicks, Opaque,
//! Counter64) and the v2 exceptions (noSuchObject, noSuchInstance, endOfMibView).
//!
//! Decoding never panics: every length is checked against what is left, indefinite and over-long lengths are
//! refused, integers must fit their type.

use super::oid::Oid;

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;
pub const TAG_IP_ADDRESS: u8 = 0x40;
pub const TAG_COUNTER32: u8 = 0x41;
pub const TAG_GAUGE32: u8 = 0x42;
pub const TAG_TIMETICKS: u8 = 0x43;
pub const TAG_OPAQUE: u8 = 0x44;
pub const TAG_COUNTER64: u8 = 0x46;
pub const TAG_NO_SUCH_OBJECT: u8 = 0x80;
pub const TAG_NO_SUCH_INSTANCE: u8 = 0x81;
pub const TAG_END_OF_MIB_VIEW: u8 = 0x82;

/// Why bytes are not the expected BER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("truncated: {needed} bytes needed, {left} left")]
    Truncated { needed: usize, left: usize },
    #[error("unsupported length encoding (indefinite, or more than 4 length octets)")]
    BadLength,
    #[error("expected tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("multi-byte tags are not used by SNMP")]
    HighTag,
    #[error("integer of {0} bytes does not fit")]
    IntegerTooLong(usize),
    #[error("empty integer")]
    EmptyInteger,
    #[error("negative value {0} for an unsigned type")]
    Negative(i64),
    #[error("malformed object identifier")]
    BadOid,
    #[error("NULL with content")]
    BadNull,
    #[error("IpAddress of {0} bytes")]
    BadIpAddress(usize),
    #[error("unknown value tag 0x{0:02x}")]
    UnknownValueTag(u8),
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("{0}")]
    Invalid(&'static str),
}

/// A variable's value as SNMP carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    /// The value as an unsigned integer when it is one (Counter32, Gauge32, TimeTicks, Counter64, a
    /// non-negative INTEGER).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Integer(i) if i >= 0 => Some(i as u64),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(u64::from(v)),
            Value::Counter64(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is one of the v2 exceptions (noSuchObject, noSuchInstance, endOfMibView).
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    /// Appends the TLV of this value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Integer(i) => put_i64(out, TAG_INTEGER, *i),
            Value::OctetString(b) => put_tlv(out, TAG_OCTET_STRING, b),
            Value::Null => put_tlv(out, TAG_NULL, &[]),
            Value::ObjectId(oid) => put_oid(out, oid),
            Value::IpAddress(a) => put_tlv(out, TAG_IP_ADDRESS, a),
            Value::Counter32(v) => put_u64(out, TAG_COUNTER32, u64::from(*v)),
            Value::Gauge32(v) => put_u64(out, TAG_GAUGE32, u64::from(*v)),
            Value::TimeTicks(v) => put_u64(out, TAG_TIMETICKS, u64::from(*v)),
            Value::Opaque(b) => put_tlv(out, TAG_OPAQUE, b),
            Value::Counter64(v) => put_u64(out, TAG_COUNTER64, *v),
            Value::NoSuchObject => put_tlv(out, TAG_NO_SUCH_OBJECT, &[]),
            Value::NoSuchInstance => put_tlv(out, TAG_NO_SUCH_INSTANCE, &[]),
            Value::EndOfMibView => put_tlv(out, TAG_END_OF_MIB_VIEW, &[]),
        }
    }

    /// Decodes one value TLV from `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Value, BerError> {
        let (tag, content) = r.read_any()?;
        Ok(match tag {
            TAG_INTEGER => Value::Integer(decode_i64(content)?),
            TAG_OCTET_STRING => Value::OctetString(content.to_vec()),
            TAG_NULL => {
                if !content.is_empty() {
                    return Err(BerError::BadNull);
                }
                Value::Null
            }
            TAG_OID => Value::ObjectId(Oid::decode_content(content)?),
            TAG_IP_ADDRESS => Value::IpAddress(
                content
                    .try_into()
                    .map_err(|_| BerError::BadIpAddress(content.len()))?,
            ),
            TAG_COUNTER32 => Value::Counter32(decode_unsigned(content, 4)? as u32),
            TAG_GAUGE32 => Value::Gauge32(decode_unsigned(content, 4)? as u32),
            TAG_TIMETICKS => Value::TimeTicks(decode_unsigned(content, 4)? as u32),
            TAG_OPAQUE => Value::Opaque(content.to_vec()),
            TAG_COUNTER64 => Value::Counter64(decode_unsigned(content, 8)?),
            // The exceptions carry NULL-like empty content; some agents are sloppy, so content is ignored.
            TAG_NO_SUCH_OBJECT => Value::NoSuchObject,
            TAG_NO_SUCH_INSTANCE => Value::NoSuchInstance,
            TAG_END_OF_MIB_VIEW => Value::EndOfMibView,
            other => return Err(BerError::UnknownValueTag(other)),
        })
    }
}

/// The octets of a definite length (at most 9), and how many: one below 128, else the long form.
pub fn length_octets(len: usize) -> ([u8; 9], usize) {
    let mut octets = [0u8; 9];
    if len < 0x80 {
        octets[0] = len as u8;
        return (octets, 1);
    }
    let bytes = (len as u64).to_be_bytes();
    let n = 8 - bytes.iter().take_while(|b| **b == 0).count();
    octets[0] = 0x80 | n as u8;
    octets[1..=n].copy_from_slice(&bytes[8 - n..]);
    (octets, n + 1)
}

/// Appends a definite length.
pub fn put_length(out: &mut Vec<u8>, len: usize) {
    let (octets, n) = length_octets(len);
    out.extend_from_slice(&octets[..n]);
}

/// Appends a TLV.
pub fn put_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    put_length(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a constructed TLV whose content `f` appends to `out` in place (no buffer of its own): a one-byte
/// length goes before it and is widened afterwards, moving the content, only when the content is 128 bytes or
/// more (the long form). `f` must only append.
pub fn put_constructed(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let at = out.len();
    out.push(0);
    f(out);
    let (octets, n) = length_octets(out.len() - at - 1);
    out[at] = octets[0];
    if n > 1 {
        // The long form: its other octets go in after the first, moving the content.
        out.splice(at + 1..at + 1, octets[1..n].iter().copied());
    }
}

/// Appends a signed integer in minimal two's complement.
pub fn put_i64(out: &mut Vec<u8>, tag: u8, v: i64) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    put_tlv(out, tag, &bytes[start..]);
}

/// Appends an unsigned integer (a leading 0 when the top bit is set, as BER needs).
pub fn put_u64(out: &mut Vec<u8>, tag: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut content = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    put_tlv(out, tag, &content);
}

/// Appends an OBJECT IDENTIFIER.
pub fn put_oid(out: &mut Vec<u8>, oid: &Oid) {
    // In place, without a buffer per OID.
    put_constructed(out, TAG_OID, |c| oid.encode_content(c));
}

/// INTEGER content as i64 (1 to 8 bytes).
pub fn decode_i64(content: &[u8]) -> Result<i64, BerError> {
    if content.is_empty() {
        return Err(BerError::EmptyInteger);
    }
    if content.len() > 8 {
        return Err(BerError::IntegerTooLong(content.len()));
    }
    let mut v: i64 = if content[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in content {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// Unsigned content of at most `max` value bytes (plus one leading zero).
fn decode_unsigned(content: &[u8], max: usize) -> Result<u64, BerError> {
    if content.is_empty() {
        return Err(BerError::EmptyInteger);
    }
    let digits = if content[0] == 0 {
        &content[1..]
    } else {
        content
    };
    if digits.len() > max {
        return Err(BerError::IntegerTooLong(content.len()));
    }
    if content[0] & 0x80 != 0 {
        // A set top bit without a leading zero is a negative number: not a value of an unsigned type.
        return Err(BerError::Negative(decode_i64(content).unwrap_or(-1)));
    }
    Ok(digits.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// Reads TLVs from a byte slice, each length checked against what is left.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Errors when bytes are left.
    pub fn finish(&self) -> Result<(), BerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(BerError::Trailing(self.buf.len()))
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BerError> {
        if n > self.buf.len() {
            return Err(BerError::Truncated {
                needed: n,
                left: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next tag without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads any TLV: its tag and content.
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let tag = self.take(1)?[0];
        if tag & 0x1f == 0x1f {
            return Err(BerError::HighTag);
        }
        let first = self.take(1)?[0];
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(BerError::BadLength);
            }
            self.take(n)?
                .iter()
                .fold(0usize, |v, &b| (v << 8) | usize::from(b))
        };
        Ok((tag, self.take(len)?))
    }

    /// Reads a TLV that must have tag `expected`; its content.
    pub fn read(&mut self, expected: u8) -> Result<&'a [u8], BerError> {
        let (tag, content) = self.read_any()?;
        if tag != expected {
            return Err(BerError::UnexpectedTag {
                expected,
                found: tag,
            });
        }
        Ok(content)
    }

    /// A constructed TLV with tag `expected`, as a reader of its content.
    pub fn read_constructed(&mut self, expected: u8) -> Result<Reader<'a>, BerError> {
        self.read(expected).map(Reader::new)
    }

    pub fn read_sequence(&mut self) -> Result<Reader<'a>, BerError> {
        self.read_constructed(TAG_SEQUENCE)
    }

    pub fn read_i64(&mut self) -> Result<i64, BerError> {
        decode_i64(self.read(TAG_INTEGER)?)
    }

    /// An INTEGER that must fit an i32 (request ids, error status, msgID, ...).
    pub fn read_i32(&mut self) -> Result<i32, BerError> {
        let v = self.read_i64()?;
        i32::try_from(v).map_err(|_| BerError::IntegerTooLong(8))
    }

    /// An INTEGER in 0..=2^31-1 (msgMaxSize, engine boots and time).
    pub fn read_u31(&mut self) -> Result<u32, BerError> {
        let v = self.read_i64()?;
        if v < 0 {
            return Err(BerError::Negative(v));
        }
        u32::try_from(v)
            .ok()
            .filter(|v| *v <= i32::MAX as u32)
            .ok_or(BerError::IntegerTooLong(8))
    }

    pub fn read_octets(&mut self) -> Result<&'a [u8], BerError> {
        self.read(TAG_OCTET_STRING)
    }

    pub fn read_oid(&mut self) -> Result<Oid, BerError> {
        Oid::decode_content(self.read(TAG_OID)?)
    }

    pub fn read_null(&mut self) -> Result<(), BerError> {
        if !self.read(TAG_NULL)?.is_empty() {
            return Err(BerError::BadNull);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value) {
        let mut out = Vec::new();
        v.encode(&mut out);
        let mut r = Reader::new(&out);
        assert_eq!(Value::decode(&mut r).unwrap(), v);
        r.finish().unwrap();
    }

    #[test]
    fn lengths_take_the_short_form_below_128_and_the_fewest_octets_above() {
        let octets = |len| {
            let (o, n) = length_octets(len);
            o[..n].to_vec()
        };
        assert_eq!(octets(0), [0x00]);
        assert_eq!(octets(127), [0x7f]);
        assert_eq!(octets(128), [0x81, 0x80]);
        assert_eq!(octets(255), [0x81, 0xff]);
        assert_eq!(octets(256), [0x82, 0x01, 0x00]);
        assert_eq!(octets(65_536), [0x83, 0x01, 0x00, 0x00]);
        assert_eq!(octets(usize::MAX), [&[0x88][..], &[0xff; 8]].concat());
    }

    #[test]
    fn a_constructed_tlv_in_place_is_the_tlv_of_its_content() {
        for len in [0, 1, 127, 128, 129, 255, 256, 300, 65_535, 65_536, 70_000] {
            let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut expected = vec![0xaa];
            put_tlv(&mut expected, TAG_SEQUENCE, &content);
            let mut out = vec![0xaa];
            put_constructed(&mut out, TAG_SEQUENCE, |c| c.extend_from_slice(&content));
            assert_eq!(out, expected, "{len} bytes");
        }
        // Nested, as a PDU is.
        let mut out = Vec::new();
        put_constructed(&mut out, TAG_SEQUENCE, |a| {
            put_constructed(a, TAG_SEQUENCE, |b| b.extend_from_slice(&[7; 200]));
            a.push(1);
        });
        let mut inner = Vec::new();
        put_tlv(&mut inner, TAG_SEQUENCE, &[7; 200]);
        inner.push(1);
        let mut expected = Vec::new();
        put_tlv(&mut expected, TAG_SEQUENCE, &inner);
        assert_eq!(out, expected);
    }

    #[test]
    fn values_round_trip() {
        for i in [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            255,
            256,
            i64::MAX,
            i64::MIN,
            2_147_483_647,
        ] {
            round_trip(Value::Integer(i));
        }
        for v in [0, 1, 127, 128, 255, 0x8000_0000, u32::MAX] {
            round_trip(Value::Counter32(v));
            round_trip(Value::Gauge32(v));
            round_trip(Value::TimeTicks(v));
        }
        for v in [0, u64::MAX, 1 << 63, 300] {
            round_trip(Value::Counter64(v));
        }
        round_trip(Value::OctetString(vec![7; 300]));
        round_trip(Value::Null);
        round_trip(Value::IpAddress([127, 0, 0, 1]));
        round_trip(Value::ObjectId(Oid::parse("1.3.6.1.2.1.1.3.0").unwrap()));
        round_trip(Value::Opaque(vec![1, 2]));
        round_trip(Value::NoSuchObject);
        round_trip(Value::NoSuchInstance);
        round_trip(Value::EndOfMibView);
    }

    #[test]
    fn encodings_are_the_canonical_ones() {
        let enc = |v: Value| {
            let mut out = Vec::new();
            v.encode(&mut out);
            out
        };
        assert_eq!(enc(Value::Integer(0)), [0x02, 0x01, 0x00]);
        assert_eq!(enc(Value::Integer(128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(Value::Integer(-129)), [0x02, 0x02, 0xff, 0x7f]);
        assert_eq!(
            enc(Value::Counter32(u32::MAX)),
            [0x41, 0x05, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(enc(Value::NoSuchObject), [0x80, 0x00]);
        let long = enc(Value::OctetString(vec![0; 200]));
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = enc(Value::OctetString(vec![0; 300]));
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn strict_lengths_and_types() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x02],
            &[0x02, 0x00],
            &[0x02, 0x02, 0x01],
            &[0x02, 0x80, 0x01, 0x00, 0x00],
            &[0x02, 0x85, 0, 0, 0, 0, 1, 0],
            &[0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            &[0x41, 0x06, 1, 2, 3, 4, 5, 6],
            &[0x41, 0x01, 0x80],
            &[0x40, 0x03, 1, 2, 3],
            &[0x05, 0x01, 0x00],
            &[0x1f, 0x01, 0x00],
            &[0x09, 0x00],
            &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
        ];
        for c in cases {
            assert!(Value::decode(&mut Reader::new(c)).is_err(), "{c:02x?}");
        }
        let mut r = Reader::new(&[0x02, 0x01, 0x05, 0x00]);
        assert_eq!(r.read_i64().unwrap(), 5);
        assert_eq!(r.finish(), Err(BerError::Trailing(1)));
        assert!(matches!(
            Reader::new(&[0x04, 0x00]).read_i64(),
            Err(BerError::UnexpectedTag {
                expected: 0x02,
                found: 0x04
            })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut r = Reader::new(&bytes);
            while !r.is_empty() {
                if Value::decode(&mut r).is_err() {
                    break;
                }
            }
        }
    }
}
