//! Fuzz target: the http source's parser of a device's stats answer, then the transform and the hot-path record
//! encoder. Arbitrary bytes give records or an error, never a panic; accepted stats are never an empty list;
//! every record encodes byte for byte as serde_json would, and the mock accepts the result.
#![no_main]

use app::load::encoder::encode_record;
use app::codec::count_records;
use app::extract::http::parse_stats;
use app::transform::transform_all;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(stats) = parse_stats(data) else {
        return;
    };
    assert!(!stats.is_empty());
    let Ok(records) = transform_all(stats) else {
        return;
    };
    let mut body = b"[".to_vec();
    for (i, record) in records.iter().enumerate() {
        let mut ours = Vec::new();
        encode_record(&mut ours, record);
        let theirs = serde_json::to_vec(record).expect("a record serialises");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "the hand-written encoder matches serde_json"
        );
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&ours);
    }
    body.push(b']');
    assert_eq!(
        count_records(&body).expect("the mock accepts what the ETL sends"),
        records.len() as u64
    );
});
