//! The records of a batch read back from its JSON array, for the sinks that write another format: the batch body
//! (what the spool and the write-ahead log keep, the original's format) is the one form of a batch, and each sink
//! re-encodes it when it sends it. Accepts what a spool file may hold: `cpu_number`, `timestamp` and `value` as
//! strings or numbers (the original wrote `cpu_number` as a string), `null` for a value that was not finite.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// One record of a batch, borrowing its strings from the body where it can.
#[derive(Debug, Deserialize, PartialEq)]
pub struct RecordView<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub cpu_number: Text<'a>,
    pub timestamp: Timestamp,
    #[serde(borrow)]
    pub indicators: Vec<IndicatorView<'a>>,
}

/// An indicator: its name and value (`None` when the batch holds `null` or a text that is not a number).
#[derive(Debug, Deserialize, PartialEq)]
pub struct IndicatorView<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    pub value: Value,
}

/// A string or a number, as text (`"0"` and `0` are the same CPU).
#[derive(Debug, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

/// Seconds since the epoch, from a number or a string of digits.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Timestamp(pub i64);

/// A finite value, or `None`.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Value(pub Option<f64>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(n.to_string())))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(n.to_string())))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(n.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp in seconds (a number or a string of digits)")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Timestamp, E> {
                i64::try_from(n)
                    .map(Timestamp)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(n))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Timestamp, E> {
                if n.is_finite() && n.abs() < 9e15 {
                    Ok(Timestamp(n.trunc() as i64))
                } else {
                    Err(E::custom("timestamp out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                s.trim().parse().map(Timestamp).map_err(|_| {
                    E::custom(format!("timestamp `{s}` is not a whole number of seconds"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a string or null")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
                Ok(Value(Some(n as f64)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
                Ok(Value(Some(n as f64)))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
                Ok(Value(n.is_finite().then_some(n)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
                Ok(Value(
                    s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
                ))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The records of a batch body (a JSON array of records): in one pass when it is exactly what the encoder
/// (`load::encoder`) writes without escapes, the common case; through serde_json otherwise.
pub fn read(body: &[u8]) -> Result<Vec<RecordView<'_>>, String> {
    if let Some(records) = Fast::new(body).records() {
        return Ok(records);
    }
    serde_json::from_slice(body)
        .map_err(|e| format!("the batch is not a JSON array of records: {e}"))
}

/// The one-pass reader of the encoder's own shape: any difference (an escape, a space, another key order, a
/// number where a string was written) gives `None`, and serde_json decides.
struct Fast<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Fast<'a> {
    fn new(b: &'a [u8]) -> Self {
        Fast { b, at: 0 }
    }
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        let end = self.at + s.len();
        (self.b.get(self.at..end)? == s).then(|| self.at = end)
    }
    fn byte(&mut self) -> Option<u8> {
        let c = *self.b.get(self.at)?;
        self.at += 1;
        Some(c)
    }
    /// The rest of a string whose opening quote was read; `None` at an escape or a control character.
    fn string(&mut self) -> Option<&'a str> {
        let rest = &self.b[self.at..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' || rest[..end].iter().any(|c| *c < 0x20) {
            return None;
        }
        self.at += end + 1;
        std::str::from_utf8(&rest[..end]).ok()
    }
    /// A number (or `null`) up to the next `,`, `}` or `]`.
    fn number(&mut self) -> Option<&'a str> {
        let rest = &self.b[self.at..];
        let end = rest.iter().position(|c| matches!(c, b',' | b'}' | b']'))?;
        self.at += end;
        std::str::from_utf8(&rest[..end]).ok()
    }
    fn records(mut self) -> Option<Vec<RecordView<'a>>> {
        self.lit(b"[")?;
        let mut out = Vec::with_capacity(self.b.len() / 200 + 1);
        if self.lit(b"]").is_some() {
            return (self.at == self.b.len()).then_some(out);
        }
        loop {
            self.lit(br#"{"name":""#)?;
            let name = self.string()?;
            self.lit(br#","cpu_number":""#)?;
            let cpu = self.string()?;
            self.lit(br#","timestamp":"#)?;
            let timestamp = self.number()?.parse().ok()?;
            self.lit(br#","indicators":["#)?;
            let mut indicators = Vec::with_capacity(5);
            if self.lit(b"]").is_none() {
                loop {
                    self.lit(br#"{"name":""#)?;
                    let name = self.string()?;
                    self.lit(br#","value":"#)?;
                    let value = match self.number()? {
                        "null" => None,
                        t => Some(t.parse::<f64>().ok().filter(|v| v.is_finite())?),
                    };
                    self.lit(b"}")?;
                    indicators.push(IndicatorView {
                        name: Cow::Borrowed(name),
                        value: Value(value),
                    });
                    match self.byte()? {
                        b',' => continue,
                        b']' => break,
                        _ => return None,
                    }
                }
            }
            self.lit(b"}")?;
            out.push(RecordView {
                name: Cow::Borrowed(name),
                cpu_number: Text(Cow::Borrowed(cpu)),
                timestamp: Timestamp(timestamp),
                indicators,
            });
            match self.byte()? {
                b',' => continue,
                b']' => return (self.at == self.b.len()).then_some(out),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_pass_reader_agrees_with_serde_json_or_leaves_it_the_batch() {
        let mut rs = crate::transform::transform_all(crate::extract::simulated::device_stats(
            "plain",
            3,
            1_700_000_000,
        ))
        .unwrap();
        rs[1].indicators[2].value = f64::NAN; // null
        rs[2].indicators[0].value = 1e-7;
        rs[2].timestamp = -5;
        let mut body = Vec::new();
        let mut b = crate::load::batch::BatchBuilder::new(10, 1 << 20);
        for r in &rs {
            b.push(r);
        }
        body.extend_from_slice(b.take().unwrap().body.json());
        let fast = Fast::new(&body).records().expect("the encoder's shape");
        let slow: Vec<RecordView> = serde_json::from_slice(&body).unwrap();
        assert_eq!(fast, slow);
        // What the fast reader leaves to serde_json: escapes, spaces, numbers for strings, trailing bytes.
        for other in [
            &br#"[{"name":"a\"b","cpu_number":"0","timestamp":1,"indicators":[]}]"#[..],
            br#"[{"name":"a", "cpu_number":"0","timestamp":1,"indicators":[]}]"#,
            br#"[{"name":"a","cpu_number":0,"timestamp":1,"indicators":[]}]"#,
            br#"[{"name":"a","cpu_number":"0","timestamp":1,"indicators":[]}] "#,
            br#"[{"name":"a","cpu_number":"0","timestamp":"1","indicators":[]}]"#,
        ] {
            assert_eq!(
                Fast::new(other).records(),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
            assert_eq!(read(other).unwrap().len(), 1);
        }
    }

    #[test]
    fn reads_what_the_encoder_writes_and_what_the_original_wrote() {
        let rs = crate::transform::transform_all(crate::extract::simulated::device_stats(
            "dev \"1\"",
            2,
            1_700_000_000,
        ))
        .unwrap();
        let body = serde_json::to_vec(&rs).unwrap();
        let back = read(&body).unwrap();
        assert_eq!(back.len(), 2);
        for (r, v) in rs.iter().zip(&back) {
            assert_eq!(v.name, r.name);
            assert_eq!(v.cpu_number.0, r.cpu_number.to_string());
            assert_eq!(v.timestamp.0, r.timestamp);
            for (i, iv) in r.indicators.iter().zip(&v.indicators) {
                assert_eq!(iv.name, i.name);
                assert_eq!(iv.value.0, Some(i.value));
            }
        }
        let original = br#"[{"name":"a","cpu_number":0,"timestamp":"1700000000","indicators":[{"name":"user","value":"1.5"},{"name":"irq","value":null}]}]"#;
        let back = read(original).unwrap();
        assert_eq!(back[0].cpu_number.0, "0");
        assert_eq!(back[0].timestamp.0, 1_700_000_000);
        assert_eq!(back[0].indicators[0].value.0, Some(1.5));
        assert_eq!(back[0].indicators[1].value.0, None);
        assert!(read(b"[{\"name\":1}]").is_err());
        assert_eq!(Fast::new(b"[]").records(), Some(vec![]));
        assert_eq!(read(b"[]").unwrap(), vec![]);
        assert!(
            read(br#"[{"name":"a","cpu_number":0,"timestamp":"soon","indicators":[]}]"#).is_err()
        );
    }
}
