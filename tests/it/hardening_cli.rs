//! Hardening (issue 13, items 14–19), through the real binary: large spool files replayed as a stream, the
//! summary after a signal, dead letters re-driven, `etl --dry-run`, version/completions/man, profiles.

use crate::helpers::*;

/// Records in a spool file too large for the old in-memory read (more than 64 MiB once decompressed).
const HUGE_RECORDS: usize = 1_100_001;

/// A valid spool file of `1 + chunks × per_chunk` small records, written as concatenated gzip members (one
/// compressed chunk repeated, so the test does not spend its time compressing 68 MB): `gunzip` and every gzip
/// reader read it as one stream.
fn huge_spool_file(path: &std::path::Path, chunks: usize, per_chunk: usize) {
    let one = r#"{"name":"d","cpu_number":"0","timestamp":1,"indicators":[]}"#;
    let chunk = gzip(format!(",{one}").repeat(per_chunk).as_bytes());
    let mut raw = gzip(format!("[{one}").as_bytes());
    for _ in 0..chunks {
        raw.extend_from_slice(&chunk);
    }
    raw.extend_from_slice(&gzip(b"]"));
    std::fs::write(path, raw).unwrap();
}

#[test]
fn a_spool_file_larger_than_64_mib_decompressed_is_replayed_in_parts_not_quarantined() {
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    huge_spool_file(&spool.join("buffer_failed_worker0.json.gz"), 110, 10_000);
    let m = MockThread::fast();
    let cfg = fast_config(&m.load_url(), "")
        .set("load.batch_size", 50_000)
        .set("load.batch_bytes", 4 << 20);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, HUGE_RECORDS as u64);
    assert_eq!(
        st.unique_batches, 23,
        "22 parts of 50,000 records and one of 1"
    );
    assert!(spool_files(&spool).is_empty(), "the file is deleted");
    assert!(!spool.join("quarantine").exists(), "nothing quarantined");
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["replayed"], HUGE_RECORDS);
    assert_eq!(s["spool"]["files_replayed"], 1);
    assert_eq!(s["spool"]["files_quarantined"], 0);
}

#[test]
fn a_torn_large_spool_file_is_quarantined_and_none_of_its_parts_is_sent() {
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    // 450 valid records, then the file ends in the middle of one (a torn write): no part may go out.
    let body = records_json(450);
    let torn = &body[..body.len() - 40];
    std::fs::write(
        spool.join("buffer_failed_worker0.json.gz"),
        gzip(torn.as_bytes()),
    )
    .unwrap();
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(m.stats().requests, 0, "nothing half-parsed is sent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("quarantined") && err.contains("buffer_failed_worker0.json.gz"),
        "the log says quarantined, as the summary does: {}",
        show(&out)
    );
    assert_eq!(dir.summary("s.json")["spool"]["files_quarantined"], 1);
    assert_eq!(
        std::fs::read_dir(spool.join("quarantine")).unwrap().count(),
        1
    );
}
