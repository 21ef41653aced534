//! Signals: SIGTERM and SIGINT in the middle of a run against a slow API. Nothing leaves memory without a 2xx or
//! a spool file, the summary is still printed, and the exit code says which signal stopped the run.

use std::process::Stdio;
use std::time::Duration;

use crate::helpers::*;
use app::settings::MockSettings;

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
    let child = app()
        .current_dir(dir.path())
        .args(["etl", "--config", "c.toml", "--summary-json", "s.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
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
    let fast = MockThread::fast();
    drop(fast);
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
