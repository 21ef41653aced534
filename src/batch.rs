//! Batch building, pure: each record is encoded to JSON once, on the supervisor's thread, into a chunk of
//! encoded records (`EncodedRecords`); a loader appends those bytes to the JSON array that becomes the request
//! body, so a batch is held once, as bytes, and never copied (retries and the spool share the same `Bytes`).

use bytes::Bytes;
use serde::Serializer as _;

use crate::model::{Batch, BatchId, DeviceRecord};

/// Writes `record` as JSON, byte for byte what `serde_json::to_vec(record)` gives, with the constant parts
/// (keys, indicator names) written as they are instead of escaped one by one.
pub fn encode_record(out: &mut Vec<u8>, record: &DeviceRecord) {
    use serde_json::ser::{CompactFormatter, Formatter};
    let string = |out: &mut Vec<u8>, s: &str| {
        let mut ser = serde_json::Serializer::new(out);
        (&mut ser)
            .serialize_str(s)
            .expect("writing to a Vec cannot fail");
    };
    out.extend_from_slice(b"{\"name\":");
    string(out, &record.name);
    out.extend_from_slice(b",\"cpu_number\":");
    string(out, &record.cpu_number);
    out.extend_from_slice(b",\"timestamp\":");
    CompactFormatter
        .write_i64(out, record.timestamp)
        .expect("writing to a Vec cannot fail");
    out.extend_from_slice(b",\"indicators\":[");
    for (i, indicator) in record.indicators.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            b"{\"name\":"
        } else {
            b",{\"name\":"
        });
        string(out, indicator.name);
        out.extend_from_slice(b",\"value\":");
        if indicator.value.is_finite() {
            write_f64(out, indicator.value);
        } else {
            out.extend_from_slice(b"null");
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// Writes a finite `v` byte for byte as serde_json does (ryu's shortest round-trip form). A whole number of
/// hundredths from 0 to 10^9 (every percentage the transform makes) is written from integers: the shortest form
/// of the double nearest to `n/100` is `n/100` itself, trailing zeros dropped (`12.5`, `7.0`, `0.05`), because
/// no shorter decimal lies within half an ulp of it. Anything else goes through serde_json's formatter.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    use serde_json::ser::{CompactFormatter, Formatter};
    if v.is_sign_positive() && v <= 1e9 {
        let n = (v * 100.0).round();
        if n / 100.0 == v {
            let n = n as u64;
            let (whole, frac) = (n / 100, (n % 100) as u8);
            CompactFormatter
                .write_u64(out, whole)
                .expect("writing to a Vec cannot fail");
            out.push(b'.');
            out.push(b'0' + frac / 10);
            if frac % 10 != 0 {
                out.push(b'0' + frac % 10);
            }
            return;
        }
    }
    CompactFormatter
        .write_f64(out, v)
        .expect("writing to a Vec cannot fail");
}

/// Records already encoded, back to back, with where each one ends: what the supervisor hands a loader.
#[derive(Debug, Default)]
pub struct EncodedRecords {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl EncodedRecords {
    pub fn push(&mut self, record: &DeviceRecord) {
        encode_record(&mut self.bytes, record);
        self.ends
            .push(u32::try_from(self.bytes.len()).expect("a chunk holds far less than 4 GiB"));
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Each record's JSON.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| &self.bytes[a as usize..b as usize])
    }
}

/// The buffer of one loader: a JSON array being written, and how many records it holds.
#[derive(Debug)]
pub struct BatchBuilder {
    body: Vec<u8>,
    records: usize,
    max_records: usize,
    max_bytes: usize,
}

impl BatchBuilder {
    /// A builder that reports full at `max_records` records or `max_bytes` bytes of JSON.
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        BatchBuilder {
            body: Self::fresh(max_bytes),
            records: 0,
            max_records,
            max_bytes,
        }
    }

    fn fresh(max_bytes: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(max_bytes.min(64 << 10));
        v.push(b'[');
        v
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn is_full(&self) -> bool {
        self.records >= self.max_records || self.body.len() >= self.max_bytes
    }

    /// Appends one encoded record. Returns the finished batch body first when this record would push a
    /// non-empty batch past `max_bytes` (the record then starts the next batch).
    pub fn push_encoded(&mut self, record: &[u8]) -> Option<(Bytes, usize)> {
        let done = if self.records > 0 && self.body.len() + 1 + record.len() + 1 > self.max_bytes {
            self.take()
        } else {
            None
        };
        if self.records > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(record);
        self.records += 1;
        done
    }

    /// Encodes and appends a record (see [`BatchBuilder::push_encoded`]).
    pub fn push(&mut self, record: &DeviceRecord) -> Option<(Bytes, usize)> {
        let mut one = Vec::with_capacity(256);
        encode_record(&mut one, record);
        self.push_encoded(&one)
    }

    /// The finished body (closed JSON array) and its record count, leaving the builder empty.
    pub fn take(&mut self) -> Option<(Bytes, usize)> {
        if self.records == 0 {
            return None;
        }
        let mut body = std::mem::replace(&mut self.body, Self::fresh(self.max_bytes));
        body.push(b']');
        let n = std::mem::replace(&mut self.records, 0);
        Some((Bytes::from(body), n))
    }

    /// Wraps a finished body as a batch.
    pub fn batch(id: BatchId, worker: usize, (body, records): (Bytes, usize)) -> Batch {
        Batch {
            id,
            worker,
            records,
            body,
            spool_file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::count_records;
    use crate::extract::simulated::device_stats;
    use crate::transform::transform_all;

    fn records(n: u32) -> Vec<crate::model::DeviceRecord> {
        transform_all(device_stats("device-1", n, 1)).unwrap()
    }

    #[test]
    fn floats_are_written_exactly_as_serde_json_writes_them() {
        let theirs = |v: f64| serde_json::to_string(&v).unwrap();
        let ours = |v: f64| {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        // Every hundredth from 0 to 1000, then spread to 10^9 and past it.
        let mut values: Vec<f64> = (0..=100_000).map(|n| n as f64 / 100.0).collect();
        values.extend((0..2_000u64).map(|k| (k * 7_919_993 % 100_000_000_000) as f64 / 100.0));
        values.extend([
            12.345, 0.1 + 0.2, 1e-7, 0.001, 99.999, 1e9, 1e9 + 0.01, 1e10, 123456789.12, 1e21, 5e-324,
            -0.0, -1.5, -12.34, f64::MAX, f64::MIN_POSITIVE, 100.0 - 87.3,
        ]);
        for v in values {
            assert_eq!(ours(v), theirs(v), "{v:e}");
        }
    }

    #[test]
    fn the_encoder_writes_exactly_what_serde_json_writes() {
        let mut rs = records(3);
        rs[0].name = "quote\" back\\slash \u{1} é".into();
        rs[1].indicators[2].value = 1e-7;
        rs[2].timestamp = -5;
        for r in &rs {
            let mut ours = Vec::new();
            encode_record(&mut ours, r);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(r).unwrap()
            );
        }
    }

    #[test]
    fn encoded_chunks_give_back_each_record() {
        let rs = records(3);
        let mut chunk = EncodedRecords::default();
        for r in &rs {
            chunk.push(r);
        }
        assert_eq!(chunk.len(), 3);
        let back: Vec<_> = chunk.iter().map(|b| b.to_vec()).collect();
        for (r, b) in rs.iter().zip(back) {
            assert_eq!(b, serde_json::to_vec(r).unwrap());
        }
    }

    #[test]
    fn builds_a_valid_json_array() {
        let mut b = BatchBuilder::new(10, 1 << 20);
        assert!(b.take().is_none());
        for r in records(3) {
            assert!(b.push(&r).is_none());
        }
        let (body, n) = b.take().unwrap();
        assert_eq!(n, 3);
        assert_eq!(count_records(&body), Ok(3));
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 3);
        assert!(b.is_empty());
    }

    #[test]
    fn reports_full_at_the_record_limit() {
        let mut b = BatchBuilder::new(2, 1 << 20);
        let rs = records(2);
        b.push(&rs[0]);
        assert!(!b.is_full());
        b.push(&rs[1]);
        assert!(b.is_full());
    }

    #[test]
    fn a_record_past_the_byte_limit_starts_the_next_batch() {
        let rs = records(5);
        let one = serde_json::to_vec(&rs[0]).unwrap().len();
        let mut b = BatchBuilder::new(100, 2 * one + 3);
        let mut done = Vec::new();
        for r in &rs {
            done.extend(b.push(r));
        }
        done.extend(b.take());
        let counts: Vec<_> = done.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts.iter().sum::<usize>(), 5);
        for (body, n) in &done {
            assert!(
                body.len() <= 2 * one + 3,
                "{} > {}",
                body.len(),
                2 * one + 3
            );
            assert_eq!(count_records(body), Ok(*n as u64));
        }
    }
}
