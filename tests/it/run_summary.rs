//! The end-of-run summary, printed and as `--summary-json`: its path checked before anything is sent, a write
//! failing after the run, the devices a signal left unstarted, bytes sent against bytes in requests, counts in the
//! singular, and the summary of a run stopped by its inventory.

use std::time::Duration;

use crate::helpers::*;

#[test]
fn a_summary_json_path_that_cannot_be_written_is_exit_2_before_anything_is_sent() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    for bad in ["missing-dir/s.json", "a-directory"] {
        for command in ["etl", "replay"] {
            let out = dir.run(&[command, "--config", "c.toml", "--summary-json", bad]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} {bad}: {}",
                show(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(bad), "the error names {bad}: {stderr}");
        }
    }
    assert_eq!(m.stats().requests, 0, "nothing was sent");
    assert!(!dir.join("missing-dir").exists());
}

#[test]
fn a_summary_json_write_failing_after_the_run_is_logged_and_keeps_the_runs_exit_code() {
    let m = MockThread::start(app::config::MockSettings {
        delay_ms: 1500,
        jitter_ms: 0,
        ..quiet(app::config::MockSettings::default())
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    std::fs::create_dir(dir.join("out")).unwrap();
    let child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "out/s.json"],
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
    );
    // The path was checked at start; once a batch is at the API (answered 1.5 s later), its directory goes away.
    wait_until("a batch at the API", Duration::from_secs(30), || {
        m.stats().requests > 0
    });
    std::fs::remove_dir(dir.join("out")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "every record was delivered: {}",
        show(&out)
    );
    assert_eq!(m.stats().records_accepted, 30);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write the summary file out/s.json"),
        "{}",
        show(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("result    exit 0"));
}

#[test]
fn after_a_signal_the_summary_counts_the_devices_never_started_and_the_inventory_total() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    let m = MockThread::fast();
    // 100 at a time, 200 ms each: 8 s of extraction; the signal comes long before the end.
    let cfg = fast_config(&m.load_url(), "")
        .set("extract.concurrency", 100)
        .set("extract.simulated.latency_ms", 200);
    dir.write("c.toml", &cfg);
    let etl = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        std::process::Stdio::piped(),
        std::process::Stdio::null(),
    );
    // Stopped once records reached the API: extraction is under way, far from its end.
    wait_until("records at the API", Duration::from_secs(30), || {
        m.stats().records_accepted > 0
    });
    send_signal(etl.id(), "INT");
    let out = etl.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    let s = dir.summary("s.json");
    let d = &s["devices"];
    assert_eq!(d["total"], 4000, "{s}");
    let not_started = d["not_started"].as_u64().unwrap();
    assert!(not_started > 0, "{s}");
    let dealt: u64 = ["ok", "failed", "cancelled", "invalid", "skipped_shard"]
        .iter()
        .map(|k| d[k].as_u64().unwrap())
        .sum();
    assert_eq!(dealt + not_started, 4000, "every row is somewhere: {s}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{not_started} not started"))
            && text.contains("4000 in the inventory"),
        "{text}"
    );
}

#[test]
fn bytes_of_requests_that_went_out_unacknowledged_are_counted() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    // An API that answers nothing within the timeout: every request goes out, none is acknowledged.
    let mut slow = quiet(app::config::MockSettings::default());
    slow.delay_ms = 10_000;
    let m = MockThread::start(slow);
    let cfg = fast_config(&m.load_url(), "")
        .set("load.request_timeout_ms", 200)
        .set("load.retry.max_attempts", 2);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["bytes_sent"], 0, "nothing acknowledged: {s}");
    let requests = s["batches"]["requests"].as_u64().unwrap();
    assert!(requests > 0, "{s}");
    let attempted = s["bytes_attempted"].as_u64().unwrap();
    assert!(attempted >= requests * 10, "{s}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("0 sent, {attempted} in requests")),
        "{text}"
    );
}

#[test]
fn replay_logs_as_replay_and_counts_in_the_singular_for_one() {
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker0.json.gz"),
        gzip(records_json(1).as_bytes()),
    )
    .unwrap();
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[Replay] run "), "{err}");
    assert!(!err.contains("[ETL]"), "{err}");
    assert!(err.contains("Successfully replayed 1 record from"), "{err}");
    assert!(!err.contains("1 records"), "{err}");

    // One record spooled: the result says "1 record".
    dir.inventory("inventory.csv", 1);
    dir.write("d.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["etl", "--config", "d.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 record spooled"), "{text}");
    assert!(text.contains("1 file written"), "{text}");
}

#[test]
fn an_inventory_error_still_writes_the_summary_json() {
    let dir = TestDir::new();
    dir.write("inventory.csv", "127.0.0.1,ok\nnot-an-address,bad\n");
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["exit_code"], 2, "{s}");
    assert!(
        s["inventory_error"]
            .as_str()
            .unwrap()
            .contains("inventory.csv"),
        "{s}"
    );
    assert_eq!(m.stats().requests, 0);
}
