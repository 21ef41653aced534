//! The ETL end to end: the real binary against the mock on port 0.

use std::process::Stdio;
use std::time::Instant;

use crate::helpers::*;
use app::config::{MockSettings, Secret};

#[test]
fn four_thousand_devices_reach_the_server_exactly_once() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 4000);
    assert_eq!(st.duplicate_batches, 0);
    assert_eq!(st.loads_accepted, st.unique_batches);
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["extracted"], 4000);
    assert_eq!(s["records"]["loaded"], 4000);
    assert_eq!(s["devices"]["ok"], 4000);
    assert_eq!(s["exit_code"], 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4000 extracted, 4000 loaded"), "{stdout}");
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(
        log.contains("] Successfully flushed "),
        "original-style log lines: {log}"
    );
}

#[test]
fn batches_respect_batch_size_and_all_loaders_are_used() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1000);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "")
            .set("load.batch_size", 50)
            .set("load.workers", 4),
    );
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 1000);
    assert_eq!(
        st.largest_batch_records, 50,
        "no batch passes batch_size, and full ones reach it"
    );
    // 4 loaders × at most one partial batch each.
    assert!(st.loads_accepted >= 20 && st.loads_accepted <= 24, "{st:?}");
    let loaders: std::collections::BTreeSet<usize> = m
        .state
        .keys_in_order()
        .iter()
        .map(|id| batch_worker(id))
        .collect();
    assert_eq!(
        loaders,
        (0..4).collect(),
        "every loader delivered batches (by the batch ids the API acknowledged)"
    );
}

#[test]
fn the_token_is_sent_gzip_works_and_the_token_is_never_logged() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("tok-ABCDEF-123"),
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 300);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("load.compression", "gzip"),
    );
    let out = dir.run_env(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        &[
            ("APP__LOAD__TOKEN", "tok-ABCDEF-123"),
            ("RUST_LOG", "trace"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 300);
    let s = dir.summary("s.json");
    assert!(
        s["bytes_sent"].as_u64().unwrap() < 300 * 150,
        "gzip shrinks the bodies: {s}"
    );
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(!log.contains("tok-ABCDEF-123"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("tok-ABCDEF-123"));
    assert!(!std::fs::read_to_string(dir.join("s.json"))
        .unwrap()
        .contains("tok-ABCDEF-123"));
}

#[test]
fn a_wrong_token_is_dead_lettered_not_retried() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("right"),
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "")
            .set("load.token", "wrong")
            .set("load.workers", 1),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(m.stats().requests, 1, "a 401 is not retried");
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["rejected"], 10);
    assert_eq!(s["records"]["spooled"], 0);
    let rejected: Vec<_> = std::fs::read_dir(dir.join("spool/rejected"))
        .unwrap()
        .collect();
    assert_eq!(rejected.len(), 2, "the batch and its sidecar");
}

#[test]
fn a_short_outage_does_not_cut_the_retries_of_batches_in_flight() {
    // Three failures in a row equal max_attempts, but they are spread over several batches in flight: none of
    // them has used up its own attempts, so none may be spooled.
    let m = MockThread::start(quiet(MockSettings {
        fail_first: 3,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 200);
    let cfg = fast_config(&m.load_url(), "")
        .set("load.workers", 1)
        .set("load.batch_size", 10)
        .set("load.max_in_flight", 4);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 200);
    assert_eq!(dir.summary("s.json")["records"]["spooled"], 0);
}

#[test]
fn a_rate_limit_never_opens_the_circuit() {
    // The first batch meets three 429s in a row and uses up its attempts (spooled, by the rules); the API is
    // alive, so every later batch is still sent, not spooled unsent.
    let m = MockThread::start(quiet(MockSettings {
        fail_first: 3,
        fail_status: 429,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 50);
    let cfg = fast_config(&m.load_url(), "")
        .set("load.workers", 1)
        .set("load.batch_size", 10)
        .set("load.max_in_flight", 1);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["spooled"], 10, "{s}");
    assert_eq!(s["records"]["loaded"], 40, "{s}");
}

/// Connections to `port` on 127.0.0.1 in the ESTABLISHED state, as the server's side of them (/proc/net/tcp, whose
/// addresses are in the host's byte order: little-endian here).
fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1] == local && fields[3] == "01"
        })
        .count()
}

/// `etl` started over 80 devices against `m`: one loader, eight batches of ten in flight at once (never a partial
/// one flushed by time), one connection to the API, each request timing out after `timeout_ms`.
fn eight_batches_over_one_connection(
    m: &MockThread,
    timeout_ms: i64,
) -> (TestDir, std::process::Child) {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 80);
    let cfg = fast_config(&m.load_url(), "")
        .set("extract.simulated.cpus_per_device", 1)
        .set("load.workers", 1)
        .set("load.batch_size", 10)
        .set("load.max_in_flight", 8)
        .set("load.max_connections", 1)
        .set("load.request_timeout_ms", timeout_ms)
        .set("load.flush_interval_ms", 60_000);
    dir.write("c.toml", &cfg);
    let child = dir.spawn(
        &[
            "etl",
            "--config",
            "c.toml",
            "--summary-json",
            "s.json",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        Stdio::null(),
        Stdio::piped(),
    );
    (dir, child)
}

#[test]
fn a_connection_cap_sends_over_that_many_connections_and_waiting_is_no_timeout() {
    // Eight batches in flight, one connection, an API that takes 300 ms a batch: the last batch waits about 2 s
    // for the connection, past its 1 s request timeout, and is still sent once and acknowledged.
    let m = MockThread::start(MockSettings {
        delay_ms: 300,
        jitter_ms: 0,
        ..quiet(MockSettings::default())
    });
    let (dir, mut child) = eight_batches_over_one_connection(&m, 1000);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let metrics = metrics_addr(&mut lines);
    std::thread::spawn(move || for _ in lines {});
    // Seven batches wait for the one connection: the gauge says so while they do.
    wait_for_metric(
        metrics,
        "app_requests_waiting_for_connection",
        std::time::Duration::from_secs(30),
    );
    // Sampled every 10 ms: a sample can miss a second connection, never see one that was not there.
    let (mut peak, mut seen) = (0, 0);
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let now = established_to(m.addr.port());
        peak = peak.max(now);
        seen += usize::from(now > 0);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = wait_or_kill(child, 30, "etl");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(seen > 0, "the connection was seen open");
    assert_eq!(peak, 1, "one connection to the API at most");
    let st = m.stats();
    assert_eq!(st.records_accepted, 80, "{st:?}");
    assert_eq!(st.requests, 8, "each batch sent once: {st:?}");
    let s = dir.summary("s.json");
    assert_eq!(s["batches"]["retries"], 0, "{s}");
    assert_eq!(s["records"]["spooled"], 0, "{s}");
}

#[test]
fn a_batch_that_waited_for_a_connection_waits_out_a_retry_after_that_came_meanwhile() {
    // One connection, eight batches: the first is answered 429 with Retry-After: 10 while the others wait for the
    // connection. None of them may be sent in the next second (they wait out the Retry-After first); then all
    // arrive, the first once more.
    let m = MockThread::start(MockSettings {
        delay_ms: 100,
        jitter_ms: 0,
        fail_first: 1,
        fail_status: 429,
        retry_after_s: 10,
        ..quiet(MockSettings::default())
    });
    let (_dir, child) = eight_batches_over_one_connection(&m, 15_000);
    wait_until("the 429", std::time::Duration::from_secs(30), || {
        m.stats().loads_refused.get(&429) == Some(&1)
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(m.stats().requests, 1, "nothing sent during the Retry-After");
    let out = wait_or_kill(child, 60, "etl");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 80, "{st:?}");
    assert_eq!(st.requests, 9, "eight batches, the first twice: {st:?}");
}

#[test]
fn with_the_api_down_the_circuit_spools_later_batches_without_hammering() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 2000);
    let cfg = fast_config(&dead_endpoint(), "")
        .set("load.workers", 1)
        .set("load.batch_size", 10)
        .set("load.max_in_flight", 1);
    dir.write("c.toml", &cfg.set("load.retry.max_backoff_ms", 200));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["spooled"], 2000);
    // 200 batches, 3 attempts each would be 600 requests; once the circuit is open only probes are sent.
    let requests = s["batches"]["requests"].as_u64().unwrap();
    assert!(requests < 100, "{requests} requests against a dead API");
}

#[test]
fn with_half_the_loads_failing_every_record_arrives_through_retries() {
    let m = MockThread::start(quiet(MockSettings {
        fail_rate: 0.5,
        seed: 42,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 2000);
    let cfg = fast_config(&m.load_url(), "").set("load.retry.max_attempts", 40);
    dir.write("c.toml", &cfg.set("load.batch_size", 50));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 2000, "{st:?}");
    assert!(st.injected_failures > 0);
    let s = dir.summary("s.json");
    assert_eq!(
        s["batches"]["retries"].as_u64().unwrap(),
        st.injected_failures
    );
    assert_eq!(s["records"]["spooled"], 0);
}

#[test]
fn retry_after_is_honoured() {
    let m = MockThread::start(quiet(MockSettings {
        fail_first: 1,
        fail_status: 429,
        retry_after_s: 1,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("load.workers", 1),
    );
    let start = Instant::now();
    let out = dir.run(&["etl", "--config", "c.toml"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().loads_refused.get(&429), Some(&1));
    // Backoff alone is at most 10 ms here: only Retry-After makes the second attempt wait a second.
    assert!(took.as_millis() >= 1000, "{took:?}");
}

#[test]
fn a_400_goes_to_rejected_after_one_attempt_and_is_not_replayed() {
    let m = MockThread::start(quiet(MockSettings {
        fail_rate: 1.0,
        fail_status: 400,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "")
            .set("load.workers", 1)
            .set("load.batch_size", 10),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(m.stats().requests, 3, "one attempt per batch");
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["rejected"], 30);
    let rejected = dir.join("spool/rejected");
    let files: Vec<_> = std::fs::read_dir(&rejected)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let sidecars: Vec<_> = files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".rejection.json"))
        .collect();
    assert_eq!(files.len(), 6, "{files:?}");
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sidecars[0]).unwrap()).unwrap();
    assert_eq!(side["status"], 400);
    assert!(side["response_body"].as_str().unwrap().contains("injected"));
    assert!(spool_files(&dir.join("spool")).is_empty());
    // The next run does not send dead letters again.
    let before = m.stats().requests;
    let out = dir.run(&["replay", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().requests, before);
}

#[test]
fn the_http_source_reads_devices_from_the_mock_and_counts_failures() {
    let m = MockThread::start(quiet(MockSettings {
        device_fail_rate: 0.2,
        device_delay_ms: 5,
        seed: 9,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 500);
    let extra = format!(
        "[extract]\nsource = \"http\"\nconcurrency = 50\n[extract.http]\nurl_template = \"{}/device/{{name}}/cpu?cpus=2\"\n",
        m.url()
    );
    dir.write("c.toml", &fast_config(&m.load_url(), &extra));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "failed devices make exit 3: {}",
        show(&out)
    );
    let s = dir.summary("s.json");
    let ok = s["devices"]["ok"].as_u64().unwrap();
    let failed = s["devices"]["failed"].as_u64().unwrap();
    assert_eq!(ok + failed, 500);
    assert!((50..150).contains(&failed), "about 20% fail: {failed}");
    assert_eq!(s["records"]["extracted"].as_u64().unwrap(), ok * 2);
    assert_eq!(m.stats().records_accepted, ok * 2);
    assert_eq!(m.stats().device_requests, 500);
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered HTTP 500"));
}

/// `extract.http.token_file` is sent to the devices as a bearer token (here the mock, whose device route checks
/// its token); without it every device answers 401, counted as `http_status`, and the token is never logged.
#[test]
fn the_http_source_sends_its_token_and_a_missing_one_fails_each_device_by_status() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("dev-tok-31"),
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 40);
    dir.write("device-token", "dev-tok-31\n");
    let http = format!(
        "[extract]\nsource = \"http\"\n[extract.http]\nurl_template = \"{}/device/{{name}}/cpu?cpus=2\"\n",
        m.url()
    );
    let cfg = fast_config(&m.load_url(), &http)
        .set("load.token", "dev-tok-31")
        .set("extract.http.token_file", "device-token");
    dir.write("c.toml", &cfg);
    let out = dir.run_env(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        &[("RUST_LOG", "trace")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["ok"], 40);
    assert_eq!(m.stats().records_accepted, 80);
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(!log.contains("dev-tok-31"), "the token is never logged");

    let without = fast_config(&m.load_url(), &http).set("load.token", "dev-tok-31");
    dir.write("c.toml", &without);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["failed"], 40);
    assert_eq!(s["devices"]["failed_by_reason"]["http_status"], 40, "{s}");

    let (code, err) = dir.validate(&cfg.set("extract.http.token", "x"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("extract.http.token_file"), "{err}");
}

#[test]
fn slow_http_devices_time_out_and_are_counted() {
    let m = MockThread::start(quiet(MockSettings {
        device_delay_ms: 2000,
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20);
    let extra = format!(
        "[extract]\nsource = \"http\"\ntimeout_ms = 200\n[extract.http]\nurl_template = \"{}/device/{{name}}/cpu\"\n",
        m.url()
    );
    dir.write("c.toml", &fast_config(&m.load_url(), &extra));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["failed"], 20);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out after 200 ms"),
        "{}",
        show(&out)
    );
}

#[test]
fn simulated_failures_and_several_cpus_per_device_are_counted() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1000);
    let extra = "[extract.simulated]\nfailure_rate = 0.1\ncpus_per_device = 4\n";
    let cfg = fast_config(&m.load_url(), "").merge(extra);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    let ok = s["devices"]["ok"].as_u64().unwrap();
    assert_eq!(ok + s["devices"]["failed"].as_u64().unwrap(), 1000);
    assert_eq!(m.stats().records_accepted, ok * 4);
}

/// How many of `device-1..n` fall in each of `count` shards, by the documented rule (the high half of the stable
/// hash of the name, modulo the shard count).
fn expected_per_shard(n: usize, count: u64) -> Vec<u64> {
    let mut out = vec![0; count as usize];
    for i in 1..=n {
        let h = app::model::stable_hash(&format!("device-{i}"));
        out[((h >> 32) % count) as usize] += 1;
    }
    out
}

#[test]
fn shards_1_to_4_cover_every_device_exactly_once() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1000);
    for n in 1..=4u32 {
        let m = MockThread::fast();
        dir.write("c.toml", &fast_config(&m.load_url(), ""));
        let mut skipped = 0;
        let mut per_shard = Vec::new();
        for k in 0..n {
            let shard = format!("{k}/{n}");
            let out = dir.run(&[
                "etl",
                "--config",
                "c.toml",
                "--shard",
                &shard,
                "--summary-json",
                "s.json",
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            let s = dir.summary("s.json");
            skipped += s["devices"]["skipped_shard"].as_u64().unwrap();
            per_shard.push(s["devices"]["ok"].as_u64().unwrap());
        }
        let st = m.stats();
        assert_eq!(st.records_accepted, 1000, "N={n}");
        assert_eq!(st.duplicate_batches, 0);
        assert_eq!(skipped, 1000 * (n as u64 - 1), "N={n}");
        assert_eq!(
            per_shard,
            expected_per_shard(1000, n as u64),
            "N={n}: each shard ran exactly its devices"
        );
    }
}

#[test]
fn the_demo_command_shows_every_record_delivered() {
    let dir = TestDir::new();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("appliances.csv");
    std::fs::copy(&shipped, dir.join("appliances.csv")).unwrap();
    let out = dir.run(&["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4000 extracted, 4000 loaded"), "{stdout}");
    assert!(stdout.contains("\"records_accepted\": 4000"), "{stdout}");
}

/// With a token, the demo's mock checks it on the device route too, and the demo's http source sends it.
#[test]
fn the_demo_with_a_token_and_the_http_source_delivers_every_record() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 200);
    let out = dir.run_env(
        &["demo", "--source", "http", "--inventory", "inventory.csv"],
        &[("APP__LOAD__TOKEN", "demo-tok-8")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("200 extracted, 200 loaded"), "{stdout}");
    assert!(stdout.contains("\"device_requests\": 200"), "{stdout}");
    // A device token file of the user's is set aside for the mock's token (it would be refused by the mock).
    dir.write("device-token.txt", "not-the-mocks\n");
    let out = dir.run_env(
        &["demo", "--source", "http", "--inventory", "inventory.csv"],
        &[
            ("APP__LOAD__TOKEN", "demo-tok-8"),
            ("APP__EXTRACT__HTTP__TOKEN_FILE", "device-token.txt"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("200 extracted, 200 loaded"), "{stdout}");
}

#[test]
fn the_token_can_come_from_a_file_and_a_missing_file_is_named() {
    let m = MockThread::start(quiet(MockSettings {
        token: Secret::new("from-a-file-42"),
        ..MockSettings::default()
    }));
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 50);
    dir.write("token.txt", "from-a-file-42\n");
    let cfg = fast_config(&m.load_url(), "").set("load.token_file", "token.txt");
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 50);
    assert!(!std::fs::read_to_string(dir.join("etl.log"))
        .unwrap()
        .contains("from-a-file-42"));
    let cfg = fast_config(&m.load_url(), "").set("load.token_file", "nope.txt");
    dir.write("c2.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c2.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("load.token_file") && err.contains("nope.txt"),
        "{err}"
    );
}

#[test]
fn a_partial_batch_is_sent_after_the_flush_interval_while_the_run_goes_on() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 12);
    // One device at a time, 150 ms each: about 1.8 s in all, never near batch_size; one loader.
    let cfg = fast_config(&m.load_url(), "[extract]\nconcurrency = 1\n")
        .set("extract.simulated.latency_ms", 150)
        .set("load.workers", 1);
    dir.write("c.toml", &cfg);
    let mut child = dir.spawn(
        &["etl", "--config", "c.toml", "--quiet"],
        Stdio::null(),
        Stdio::null(),
    );
    // Wait (bounded) for the first records to reach the API, then check the run is still going: no fixed sleep,
    // so a slow machine only makes the wait longer.
    let mut mid_run = m.stats();
    wait_until(
        "records at the API",
        std::time::Duration::from_secs(30),
        || {
            mid_run = m.stats();
            mid_run.records_accepted > 0
        },
    );
    let still_running = child.try_wait().unwrap().is_none();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        still_running && mid_run.records_accepted > 0 && mid_run.records_accepted < 12,
        "records reached the API before the end of the run: {mid_run:?}"
    );
    assert!(
        m.stats().loads_accepted >= 3,
        "several interval flushes: {:?}",
        m.stats()
    );
    assert_eq!(m.stats().records_accepted, 12);
}

/// A device answering under another device's name (every device here answers as `victim`): its records are sent
/// under the inventory's name, the device is counted as renamed and the name it gave is logged escaped.
#[test]
fn a_device_answering_under_another_name_is_sent_under_its_own() {
    use std::io::Read;
    let devices = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20);
    let extra = format!(
        "[extract]\nsource = \"http\"\n[extract.http]\nurl_template = \"{}/device/victim%0Aforged/cpu?cpus=2&ip={{ip}}\"\n",
        devices.url()
    );
    // The API is down: the records land in the spool, where their names can be read.
    dir.write("c.toml", &fast_config(&dead_endpoint(), &extra));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["ok"], 20, "{s}");
    assert_eq!(s["devices"]["renamed"], 20, "{s}");
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    for p in spool_files(&dir.join("spool")) {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&std::fs::read(p).unwrap()[..])
            .read_to_end(&mut text)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        for r in v.as_array().unwrap() {
            *names
                .entry(r["name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(names.len(), 20, "{names:?}");
    assert!(
        names
            .iter()
            .all(|(n, c)| n.starts_with("device-") && *c == 2),
        "{names:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answered under the name `victim\\nforged`"),
        "{err}"
    );
    assert!(!err.contains("\nforged"), "a forged line: {err}");
}
