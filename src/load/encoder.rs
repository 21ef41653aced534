//! The record encoder, pure: each record is encoded to JSON once, on the supervisor's thread, byte for byte what
//! serde_json writes, into a chunk of encoded records (`EncodedRecords`) that a loader appends to its batch; with a
//! sink other than ingest-json, also in the form the sink joins into a request (`load::sinks`), so that the
//! batch's request is formed from the records instead of being read back from the JSON.

use serde::Serializer as _;

use crate::load::sinks::Sink;
use crate::model::DeviceRecord;

/// Writes `record` as JSON, byte for byte what `serde_json::to_vec(record)` gives, with the constant parts
/// (keys, indicator names) written as they are instead of escaped one by one.
pub fn encode_record(out: &mut Vec<u8>, record: &DeviceRecord) {
    use serde_json::ser::{CompactFormatter, Formatter};
    // serde_json escapes only `"`, `\\` and control characters: a string without them is written as it is.
    let string = |out: &mut Vec<u8>, s: &str| {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
            return;
        }
        let mut ser = serde_json::Serializer::new(out);
        (&mut ser)
            .serialize_str(s)
            .expect("writing to a Vec cannot fail");
    };
    // Keys, indicator names and punctuation are at most ~200 bytes; the two strings may grow by escaping.
    out.reserve(record.name.len() + record.cpu_number.len() + 256);
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
        if i > 0 {
            out.push(b',');
        }
        match indicator_head(indicator.name) {
            Some(head) => out.extend_from_slice(head),
            None => {
                out.extend_from_slice(b"{\"name\":");
                string(out, indicator.name);
                out.extend_from_slice(b",\"value\":");
            }
        }
        write_value(out, indicator.value);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// Every hundredth from 0.00 to 100.00 (every percentage the simulated source makes) with its text as serde_json
/// writes it, made once by serde_json itself: a table lookup instead of float formatting per value.
static HUNDREDTHS: std::sync::LazyLock<Vec<(u64, [u8; 8], u8)>> = std::sync::LazyLock::new(|| {
    (0..=10_000u32)
        .map(|n| {
            let v = f64::from(n) / 100.0;
            let text = serde_json::to_vec(&v).expect("a finite f64 serialises");
            let mut bytes = [0u8; 8];
            bytes[..text.len()].copy_from_slice(&text);
            (v.to_bits(), bytes, text.len() as u8)
        })
        .collect()
});

/// An indicator's value as serde_json writes an `f64` (`null` when not finite): from the table when it is one of
/// its hundredths (the same bits, so `-0.0` and `12.345` are not), else through serde_json's formatter.
pub(crate) fn write_value(out: &mut Vec<u8>, v: f64) {
    use serde_json::ser::{CompactFormatter, Formatter};
    // A saturating cast: negative and NaN give 0, huge values an index past the table.
    let n = (v * 100.0 + 0.5) as usize;
    if let Some((bits, text, len)) = HUNDREDTHS.get(n) {
        if *bits == v.to_bits() {
            out.extend_from_slice(&text[..usize::from(*len)]);
            return;
        }
    }
    if v.is_finite() {
        CompactFormatter
            .write_f64(out, v)
            .expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The JSON before an indicator's value, for the names the transform uses (none needs escaping).
fn indicator_head(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "utilization" => b"{\"name\":\"utilization\",\"value\":",
        "nice" => b"{\"name\":\"nice\",\"value\":",
        "user" => b"{\"name\":\"user\",\"value\":",
        "system" => b"{\"name\":\"system\",\"value\":",
        "irq" => b"{\"name\":\"irq\",\"value\":",
        _ => return None,
    })
}

/// Records already encoded, separated by commas as in a JSON array, with where each one ends: what the
/// supervisor hands a loader, which appends runs of them to a batch with one copy each. With a sink that writes
/// records (`Sink::writes_records`), each record also in the sink's format.
#[derive(Debug, Default)]
pub struct EncodedRecords {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    sink: Option<SinkRecords>,
}

/// The same records in the form the sink joins into a request (`Sink::write_record`), one after another.
#[derive(Debug)]
struct SinkRecords {
    sink: Sink,
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// False once a record could not be written (`EncodeError`): the batches of this chunk are then encoded
    /// from their JSON, which says why.
    ok: bool,
}

impl EncodedRecords {
    /// An empty chunk for `sink`: records in JSON, and in the sink's format if it writes records.
    pub fn for_sink(sink: Sink) -> Self {
        Self::with_capacity(sink, 0, 0, 0)
    }
    /// An empty chunk with room for `records` records of `bytes` bytes of JSON and `sink_bytes` in the sink's
    /// format, so that filling it does not reallocate.
    fn with_capacity(sink: Sink, records: usize, bytes: usize, sink_bytes: usize) -> Self {
        EncodedRecords {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(records),
            sink: sink.writes_records().then(|| SinkRecords {
                sink,
                bytes: Vec::with_capacity(sink_bytes),
                ends: Vec::with_capacity(records),
                ok: true,
            }),
        }
    }
    /// The records held, leaving an empty chunk for the same sink.
    pub fn take(&mut self) -> Self {
        self.take_with_room(0, 0)
    }
    /// The records held, leaving an empty chunk for the same sink with room for `records` records of `bytes`
    /// bytes of JSON, and as much in the sink's format as this chunk held (so that filling it does not reallocate).
    pub fn take_with_room(&mut self, records: usize, bytes: usize) -> Self {
        let empty = match &self.sink {
            Some(s) => Self::with_capacity(s.sink, records, bytes, s.bytes.len() + 1024),
            None => EncodedRecords {
                bytes: Vec::with_capacity(bytes),
                ends: Vec::with_capacity(records),
                sink: None,
            },
        };
        std::mem::replace(self, empty)
    }
    /// Bytes of JSON held.
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }
    pub fn push(&mut self, record: &DeviceRecord) {
        if !self.ends.is_empty() {
            self.bytes.push(b',');
        }
        encode_record(&mut self.bytes, record);
        self.ends
            .push(u32::try_from(self.bytes.len()).expect("a chunk holds far less than 4 GiB"));
        if let Some(s) = self.sink.as_mut().filter(|s| s.ok) {
            s.ok = s.sink.write_record(&mut s.bytes, record).is_ok();
            s.ends
                .push(u32::try_from(s.bytes.len()).expect("a chunk holds far less than 4 GiB"));
        }
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Where record `i` starts.
    fn start(&self, i: usize) -> usize {
        match i {
            0 => 0,
            _ => self.ends[i - 1] as usize + 1,
        }
    }
    /// The length of record `i`'s JSON.
    pub(crate) fn record_len(&self, i: usize) -> usize {
        self.ends[i] as usize - self.start(i)
    }
    /// Records `from..to`, with the commas between them.
    pub(crate) fn run(&self, from: usize, to: usize) -> &[u8] {
        &self.bytes[self.start(from)..self.ends[to - 1] as usize]
    }
    /// Records `from..to` in the sink's form, when every record of the chunk could be written in it.
    pub(crate) fn sink_run(&self, from: usize, to: usize) -> Option<&[u8]> {
        let s = self.sink.as_ref().filter(|s| s.ok)?;
        let start = match from {
            0 => 0,
            _ => s.ends[from - 1] as usize,
        };
        Some(&s.bytes[start..s.ends[to - 1] as usize])
    }
    /// Each record's JSON.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.run(i, i + 1))
    }
}
