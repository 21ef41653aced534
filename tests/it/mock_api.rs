//! The mock API in-process on port 0: every answer of /health, /load, /stats and /device/{name}/cpu.

use std::time::{Duration, Instant};

use crate::helpers::*;
use app::config::{MockSettings, Secret};

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn health_answers_ok() {
    let m = MockThread::fast();
    let (status, body) = http(m.addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[test]
fn load_accepts_a_json_array_and_counts_its_records() {
    let m = MockThread::fast();
    let (status, body) = post_load(m.addr, &[JSON], records_json(3).as_bytes());
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["received"], 3);
    let s = m.stats();
    assert_eq!(
        (s.requests, s.loads_accepted, s.records_accepted),
        (1, 1, 3)
    );
    assert_eq!(s.bytes, records_json(3).len() as u64);
}

#[test]
fn a_wrong_or_missing_token_is_401_and_the_right_one_passes() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("s3cret"),
        ..MockSettings::default()
    }));
    let body = records_json(1);
    let (status, _) = post_load(m.addr, &[JSON], body.as_bytes());
    assert_eq!(status, 401);
    let (status, _) = post_load(
        m.addr,
        &[JSON, ("Authorization", "Bearer s3cre")],
        body.as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, _) = post_load(
        m.addr,
        &[JSON, ("Authorization", "s3cret")],
        body.as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, _) = post_load(
        m.addr,
        &[JSON, ("Authorization", "Bearer s3cret")],
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let s = m.stats();
    assert_eq!(s.loads_refused.get(&401), Some(&3));
    assert_eq!(s.records_accepted, 1);
}

#[test]
fn a_content_type_other_than_json_is_415() {
    let m = MockThread::fast();
    let (status, body) = post_load(
        m.addr,
        &[("Content-Type", "text/plain")],
        records_json(1).as_bytes(),
    );
    assert_eq!(status, 415, "{body}");
    let (status, _) = post_load(m.addr, &[], records_json(1).as_bytes());
    assert_eq!(status, 415);
    let (status, _) = post_load(
        m.addr,
        &[("Content-Type", "application/json; charset=utf-8")],
        records_json(1).as_bytes(),
    );
    assert_eq!(status, 200);
    let (status, body) = post_load(m.addr, &[JSON, ("Content-Encoding", "br")], b"[]");
    assert_eq!(status, 415);
    assert!(body.contains("br"), "{body}");
}

#[test]
fn malformed_json_is_400_with_line_and_column() {
    let m = MockThread::fast();
    let (status, body) = post_load(m.addr, &[JSON], b"[{\"name\":\"d\",\n  oops}]");
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("line 2 column"), "{msg}");
    assert_eq!(m.stats().loads_refused.get(&400), Some(&1));
}

#[test]
fn a_record_missing_a_field_is_400_naming_the_field() {
    let m = MockThread::fast();
    let (status, body) = post_load(
        m.addr,
        &[JSON],
        br#"[{"name":"d","cpu_number":"0","indicators":[]}]"#,
    );
    assert_eq!(status, 400);
    assert!(body.contains("missing field `timestamp`"), "{body}");
}

#[test]
fn the_seed_readme_curl_example_as_written_is_a_clear_400() {
    // The seed README's example literally contains `...`; the mock says where the JSON breaks.
    let m = MockThread::fast();
    let (status, body) = post_load(
        m.addr,
        &[JSON],
        br#"[{"name":"device1","cpu_number":"0", ...}]"#,
    );
    assert_eq!(status, 400);
    assert!(
        body.contains("key must be a string at line 1 column 38"),
        "{body}"
    );
}

#[test]
fn an_oversize_body_is_413_whether_declared_or_not() {
    let m = MockThread::start(quiet(MockSettings {
        max_body_bytes: 1000,
        ..MockSettings::default()
    }));
    let big = records_json(50);
    assert!(big.len() > 1000);
    let (status, _) = post_load(m.addr, &[JSON], big.as_bytes());
    assert_eq!(status, 413);
    // Chunked: no Content-Length up front, so the limit is enforced while reading.
    let mut s = std::net::TcpStream::connect(m.addr).unwrap();
    use std::io::{Read, Write};
    let head = "POST /load HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).unwrap();
    for chunk in big.as_bytes().chunks(300) {
        let _ = s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
        let _ = s.write_all(chunk);
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
}

#[test]
fn a_gzip_body_is_accepted() {
    let m = MockThread::fast();
    let gz = gzip(records_json(20).as_bytes());
    let (status, body) = post_load(m.addr, &[JSON, ("Content-Encoding", "gzip")], &gz);
    assert_eq!(status, 200, "{body}");
    assert_eq!(m.stats().records_accepted, 20);
    assert_eq!(m.stats().bytes, gz.len() as u64);
    let (status, body) = post_load(m.addr, &[JSON, ("Content-Encoding", "gzip")], b"not gzip");
    assert_eq!(status, 400);
    assert!(body.contains("gzip"), "{body}");
}

#[test]
fn a_gzip_bomb_is_413_without_exhausting_memory() {
    let m = MockThread::start(quiet(MockSettings {
        max_body_bytes: 1 << 20,
        ..MockSettings::default()
    }));
    // 200 MiB of spaces compress to ~200 KiB: under the limit on the wire, far over it decompressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1 << 20];
    for _ in 0..200 {
        std::io::Write::write_all(&mut enc, &block).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let (status, body) = post_load(m.addr, &[JSON, ("Content-Encoding", "gzip")], &bomb);
    assert_eq!(status, 413, "{body}");
}

#[test]
fn a_duplicate_idempotency_key_is_200_but_counted_once() {
    let m = MockThread::fast();
    let body = records_json(5);
    for _ in 0..3 {
        let (status, _) = post_load(
            m.addr,
            &[JSON, ("Idempotency-Key", "batch-1")],
            body.as_bytes(),
        );
        assert_eq!(status, 200);
    }
    let (status, _) = post_load(
        m.addr,
        &[JSON, ("Idempotency-Key", "batch-2")],
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    let s = m.stats();
    assert_eq!(s.records_accepted, 10);
    assert_eq!(s.duplicate_batches, 2);
    assert_eq!(s.duplicate_records, 10);
    assert_eq!(s.unique_batches, 2);
    assert_eq!(s.loads_accepted, 4);
}

#[test]
fn injected_failures_answer_the_configured_status_with_retry_after() {
    let m = MockThread::start(quiet(MockSettings {
        fail_rate: 1.0,
        fail_status: 429,
        retry_after_s: 7,
        ..MockSettings::default()
    }));
    let mut s = std::net::TcpStream::connect(m.addr).unwrap();
    use std::io::{Read, Write};
    let body = records_json(1);
    write!(
        s,
        "POST /load HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 429"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("retry-after: 7"),
        "{resp}"
    );
    let st = m.stats();
    assert_eq!(st.injected_failures, 1);
    assert_eq!(st.loads_refused.get(&429), Some(&1));
    assert_eq!(st.records_accepted, 0);
}

#[test]
fn fail_first_fails_exactly_the_first_requests() {
    let m = MockThread::start(quiet(MockSettings {
        fail_first: 2,
        ..MockSettings::default()
    }));
    let codes: Vec<u16> = (0..4)
        .map(|_| post_load(m.addr, &[JSON], records_json(1).as_bytes()).0)
        .collect();
    assert_eq!(codes, [503, 503, 200, 200]);
}

#[test]
fn the_processing_delay_does_not_block_a_worker() {
    let m = MockThread::start(MockSettings {
        delay_ms: 500,
        jitter_ms: 0,
        workers: 1,
        log_body_preview: 0,
        ..MockSettings::default()
    });
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = m.addr;
            std::thread::spawn(move || post_load(addr, &[JSON], records_json(1).as_bytes()).0)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    // One worker serving 8 requests of 500 ms each one after the other would take 4 s.
    assert!(
        start.elapsed() < Duration::from_millis(3000),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn stats_count_requests_and_refusals_by_status() {
    let m = MockThread::fast();
    post_load(m.addr, &[JSON], b"[");
    post_load(m.addr, &[("Content-Type", "text/csv")], b"a,b");
    post_load(m.addr, &[JSON], records_json(2).as_bytes());
    let (status, body) = http(m.addr, "GET", "/stats", &[], b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["requests"], 3);
    assert_eq!(v["loads_accepted"], 1);
    assert_eq!(v["loads_refused"]["400"], 1);
    assert_eq!(v["loads_refused"]["415"], 1);
    assert_eq!(v["records_accepted"], 2);
}

#[test]
fn the_device_endpoint_answers_the_original_extraction_shape() {
    let m = MockThread::fast();
    let (status, body) = http(m.addr, "GET", "/device/device-7/cpu?cpus=3", &[], b"");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cpus = v.as_array().unwrap();
    assert_eq!(cpus.len(), 3);
    for (i, c) in cpus.iter().enumerate() {
        assert_eq!(c["name"], "device-7");
        assert_eq!(c["cpu_number"], i.to_string());
        assert!(c["timestamp"].is_i64());
        for k in ["pIdle", "pUser", "pSys", "pIRQ", "pNice"] {
            assert!(c[k].as_str().unwrap().parse::<f64>().is_ok(), "{k} in {c}");
        }
    }
    let (_, again) = http(m.addr, "GET", "/device/device-7/cpu?cpus=3", &[], b"");
    let w: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        v[0]["pIdle"], w[0]["pIdle"],
        "values are deterministic per device"
    );
    assert_eq!(http(m.addr, "GET", "/device/x/cpu?cpus=0", &[], b"").0, 400);
    assert_eq!(http(m.addr, "GET", "/device/x/cpu", &[], b"").0, 200);
}

#[test]
fn the_device_endpoint_fails_at_device_fail_rate() {
    let m = MockThread::start(quiet(MockSettings {
        device_fail_rate: 1.0,
        ..MockSettings::default()
    }));
    assert_eq!(http(m.addr, "GET", "/device/x/cpu?cpus=1", &[], b"").0, 500);
    assert_eq!(m.stats().device_requests, 1);
}
