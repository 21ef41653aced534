//! A batch's `WriteRequest` written record by record straight into a snappy block, as it is sent ([`Writer`]).
//! Each record is one `TimeSeries` per indicator, and every series is
//!
//! ```text
//! 0x0a len | __name__ label | cpu label, device label, samples tag and length, value tag | value | timestamp
//!          | (the metric's) | (the record's "head": the same for its series)             | 8 B   | (the record's)
//! ```
//!
//! so the writer tells the block what repeats: a metric's `__name__` label is copied from where the batch last
//! wrote it, and a record's head from its first series. In a snappy block that makes each series one literal (the
//! value, the timestamp and the next series' key) and two copies, written without searching for them.

use std::sync::LazyLock;

use bytes::Bytes;

use super::protobuf::{label_field, varint};
use super::series;
use super::snappy::Block;
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

/// The request of a batch being written into a snappy block, as the loaders send it, with where its repeated
/// parts are.
#[derive(Debug, Default)]
pub struct Writer {
    stream: Block,
    /// Where each of [`KNOWN`]'s series last began.
    seen: [Option<Seen>; 5],
    /// The current record's head: its label fields after `__name__` (in name order), the `samples` field's tag
    /// and length, and the value's tag; and where it was written (once its first series is).
    head: Vec<u8>,
    head_at: Option<usize>,
    /// The previous record's head and where it was written: the current head is copied from it as far as the two
    /// agree (the same CPU label, the device label up to where the names differ).
    last_head: Vec<u8>,
    last_head_at: Option<usize>,
    /// The current record's timestamp in milliseconds, and its field.
    ms: i64,
    tail: Field,
    /// The value and timestamp of the last series written, not written yet (the series' last bytes): they are
    /// written with the start of the next series, which may copy them together, or by `finish`.
    pending: Option<Pending>,
    /// The `__name__` label of an indicator not in [`KNOWN`].
    other: Vec<u8>,
}

/// Where a series of one of [`KNOWN`] began: the run of the value and timestamp before it (the previous
/// series'), its key (`timeseries` tag and length) and its `__name__` label. The next series of that indicator
/// whose run is the same bytes (the same value and timestamp before it, the same length) is one copy of it: a CPU's
/// `nice` and `irq` are often 0 on every device.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Where the run starts.
    at: usize,
    /// The value's bits and the timestamp before the key (none at the start of the request).
    after: Option<(u64, i64)>,
    /// The series' length.
    len: usize,
    /// Where its `__name__` label starts.
    name_at: usize,
}

/// The last value and timestamp written, as [`Writer::pending`] holds them.
#[derive(Debug, Clone, Copy)]
struct Pending {
    bits: u64,
    ms: i64,
    tail: Field,
}

impl Pending {
    /// What [`Seen::after`] compares.
    fn key(self) -> (u64, i64) {
        (self.bits, self.ms)
    }
    /// Its bytes: the value, the timestamp's field.
    fn len(self) -> usize {
        8 + self.tail.1
    }
}

/// A small field's bytes and how many there are.
type Field = ([u8; 11], usize);

/// A field of a one-byte tag and a varint: its bytes and how many there are (a series' length, under 128 bytes
/// but for long names, written at once).
#[inline(always)]
fn varint_field(tag: u8, v: u64) -> Field {
    let mut field = [0u8; 11];
    field[0] = tag;
    if v < 0x80 {
        field[1] = v as u8;
        return (field, 2);
    }
    let (bytes, n) = crate::codec::varint(v);
    field[1..=n].copy_from_slice(&bytes[..n]);
    (field, n + 1)
}

/// A timestamp's field (`Sample.timestamp`).
fn timestamp_field(ms: i64) -> Field {
    varint_field(0x10, ms as u64)
}

/// A series' key: the `WriteRequest.timeseries` tag and the series' length.
#[inline]
fn key(len: usize) -> Field {
    varint_field(0x0a, len as u64)
}

impl Writer {
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
        if self.head_at.is_some() {
            std::mem::swap(&mut self.head, &mut self.last_head);
            self.last_head_at = self.head_at.take();
        }
        self.ms = r.seconds().saturating_mul(1000);
        self.tail = timestamp_field(self.ms);
        self.head.clear();
        label_field(&mut self.head, "cpu", r.cpu());
        label_field(&mut self.head, "device", r.device());
        self.head.push(0x12); // TimeSeries.samples
        varint(&mut self.head, (9 + self.tail.1) as u64);
        self.head.push(0x09); // Sample.value, 64-bit
    }

    /// Appends one series of the current record: the indicator's `__name__` label (`known`: its place in
    /// [`KNOWN`]), the record's head; its value and timestamp are left pending.
    fn write_series(&mut self, known: Option<usize>, indicator: &str, value: f64) {
        let name: &[u8] = match known {
            Some(i) => &NAME_FIELDS[i],
            None => {
                self.other.clear();
                label_field(&mut self.other, "__name__", series::metric_name(indicator));
                &self.other
            }
        };
        let len = name.len() + self.head.len() + 8 + self.tail.1;
        let (key, key_len) = key(len);
        let s = &mut self.stream;
        // The pending value and timestamp, the key and the name: one copy when the last series of this indicator
        // began with the same bytes, else the value, timestamp and key as they are and the name copied where it was.
        let at = s.position();
        let pending = self.pending.map_or(0, Pending::len);
        // The indicator's last series: its name is where it was whatever that series' length; its whole run only
        // when the length is the same.
        let last = known.and_then(|i| self.seen[i]);
        let seen = last.filter(|seen| seen.len == len);
        let run = pending + key_len + name.len();
        match (seen, self.pending) {
            (Some(seen), _)
                if seen.after == self.pending.map(Pending::key) && s.can_copy(seen.at) =>
            {
                s.copy(seen.at, run)
            }
            // Another value before it, the same timestamp: the value, then the rest copied (from 8 bytes further,
            // 8 bytes later: as far back as the whole run's start, which is what must be in reach).
            (Some(seen), Some(p))
                if seen.after.is_some_and(|(_, after)| after == p.ms) && s.can_copy(seen.at) =>
            {
                s.literal(&p.bits.to_le_bytes());
                s.copy(seen.at + 8, run - 8);
            }
            _ => {
                if let Some(p) = self.pending {
                    s.literal(&p.bits.to_le_bytes());
                    s.literal(&p.tail.0[..p.tail.1]);
                }
                s.literal(&key[..key_len]);
                s.repeat(last.map(|last| last.name_at), name);
            }
        }
        if let Some(i) = known {
            self.seen[i] = Some(Seen {
                at,
                after: self.pending.map(Pending::key),
                len,
                name_at: at + pending + key_len,
            });
        }
        // The head: copied from the record's first series, or, for that one, from the previous record's head
        // where the two agree: the first bytes (the same CPU, a device name's first characters) and the last (the
        // same device, another CPU).
        match self.head_at.filter(|at| s.can_copy(*at)) {
            Some(at) => s.copy(at, self.head.len()),
            None => {
                self.head_at = Some(s.position());
                match self.last_head_at.filter(|at| s.can_copy(*at)) {
                    Some(last) => {
                        let (head, last_head) = (&self.head, &self.last_head);
                        let first = common_prefix(head, last_head);
                        let end = common_suffix(&head[first..], &last_head[first..]);
                        let middle = first..head.len() - end;
                        s.repeat(Some(last), &head[..first]);
                        s.literal(&head[middle]);
                        // Checked for reach after the middle (a head longer than the last moves it farther back).
                        s.repeat(
                            Some(last + last_head.len() - end),
                            &head[head.len() - end..],
                        );
                    }
                    None => s.literal(&self.head),
                }
            }
        }
        self.pending = Some(Pending {
            bits: value.to_bits(),
            ms: self.ms,
            tail: self.tail,
        });
    }

    /// Writes the pending value and timestamp and forgets where the repeats were: the stream starts again.
    fn end(&mut self) {
        if let Some(p) = self.pending.take() {
            self.stream.literal(&p.bits.to_le_bytes());
            self.stream.literal(&p.tail.0[..p.tail.1]);
        }
        self.restart();
    }

    /// Forgets where the repeats were.
    fn restart(&mut self) {
        self.seen = [None; 5];
        self.head_at = None;
        self.last_head_at = None;
        self.pending = None;
    }
}

/// How many first bytes `a` and `b` have in common.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How many last bytes `a` and `b` have in common.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

impl Writer {
    /// The request written so far, snappy-compressed, leaving the writer empty for the next one.
    pub fn finish(&mut self) -> Bytes {
        self.end();
        self.stream.finish()
    }

    /// Forgets the request written so far.
    pub fn clear(&mut self) {
        self.restart();
        self.stream.clear();
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

    /// The request of `records` as `reference` writes it, and the block the writer makes of them.
    fn written(records: &[DeviceRecord]) -> (Vec<u8>, Bytes) {
        let mut block = Writer::default();
        for r in records {
            block.write_record(r);
        }
        (reference(records), block.finish())
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
        assert_eq!(decode(&block), plain);
        assert!(
            block.len() * 2 < plain.len(),
            "{} of {}",
            block.len(),
            plain.len()
        );
    }

    #[test]
    fn a_batch_compresses_about_as_well_as_a_searching_snappy_encoder() {
        // 200 records as a loader's batch holds them: devices of one to eight CPUs, one poll's timestamp. The block
        // is 1.30× snap's (16,815 bytes against 12,949 of 90,405): snap also finds values that repeat elsewhere.
        let mut rs = Vec::new();
        for d in 0..60 {
            let stats = crate::extract::simulated::device_stats(
                &format!("edge-{d}"),
                1 + d % 8,
                1_700_000_000,
            );
            rs.extend(crate::transform::transform_all(stats).unwrap());
        }
        rs.truncate(200);
        let (plain, block) = written(&rs);
        assert_eq!(decode(&block), plain);
        let searched = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        assert!(
            block.len() * 10 <= searched.len() * 14,
            "{} bytes against snap's {} (plain {})",
            block.len(),
            searched.len(),
            plain.len()
        );
    }

    /// A small xorshift generator of numbers below `n`: the same batches on every run.
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    #[test]
    fn random_batches_decode_to_the_request_protoc_would_write() {
        let mut next = numbers(0x9e37_79b9_7f4a_7c15);
        let names = [
            "utilization",
            "nice",
            "user",
            "system",
            "irq",
            "steal",
            "soft irq",
        ];
        let values = [0.0, 0.0, 1.5, 99.99, -0.0, 100.0, f64::NAN, 12.25];
        for batch in 0..300 {
            let mut rs = Vec::new();
            for _ in 0..next(60) {
                let device = match next(4) {
                    0 => format!("dev-{}", next(5)),
                    1 => "d".repeat(next(200) as usize),
                    _ => format!("edge-{}-é", next(100_000)),
                };
                let picked: Vec<(&'static str, f64)> = (0..1 + next(5))
                    .map(|_| (names[next(7) as usize], values[next(8) as usize]))
                    .collect();
                let seconds = [1_700_000_000, 1_700_000_060, -5, 0][next(4) as usize];
                let cpu = next(12).to_string();
                rs.push(record(&device, &cpu, seconds, &picked));
            }
            let (plain, block) = written(&rs);
            assert_eq!(decode(&block), plain, "batch {batch}");
        }
    }

    #[test]
    fn copies_at_the_edge_of_a_copys_reach_decode() {
        // Found by review: two copies were checked for reach before a literal moved them up to 8 bytes (the value)
        // or the head's growth (the suffix) farther back than 65,535 bytes.
        let t = 1_700_000_000;
        // Another value before the same indicator, the same timestamp, ~65,536..65,543 bytes back.
        for n in [341usize, 342] {
            for pad in 0..200 {
                let mut rs = vec![record(
                    "edge-00001",
                    "0",
                    t,
                    &[("utilization", 1.0), ("nice", 0.0)],
                )];
                rs.extend((0..n).map(|k| {
                    let values = [("utilization", 1.0), ("user", k as f64)];
                    record(&format!("edge-{k:05}"), "1", t, &values)
                }));
                rs.push(record(
                    &format!("edge-{}", "x".repeat(pad)),
                    "1",
                    t,
                    &[("user", 1.0)],
                ));
                rs.push(record(
                    "edge-00002",
                    "0",
                    t,
                    &[("utilization", 7.0), ("nice", 0.0)],
                ));
                let (plain, block) = written(&rs);
                assert_eq!(decode(&block), plain, "{n} {pad}");
            }
        }
        let all = [
            ("utilization", 1.0),
            ("nice", 0.0),
            ("user", 2.0),
            ("system", 3.0),
            ("irq", 0.0),
        ];
        for l in 12_950..13_150 {
            // One device, two CPUs: the same indicator one (large) record back.
            let d = "d".repeat(l);
            let rs = [record(&d, "0", t, &all), record(&d, "1", t, &all)];
            let (plain, block) = written(&rs);
            assert_eq!(decode(&block), plain, "same device {l}");
            // A head longer than the previous record's, which is ~65.5 KB back (the suffix copy).
            let rs = [
                record(&format!("{}zzzz", "a".repeat(l)), "0", t, &all),
                record(&format!("{}zzzz", "b".repeat(l + 20)), "0", t, &all),
            ];
            let (plain, block) = written(&rs);
            assert_eq!(decode(&block), plain, "longer head {l}");
        }
    }

    #[test]
    fn random_batches_of_large_records_decode() {
        // Records of device names around the sizes where a record's series or heads sit near a copy's reach.
        let mut next = numbers(0x1234_5678_9abc_def1);
        let names = ["utilization", "nice", "user", "system", "irq", "steal"];
        let values = [0.0, 0.0, 1.5, -0.0, 100.0, f64::NAN, 12.25];
        for batch in 0..400 {
            let base = [40usize, 2_000, 13_000, 16_300, 21_800, 32_700, 65_400][next(7) as usize];
            let rs: Vec<DeviceRecord> = (0..1 + next(12))
                .map(|_| {
                    let len = match next(3) {
                        0 => next(20) as usize,
                        _ => base + next(200) as usize,
                    };
                    let device = match next(3) {
                        0 => "a".repeat(len),
                        1 => format!("{}zzzz", "a".repeat(len)),
                        _ => format!("{}zzzz", "b".repeat(len)),
                    };
                    let picked: Vec<(&'static str, f64)> = (0..1 + next(5))
                        .map(|_| (names[next(6) as usize], values[next(7) as usize]))
                        .collect();
                    let seconds = [1_700_000_000, 1_700_000_060][next(2) as usize];
                    record(&device, &next(12).to_string(), seconds, &picked)
                })
                .collect();
            let (plain, block) = written(&rs);
            assert_eq!(decode(&block), plain, "batch {batch}");
        }
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
