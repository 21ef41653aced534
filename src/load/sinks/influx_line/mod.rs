//! The `influx-line` sink: InfluxDB line protocol, one line per record,
//!
//! ```text
//! appliance_cpu,cpu=0,device=edge-1 utilization=12.5,nice=0.0,user=7.25,system=5.0,irq=0.25 1700000000
//! ```
//!
//! measurement `appliance_cpu`, tags `cpu` and `device` (sorted by key, as InfluxDB prefers), the indicators as
//! float fields (percent), the record's timestamp in seconds, which the sink states by adding `precision=s` to
//! `load.endpoint` (`http://host:8086/write?db=NAME` for InfluxDB 1.x and VictoriaMetrics,
//! `http://host:8086/api/v2/write?org=O&bucket=B` for 2.x). Gzip with `load.compression = "gzip"`. Escaping:
//! `escape`; answers: `answers`.

pub mod answers;
pub mod escape;
pub mod parse;

use bytes::Bytes;

use super::fields::Fields;
use super::records;
use super::{EncodeError, Encoded};
use crate::config::Compression;
use crate::load::encoder::write_value;

pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";
pub const MEASUREMENT: &str = "appliance_cpu";

/// `load.endpoint` with the precision of the timestamps the sink writes.
pub fn endpoint(endpoint: &str) -> String {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}precision=s")
}

/// The lines of some records (see [`write_line`]).
pub fn lines<R: Fields>(records: &[R]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(records.len() * 160);
    for r in records {
        write_line(&mut out, r)?;
    }
    Ok(out)
}

/// Appends a record's line. A value that is not finite (`null` in the batch) has no field; a record with no field
/// left has no line (line protocol has no point without fields). An empty device or CPU cannot be a tag: an error.
pub fn write_line<R: Fields>(out: &mut Vec<u8>, r: &R) -> Result<(), EncodeError> {
    if r.device().is_empty() || r.cpu().is_empty() {
        return Err(EncodeError(format!(
            "line protocol cannot hold an empty tag value (device `{}`, cpu `{}`)",
            r.device(),
            r.cpu()
        )));
    }
    let mut fields = r.indicators().filter_map(|(n, v)| Some((n, v?))).peekable();
    if fields.peek().is_none() {
        return Ok(());
    }
    out.extend_from_slice(MEASUREMENT.as_bytes());
    out.extend_from_slice(b",cpu=");
    escape::key(out, r.cpu());
    out.extend_from_slice(b",device=");
    escape::key(out, r.device());
    let mut sep = b' ';
    for (name, v) in fields {
        out.push(sep);
        sep = b',';
        escape::key(out, name);
        out.push(b'=');
        write_value(out, v);
    }
    out.push(b' ');
    serde_json::ser::Formatter::write_i64(&mut serde_json::ser::CompactFormatter, out, r.seconds())
        .expect("writing to a Vec cannot fail");
    out.push(b'\n');
    Ok(())
}

/// The request of a batch whose records are the JSON array `json`: its lines, gzipped with
/// `load.compression = "gzip"`.
pub fn encode(json: &Bytes, compression: Compression) -> Result<Encoded, EncodeError> {
    let records = records::read(json).map_err(EncodeError)?;
    Ok(Encoded::text(
        Bytes::from(lines(&records)?),
        CONTENT_TYPE,
        compression,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_record() {
        let json = br#"[{"name":"edge 1,a=b\"c\"","cpu_number":"0","timestamp":1700000000,"indicators":[{"name":"utilization","value":12.5},{"name":"nice","value":0.0},{"name":"user","value":null}]},{"name":"x","cpu_number":1,"timestamp":"1700000001","indicators":[{"name":"irq","value":null}]}]"#;
        let enc = encode(&Bytes::from_static(json), Compression::None).unwrap();
        assert_eq!(
            String::from_utf8(enc.body.to_vec()).unwrap(),
            "appliance_cpu,cpu=0,device=edge\\ 1\\,a\\=b\"c\" utilization=12.5,nice=0.0 1700000000\n"
        );
        assert_eq!(enc.content_encoding, None);
        let gz = encode(&Bytes::from_static(json), Compression::Gzip).unwrap();
        assert_eq!(gz.content_encoding, Some("gzip"));
        let empty = br#"[{"name":"a","cpu_number":"","timestamp":1,"indicators":[]}]"#;
        assert!(encode(&Bytes::from_static(empty), Compression::None).is_err());
    }

    #[test]
    fn the_precision_goes_into_the_url() {
        assert_eq!(
            endpoint("http://h:8086/write?db=x"),
            "http://h:8086/write?db=x&precision=s"
        );
        assert_eq!(
            endpoint("http://h:8428/write"),
            "http://h:8428/write?precision=s"
        );
    }
}
