//! The `prometheus-remote-write` sink: remote write 1.0 into Prometheus (`--web.enable-remote-write-receiver`,
//! `/api/v1/write`), VictoriaMetrics (`/api/v1/write`), Mimir, Thanos or Cortex. The body is a protobuf
//! `WriteRequest` (`protobuf`) of one series per device × CPU × indicator (`series`), each with one sample at the
//! record's timestamp (seconds, sent as milliseconds), block-compressed with snappy; answers: `answers`.
//!
//! `load.compression` does not apply: the protocol's compression is snappy, always.

pub mod answers;
pub mod protobuf;
pub mod series;

use bytes::Bytes;

use super::fields::Fields;
use super::records;
use super::{EncodeError, Encoded};

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// The uncompressed `WriteRequest` of some records.
pub fn write_request<R: Fields>(records: &[R]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 5 * 96);
    let mut scratch = Scratch::default();
    for r in records {
        write_record(&mut out, &mut scratch, r);
    }
    out
}

/// What [`write_record`] keeps between records: the parts each record's series share.
pub type Scratch = protobuf::Shared;

/// Appends a record's series (one `TimeSeries` per indicator) to a `WriteRequest` being written in `out`: a
/// request is its series one after another, so the series of records written one by one make the request of the
/// batch (`load::encoder::EncodedRecords::join` writes them from the lossless form a chunk holds). A value that is
/// not finite (`null` in the batch) has no sample.
/// The record's `cpu` and `device` label fields and its timestamp are encoded once for its five series, and the
/// `__name__` label of the transform's indicators comes from a table made once.
pub fn write_record<R: Fields>(out: &mut Vec<u8>, shared: &mut Scratch, r: &R) {
    shared.set(
        &[
            ("cpu", r.cpu().as_bytes()),
            ("device", r.device().as_bytes()),
        ],
        r.seconds().saturating_mul(1000),
    );
    let names = &*NAME_FIELDS;
    out.reserve(names.len() * shared.series_len(names[0].1.len()));
    let mut other = Vec::new();
    for (i, (indicator, value)) in r.indicators().enumerate() {
        let Some(value) = value else { continue };
        // The transform's indicators come in the table's order.
        let name: &[u8] = match names
            .get(i)
            .filter(|(n, _)| *n == indicator)
            .or_else(|| names.iter().find(|(n, _)| *n == indicator))
        {
            Some((_, field)) => field,
            None => {
                other.clear();
                protobuf::label_field(&mut other, "__name__", series::metric_name(indicator));
                &other
            }
        };
        shared.write_series(out, name, value);
    }
}

/// The encoded `__name__` label field of each indicator the transform makes.
static NAME_FIELDS: std::sync::LazyLock<Vec<(&'static str, Vec<u8>)>> =
    std::sync::LazyLock::new(|| {
        ["utilization", "nice", "user", "system", "irq"]
            .into_iter()
            .map(|i| {
                let mut field = Vec::new();
                protobuf::label_field(&mut field, "__name__", series::metric_name(i));
                (i, field)
            })
            .collect()
    });

/// The request of a batch whose records are the JSON array `json`: snappy of their `WriteRequest`.
pub fn encode(json: &Bytes) -> Result<Encoded, EncodeError> {
    let records = records::read(json).map_err(EncodeError)?;
    Ok(request(compress(&write_request(&records))))
}

/// The request of a body already compressed (`compress`).
pub fn request(body: Bytes) -> Encoded {
    Encoded {
        body,
        content_type: CONTENT_TYPE,
        content_encoding: Some(CONTENT_ENCODING),
        extra: std::slice::from_ref(&VERSION_HEADER),
    }
}

thread_local! {
    /// Each loader thread's snappy encoder and output buffer, kept between batches: `compress_vec` would zero a
    /// new buffer of the largest compressed size for every batch.
    static SNAPPY: std::cell::RefCell<(snap::raw::Encoder, Vec<u8>)> =
        std::cell::RefCell::new((snap::raw::Encoder::new(), Vec::new()));
}

/// Snappy block compression (not the framed format), as remote write wants.
pub fn compress(raw: &[u8]) -> Bytes {
    SNAPPY.with_borrow_mut(|(encoder, buf)| {
        let max = snap::raw::max_compress_len(raw.len());
        if buf.len() < max {
            buf.resize(max, 0);
        }
        let n = encoder
            .compress(raw, buf)
            .expect("snappy compresses any input under 4 GiB");
        Bytes::copy_from_slice(&buf[..n])
    })
}

/// Snappy block decompression within `limit` bytes of output (the mock's and the tests').
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("snappy: {e}"))?;
    if len > limit {
        return Err(format!("snappy: {len} bytes decompressed exceed {limit}"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_per_device_cpu_and_indicator_at_the_records_time() {
        let rs = crate::transform::transform_all(crate::extract::simulated::device_stats(
            "edge-1",
            2,
            1_700_000_000,
        ))
        .unwrap();
        let json = Bytes::from(serde_json::to_vec(&rs).unwrap());
        let enc = encode(&json).unwrap();
        assert_eq!(enc.content_type, "application/x-protobuf");
        assert_eq!(enc.content_encoding, Some("snappy"));
        assert_eq!(enc.extra, &[("X-Prometheus-Remote-Write-Version", "0.1.0")]);
        let raw = decompress(&enc.body, 1 << 20).unwrap();
        let series = protobuf::read_write_request(&raw).unwrap();
        assert_eq!(series.len(), 2 * 5);
        for (s, (r, i)) in series.iter().zip(
            rs.iter()
                .flat_map(|r| r.indicators.iter().map(move |i| (r, i))),
        ) {
            let l = |k: &str| s.labels.iter().find(|(n, _)| n == k).unwrap().1.clone();
            assert_eq!(l("__name__"), format!("appliance_cpu_{}_percent", i.name));
            assert_eq!(l("device"), "edge-1");
            assert_eq!(l("cpu"), r.cpu_number);
            let names: Vec<_> = s.labels.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["__name__", "cpu", "device"], "sorted by name");
            assert_eq!(s.samples, vec![(i.value, 1_700_000_000_000)]);
        }
    }

    #[test]
    fn decompression_is_bounded() {
        let big = compress(&vec![0u8; 100_000]);
        assert!(decompress(&big, 1000).unwrap_err().contains("exceed"));
        assert!(decompress(b"\xff\xff\xff\xff\x0fgarbage", 1 << 20).is_err());
    }
}
