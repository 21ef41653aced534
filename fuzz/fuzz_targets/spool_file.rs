//! Fuzz target: a spool file's content as replay reads it (streaming gunzip, record check, split into parts).
//! The first byte picks raw bytes (as a corrupt file would hold) or the rest gzipped first (a well-formed file
//! with arbitrary JSON). Accepted files split into parts that hold every record exactly once.
#![no_main]

use std::path::Path;

use app::codec::{count_records, gunzip_limited, gzip};
use app::spool;
use libfuzzer_sys::fuzz_target;

const MAX_RECORDS: usize = 3;
const MAX_BYTES: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let raw = if mode % 2 == 0 { rest.to_vec() } else { gzip(rest) };
    let path = Path::new("spool/buffer_failed_worker3-run-w3-000001.json.gz");
    let Ok(batches) = spool::decode(path, &raw, MAX_RECORDS, MAX_BYTES) else {
        return;
    };
    let body = gunzip_limited(&raw, 1 << 40).expect("accepted, so it decompresses");
    let total = count_records(&body).expect("accepted, so its records are valid") as usize;
    let mut sum = 0;
    for batch in &batches {
        assert_eq!(batch.worker, 3);
        let n = count_records(&batch.body).expect("every part is a valid array") as usize;
        assert_eq!(n, batch.records, "a part's count is its content");
        assert!(batch.records <= MAX_RECORDS || batches.len() == 1);
        sum += n;
    }
    assert_eq!(sum, total, "the parts hold every record once");
});
