//! A batch's `WriteRequest` written record by record into a [`Stream`]: a snappy block as it is sent
//! ([`Writer`]), or the plain bytes. Each record is one `TimeSeries` per indicator, and every series is
//!
//! ```text
//! 0x0a len | __name__ label | cpu label, device label, samples tag and length, value tag | value | timestamp
//!          | (the metric's) | (the record's "head": the same for its series)             | 8 B   | (the record's)
//! ```
//!
//! so the writer tells the stream what repeats: a metric's `__name__` label is copied from where the batch last
//! wrote it, and a record's head from its first series. In a snappy block that makes each series one literal (the
//! value, the timestamp and the next series' key) and two copies, written without searching for them.

use std::sync::LazyLock;

use bytes::Bytes;

use super::protobuf::{label_field, varint};
use super::series;
use super::snappy::{Block, Stream};
use crate::load::sinks::fields::Fields;

/// The indicators the transform makes, in its order.
const KNOWN: [&str; 5] = crate::model::INDICATORS;

/// The encoded `__name__` label field of each of [`KNOWN`], made once.
static NAME_FIELDS: LazyLock<[Vec<u8>; 5]> = LazyLock::new(|| {
    KNOWN.map(|i| {
        let mut field = Vec::new();
        label_field(&mut field, "__name__", series::metric_name(i));
        field
    })
});

/// The request of a batch being written into a snappy block, as the loaders send it.
pub type Writer = Request<Block>;

/// A `WriteRequest` being written, with where its repeated parts are.
#[derive(Debug, Default)]
pub struct Request<S> {
    stream: S,
    /// Where this request last wrote the `__name__` label of each of [`KNOWN`].
    names: [Option<usize>; 5],
    /// The current record's head: its label fields after `__name__` (in name order), the `samples` field's tag
    /// and length, and the value's tag.
    head: Vec<u8>,
    /// Where the current record's head was written.
    head_at: Option<usize>,
    /// The current record's timestamp field.
    tail: Vec<u8>,
    /// The `__name__` label of an indicator not in [`KNOWN`].
    other: Vec<u8>,
}

impl<S: Stream> Request<S> {
    /// Appends a record's series, one per indicator with a value (a value that is not finite, `null` in the
    /// batch, has no sample).
    pub fn write_record<R: Fields>(&mut self, r: &R) {
        self.start_record(r);
        for (i, (indicator, value)) in r.indicators().enumerate() {
            let Some(value) = value else { continue };
            // The transform's indicators come in the table's order.
            let known = match KNOWN.get(i) == Some(&indicator) {
                true => Some(i),
                false => KNOWN.iter().position(|k| *k == indicator),
            };
            self.write_series(known, indicator, value);
        }
    }

    fn start_record<R: Fields>(&mut self, r: &R) {
        self.tail.clear();
        self.tail.push(0x10); // Sample.timestamp, varint
        varint(&mut self.tail, r.seconds().saturating_mul(1000) as u64);
        self.head.clear();
        label_field(&mut self.head, "cpu", r.cpu());
        label_field(&mut self.head, "device", r.device());
        self.head.push(0x12); // TimeSeries.samples
        varint(&mut self.head, (9 + self.tail.len()) as u64);
        self.head.push(0x09); // Sample.value, 64-bit
        self.head_at = None;
    }

    /// Appends one series of the current record: the indicator's `__name__` label (`known`: its place in
    /// [`KNOWN`]), the record's head, the value, the record's timestamp.
    fn write_series(&mut self, known: Option<usize>, indicator: &str, value: f64) {
        let name: &[u8] = match known {
            Some(i) => &NAME_FIELDS[i],
            None => {
                self.other.clear();
                label_field(&mut self.other, "__name__", series::metric_name(indicator));
                &self.other
            }
        };
        let len = name.len() + self.head.len() + 8 + self.tail.len();
        let s = &mut self.stream;
        // WriteRequest.timeseries and the series' length (a varint: the first two sizes written at once).
        match len {
            0..0x80 => s.literal(&[0x0a, len as u8]),
            0x80..0x4000 => s.literal(&[0x0a, len as u8 | 0x80, (len >> 7) as u8]),
            _ => {
                let mut key = vec![0x0a];
                varint(&mut key, len as u64);
                s.literal(&key);
            }
        }
        let seen = known.and_then(|i| self.names[i]);
        match seen.filter(|at| s.can_copy(*at)) {
            Some(at) => s.copy(at, name.len()),
            None => {
                if let Some(i) = known {
                    self.names[i] = Some(s.position());
                }
                s.literal(name);
            }
        }
        match self.head_at.filter(|at| s.can_copy(*at)) {
            Some(at) => s.copy(at, self.head.len()),
            None => {
                self.head_at = Some(s.position());
                s.literal(&self.head);
            }
        }
        s.literal(&value.to_le_bytes());
        s.literal(&self.tail);
    }

    /// Forgets where the repeats were: the stream starts again.
    fn restart(&mut self) {
        self.names = [None; 5];
        self.head_at = None;
    }
}

impl Request<Block> {
    /// The request written so far, snappy-compressed, leaving the writer empty for the next one.
    pub fn finish(&mut self) -> Bytes {
        self.restart();
        self.stream.finish()
    }

    /// Forgets the request written so far.
    pub fn clear(&mut self) {
        self.restart();
        self.stream.clear();
    }
}

impl Request<Vec<u8>> {
    /// The request's plain bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::super::protobuf::{read_write_request, write_series};
    use super::*;
    use crate::model::{DeviceRecord, Indicator};

    /// A record of up to five indicators (the rest have no value).
    fn record(
        device: &str,
        cpu: &str,
        seconds: i64,
        values: &[(&'static str, f64)],
    ) -> DeviceRecord {
        let mut indicators = ["user"; 5].map(|name| Indicator {
            name,
            value: f64::NAN,
        });
        for (i, (name, value)) in values.iter().enumerate() {
            indicators[i] = Indicator {
                name,
                value: *value,
            };
        }
        DeviceRecord {
            name: device.into(),
            cpu_number: cpu.to_string().into(),
            timestamp: seconds,
            indicators,
        }
    }

    /// The series of `records` written one label at a time, as `protoc` would encode them.
    fn reference(records: &[DeviceRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            for i in &r.indicators {
                if i.value.is_finite() {
                    let name = series::metric_name(i.name);
                    let labels = [
                        ("__name__", name.as_str()),
                        ("cpu", r.cpu()),
                        ("device", r.device()),
                    ];
                    write_series(&mut out, &labels, i.value, r.timestamp.saturating_mul(1000));
                }
            }
        }
        out
    }

    fn written(records: &[DeviceRecord]) -> (Vec<u8>, Bytes) {
        let (mut plain, mut block) = (Request::<Vec<u8>>::default(), Writer::default());
        for r in records {
            plain.write_record(r);
            block.write_record(r);
        }
        (plain.into_bytes(), block.finish())
    }

    fn decode(block: &[u8]) -> Vec<u8> {
        snap::raw::Decoder::new().decompress_vec(block).unwrap()
    }

    #[test]
    fn the_block_decodes_to_the_request_protoc_would_write() {
        let mut rs = crate::transform::transform_all(crate::extract::simulated::device_stats(
            "edge-1",
            4,
            1_700_000_000,
        ))
        .unwrap();
        rs[1].indicators[2].value = f64::NAN;
        rs[2].indicators.swap(0, 4);
        rs[2].indicators[1].name = "soft irq/s";
        rs[3].timestamp = -3;
        rs.push(record(
            "d é",
            "",
            i64::MAX,
            &[("steal", 1.0), ("user", -0.5)],
        ));
        rs.push(record(
            &"x".repeat(300),
            &"7".repeat(70),
            0,
            &[("user", 2.0), ("irq", 3.0)],
        ));
        let (plain, block) = written(&rs);
        assert_eq!(plain, reference(&rs));
        assert_eq!(decode(&block), plain);
        let back = read_write_request(&plain).unwrap();
        assert_eq!(back.len(), 4 * 5 - 1 + 2 + 2);
    }

    #[test]
    fn repeats_farther_than_a_copy_reaches_are_written_again() {
        // 3,000 records of ~100-byte device names: the first record's `__name__` labels are far behind by the end.
        let rs: Vec<DeviceRecord> = (0..3000)
            .map(|n| {
                record(
                    &format!("{n:0>100}"),
                    &(n % 4).to_string(),
                    1_700_000_000 + n,
                    &[("utilization", n as f64), ("user", 0.5), ("system", 99.25)],
                )
            })
            .collect();
        let (plain, block) = written(&rs);
        assert!(plain.len() > 4 * super::super::snappy::MAX_OFFSET);
        assert_eq!(plain, reference(&rs));
        assert_eq!(decode(&block), plain);
        assert!(
            block.len() * 2 < plain.len(),
            "{} of {}",
            block.len(),
            plain.len()
        );
    }

    #[test]
    fn a_finished_writer_starts_the_next_request_afresh() {
        let a = [record("a", "0", 1, &[("user", 1.0), ("irq", 2.0)])];
        let b = [record("b", "1", 2, &[("irq", 3.0), ("user", 4.0)])];
        let mut w = Writer::default();
        w.write_record(&a[0]);
        assert_eq!(decode(&w.finish()), reference(&a));
        w.write_record(&b[0]);
        assert_eq!(decode(&w.finish()), reference(&b));
        w.write_record(&a[0]);
        w.clear();
        w.write_record(&b[0]);
        assert_eq!(decode(&w.finish()), reference(&b));
    }
}
