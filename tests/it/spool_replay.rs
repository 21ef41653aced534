//! The spool: an API down for a whole run, replay on the next run, files never overwritten, quarantine,
//! files written by the original Go program, stopping the mock server halfway through a run, a file that cannot
//! be read, and files larger than 64 MiB decompressed (replayed in parts; torn, none of them sent).

use std::io::Write;
use std::time::Duration;

use crate::helpers::*;

#[test]
fn with_the_api_down_every_record_is_spooled_and_the_next_run_replays_them_all() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4000);
    dir.write("down.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["etl", "--config", "down.toml", "--summary-json", "s1.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let spool = dir.join("spool");
    assert_eq!(
        spool_records(&spool),
        4000,
        "every record is in a spool file"
    );
    let s1 = dir.summary("s1.json");
    assert_eq!(s1["records"]["spooled"], 4000);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("API load failed"),
        "original-style log line"
    );

    let m = MockThread::fast();
    dir.write("up.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "up.toml", "--summary-json", "s2.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s2 = dir.summary("s2.json");
    assert_eq!(s2["records"]["replayed"], 4000);
    assert_eq!(s2["records"]["loaded"], 4000);
    assert!(spool_files(&spool).is_empty(), "the spool ends empty");
    let st = m.stats();
    assert_eq!(
        st.records_accepted, 8000,
        "4000 replayed + 4000 new, each once"
    );
    assert_eq!(st.duplicate_batches, 0);
}

#[test]
fn the_same_loader_failing_twice_writes_two_files() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 25);
    let cfg = fast_config(&dead_endpoint(), "")
        .set("load.workers", 1)
        .set("load.batch_size", 10);
    dir.write("c.toml", &cfg);
    for _ in 0..2 {
        let out = dir.run_env(
            &["etl", "--config", "c.toml"],
            &[("APP__SPOOL__REPLAY_ON_START", "false")],
        );
        assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    }
    let files = spool_files(&dir.join("spool"));
    assert_eq!(
        files.len(),
        6,
        "3 batches a run, two runs, none overwritten: {files:?}"
    );
    assert_eq!(spool_records(&dir.join("spool")), 50);
    for f in &files {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{f:?}");
        assert!(f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("buffer_failed_worker0-"));
    }
}

#[test]
fn replay_delivers_only_the_spool_under_the_same_keys() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 100);
    dir.write("down.toml", &fast_config(&dead_endpoint(), ""));
    assert_eq!(
        dir.run(&["etl", "--config", "down.toml"]).status.code(),
        Some(3)
    );
    let keys: Vec<String> = spool_files(&dir.join("spool"))
        .iter()
        .map(|p| {
            app::spool::parse_file_name(p.file_name().unwrap().to_str().unwrap())
                .unwrap()
                .1
                .unwrap()
                .0
        })
        .collect();
    let m = MockThread::fast();
    let out = dir.run(&[
        "replay",
        "--config",
        "down.toml",
        "--endpoint",
        &m.load_url(),
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 100);
    assert_eq!(st.unique_batches, keys.len() as u64);
    assert_eq!(dir.summary("s.json")["records"]["extracted"], 0);
    assert!(spool_files(&dir.join("spool")).is_empty());
    // Replaying the same batches again (as after a crash before the delete) is deduplicated by key.
    for k in &keys {
        let (status, body) = post_load(
            m.addr,
            &[("Content-Type", "application/json"), ("Idempotency-Key", k)],
            b"[]",
        );
        assert_eq!(status, 200);
        assert!(body.contains("\"duplicate\":true"), "{body}");
    }
}

#[test]
fn a_corrupt_spool_file_is_quarantined_and_an_original_go_file_is_replayed() {
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker1-broken.json.gz"),
        b"this is not gzip",
    )
    .unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker2-truncated.json.gz"),
        &gzip(records_json(3).as_bytes())[..20],
    )
    .unwrap();
    // The Go program's format: gzip of a JSON array, no batch id in the name.
    std::fs::write(
        spool.join("buffer_failed_worker4.json.gz"),
        gzip(records_json(7).as_bytes()),
    )
    .unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker5-ok.json.gz"),
        gzip(records_json(2).as_bytes()),
    )
    .unwrap();
    // A temp file left by a writer that was killed.
    std::fs::write(
        spool.join(".tmp-buffer_failed_worker6-x.json.gz"),
        b"partial",
    )
    .unwrap();
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "quarantined files make exit 3: {}",
        show(&out)
    );
    assert_eq!(m.stats().records_accepted, 9);
    let quarantined: Vec<String> = std::fs::read_dir(spool.join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(quarantined.len(), 3, "{quarantined:?}");
    assert!(spool_files(&spool).is_empty());
    let s = dir.summary("s.json");
    assert_eq!(s["spool"]["files_quarantined"], 3);
    assert_eq!(s["records"]["replayed"], 9);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("moved to"),
        "{}",
        show(&out)
    );
}

#[test]
fn stopping_the_mock_server_halfway_leaves_spool_files_and_exit_3_and_the_next_run_delivers_them() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 2000);
    let mock = MockProcess::start(&dir, &["--delay-ms", "0", "--log-file", "mock.log"]);
    let endpoint = format!("http://{}/load", mock.addr);
    // 2000 devices, 100 at a time, 100 ms each: about 2 s of extraction.
    let extra = "[extract]\nconcurrency = 100\n";
    let cfg = fast_config(&endpoint, extra).set("extract.simulated.latency_ms", 100);
    dir.write("c.toml", &cfg.set("load.batch_size", 20));
    let etl = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s1.json"],
        std::process::Stdio::null(),
        std::process::Stdio::null(),
    );
    // Killed once records reached it: the run is under way, about 2 s from its end.
    let mut stats_before = String::new();
    wait_until(
        "records at the mock server",
        Duration::from_secs(30),
        || {
            stats_before = http(mock.addr, "GET", "/stats", &[], b"").1;
            serde_json::from_str::<serde_json::Value>(&stats_before).unwrap()["records_accepted"]
                .as_u64()
                > Some(0)
        },
    );
    drop(mock); // killed
    let out = etl.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let s1 = dir.summary("s1.json");
    let spooled = s1["records"]["spooled"].as_u64().unwrap();
    assert!(spooled > 0, "{s1}");
    assert_eq!(spool_records(&dir.join("spool")) as u64, spooled);
    assert_eq!(
        s1["records"]["loaded"].as_u64().unwrap() + spooled,
        2000,
        "{s1}"
    );
    let before: serde_json::Value = serde_json::from_str(&stats_before).unwrap();
    assert!(
        before["records_accepted"].as_u64().unwrap() > 0,
        "the server got part of the run"
    );

    let m = MockThread::fast();
    let out = dir.run(&[
        "replay",
        "--config",
        "c.toml",
        "--endpoint",
        &m.load_url(),
        "--summary-json",
        "s2.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, spooled);
    assert!(spool_files(&dir.join("spool")).is_empty());
    let _ = std::io::stdout().flush();
}

#[test]
fn a_large_original_file_is_replayed_in_batch_sized_parts_and_then_deleted() {
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker0.json.gz"),
        gzip(records_json(450).as_bytes()),
    )
    .unwrap();
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = m.stats();
    assert_eq!(st.records_accepted, 450);
    assert_eq!(st.unique_batches, 3, "200 + 200 + 50");
    assert_eq!(st.largest_batch_records, 200);
    assert!(spool_files(&spool).is_empty());
}

#[test]
fn a_spool_directory_others_can_write_stops_the_run_unless_shared_on_purpose() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    let mock = MockThread::fast();
    dir.write("c.toml", &fast_config(&mock.load_url(), ""));
    let spool = dir.join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o777)).unwrap();
    for command in ["etl", "validate"] {
        let out = dir.run(&[command, "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("spool")
                && err.contains("mode 0777")
                && err.contains("writable by others"),
            "{command}: {err}"
        );
    }
    assert_eq!(mock.stats().records_accepted, 0);
    // spool.shared_dir = true: the operator's choice, warned about, and the run goes on.
    dir.write(
        "c.toml",
        &fast_config(&mock.load_url(), "[spool]\nshared_dir = true\n"),
    );
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap_or_default();
    assert!(
        log.contains("spool.shared_dir = true")
            || String::from_utf8_lossy(&out.stderr).contains("spool.shared_dir = true"),
        "{}",
        show(&out)
    );
}

#[test]
fn two_processes_cannot_share_a_spool_directory() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let _held = app::spool::lock_dir(&dir.join("spool")).unwrap();
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spool") && err.contains("another app process"),
        "{err}"
    );
}

/// `app` with `args` in `dir`, unable to read what its file modes forbid: run as root it would read a mode-000
/// file anyway, so then it runs without the capabilities that override file modes.
fn run_without_override(
    dir: &TestDir,
    probe: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let privileged = std::fs::read(probe).is_ok();
    let mut cmd = if privileged {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(env!("CARGO_BIN_EXE_app"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_app"))
    };
    cmd.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("APP__") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir.path())
        .args(args)
        .output()
        .expect("the app binary runs")
}

#[test]
fn a_spool_file_that_cannot_be_read_ends_with_exit_3_and_stays_in_place() {
    use std::os::unix::fs::PermissionsExt;
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let locked = spool.join("buffer_failed_worker3.json.gz");
    std::fs::write(&locked, gzip(records_json(4).as_bytes())).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker1.json.gz"),
        gzip(records_json(2).as_bytes()),
    )
    .unwrap();

    let out = run_without_override(
        &dir,
        &locked,
        &["replay", "--config", "c.toml", "--summary-json", "s.json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["spool"]["files_unreadable"], 1, "{s}");
    assert_eq!(s["exit_code"], 3, "{s}");
    assert!(
        s["result"].as_str().unwrap().contains("could not be read"),
        "{s}"
    );
    assert_eq!(
        m.stats().records_accepted,
        2,
        "the readable file is replayed"
    );
    assert!(locked.exists(), "the unreadable file is left in place");
}

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
