//! The record encoder, pure: each record is encoded once, on the supervisor's thread, into a chunk of encoded
//! records (`EncodedRecords`) that a loader appends to its batch. For ingest-json, to JSON, byte for byte what
//! serde_json writes. With another sink, in the form the sink joins into a request (`load::sinks`), so that the
//! batch's request is formed from the records, and in a lossless form (`RecordForm`) from which the batch's JSON is
//! written by the same encoder only when it is needed (`model::Body`), with the length that JSON will have.

use std::io::Write;

use serde::Serializer as _;

use crate::load::sinks::fields::Fields;
use crate::load::sinks::{Joined, Sink};
use crate::model::DeviceRecord;

/// Writes `record` as JSON, byte for byte what `serde_json::to_vec(record)` gives, with the constant parts
/// (keys, indicator names) written as they are instead of escaped one by one.
pub fn encode_record(out: &mut Vec<u8>, record: &DeviceRecord) {
    // Keys, indicator names and punctuation are at most ~200 bytes; the two strings may grow by escaping.
    out.reserve(record.name.len() + record.cpu_number.len() + 256);
    write_json(out, &Parts::of(record));
}

/// The length of `record`'s JSON ([`encode_record`]), counted by the same code that writes it, without writing it.
pub fn json_len(record: &DeviceRecord) -> usize {
    let mut n = NAME_KEY.len()
        + string_len(&record.name)
        + CPU_KEY.len()
        + string_len(&record.cpu_number)
        + TIMESTAMP_KEY.len()
        + i64_len(record.timestamp)
        + INDICATORS_KEY.len()
        + (record.indicators.len() - 1) // the commas between them
        + END.len();
    for indicator in &record.indicators {
        n += match indicator_head(indicator.name) {
            Some(head) => head.len(),
            None => NAME_KEY.len() + string_len(indicator.name) + VALUE_KEY.len(),
        } + value_len(indicator.value)
            + 1; // `}`
    }
    n
}

/// The length of `s` as [`write_string`] writes it.
#[inline]
fn string_len(s: &str) -> usize {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        return s.len() + 2;
    }
    let mut count = Count(0);
    write_string(&mut count, s);
    count.0
}

/// The length of `v` as serde_json writes an `i64`.
fn i64_len(v: i64) -> usize {
    usize::from(v < 0)
        + v.unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
}

/// The length of `v` as [`write_value`] writes it.
#[inline]
fn value_len(v: f64) -> usize {
    match hundredth(v) {
        Some((_, len)) => usize::from(len),
        None => {
            let mut count = Count(0);
            write_value(&mut count, v);
            count.0
        }
    }
}

// The constant parts of a record's JSON.
const NAME_KEY: &[u8] = b"{\"name\":";
const CPU_KEY: &[u8] = b",\"cpu_number\":";
const TIMESTAMP_KEY: &[u8] = b",\"timestamp\":";
const INDICATORS_KEY: &[u8] = b",\"indicators\":[";
const VALUE_KEY: &[u8] = b",\"value\":";
const END: &[u8] = b"]}";

/// What a record's JSON is written from: a `DeviceRecord`, or a record read back from the lossless form.
struct Parts<'a> {
    name: &'a str,
    cpu: &'a str,
    timestamp: i64,
    indicators: [(&'a str, f64); 5],
}

/// A record read back from the lossless form, as remote write writes its series.
impl Fields for Parts<'_> {
    fn device(&self) -> &str {
        self.name
    }
    fn cpu(&self) -> &str {
        self.cpu
    }
    fn seconds(&self) -> i64 {
        self.timestamp
    }
    fn indicators(&self) -> impl Iterator<Item = (&str, Option<f64>)> {
        self.indicators
            .iter()
            .map(|&(name, value)| (name, value.is_finite().then_some(value)))
    }
}

impl<'a> Parts<'a> {
    fn of(record: &'a DeviceRecord) -> Self {
        Parts {
            name: &record.name,
            cpu: &record.cpu_number,
            timestamp: record.timestamp,
            indicators: record.indicators.each_ref().map(|i| (i.name, i.value)),
        }
    }
}

/// A writer that only counts the bytes written to it.
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0 += buf.len();
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[inline]
fn put<W: Write>(out: &mut W, bytes: &[u8]) {
    out.write_all(bytes)
        .expect("writing to a Vec or a count cannot fail");
}

/// A string as serde_json writes it: it escapes only `"`, `\` and control characters, so a string without them
/// is written as it is.
#[inline]
fn write_string<W: Write>(out: &mut W, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        put(out, b"\"");
        put(out, s.as_bytes());
        put(out, b"\"");
        return;
    }
    let mut ser = serde_json::Serializer::new(out);
    (&mut ser)
        .serialize_str(s)
        .expect("writing to a Vec or a count cannot fail");
}

#[inline]
fn write_json<W: Write>(out: &mut W, r: &Parts<'_>) {
    use serde_json::ser::{CompactFormatter, Formatter};
    put(out, NAME_KEY);
    write_string(out, r.name);
    put(out, CPU_KEY);
    write_string(out, r.cpu);
    put(out, TIMESTAMP_KEY);
    CompactFormatter
        .write_i64(out, r.timestamp)
        .expect("writing to a Vec or a count cannot fail");
    put(out, INDICATORS_KEY);
    for (i, (name, value)) in r.indicators.iter().enumerate() {
        if i > 0 {
            put(out, b",");
        }
        match indicator_head(name) {
            Some(head) => put(out, head),
            None => {
                put(out, NAME_KEY);
                write_string(out, name);
                put(out, VALUE_KEY);
            }
        }
        write_value(out, *value);
        put(out, b"}");
    }
    put(out, END);
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
#[inline]
pub(crate) fn write_value<W: Write>(out: &mut W, v: f64) {
    use serde_json::ser::{CompactFormatter, Formatter};
    if let Some((text, len)) = hundredth(v) {
        put(out, &text[..usize::from(len)]);
        return;
    }
    if v.is_finite() {
        CompactFormatter
            .write_f64(out, v)
            .expect("writing to a Vec or a count cannot fail");
    } else {
        put(out, b"null");
    }
}

/// The names of the transform's indicators, in its order (none needs escaping), with the JSON before their value.
const INDICATORS: [(&str, &[u8]); 5] = [
    ("utilization", b"{\"name\":\"utilization\",\"value\":"),
    ("nice", b"{\"name\":\"nice\",\"value\":"),
    ("user", b"{\"name\":\"user\",\"value\":"),
    ("system", b"{\"name\":\"system\",\"value\":"),
    ("irq", b"{\"name\":\"irq\",\"value\":"),
];

/// `v`'s text and its length from the table, when it is one of its hundredths (the same bits).
#[inline]
fn hundredth(v: f64) -> Option<(&'static [u8; 8], u8)> {
    // A saturating cast: negative and NaN give 0, huge values an index past the table.
    let n = (v * 100.0 + 0.5) as usize;
    match HUNDREDTHS.get(n) {
        Some((bits, text, len)) if *bits == v.to_bits() => Some((text, *len)),
        _ => None,
    }
}

/// The JSON before an indicator's value, for the names the transform uses (a `match`: a length switch, then one
/// comparison).
#[inline]
fn indicator_head(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "utilization" => INDICATORS[0].1,
        "nice" => INDICATORS[1].1,
        "user" => INDICATORS[2].1,
        "system" => INDICATORS[3].1,
        "irq" => INDICATORS[4].1,
        _ => return None,
    })
}

/// A record in the lossless form that a batch formed for a sink other than ingest-json keeps instead of its
/// JSON (`model::Body`), from which [`json_array`] writes the JSON byte for byte as [`encode_record`] does:
///
/// ```text
/// record    = u32 name length, name, u32 cpu length, cpu, i64 timestamp, indicator × 5
/// indicator = u8 index in the transform's indicators (or 255 then u32 name length and name), f64 value
/// ```
///
/// (little-endian). About 80 bytes, written with no formatting.
pub struct RecordForm;

/// The index of an indicator whose name is not one of the transform's: its name follows.
const NAMED: u8 = 255;

impl RecordForm {
    pub fn write(out: &mut Vec<u8>, record: &DeviceRecord) {
        let text = |out: &mut Vec<u8>, s: &str| {
            let len = u32::try_from(s.len()).expect("a record's text is far less than 4 GiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        out.reserve(record.name.len() + record.cpu_number.len() + 64);
        text(out, &record.name);
        text(out, &record.cpu_number);
        out.extend_from_slice(&record.timestamp.to_le_bytes());
        // The transform's indicators, in the table's order: their indexes and values in one copy.
        let mut known = [0u8; 5 * 9];
        let in_order = record.indicators.iter().enumerate().all(|(i, indicator)| {
            known[i * 9] = i as u8;
            known[i * 9 + 1..i * 9 + 9].copy_from_slice(&indicator.value.to_bits().to_le_bytes());
            INDICATORS[i].0 == indicator.name
        });
        if in_order {
            out.extend_from_slice(&known);
            return;
        }
        for indicator in &record.indicators {
            match INDICATORS
                .iter()
                .position(|(name, _)| *name == indicator.name)
            {
                Some(index) => out.push(index as u8),
                None => {
                    out.push(NAMED);
                    text(out, indicator.name);
                }
            }
            out.extend_from_slice(&indicator.value.to_bits().to_le_bytes());
        }
    }

    /// The record at the start of `r` (written by [`RecordForm::write`] in this process, so well formed).
    fn read<'a>(r: &mut Reader<'a>) -> Parts<'a> {
        let name = r.text();
        let cpu = r.text();
        let timestamp = i64::from_le_bytes(r.array());
        let indicators = [(); 5].map(|()| {
            let name = match r.take(1)[0] {
                NAMED => r.text(),
                index => INDICATORS[usize::from(index)].0,
            };
            (name, f64::from_bits(u64::from_le_bytes(r.array())))
        });
        Parts {
            name,
            cpu,
            timestamp,
            indicators,
        }
    }
}

/// A reader over records in the lossless form.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        head
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().expect("N bytes")
    }
    fn text(&mut self) -> &'a str {
        let n = u32::from_le_bytes(self.array()) as usize;
        std::str::from_utf8(self.take(n)).expect("written from a str")
    }
}

/// The JSON array of `records` (records in the lossless form, one after another), `len` bytes long.
pub fn json_array(records: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    write_json_records(&mut out, records);
    out.push(b']');
    out
}

/// Appends the JSON of `records` (in the lossless form), separated by commas.
pub(crate) fn write_json_records(out: &mut Vec<u8>, records: &[u8]) {
    let mut r = Reader { b: records };
    let mut first = true;
    while !r.b.is_empty() {
        if !first {
            out.push(b',');
        }
        first = false;
        write_json(out, &RecordForm::read(&mut r));
    }
}

/// Records already encoded, with where each one ends: what the supervisor hands a loader, which appends runs of
/// them to a batch with one copy each. For ingest-json, each record's JSON, separated by commas as in a JSON array.
/// With a sink that writes records (`Sink::writes_records`), each record in the lossless form ([`RecordForm`]), from
/// which remote write's series are written at join and the batch's JSON only if it is needed, with the length that
/// JSON will have; and for a sink with a form of its own (`Sink::holds_own_form`: line protocol) that form too.
#[derive(Debug, Default)]
pub struct EncodedRecords {
    /// JSON records separated by commas, or (with `sink`) records in the lossless form one after another.
    bytes: Vec<u8>,
    ends: Vec<u32>,
    sink: Option<SinkRecords>,
}

/// The chunk's sink, and the same records in the sink's own form (`Sink::write_record`), one after another, when it
/// has one.
#[derive(Debug)]
struct SinkRecords {
    sink: Sink,
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// Each record's JSON length ([`json_len`]).
    json_lens: Vec<u32>,
    /// False once a record could not be written (`EncodeError`): the batches of this chunk are then encoded
    /// from their JSON, which says why.
    ok: bool,
}

impl EncodedRecords {
    /// An empty chunk for `sink`: records in JSON, or in the sink's format and the lossless form if it writes
    /// records.
    pub fn for_sink(sink: Sink) -> Self {
        Self::with_capacity(sink, 0, 0, 0)
    }
    /// An empty chunk with room for `records` records of `bytes` bytes (JSON, or the lossless form) and
    /// `sink_bytes` in the sink's format, so that filling it does not reallocate.
    fn with_capacity(sink: Sink, records: usize, bytes: usize, sink_bytes: usize) -> Self {
        EncodedRecords {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(records),
            sink: sink.writes_records().then(|| SinkRecords {
                sink,
                bytes: Vec::with_capacity(sink_bytes),
                ends: Vec::with_capacity(records),
                json_lens: Vec::with_capacity(records),
                ok: true,
            }),
        }
    }
    /// The records held, leaving an empty chunk for the same sink.
    pub fn take(&mut self) -> Self {
        self.take_with_room(0, 0)
    }
    /// The records held, leaving an empty chunk for the same sink with room for `records` records of `bytes`
    /// bytes, and as much in the sink's format as this chunk held (so that filling it does not reallocate).
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
    /// Bytes held (of JSON, or of the lossless form).
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }
    /// Whether the records are held as JSON (else in the lossless form).
    pub(crate) fn holds_json(&self) -> bool {
        self.sink.is_none()
    }
    pub fn push(&mut self, record: &DeviceRecord) {
        let end = |v: &Vec<u8>| u32::try_from(v.len()).expect("a chunk holds far less than 4 GiB");
        match self.sink.as_mut() {
            None => {
                if !self.ends.is_empty() {
                    self.bytes.push(b',');
                }
                encode_record(&mut self.bytes, record);
            }
            Some(s) => {
                RecordForm::write(&mut self.bytes, record);
                s.json_lens.push(
                    u32::try_from(json_len(record)).expect("a record is far less than 4 GiB"),
                );
                if s.ok && s.sink.holds_own_form() {
                    s.ok = s.sink.write_record(&mut s.bytes, record).is_ok();
                    s.ends.push(end(&s.bytes));
                }
            }
        }
        self.ends.push(end(&self.bytes));
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
            _ => self.ends[i - 1] as usize + usize::from(self.holds_json()),
        }
    }
    /// The length of record `i`'s JSON.
    pub(crate) fn record_len(&self, i: usize) -> usize {
        match &self.sink {
            None => self.ends[i] as usize - self.start(i),
            Some(s) => s.json_lens[i] as usize,
        }
    }
    /// Records `from..to`: their JSON with the commas between them, or their lossless form ([`holds_json`]).
    ///
    /// [`holds_json`]: EncodedRecords::holds_json
    pub(crate) fn run(&self, from: usize, to: usize) -> &[u8] {
        &self.bytes[self.start(from)..self.ends[to - 1] as usize]
    }
    /// Appends records `from..to` to the sink's request body being formed: line protocol's lines as the chunk
    /// holds them, remote write's series written from the lossless form. False when the chunk has no such form
    /// (ingest-json) or a record could not be written in it: the batch is then encoded from its JSON.
    pub(crate) fn join(&self, from: usize, to: usize, joined: &mut Joined) -> bool {
        let Some(s) = self.sink.as_ref().filter(|s| s.ok) else {
            return false;
        };
        if !s.sink.holds_own_form() {
            let mut r = Reader {
                b: self.run(from, to),
            };
            while !r.b.is_empty() {
                joined.series.write_record(&RecordForm::read(&mut r));
            }
            return true;
        }
        let start = match from {
            0 => 0,
            _ => s.ends[from - 1] as usize,
        };
        joined
            .text
            .extend_from_slice(&s.bytes[start..s.ends[to - 1] as usize]);
        true
    }
    /// Each record's JSON.
    pub fn json(&self) -> Vec<Vec<u8>> {
        (0..self.len())
            .map(|i| match self.holds_json() {
                true => self.run(i, i + 1).to_vec(),
                false => {
                    let mut one = Vec::new();
                    write_json_records(&mut one, self.run(i, i + 1));
                    one
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_names_the_transforms_indicators_in_order() {
        assert_eq!(
            super::INDICATORS.map(|(name, _)| name),
            crate::model::INDICATORS
        );
        for (name, head) in super::INDICATORS {
            assert_eq!(head, format!("{{\"name\":\"{name}\",\"value\":").as_bytes());
            assert_eq!(super::indicator_head(name), Some(head));
        }
    }
}
