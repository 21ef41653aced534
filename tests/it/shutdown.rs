//! Signals: SIGTERM and SIGINT in the middle of a run against a slow API, during the inventory check, while a
//! loader waits out a `Retry-After`, an attempt cut by the end of the grace, and SIGKILL with and without the
//! durable spool. Nothing leaves memory without a 2xx or a spool file, the summary is still printed, and the exit
//! code says which signal stopped the run.

use std::process::Stdio;
use std::time::Duration;

use crate::helpers::*;
use app::config::MockSettings;

fn interrupted_run(signal: &str, expected: i32) {
    let m = MockThread::start(MockSettings {
        delay_ms: 2000,
        jitter_ms: 0,
        log_body_preview: 0,
        workers: 2,
        ..MockSettings::default()
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    let cfg = fast_config(&m.load_url(), "[shutdown]\ngrace_ms = 500\n");
    dir.write("c.toml", &cfg);
    let child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        Stdio::piped(),
        Stdio::piped(),
    );
    // Signalled once a batch is at the API (answered 2 s later): records are extracted, none acknowledged yet.
    wait_until("a batch at the API", Duration::from_secs(30), || {
        m.stats().requests > 0
    });
    send_signal(child.id(), signal);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(expected), "{}", show(&out));
    let s = dir.summary("s.json");
    let extracted = s["records"]["extracted"].as_u64().unwrap();
    let loaded = s["records"]["loaded"].as_u64().unwrap();
    let spooled = s["records"]["spooled"].as_u64().unwrap();
    assert!(extracted > 0);
    assert_eq!(
        loaded + spooled,
        extracted,
        "every extracted record is acknowledged or spooled: {s}"
    );
    assert_eq!(s["records"]["lost"], 0);
    assert_eq!(spool_records(&dir.join("spool")) as u64, spooled);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("result    exit"),
        "the summary is printed"
    );

    // Replaying the spool into the same server makes it hold every extracted record exactly once (batches cut
    // after the server acknowledged them come again under the same key and are not counted twice).
    let out = dir.run_env(
        &["replay", "--config", "c.toml"],
        &[("APP__LOAD__REQUEST_TIMEOUT_MS", "10000")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, extracted);
}

#[test]
fn sigterm_mid_run_exits_143_with_every_record_delivered_or_spooled() {
    interrupted_run("TERM", 143);
}

#[test]
fn sigint_mid_run_exits_130_with_every_record_delivered_or_spooled() {
    interrupted_run("INT", 130);
}

#[test]
fn a_signal_during_slow_extraction_cancels_it_and_delivers_what_was_extracted_within_the_grace() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1000);
    // 100 devices at a time, 1 s each: the signal lands while extractions are under way.
    let cfg = fast_config(
        &m.load_url(),
        "[shutdown]\ngrace_ms = 3000\n[extract]\nconcurrency = 100\n",
    )
    .set("extract.simulated.latency_ms", 1000);
    dir.write("c.toml", &cfg);
    let child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        Stdio::null(),
        Stdio::null(),
    );
    // Signalled once records reached the API: extractions are under way, far from the end of the inventory.
    wait_until("records at the API", Duration::from_secs(30), || {
        m.stats().records_accepted > 0
    });
    send_signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let s = dir.summary("s.json");
    let ok = s["devices"]["ok"].as_u64().unwrap();
    assert!(ok > 0 && ok < 1000, "the signal came mid-run: {s}");
    assert!(
        s["devices"]["cancelled"].as_u64().unwrap() > 0,
        "extractions under way were cancelled: {s}"
    );
    let cancelled = s["devices"]["cancelled"].as_u64().unwrap();
    assert!(
        ok + cancelled <= 1000,
        "no new extraction after the signal: {s}"
    );
    // The API is healthy: what was extracted is delivered within the grace period, not spooled unsent.
    assert_eq!(s["records"]["loaded"], s["records"]["extracted"], "{s}");
    assert_eq!(s["records"]["spooled"], 0, "{s}");
    assert_eq!(m.stats().records_accepted, ok);
    // The run stopped well before the 10 s extraction of the whole inventory would have ended.
    assert!(s["duration_s"].as_f64().unwrap() < 9.0, "{s}");
}

/// Starts `etl` against a slow API, kills it with SIGKILL after every batch was formed and sent (none
/// acknowledged), and answers the records left on disk: in spool files and in the write-ahead log.
fn killed_run(durable: bool) -> (TestDir, usize) {
    let m = MockThread::start(MockSettings {
        delay_ms: 5000,
        jitter_ms: 0,
        log_body_preview: 0,
        workers: 2,
        ..MockSettings::default()
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 40);
    let extra = format!("[spool]\ndurable = {durable}\n");
    let cfg = fast_config(&m.load_url(), &extra)
        .set("load.workers", 1)
        .set("load.batch_size", 10)
        // Batches cut by size only: exactly 4 of them.
        .set("load.flush_interval_ms", 60000)
        .set("load.max_in_flight", 8)
        .set("load.request_timeout_ms", 20000);
    dir.write("c.toml", &cfg);
    let mut child = dir.spawn(
        &["etl", "--config", "c.toml", "--quiet"],
        Stdio::null(),
        Stdio::null(),
    );
    // Killed once every batch is at the API (answered 5 s later).
    wait_until("4 batches at the API", Duration::from_secs(30), || {
        m.stats().requests >= 4
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(
        m.stats().records_accepted,
        0,
        "nothing was acknowledged before the kill"
    );
    let spool = dir.join("spool");
    let logged: usize = log_batches(&spool).iter().map(|(_, n)| n).sum();
    (dir, spool_records(&spool) + logged)
}

#[test]
fn with_a_durable_spool_sigkill_loses_no_formed_batch() {
    let (dir, spooled) = killed_run(true);
    assert_eq!(
        spooled, 40,
        "every batch was written to the log before its first send"
    );
    assert!(
        spool_files(&dir.join("spool")).is_empty(),
        "durable mode writes no spool file per batch"
    );
    // The next run delivers them.
    let fast = MockThread::fast();
    let out = dir.run(&[
        "replay",
        "--config",
        "c.toml",
        "--endpoint",
        &fast.load_url(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(fast.stats().records_accepted, 40);
    assert!(spool_files(&dir.join("spool")).is_empty());
    assert_eq!(log_segments(&dir.join("spool")), 0, "the log ends empty");
}

#[test]
fn without_a_durable_spool_sigkill_loses_the_batches_in_flight_as_documented() {
    let (_dir, spooled) = killed_run(false);
    assert_eq!(
        spooled, 0,
        "the default spools on failure and on shutdown, not ahead"
    );
}

/// Batches arrive in the order they were formed, also when a loader must hold them (here every batch waits for
/// the one slot, and is written ahead first): one message from the supervisor makes several batches.
#[test]
fn batches_are_sent_in_the_order_they_were_formed_when_held() {
    for durable in [true, false] {
        let m = MockThread::fast();
        let dir = TestDir::new();
        dir.inventory("inventory.csv", 400);
        let extra = format!("[spool]\ndurable = {durable}\n");
        let config = fast_config(&m.load_url(), &extra)
            .set("load.workers", 1)
            .set("load.batch_size", 10)
            .set("load.max_in_flight", 1);
        dir.write("c.toml", &config);
        let out = dir.run(&["etl", "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let seqs: Vec<u64> = m
            .state
            .keys_in_order()
            .iter()
            .map(|k| k.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(seqs.len(), 40, "durable = {durable}");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "durable = {durable}: {seqs:?}"
        );
    }
}

#[test]
fn with_a_durable_spool_an_acknowledged_batch_leaves_no_file_and_counts_as_loaded() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 300);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "[spool]\ndurable = true\n"),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["loaded"], 300);
    assert_eq!(s["records"]["replayed"], 0);
    assert_eq!(s["spool"]["files_replayed"], 0);
    assert!(spool_files(&dir.join("spool")).is_empty());
    assert_eq!(log_segments(&dir.join("spool")), 0, "the log ends empty");
    assert_eq!(
        s["log"]["batches_written_ahead"], s["batches"]["sent"],
        "{s}"
    );
    assert!(s["log"]["fsyncs"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(m.stats().records_accepted, 300);
}

/// Starts `etl` on an inventory that is a named pipe, so that the check before the run is under way (it opened
/// the pipe and read a row) and stays under way until the pipe closes; sends `signal` then. Answers the output and
/// the summary file. With `ignore_int` the binary starts with SIGINT ignored, as `app etl &` in a script does.
fn signal_during_the_inventory_check(
    signal: &str,
    ignore_int: bool,
) -> (std::process::Output, serde_json::Value) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let m = MockThread::fast();
    let dir = TestDir::new();
    let fifo = dir.join("inventory.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let args = ["etl", "--config", "c.toml", "--summary-json", "s.json"];
    let mut cmd = if ignore_int {
        let mut c = app();
        c.args(args);
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(r#"trap '' INT; exec "$0" "$@""#)
            .arg(c.get_program())
            .args(args);
        sh
    } else {
        let mut c = app();
        c.args(args);
        c
    };
    let child = cmd
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the pipe for writing returns once the check opened it for reading.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::OpenOptions::new().write(true).open(path));
    });
    let mut writer = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(w) => w.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            panic!(
                "the check never opened the inventory: {}",
                show(&child.wait_with_output().unwrap())
            );
        }
    };
    writer.write_all(b"127.0.0.1,device-1\n").unwrap();
    writer.flush().unwrap();
    send_signal(child.id(), signal);
    // A run that handles the signal ends without the pipe closing; one that does not is let go on (the pipe
    // closes), so that the test ends either way.
    let mut child = child;
    for _ in 0..2000 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        m.stats().requests,
        0,
        "nothing was extracted: {}",
        show(&out)
    );
    let summary = std::fs::read_to_string(dir.join("s.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    (out, summary)
}

#[test]
fn sigterm_during_the_inventory_check_stops_the_run_with_143_and_writes_the_summary() {
    let (out, s) = signal_during_the_inventory_check("TERM", false);
    assert_eq!(out.status.code(), Some(143), "{}", show(&out));
    assert_eq!(s["signal"], 15, "{s}");
    assert_eq!(s["exit_code"], 143, "{s}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("result    exit 143"));
}

#[test]
fn sigint_during_the_inventory_check_of_a_background_job_stops_the_run_with_130() {
    let (out, s) = signal_during_the_inventory_check("INT", true);
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert_eq!(s["signal"], 2, "{s}");
    assert_eq!(s["exit_code"], 130, "{s}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("result    exit 130"));
}

#[test]
fn sigint_while_a_loader_waits_out_a_retry_after_spools_at_once_and_exits() {
    let m = MockThread::start(app::config::MockSettings {
        fail_first: 1_000_000,
        fail_status: 503,
        retry_after_s: 30,
        ..quiet(app::config::MockSettings::default())
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    // A grace period longer than the Retry-After: a loader that waited it out would send again before the end.
    let cfg = fast_config(&m.load_url(), "[shutdown]\ngrace_ms = 60000\n")
        .set("load.workers", 1)
        .set("load.batch_size", 10);
    dir.write("c.toml", &cfg);
    let child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        std::process::Stdio::piped(),
        std::process::Stdio::piped(),
    );
    wait_until("a 503 answered", Duration::from_secs(30), || {
        m.stats().injected_failures > 0
    });
    assert_eq!(
        m.stats().injected_failures,
        1,
        "the batch was answered 503 with Retry-After: 30"
    );
    send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert_eq!(
        m.stats().requests,
        1,
        "no attempt after the signal: the wait ended on it: {}",
        show(&out)
    );
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["spooled"], 10, "{s}");
    assert_eq!(s["records"]["lost"], 0, "{s}");
    assert_eq!(spool_records(&dir.join("spool")), 10);
}

#[test]
fn an_attempt_cut_by_the_end_of_the_grace_is_not_a_failed_attempt_and_opens_no_circuit() {
    // Two attempts allowed; the first is refused (503 after 5 s), the second is still at the API when the grace
    // ends. It was not failed by the API: the batch is spooled for the shutdown, the circuit does not open (it
    // would if the cut attempt counted as the last one used up).
    let m = MockThread::start(MockSettings {
        delay_ms: 5000,
        jitter_ms: 0,
        fail_first: 1,
        fail_status: 503,
        ..quiet(MockSettings::default())
    });
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    let cfg = fast_config(&m.load_url(), "[shutdown]\ngrace_ms = 500\n")
        .set("load.workers", 1)
        .set("load.retry.max_attempts", 2)
        .set("load.request_timeout_ms", 30_000)
        .set("log.level", "debug");
    dir.write("c.toml", &cfg);
    let child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        Stdio::piped(),
        Stdio::piped(),
    );
    // The first attempt refused, the second under way (the mock holds it 5 s): signalled now.
    wait_until("the 503", Duration::from_secs(30), || {
        m.stats().loads_refused.get(&503) == Some(&1)
    });
    wait_until("the second attempt", Duration::from_secs(30), || {
        m.stats().requests == 2
    });
    send_signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["records"]["spooled"], 10, "{s}");
    assert_eq!(s["batches"]["retries"], 1, "one failed attempt: {s}");
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(log.contains("shutdown grace period over"), "{log}");
    assert!(
        !log.contains("API considered down"),
        "the cut attempt opened the circuit: {log}"
    );
}
