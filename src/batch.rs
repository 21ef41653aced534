//! Batch building, pure: records are encoded straight into the JSON array that becomes the request body, so a
//! batch is held once, as bytes, and never copied (retries and the spool share the same `Bytes`).

use bytes::Bytes;
use serde::Serialize;

use crate::model::{Batch, BatchId};

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

    pub fn records(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes of the body so far (without the closing bracket).
    pub fn len_bytes(&self) -> usize {
        self.body.len()
    }

    pub fn is_full(&self) -> bool {
        self.records >= self.max_records || self.body.len() >= self.max_bytes
    }

    /// Appends a record. Returns the finished batch body first when this record would push a non-empty batch
    /// past `max_bytes` (the record then starts the next batch).
    pub fn push<T: Serialize>(&mut self, record: &T) -> Option<(Bytes, usize)> {
        let mark = self.body.len();
        if self.records > 0 {
            self.body.push(b',');
        }
        serde_json::to_writer(&mut self.body, record).expect("records always serialise to JSON");
        if self.records > 0 && self.body.len() + 1 > self.max_bytes {
            // Cut the new record off, finish the batch, and start the next one with it.
            let tail = self.body.split_off(mark + 1);
            self.body.truncate(mark);
            let done = self.take();
            self.body.extend_from_slice(&tail);
            self.records = 1;
            return done;
        }
        self.records += 1;
        None
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
