//! Batch assembly, pure: a loader appends runs of encoded records (`load::encoder`) to the JSON array that becomes
//! the request body, so a batch is held once, as bytes, and never copied (retries and the spool share the same
//! `Bytes`). With a sink that writes records (`Sink::writes_records`), the same runs are joined into the batch's
//! request body (`EncodedRecords::join`: line protocol's lines, remote write's series), compressed when the batch is finished, and the batch keeps its
//! records in the lossless form instead of the JSON array, which is built from them only when it is needed.

use bytes::Bytes;

#[cfg(test)]
use crate::load::encoder::*;
use crate::load::encoder::{encode_record, EncodedRecords};
use crate::load::sinks::{Joined, Sink};
use crate::model::{Batch, BatchId, Body, DeviceRecord, Origin};

/// The buffer of one loader: a batch being formed, and how many records it holds. It holds the batch's JSON array
/// as it is written, or, with a sink that writes records, its records in the lossless form (`RecordForm`) from
/// which the JSON is built only if it is needed (`model::Body`), with the length that JSON will have.
#[derive(Debug)]
pub struct BatchBuilder {
    body: Vec<u8>,
    /// `body` holds the JSON array (from its `[`), else records in the lossless form.
    holds_json: bool,
    /// The length of the JSON array so far, `[` included (`body.len()` when it holds JSON).
    json_len: usize,
    records: usize,
    max_records: usize,
    max_bytes: usize,
    /// With a sink that writes records: the batch's request being formed.
    request: Option<Request>,
}

/// The request of the batch being formed, for a sink that writes records.
#[derive(Debug)]
struct Request {
    sink: Sink,
    /// The request body, joined run by run (`EncodedRecords::join`; reused from batch to batch).
    joined: Joined,
    /// Every run of the batch brought its records in the sink's form.
    ok: bool,
}

/// A finished batch: its JSON array (or what it is built from), its record count, and its request body when it
/// was formed in the sink's format.
#[derive(Debug, PartialEq)]
pub struct Finished {
    pub body: Body,
    pub records: usize,
    pub request: Option<Bytes>,
}

impl BatchBuilder {
    /// A builder of JSON arrays that reports full at `max_records` records or `max_bytes` bytes of JSON.
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        BatchBuilder {
            body: Self::fresh(max_bytes, true),
            holds_json: true,
            json_len: 1,
            records: 0,
            max_records,
            max_bytes,
            request: None,
        }
    }

    /// A builder that also forms each batch's request body when `sink` writes records, and then keeps the
    /// records in the lossless form instead of the JSON array.
    pub fn for_sink(sink: Sink, max_records: usize, max_bytes: usize) -> Self {
        let mut builder = Self::new(max_records, max_bytes);
        if sink.writes_records() {
            builder.request = Some(Request {
                sink,
                joined: Joined::default(),
                ok: true,
            });
            builder.holds_json = false;
            builder.body = Self::fresh(max_bytes, false);
        }
        builder
    }

    /// An empty body: `[` opening a JSON array, or nothing (records in the lossless form, about a third of their
    /// JSON).
    fn fresh(max_bytes: usize, json: bool) -> Vec<u8> {
        match json {
            true => {
                let mut v = Vec::with_capacity(max_bytes.min(64 << 10));
                v.push(b'[');
                v
            }
            false => Vec::with_capacity(max_bytes.min(64 << 10) / 3),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn is_full(&self) -> bool {
        self.records >= self.max_records || self.json_len >= self.max_bytes
    }

    /// Turns the batch being formed into its JSON array (a record comes as JSON while it holds the lossless form).
    fn switch_to_json(&mut self) {
        if self.holds_json {
            return;
        }
        let mut json = Self::fresh(self.max_bytes, true);
        crate::load::encoder::write_json_records(&mut json, &self.body);
        debug_assert_eq!(json.len(), self.json_len);
        self.body = json;
        self.holds_json = true;
    }

    /// Appends one encoded record. Returns the finished batch body first when this record would push a
    /// non-empty batch past `max_bytes` (the record then starts the next batch).
    pub fn push_encoded(&mut self, record: &[u8]) -> Option<Finished> {
        let done = if self.records > 0 && self.json_len + 1 + record.len() + 1 > self.max_bytes {
            self.take()
        } else {
            None
        };
        self.switch_to_json();
        if self.records > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(record);
        self.json_len = self.body.len();
        self.records += 1;
        if let Some(request) = &mut self.request {
            request.ok = false; // a record without its sink form
        }
        done
    }

    /// Appends records of `chunk` from `from` on, as many as [`BatchBuilder::push_encoded`] one by one would put
    /// in the current batch, with one copy; returns where it stopped, and the batch when it is finished (full, or
    /// closed because the next record would push it past `max_bytes`).
    pub fn push_run(&mut self, chunk: &EncodedRecords, from: usize) -> (usize, Option<Finished>) {
        let (mut len, mut count, mut to) = (self.json_len, self.records, from);
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
            let run = chunk.run(from, to);
            match (self.holds_json, chunk.holds_json()) {
                (false, false) => self.body.extend_from_slice(run),
                (true, json) => {
                    if self.records > 0 {
                        self.body.push(b',');
                    }
                    match json {
                        true => self.body.extend_from_slice(run),
                        false => crate::load::encoder::write_json_records(&mut self.body, run),
                    }
                }
                (false, true) => {
                    self.switch_to_json();
                    if self.records > 0 {
                        self.body.push(b',');
                    }
                    self.body.extend_from_slice(run);
                }
            }
            self.json_len = len;
            debug_assert!(!self.holds_json || self.body.len() == len);
            self.records += to - from;
            if let Some(r) = &mut self.request {
                r.ok = r.ok && chunk.join(from, to, &mut r.joined);
            }
        }
        let done = (to == from || self.is_full())
            .then(|| self.take())
            .flatten();
        (to, done)
    }

    /// Encodes and appends a record (see [`BatchBuilder::push_encoded`]).
    pub fn push(&mut self, record: &DeviceRecord) -> Option<Finished> {
        let mut one = Vec::with_capacity(256);
        encode_record(&mut one, record);
        self.push_encoded(&one)
    }

    /// The finished batch (its JSON array closed, or its records in the lossless form with the length of that
    /// array), its record count and its request, leaving the builder empty.
    pub fn take(&mut self) -> Option<Finished> {
        if self.records == 0 {
            return None;
        }
        let default_json = self.request.is_none();
        let body = std::mem::replace(&mut self.body, Self::fresh(self.max_bytes, default_json));
        let body = match std::mem::replace(&mut self.holds_json, default_json) {
            true => {
                let mut body = body;
                body.push(b']');
                Body::Json(Bytes::from(body))
            }
            false => Body::records(
                Bytes::from(body),
                self.json_len + 1,
                crate::load::encoder::json_array,
            ),
        };
        self.json_len = 1;
        let records = std::mem::replace(&mut self.records, 0);
        // Finished (which leaves `joined` empty) when every record joined, else forgotten.
        let request = self.request.as_mut().and_then(|r| {
            if std::mem::replace(&mut r.ok, true) {
                Some(r.sink.finish(&mut r.joined))
            } else {
                r.joined.clear();
                None
            }
        });
        Some(Finished {
            body,
            records,
            request,
        })
    }

    /// Wraps a finished batch.
    pub fn batch(id: BatchId, worker: usize, finished: Finished) -> Batch {
        Batch {
            id,
            worker,
            records: finished.records,
            body: finished.body,
            request: finished.request,
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
    fn the_json_length_is_counted_exactly() {
        let mut values: Vec<f64> = (0..=10_000).map(|n| f64::from(n) / 100.0).collect();
        values.extend([
            -0.0,
            12.345,
            0.1 + 0.2,
            1e-7,
            1e300,
            -1.5,
            f64::NAN,
            f64::INFINITY,
            f64::MAX,
        ]);
        let mut timestamps = vec![0, -1, i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1];
        for d in 0..19 {
            let p = 10i64.pow(d);
            timestamps.extend([p - 1, p, p + 1, -p + 1, -p, -p - 1]);
        }
        let mut r = records(1).remove(0);
        let check = |r: &crate::model::DeviceRecord| {
            let mut json = Vec::new();
            encode_record(&mut json, r);
            assert_eq!(
                json_len(r),
                json.len(),
                "{}",
                String::from_utf8_lossy(&json)
            );
        };
        for (i, v) in values.into_iter().enumerate() {
            r.indicators[i % 5].value = v;
            check(&r);
        }
        for t in timestamps {
            r.timestamp = t;
            check(&r);
        }
        for name in [
            "",
            "\"",
            "\\",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "a\nb\tc\r",
            "日本\u{8}",
        ] {
            r.name = name.into();
            r.cpu_number = name.to_string().into();
            r.indicators[2].name = "not \"known\"";
            check(&r);
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
            for record in &chunk.json() {
                expected.extend(by_one.push_encoded(record));
                if by_one.is_full() {
                    expected.extend(by_one.take());
                }
            }
            // The same chunk twice, so that the second starts with a batch the first left partly full.
            for record in &chunk.json() {
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
        let back = chunk.json();
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
        let Finished {
            body, records: n, ..
        } = b.take().unwrap();
        assert_eq!(n, 3);
        assert_eq!(count_records(body.json()), Ok(3));
        let parsed: serde_json::Value = serde_json::from_slice(body.json()).unwrap();
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
        let counts: Vec<_> = done.iter().map(|f| f.records).collect();
        assert_eq!(counts.iter().sum::<usize>(), 5);
        for Finished {
            body, records: n, ..
        } in &done
        {
            assert!(
                body.len() <= 2 * one + 3,
                "{} > {}",
                body.len(),
                2 * one + 3
            );
            assert_eq!(count_records(body.json()), Ok(*n as u64));
            // What the ETL sends is in the shape the mock counts quickly.
            assert_eq!(crate::codec::body_scan::count(body.json()), Some(*n as u64));
        }
    }
}

#[cfg(test)]
mod sink_tests {
    use super::*;
    use crate::config::{Compression, LoadSettings, SinkKind};
    use crate::extract::simulated::device_stats;
    use crate::load::encoder::json_len;
    use crate::transform::transform_all;

    fn sink(kind: SinkKind, compression: Compression) -> Sink {
        Sink::new(&LoadSettings {
            sink: kind,
            compression,
            ..LoadSettings::default()
        })
    }

    /// The batches of `records` formed chunk by chunk, as the stage and a loader form them.
    fn formed(sink: Sink, records: &[DeviceRecord], chunk: usize) -> Vec<Batch> {
        let mut b = BatchBuilder::for_sink(sink, 7, 1 << 20);
        let mut done = Vec::new();
        for part in records.chunks(chunk) {
            let mut c = EncodedRecords::for_sink(sink);
            for r in part {
                c.push(r);
            }
            let mut from = 0;
            while from < c.len() {
                let (to, finished) = b.push_run(&c, from);
                done.extend(finished);
                from = to;
            }
        }
        done.extend(b.take());
        done.into_iter()
            .enumerate()
            .map(|(i, f)| BatchBuilder::batch(BatchId(format!("b{i}")), 0, f))
            .collect()
    }

    #[test]
    fn a_request_formed_with_the_batch_is_the_one_encoded_from_its_json() {
        let mut rs = transform_all(device_stats("edge 1,a=b\"c\\", 20, 1_700_000_000)).unwrap();
        rs[3].indicators[1].value = f64::NAN; // null: no sample, no field
        for i in rs[4].indicators.iter_mut() {
            i.value = f64::INFINITY; // no line at all
        }
        rs[5].name = "é日本\ttab".into();
        // An indicator outside the transform's table, indicators out of order, a timestamp before the epoch.
        rs[6].indicators[0].name = "soft irq";
        rs[6].indicators.swap(1, 3);
        rs[7].timestamp = -7;
        for kind in [SinkKind::PrometheusRemoteWrite, SinkKind::InfluxLine] {
            for compression in [Compression::None, Compression::Gzip] {
                let sink = sink(kind, compression);
                // Chunks of 6 make batches of several runs; chunks of 14, batches of one run too.
                let batches = [formed(sink, &rs, 6), formed(sink, &rs, 14)].concat();
                assert_eq!(batches.len(), 6, "20 records in batches of 7, twice");
                for batch in &batches {
                    assert!(batch.request.is_some(), "{kind:?}");
                    let formed = sink.request(batch).unwrap();
                    let from_json = sink.encode(batch.body.json()).unwrap();
                    assert_eq!(formed.content_type, from_json.content_type);
                    assert_eq!(formed.content_encoding, from_json.content_encoding);
                    assert_eq!(formed.extra, from_json.extra);
                    let plain = |body: &Bytes| match (kind, compression) {
                        (SinkKind::PrometheusRemoteWrite, _) => {
                            crate::load::sinks::prometheus_remote_write::decompress(body, 1 << 20)
                                .unwrap()
                        }
                        (_, Compression::Gzip) => {
                            crate::codec::gunzip_limited(body, 1 << 20).unwrap()
                        }
                        _ => body.to_vec(),
                    };
                    assert_eq!(plain(&formed.body), plain(&from_json.body), "{kind:?}");
                }
            }
        }
        // ingest-json batches carry no request: their body is the JSON array.
        let json = sink(SinkKind::IngestJson, Compression::None);
        assert!(formed(json, &rs, 6).iter().all(|b| b.request.is_none()));
    }

    /// Records with every kind of text and value the JSON has to write exactly: names with quotes, backslashes
    /// and control characters, `null` values, an indicator the transform does not make, extreme timestamps, and a
    /// device with many CPUs.
    fn odd_records() -> Vec<DeviceRecord> {
        let mut rs = transform_all(device_stats(
            "edge \"1\"\\a\u{0}\n\u{1f}\u{7f} é日本",
            3,
            1_700_000_000,
        ))
        .unwrap();
        rs.extend(transform_all(device_stats("many-cpus", 96, 1_700_000_060)).unwrap());
        rs[0].cpu_number = "cpu\"0\"\t\\".into();
        rs[0].indicators[1].value = f64::NAN;
        rs[0].indicators[3].value = f64::NEG_INFINITY;
        rs[1].timestamp = i64::MIN;
        rs[1].indicators[0].value = -0.0;
        rs[1].indicators[2].value = 12.345;
        rs[1].indicators[4].value = 1e300;
        rs[2].timestamp = i64::MAX;
        rs[2].indicators[4].name = "soft \"irq\"\\\u{1}";
        rs[2].indicators.swap(0, 3);
        rs[5].name = String::new();
        rs[6].cpu_number = "".into(); // no empty tag in line protocol: its batch goes by the JSON path
        for i in rs[7].indicators.iter_mut() {
            i.value = f64::INFINITY; // all null
        }
        rs
    }

    /// The bodies of `records` formed one by one into JSON arrays, as before the lossless form.
    fn eager(records: &[DeviceRecord], max_records: usize, max_bytes: usize) -> Vec<Bytes> {
        let mut b = BatchBuilder::new(max_records, max_bytes);
        let mut done = Vec::new();
        for r in records {
            done.extend(b.push(r));
            if b.is_full() {
                done.extend(b.take());
            }
        }
        done.extend(b.take());
        done.into_iter().map(|f| f.body.json().clone()).collect()
    }

    #[test]
    fn the_json_built_when_needed_is_the_json_built_as_the_batch_was_formed() {
        let rs = odd_records();
        for r in &rs {
            let mut json = Vec::new();
            encode_record(&mut json, r);
            assert_eq!(json, serde_json::to_vec(r).unwrap());
            assert_eq!(json_len(r), json.len());
        }
        let expected = eager(&rs, 7, 1 << 20);
        assert_eq!(expected.len(), rs.len().div_ceil(7));
        for kind in [SinkKind::PrometheusRemoteWrite, SinkKind::InfluxLine] {
            let sink = sink(kind, Compression::None);
            for chunk in [1, 6, 14, 1000] {
                let batches = formed(sink, &rs, chunk);
                for b in &batches {
                    assert!(
                        matches!(&b.body, Body::Records(lazy) if !lazy.is_built()),
                        "{kind:?}: formed without its JSON"
                    );
                    let len = b.body.len();
                    assert_eq!(b.body.json().len(), len, "{kind:?}: the length counted");
                }
                let lazy: Vec<Bytes> = batches.iter().map(|b| b.body.json().clone()).collect();
                assert_eq!(lazy, expected, "{kind:?}, chunks of {chunk}");
                // What a spool file holds, read back, is the records themselves.
                let back: Vec<serde_json::Value> = lazy
                    .iter()
                    .flat_map(|j| serde_json::from_slice::<Vec<serde_json::Value>>(j).unwrap())
                    .collect();
                assert_eq!(
                    back,
                    serde_json::to_value(&rs).unwrap().as_array().unwrap()[..]
                );
            }
        }
    }

    #[test]
    fn batches_closed_at_the_byte_limit_are_the_same_with_the_lossless_form() {
        let rs = odd_records();
        let one = serde_json::to_vec(&rs[10]).unwrap().len();
        for max_bytes in [10, one * 2 + 3, one * 5, 4096] {
            let expected = eager(&rs, 1000, max_bytes);
            for kind in [SinkKind::PrometheusRemoteWrite, SinkKind::InfluxLine] {
                let sink = sink(kind, Compression::None);
                let mut b = BatchBuilder::for_sink(sink, 1000, max_bytes);
                let mut got = Vec::new();
                for part in rs.chunks(9) {
                    let mut c = EncodedRecords::for_sink(sink);
                    part.iter().for_each(|r| c.push(r));
                    let mut from = 0;
                    while from < c.len() {
                        let (to, finished) = b.push_run(&c, from);
                        got.extend(finished);
                        from = to;
                    }
                }
                got.extend(b.take());
                let got: Vec<Bytes> = got.iter().map(|f| f.body.json().clone()).collect();
                assert_eq!(got, expected, "{kind:?}, {max_bytes} bytes");
            }
        }
    }

    #[test]
    fn json_records_and_lossless_records_mix_in_one_batch() {
        let rs = odd_records();
        let json_sink = sink(SinkKind::IngestJson, Compression::None);
        let rw = sink(SinkKind::PrometheusRemoteWrite, Compression::None);
        let chunk = |part: &[DeviceRecord], sink: Sink| {
            let mut c = EncodedRecords::for_sink(sink);
            part.iter().for_each(|r| c.push(r));
            c
        };
        let mut b = BatchBuilder::for_sink(rw, 1000, 1 << 20);
        // Lossless, then a JSON record (the batch turns into JSON), then lossless records appended as JSON, then
        // a JSON chunk.
        assert!(b.push_run(&chunk(&rs[..4], rw), 0).1.is_none());
        assert!(b.push(&rs[4]).is_none());
        assert!(b.push_run(&chunk(&rs[5..9], rw), 0).1.is_none());
        assert!(b.push_run(&chunk(&rs[9..12], json_sink), 0).1.is_none());
        let mixed = b.take().unwrap();
        assert!(
            mixed.request.is_none(),
            "a record came without its sink form"
        );
        assert_eq!(mixed.body.json(), &eager(&rs[..12], 1000, 1 << 20)[0]);
        // The next batch is in the lossless form again.
        assert!(b.push_run(&chunk(&rs[12..20], rw), 0).1.is_none());
        let next = b.take().unwrap();
        assert!(matches!(next.body, Body::Records(_)));
        assert_eq!(next.body.json(), &eager(&rs[12..20], 1000, 1 << 20)[0]);
        // Its request holds its own records only: the series joined for the mixed batch were forgotten.
        let plain = |body: &Bytes| {
            crate::load::sinks::prometheus_remote_write::decompress(body, 1 << 20).unwrap()
        };
        let from_json = rw.encode(next.body.json()).unwrap();
        assert_eq!(
            plain(next.request.as_ref().expect("formed")),
            plain(&from_json.body)
        );
    }

    #[test]
    fn a_record_the_sink_cannot_write_leaves_its_batches_to_the_json_path() {
        let mut rs = transform_all(device_stats("d", 20, 1_700_000_000)).unwrap();
        rs[9].cpu_number = "".into(); // no empty tag in line protocol
        let sink = sink(SinkKind::InfluxLine, Compression::None);
        // Chunks of 6: records 6..12 are one chunk; batches of 7 meet it in 0..7 and 7..14.
        let batches = formed(sink, &rs, 6);
        let with: Vec<bool> = batches.iter().map(|b| b.request.is_some()).collect();
        assert_eq!(with, [false, false, true]);
        assert!(sink.request(&batches[0]).is_ok(), "encoded from its JSON");
        let e = sink.request(&batches[1]).unwrap_err();
        assert!(e.0.contains("empty tag"), "{e:?}");
    }
}
