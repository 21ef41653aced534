//! Observability as an operator meets it: Prometheus `/metrics` on the mock and on a running `etl`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::*;

#[test]
fn the_mock_serves_metrics_that_match_its_stats() {
    let m = MockThread::fast();
    let json = ("Content-Type", "application/json");
    post_load(
        m.addr,
        &[json, ("Idempotency-Key", "a")],
        records_json(3).as_bytes(),
    );
    post_load(
        m.addr,
        &[json, ("Idempotency-Key", "a")],
        records_json(3).as_bytes(),
    );
    post_load(m.addr, &[json], b"[");
    let (status, text) = http(m.addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let got = parse_exposition(&text);
    let st = m.stats();
    assert_eq!(got["app_mock_requests_total"], st.requests as f64);
    assert_eq!(got["app_mock_records_total"], 3.0);
    assert_eq!(got["app_mock_duplicate_batches_total"], 1.0);
    assert_eq!(got["app_mock_loads_total{status=\"200\"}"], 2.0);
    assert_eq!(got["app_mock_loads_total{status=\"400\"}"], 1.0);
}

#[test]
fn a_running_etl_serves_metrics_that_end_where_its_summary_ends() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 600);
    // 600 devices, 100 at a time, 400 ms each: about 2.4 s, long enough to scrape mid-run.
    let cfg = fast_config(&m.load_url(), "[extract]\nconcurrency = 100\n")
        .set("extract.simulated.latency_ms", 400);
    dir.write("c.toml", &cfg);
    let mut child = dir.spawn(
        &[
            "etl",
            "--config",
            "c.toml",
            "--metrics-addr",
            "127.0.0.1:0",
            "--summary-json",
            "s.json",
        ],
        Stdio::null(),
        Stdio::piped(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = metrics_addr(&mut lines);
    std::thread::spawn(move || for _ in lines {});
    // Scraped once a batch was sent (the run is under way, far from its end).
    let mid = wait_for_metric(
        addr,
        "app_batches_total{result=\"sent\"}",
        Duration::from_secs(30),
    );
    for key in [
        "app_devices_total{outcome=\"ok\"}",
        "app_records_total{state=\"extracted\"}",
        "app_records_total{state=\"loaded\"}",
        "app_batches_total{result=\"sent\"}",
        "app_requests_total",
        "app_retries_total{reason=\"timeout\"}",
        "app_sent_bytes_total",
        "app_in_flight_requests",
        "app_spool_files",
        "app_spool_bytes",
        "app_request_duration_seconds_count",
    ] {
        assert!(mid.contains_key(key), "{key} missing from {mid:?}");
    }
    assert!(
        mid["app_records_total{state=\"extracted\"}"] > 0.0,
        "scraped mid-run: {mid:?}"
    );
    let out = child.wait().unwrap();
    assert_eq!(out.code(), Some(0));
    let s = dir.summary("s.json");
    assert!(
        mid["app_records_total{state=\"extracted\"}"]
            <= s["records"]["extracted"].as_f64().unwrap()
    );
    assert!(
        mid["app_records_total{state=\"extracted\"}"] < 600.0,
        "the scrape came before the end"
    );
}

#[test]
fn progress_lines_appear_when_stderr_is_not_a_terminal_and_not_with_quiet() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 400);
    let cfg = fast_config(&m.load_url(), "[extract]\nconcurrency = 100\n")
        .set("extract.simulated.latency_ms", 300)
        .set("log.progress_interval_ms", 200);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("[Progress] devices"))
        .collect();
    assert!(
        lines.len() >= 2,
        "progress lines every 200 ms over ~1.2 s: {err}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" of 400")),
        "the total comes from the inventory check: {lines:?}"
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("[Progress]"),
        "--quiet turns progress off"
    );
}

#[test]
fn json_log_lines_parse_and_carry_fields_and_the_summary_has_resources_and_the_log_is_0600() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 300);
    let cfg = fast_config(&m.load_url(), "").set("log.format", "json");
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert_eq!(
        file_mode(&dir.join("etl.log")),
        0o600,
        "only the owner reads the log"
    );
    let mut flushed = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v.get(key).is_some(), "{key} in {line}");
        }
        if v["message"]
            .as_str()
            .unwrap()
            .contains("Successfully flushed")
        {
            flushed += v["records"].as_u64().expect("records field");
            assert!(v["worker"].is_u64() && v["batch_id"].is_string(), "{line}");
        }
    }
    assert_eq!(
        flushed, 300,
        "the flushed lines' records fields add up to the run"
    );
    assert!(
        log.contains("Before ETL") && log.contains("After ETL"),
        "resource blocks in the log"
    );
    let s = dir.summary("s.json");
    let after = &s["resources"]["after"];
    assert!(after["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(after["threads"].as_u64().unwrap() >= 1);
    assert!(
        after["cpu_user_s"].as_f64().unwrap()
            >= s["resources"]["before"]["cpu_user_s"].as_f64().unwrap()
    );
}
