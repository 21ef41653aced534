//! Batch assembly, pure: a loader appends runs of encoded records (`load::encoder`) to the JSON array that becomes
//! the request body, so a batch is held once, as bytes, and never copied (retries and the spool share the same
//! `Bytes`).

use bytes::Bytes;

#[cfg(test)]
use crate::load::encoder::*;
use crate::load::encoder::{encode_record, EncodedRecords};
use crate::model::{Batch, BatchId, DeviceRecord, Origin};

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

    /// Appends records of `chunk` from `from` on, as many as [`BatchBuilder::push_encoded`] one by one would put
    /// in the current batch, with one copy; returns where it stopped, and the batch when it is finished (full, or
    /// closed because the next record would push it past `max_bytes`).
    pub fn push_run(
        &mut self,
        chunk: &EncodedRecords,
        from: usize,
    ) -> (usize, Option<(Bytes, usize)>) {
        let (mut len, mut count, mut to) = (self.body.len(), self.records, from);
        while to < chunk.len() {
            let n = chunk.record_len(to);
            if count > 0 && len + 1 + n + 1 > self.max_bytes {
                break;
            }
            len += n + usize::from(count > 0);
            count += 1;
            to += 1;
            if count >= self.max_records || len >= self.max_bytes {
                break;
            }
        }
        if to > from {
            if self.records > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(chunk.run(from, to));
            self.records += to - from;
        }
        let done = (to == from || self.is_full())
            .then(|| self.take())
            .flatten();
        (to, done)
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
            origin: Origin::New,
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
    fn values_are_written_exactly_as_serde_json_writes_them() {
        let mut values: Vec<f64> = (0..=10_000).map(|n| f64::from(n) / 100.0).collect();
        values.extend([
            -0.0,
            -0.004,
            0.004,
            0.005,
            12.345,
            0.1 + 0.2,
            100.0 - 87.3,
            99.995,
            100.004,
            100.01,
            1e-7,
            1e300,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]);
        for v in values {
            let mut ours = Vec::new();
            write_value(&mut ours, v);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&v).unwrap(),
                "{v:e}"
            );
        }
    }

    #[test]
    fn the_encoder_writes_exactly_what_serde_json_writes() {
        let mut rs = records(3);
        rs[0].name = "quote\" back\\slash \u{1} é".into();
        rs[1].name = "tab\there \u{7f} é ü 日本 / <>".into();
        rs[1].cpu_number = "\u{1f}".into();
        rs[1].indicators[2].value = 1e-7;
        rs[2].timestamp = -5;
        rs[2].indicators[4].name = "not \"known\"";
        rs[2].indicators[1].value = f64::NAN;
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
    fn runs_of_records_make_the_same_batches_as_records_one_by_one() {
        let mut rs = records(40);
        for (i, r) in rs.iter_mut().enumerate() {
            r.name = "n".repeat(1 + i * 7 % 90); // records of different sizes
        }
        let mut chunk = EncodedRecords::default();
        for r in &rs {
            chunk.push(r);
        }
        let one = chunk.record_len(0);
        for (max_records, max_bytes) in [
            (1, 1 << 20),
            (3, 1 << 20),
            (200, 1 << 20),
            (7, one * 4),
            (100, 10),
            (5, one * 2 + 3),
        ] {
            let mut by_one = BatchBuilder::new(max_records, max_bytes);
            let mut expected = Vec::new();
            for record in chunk.iter() {
                expected.extend(by_one.push_encoded(record));
                if by_one.is_full() {
                    expected.extend(by_one.take());
                }
            }
            // The same chunk twice, so that the second starts with a batch the first left partly full.
            for record in chunk.iter() {
                expected.extend(by_one.push_encoded(record));
                if by_one.is_full() {
                    expected.extend(by_one.take());
                }
            }
            let mut by_run = BatchBuilder::new(max_records, max_bytes);
            let mut got = Vec::new();
            for _ in 0..2 {
                let mut from = 0;
                while from < chunk.len() {
                    let (to, done) = by_run.push_run(&chunk, from);
                    got.extend(done);
                    from = to;
                }
            }
            assert_eq!(got, expected, "{max_records} records, {max_bytes} bytes");
            assert_eq!(by_run.take(), by_one.take());
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
            // What the ETL sends is in the shape the mock counts quickly.
            assert_eq!(crate::codec::body_scan::count(body), Some(*n as u64));
        }
    }
}
