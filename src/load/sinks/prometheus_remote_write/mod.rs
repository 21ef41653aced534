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

use super::records::{self, RecordView};
use super::{EncodeError, Encoded};

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// The uncompressed `WriteRequest` of some records. A value that is not finite (`null` in the batch) has no
/// sample. A record's `cpu` and `device` labels are encoded once for its five series, and the `__name__` label of
/// the transform's indicators comes from a table made once.
pub fn write_request(records: &[RecordView<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 5 * 96);
    let mut shared = Vec::with_capacity(128);
    let mut other = Vec::new();
    for r in records {
        let ts = r.timestamp.0.saturating_mul(1000);
        shared.clear();
        protobuf::label_field(&mut shared, "cpu", r.cpu_number.0.as_ref());
        protobuf::label_field(&mut shared, "device", r.name.as_ref());
        for i in &r.indicators {
            let Some(value) = i.value.0 else { continue };
            let name: &[u8] = match NAME_FIELDS.iter().find(|(n, _)| *n == i.name) {
                Some((_, field)) => field,
                None => {
                    other.clear();
                    protobuf::label_field(&mut other, "__name__", &series::metric_name(&i.name));
                    &other
                }
            };
            protobuf::write_encoded_series(&mut out, &[name, &shared], value, ts);
        }
    }
    out
}

/// The encoded `__name__` label field of each indicator the transform makes.
static NAME_FIELDS: std::sync::LazyLock<Vec<(&'static str, Vec<u8>)>> =
    std::sync::LazyLock::new(|| {
        ["utilization", "nice", "user", "system", "irq"]
            .into_iter()
            .map(|i| {
                let mut field = Vec::new();
                protobuf::label_field(&mut field, "__name__", &series::metric_name(i));
                (i, field)
            })
            .collect()
    });

/// The request of a batch: snappy of the `WriteRequest` of its records.
pub fn encode(json: &Bytes) -> Result<Encoded, EncodeError> {
    let records = records::read(json).map_err(EncodeError)?;
    let body = compress(&write_request(&records));
    Ok(Encoded {
        body: Bytes::from(body),
        content_type: CONTENT_TYPE,
        content_encoding: Some(CONTENT_ENCODING),
        extra: std::slice::from_ref(&VERSION_HEADER),
    })
}

/// Snappy block compression (not the framed format), as remote write wants.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compresses any input under 4 GiB")
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
