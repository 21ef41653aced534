//! The `prometheus-remote-write` sink: remote write 1.0 into Prometheus (`--web.enable-remote-write-receiver`,
//! `/api/v1/write`), VictoriaMetrics (`/api/v1/write`), Mimir, Thanos or Cortex. The body is a protobuf
//! `WriteRequest` (`protobuf`) of one series per device × CPU × indicator (`series`), each with one sample at the
//! record's timestamp (seconds, sent as milliseconds), block-compressed with snappy as it is written (`request`
//! tells `snappy` which bytes repeat); answers: `answers`.
//!
//! `load.compression` does not apply: the protocol's compression is snappy, always.

pub mod answers;
pub mod protobuf;
pub mod request;
pub mod series;
pub mod snappy;

pub use request::Writer;

use bytes::Bytes;

use super::records;
use super::{EncodeError, Encoded};

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const CONTENT_ENCODING: &str = "snappy";
pub const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// The request of a batch whose records are the JSON array `json`: snappy of their `WriteRequest`.
pub fn encode(json: &Bytes) -> Result<Encoded, EncodeError> {
    let records = records::read(json).map_err(EncodeError)?;
    let mut writer = Writer::default();
    for r in &records {
        writer.write_record(r);
    }
    Ok(request(writer.finish()))
}

/// The request of a body already compressed (a [`Writer`]'s block).
pub fn request(body: Bytes) -> Encoded {
    Encoded {
        body,
        content_type: CONTENT_TYPE,
        content_encoding: Some(CONTENT_ENCODING),
        extra: std::slice::from_ref(&VERSION_HEADER),
    }
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
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 100_000])
            .unwrap();
        assert!(decompress(&big, 1000).unwrap_err().contains("exceed"));
        assert!(decompress(b"\xff\xff\xff\xff\x0fgarbage", 1 << 20).is_err());
    }
}
