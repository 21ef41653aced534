//! Fuzz target: the mock's `/load` body parser, as the route runs it (decode per Content-Encoding within the
//! limit, then count the records). The first byte picks the mode: plain JSON, raw bytes claimed to be gzip, or
//! the rest gzipped first (so the parser behind the decompressor sees structured input too).
#![no_main]

use app::codec::{count_records, count_records_in_full, decode_body, gzip, CodecError};
use libfuzzer_sys::fuzz_target;

/// Small, so that the fuzzer reaches the limit checks.
const LIMIT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (raw, is_gzip) = match mode % 3 {
        0 => (rest.to_vec(), false),
        1 => (rest.to_vec(), true),
        _ => (gzip(rest), true),
    };
    let body = match decode_body(&raw, is_gzip, LIMIT) {
        Ok(body) => body,
        Err(CodecError::TooLarge { limit }) => {
            assert_eq!(limit, LIMIT);
            return;
        }
        Err(CodecError::Invalid(m)) => {
            assert!(is_gzip && mode % 3 == 1, "only foreign gzip can fail to decode: {m}");
            return;
        }
    };
    assert!(body.len() <= LIMIT, "decoded within the limit");
    // Whatever the quick check of the common shape accepts, the full parser accepts with the same count (when the
    // quick check is unsure, `count_records` is the full parser, so this compares only what it accepted).
    assert_eq!(count_records(&body), count_records_in_full(&body));
    if let Ok(n) = count_records(&body) {
        // Whatever the counter accepts is a JSON array of exactly that many elements (skipped the same lenient way:
        // the mock does not look inside fields it does not know).
        let array: Vec<serde::de::IgnoredAny> =
            serde_json::from_slice(&body).expect("an accepted body is a JSON array");
        assert_eq!(array.len() as u64, n);
    }
});
