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
    std::thread::sleep(std::time::Duration::from_millis(1500));
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

/// Dead letters in `spool/rejected/`, and their sidecars.
fn dead_letters(spool: &std::path::Path) -> (Vec<std::path::PathBuf>, usize) {
    let rejected = spool.join("rejected");
    let sidecars = std::fs::read_dir(&rejected)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".rejection.json")
            })
            .count()
        })
        .unwrap_or(0);
    (spool_files(&rejected), sidecars)
}

#[test]
fn replay_rejected_resends_dead_letters_under_their_ids_once_the_cause_is_fixed() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    let m = MockThread::fast();
    // A typo in the path: the API answers 404, which is not retried: every batch is dead-lettered.
    let typo = format!("{}/lod", m.url());
    dir.write("c.toml", &fast_config(&typo, "").set("load.batch_size", 10));
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let spool = dir.join("spool");
    let (letters, sidecars) = dead_letters(&spool);
    assert!(!letters.is_empty());
    assert_eq!(sidecars, letters.len());
    let ids: Vec<String> = letters
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            app::spool::parse_file_name(name).unwrap().1.unwrap().0
        })
        .collect();

    // Re-driven while the cause is still there: rejected again, they stay (with a sidecar each).
    let out = dir.run(&["replay", "--config", "c.toml", "--rejected"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(dead_letters(&spool), (letters.clone(), letters.len()));
    assert!(spool_files(&spool).is_empty());

    // Fixed: delivered under the original ids; dead letters and sidecars are gone.
    let out = dir.run(&[
        "replay",
        "--config",
        "c.toml",
        "--rejected",
        "--endpoint",
        &m.load_url(),
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().records_accepted, 30);
    assert_eq!(dead_letters(&spool), (vec![], 0));
    assert!(spool_files(&spool).is_empty());
    assert!(std::fs::read_dir(&spool).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".rejection.json")));
    assert_eq!(dir.summary("s.json")["records"]["replayed"], 30);
    for id in ids {
        let (status, body) = post_load(
            m.addr,
            &[
                ("Content-Type", "application/json"),
                ("Idempotency-Key", id.as_str()),
            ],
            b"[]",
        );
        assert_eq!(status, 200);
        assert!(
            body.contains("\"duplicate\":true"),
            "{id} was delivered: {body}"
        );
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = app().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    assert!(
        text.starts_with(&format!(
            "app {} (commit {commit}, built ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let date = text
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        date == "unknown" || (date.len() == 10 && date.as_bytes()[4] == b'-'),
        "{text}"
    );
}

#[test]
fn completions_and_the_man_page_are_printed() {
    let out = app().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let bash = String::from_utf8_lossy(&out.stdout);
    assert!(bash.contains("_app()") && bash.contains("replay"), "{bash}");
    let out = app().args(["completions", "zsh"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("#compdef app"));
    let out = app().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad usage");
    let out = app().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(man.contains(".TH app 1") && man.contains("replay"), "{man}");
}

#[test]
fn verbose_and_quiet_flags_and_log_level_set_the_log_level() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let run = |flags: &[&str]| {
        let mut args = flags.to_vec();
        // Without --quiet, which is -q as well (new_user.rs).
        args.extend(["etl", "--config", "c.toml"]);
        let out = dir.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let info = run(&[]);
    assert!(
        info.contains(" INFO ") && !info.contains(" DEBUG "),
        "{info}"
    );
    let debug = run(&["-v"]);
    assert!(debug.contains(" DEBUG "), "{debug}");
    assert!(run(&["--log-level", "debug"]).contains(" DEBUG "));
    let quiet = run(&["-q"]);
    assert!(!quiet.contains(" INFO "), "{quiet}");
    // After the subcommand too (the flags are global).
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(" INFO "));
}

#[test]
fn etl_dry_run_prints_the_records_sends_nothing_and_touches_no_spool() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(records.len(), 5, "{stdout}");
    assert!(records
        .iter()
        .all(|r| r["indicators"].is_array() && r["name"].is_string()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing sent"));
    assert_eq!(m.stats().requests, 0);
    assert!(!dir.join("spool").exists(), "no spool directory, no lock");

    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run", "--limit", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert!(!dir.join("spool").exists());
}

#[test]
fn cpu_prof_is_gzipped_as_pprof_writes_it() {
    use pprof::protos::Message;
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20_000);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let raw = std::fs::read(dir.join("cpu.prof")).expect("cpu.prof written");
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "gzip magic");
    let mut pb = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut pb).unwrap();
    assert!(!pprof::protos::Profile::decode(&pb[..])
        .unwrap()
        .sample_type
        .is_empty());
}

#[test]
fn a_run_too_short_to_sample_says_so_instead_of_writing_an_empty_flamegraph() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    // One sample a second: a run of one device ends before the first.
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("profile.frequency_hz", 1),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let svg = dir.join("flamegraph.svg");
    if svg.exists() {
        // The machine was slow enough for a sample: then the file has one.
        assert!(std::fs::metadata(&svg).unwrap().len() > 0);
    } else {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("too short to sample"),
            "{}",
            show(&out)
        );
        assert!(!dir.join("cpu.prof").exists());
    }
}

#[test]
fn a_profile_file_that_cannot_be_written_is_an_error_at_start() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    let cfg = fast_config(&m.load_url(), "").set("profile.cpu_file", "missing/dir/cpu.prof");
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml", "--profile", "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("profile.cpu_file"),
        "{}",
        show(&out)
    );
    assert_eq!(m.stats().requests, 0, "nothing sent");
}
