//! The `ingest-json` sink (the default): the batch's JSON array as it is, `Content-Type: application/json`,
//! gzip with `load.compression = "gzip"`: byte for byte what the loaders sent before sinks existed. Its answers
//! are read by the shared rules (`load::retry`).

use bytes::Bytes;

use super::Encoded;
use crate::config::Compression;

pub const CONTENT_TYPE: &str = "application/json";

/// The body: the JSON array itself, or its gzip.
pub fn encode(json: &Bytes, compression: Compression) -> Encoded {
    Encoded::text(json.clone(), CONTENT_TYPE, compression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_batch_itself() {
        let json = Bytes::from_static(b"[{\"name\":\"a\"}]");
        let plain = encode(&json, Compression::None);
        assert_eq!(plain.body, json);
        assert_eq!(plain.content_encoding, None);
        let gz = encode(&json, Compression::Gzip);
        assert_eq!(gz.content_encoding, Some("gzip"));
        assert_eq!(
            crate::codec::gunzip_limited(&gz.body, 1 << 20).unwrap(),
            json.to_vec()
        );
    }
}
