//! Pure encoding steps shared by the loaders, the spool and the mock API: gzip, bounded gunzip, and validation
//! of a JSON array of records without building it.
//!
//! `body_scan` is the quick one-pass count of a records body in its common shape; the full parser here decides
//! anything else.

pub mod body_scan;

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Why a body was refused (the handler maps each to a status).
#[derive(Debug, PartialEq, Eq)]
pub enum CodecError {
    /// 413: larger than the limit, before or after decompression.
    TooLarge { limit: usize },
    /// 400: not gzip although it said so, or not the expected JSON.
    Invalid(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::TooLarge { limit } => write!(f, "body exceeds {limit} bytes"),
            CodecError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Gzip of `data` at the default level (the spool's and the `Content-Encoding: gzip` format).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Decompresses a gzip body, reading at most `limit` bytes of output (a gzip bomb stops at the limit).
pub fn gunzip_limited(body: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| CodecError::Invalid(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { limit });
    }
    Ok(out)
}

/// A request body as sent (`gzip` for `Content-Encoding: gzip`), decompressed within `limit` bytes.
pub fn decode_body(raw: &[u8], gzip: bool, limit: usize) -> Result<Cow<'_, [u8]>, CodecError> {
    if gzip {
        gunzip_limited(raw, limit).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// A JSON string, checked but not kept.
struct AnyStr;
impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON string or number (the original sent `cpu_number` as a string, others send numbers).
struct StrOrNum;
impl<'de> Deserialize<'de> for StrOrNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrOrNum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StrOrNum, E> {
                Ok(StrOrNum)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrOrNum, E> {
                Ok(StrOrNum)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrOrNum, E> {
                Ok(StrOrNum)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StrOrNum, E> {
                Ok(StrOrNum)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[allow(dead_code)] // fields are checked by deserialisation, never read
struct InIndicator {
    name: AnyStr,
    value: StrOrNum,
}

#[derive(Deserialize)]
#[allow(dead_code)] // fields are checked by deserialisation, never read
struct InRecord {
    name: AnyStr,
    cpu_number: StrOrNum,
    timestamp: StrOrNum,
    indicators: Vec<InIndicator>,
}

/// Counts the elements of a JSON array of records, checking each one.
struct CountRecords;
impl<'de> DeserializeSeed<'de> for CountRecords {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON array of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
                let mut n = 0u64;
                while seq.next_element::<InRecord>()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
        }
        d.deserialize_seq(V)
    }
}

/// Checks that `body` is a JSON array of records in the original's shape and returns how many it holds.
/// The error says what is wrong and where (line and column). A body in the common shape is counted by the quick
/// check (`body_scan`); any other goes through the full parser, which decides.
pub fn count_records(body: &[u8]) -> Result<u64, CodecError> {
    match crate::codec::body_scan::count(body) {
        Some(n) => Ok(n),
        None => count_records_in_full(body),
    }
}

/// Checks that `text` is one record in the original's shape (an element of a records array, as the spool's
/// streaming read meets it).
pub fn check_record(text: &str) -> Result<(), CodecError> {
    serde_json::from_str::<InRecord>(text)
        .map(|_| ())
        .map_err(|e| CodecError::Invalid(e.to_string()))
}

/// [`count_records`] by serde_json alone: the reference the quick check is compared with.
pub fn count_records_in_full(body: &[u8]) -> Result<u64, CodecError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let n = CountRecords
        .deserialize(&mut de)
        .and_then(|n| de.end().map(|_| n))
        .map_err(|e| CodecError::Invalid(format!("invalid JSON body: {e}")))?;
    Ok(n)
}

/// `v` as a base-128 varint (LEB128, as protobuf and the inventory's kept file write it): its bytes and how
/// many there are.
#[inline]
pub fn varint(mut v: u64) -> ([u8; 10], usize) {
    let (mut bytes, mut n) = ([0u8; 10], 0);
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    (bytes, n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const RECORD: &str =
        r#"{"name":"d","cpu_number":"0","timestamp":1,"indicators":[{"name":"user","value":1.5}]}"#;

    #[test]
    fn counts_valid_records() {
        assert_eq!(
            count_records(format!("[{RECORD},{RECORD}]").as_bytes()),
            Ok(2)
        );
        assert_eq!(count_records(b"[]"), Ok(0));
        assert_eq!(count_records(b" [ ] \n"), Ok(0));
    }

    #[test]
    fn says_what_is_missing_and_where() {
        let e = count_records(br#"[{"name":"d","cpu_number":"0","indicators":[]}]"#).unwrap_err();
        let CodecError::Invalid(m) = e else { panic!() };
        assert!(
            m.contains("missing field `timestamp`") && m.contains("line 1 column"),
            "{m}"
        );
    }

    #[test]
    fn rejects_malformed_and_wrong_shapes() {
        for body in [&b"[{"[..], b"{}", b"[1]", br#"[{"name":1}]"#, b"[] x", b""] {
            assert!(
                matches!(count_records(body), Err(CodecError::Invalid(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn gzip_within_limit_and_bomb_stopped() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 1 << 20]).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 10_000);
        assert_eq!(gunzip_limited(&gz, 1 << 20).unwrap().len(), 1 << 20);
        assert_eq!(
            gunzip_limited(&gz, 1000),
            Err(CodecError::TooLarge { limit: 1000 })
        );
        assert!(matches!(
            gunzip_limited(b"not gzip", 1000),
            Err(CodecError::Invalid(_))
        ));
    }
}
