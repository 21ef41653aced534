//! What a new user hit (issue 23): an inventory from a pipe, stdin or a FIFO (read once, never again), the dry
//! run (the run's inventory check, its signals, `--limit`, concurrency in inventory order, progress), spool
//! entries that are not regular files.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// `app` with `args` in `dir`, started through `sh` with SIGINT ignored (as `app … &` in a script starts it).
fn with_sigint_ignored(dir: &TestDir, args: &[&str]) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#"trap '' INT; exec "$0" "$@""#)
        .arg(app().get_program())
        .args(args)
        .current_dir(dir.path())
        .env_remove("RUST_LOG");
    sh
}

/// Makes a named pipe at `path`.
fn mkfifo(path: &std::path::Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo");
}

#[test]
fn a_stdin_inventory_with_a_bad_row_delivers_the_good_rows_and_logs_the_bad_one() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let mut child = app()
        .current_dir(dir.path())
        .args(["etl", "--config", "c.toml", "--inventory", "/dev/stdin"])
        .args(["--summary-json", "s.json"])
        .env("APP__INVENTORY__ON_INVALID", "skip")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"127.0.0.2,a\nbad,b\n127.0.0.3,c\n")
        .unwrap();
    drop(stdin);
    let out = wait_or_kill(child, 60, "etl --inventory /dev/stdin");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["ok"], 2, "{s}");
    assert_eq!(s["devices"]["invalid"], 1, "{s}");
    assert_eq!(s["devices"]["not_started"], 0, "{s}");
    assert_eq!(s["records"]["loaded"], 2, "{s}");
    assert_eq!(m.stats().records_accepted, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/stdin:2: field `ip`: `bad`") && err.contains("row skipped"),
        "the bad row is logged with its line: {err}"
    );
}

#[test]
fn a_stdin_inventory_whose_rows_cannot_be_kept_is_refused_with_exit_2_saying_how_to_run() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let mut child = app()
        .current_dir(dir.path())
        .args(["etl", "--config", "c.toml", "--inventory", "/dev/stdin"])
        .env("TMPDIR", dir.join("no-such-dir"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"127.0.0.2,a\n127.0.0.3,c\n").unwrap();
    drop(stdin);
    let out = wait_or_kill(child, 60, "etl --inventory /dev/stdin, TMPDIR missing");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a regular file")
            && err.contains("TMPDIR")
            && err.contains("save the inventory to a file"),
        "{err}"
    );
    assert_eq!(m.stats().requests, 0, "nothing sent");
}

#[test]
fn a_fifo_inventory_is_read_once_and_the_run_ends_by_itself_with_its_bad_row_counted() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    let fifo = dir.join("inventory.csv");
    mkfifo(&fifo);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let child = app()
        .current_dir(dir.path())
        .args(["etl", "--config", "c.toml", "--summary-json", "s.json"])
        .env("APP__INVENTORY__ON_INVALID", "skip")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One writer, once: a run that opened the FIFO a second time would wait for a second writer forever.
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"127.0.0.1,a\nbad\n127.0.0.2,b\n").unwrap();
    drop(w);
    let out = wait_or_kill(child, 60, "etl on a FIFO");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(
        (
            s["devices"]["ok"].as_u64(),
            s["devices"]["invalid"].as_u64()
        ),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(m.stats().records_accepted, 2);
}

/// `etl --dry-run` on a FIFO no one writes to: the check waits in `open`; `signal` must end it.
fn dry_run_waiting_on_a_fifo(signal: &str, code: i32) {
    let dir = TestDir::new();
    let fifo = dir.join("inventory.csv");
    mkfifo(&fifo);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let child = with_sigint_ignored(&dir, &["etl", "--config", "c.toml", "--dry-run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signalled once the check waits in `open` (the signal handlers are installed before the check starts).
    wait_for_fifo_open(child.id(), Duration::from_secs(30));
    send_signal(child.id(), signal);
    // A run that ignores the signal is let go on (the FIFO opened and closed), so that the test ends.
    let mut child = child;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    let out = wait_or_kill(child, 30, "dry run on a FIFO");
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dry run stopped by SIG"), "{err}");
}

#[test]
fn sigterm_ends_a_dry_run_waiting_for_a_fifo_writer_with_143() {
    dry_run_waiting_on_a_fifo("TERM", 143);
}

#[test]
fn sigint_ends_a_dry_run_waiting_for_a_fifo_writer_with_130_even_when_the_parent_ignored_it() {
    dry_run_waiting_on_a_fifo("INT", 130);
}

#[test]
fn the_dry_run_refuses_repeated_names_as_validate_and_etl_do() {
    let dir = TestDir::new();
    dir.write("inventory.csv", "127.0.0.1,a\n127.0.0.2,b\n127.0.0.3,a\n");
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inventory.csv:3: field `name`: the same name is on line 1"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed: {}", show(&out));
    // With on_invalid = "skip" the repeat is skipped and counted, as in a run.
    let out = dir.run_env(
        &["etl", "--config", "c.toml", "--dry-run"],
        &[("APP__INVENTORY__ON_INVALID", "skip")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 devices extracted") && err.contains("1 invalid rows"),
        "{err}"
    );
}

#[test]
fn sigint_stops_a_dry_run_started_with_sigint_ignored_with_130_and_its_status_line() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 60);
    let cfg = fast_config(&dead_endpoint(), "")
        .set("extract.simulated.latency_ms", 200)
        .set("extract.concurrency", 1);
    dir.write("c.toml", &cfg);
    let mut child = with_sigint_ignored(&dir, &["etl", "--config", "c.toml", "--dry-run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first record printed: the dry run is under way.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.contains("device-1"), "{first}");
    let at = Instant::now();
    send_signal(child.id(), "INT");
    let out = wait_or_kill(child, 30, "dry run after SIGINT");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    assert!(at.elapsed() < Duration::from_secs(5), "{:?}", at.elapsed());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dry run stopped by SIGINT:"), "{err}");
}

#[test]
fn the_dry_run_refuses_limit_0() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--limit") && !err.contains("dry run:"),
        "{err}"
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run", "--limit", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn the_dry_run_extracts_concurrently_prints_in_inventory_order_and_shows_progress() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 40);
    // 40 devices of 300 ms ± 250: 12 s one at a time, well under 3 s ten at a time.
    let cfg = fast_config(&dead_endpoint(), "")
        .set("extract.simulated.latency_ms", 300)
        .set("extract.simulated.jitter_ms", 250)
        .set("extract.concurrency", 10)
        .set("log.progress_interval_ms", 100);
    dir.write("c.toml", &cfg);
    let started = Instant::now();
    let out = dir.run(&["etl", "--config", "c.toml", "--dry-run"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(took < Duration::from_secs(6), "{took:?}");
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = (1..=40).map(|i| format!("device-{i}")).collect();
    assert_eq!(names, expected, "inventory order");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[Progress] devices") && err.contains("records extracted"),
        "{err}"
    );
    assert!(
        err.contains("dry run: 40 devices extracted, 40 records printed"),
        "{err}"
    );
}

#[test]
fn spool_entries_that_are_not_regular_files_are_unreadable_left_in_place_and_exit_3() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir(&spool).unwrap();
    // A valid spool file outside the spool, and three entries named like spool files that are not files.
    let outside = dir.join("elsewhere.json.gz");
    std::fs::write(&outside, gzip(records_json(3).as_bytes())).unwrap();
    let names = [
        "buffer_failed_worker0-20260101T000000Z-00000001-w0-000001.json.gz",
        "buffer_failed_worker0-20260101T000000Z-00000001-w0-000002.json.gz",
        "buffer_failed_worker0-20260101T000000Z-00000001-w0-000003.json.gz",
    ];
    std::os::unix::fs::symlink(&outside, spool.join(names[0])).unwrap();
    std::os::unix::fs::symlink(dir.join("gone.json.gz"), spool.join(names[1])).unwrap();
    std::fs::create_dir(spool.join(names[2])).unwrap();
    dir.write("inventory.csv", "");
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["spool"]["files_unreadable"], 3, "{s}");
    assert_eq!(s["records"]["replayed"], 0, "{s}");
    assert_eq!(m.stats().requests, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not a regular file").count(), 3, "{err}");
    assert!(err.contains("left in place"), "{err}");
    for name in names {
        assert!(
            std::fs::symlink_metadata(spool.join(name)).is_ok(),
            "{name} left in place"
        );
    }
    assert!(outside.exists(), "the link's target is untouched");
}

#[test]
fn validate_warns_about_an_empty_inventory_and_exits_3_as_etl_does() {
    let dir = TestDir::new();
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    for content in ["", "ip,name\n", "# nothing yet\n"] {
        dir.write("inventory.csv", content);
        let out = dir.run(&["validate", "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(3), "{content:?}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("warning: inventory inventory.csv holds no device")
                && err.contains("exit 3"),
            "{err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("0 devices, 0 invalid rows"));
    }
}

#[test]
fn a_file_given_as_the_spool_dir_or_the_split_output_dir_is_not_a_directory() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write("afile", "x");
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["etl", "--config", "c.toml", "--spool-dir", "afile"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spool directory afile: is not a directory") && !err.contains("os error"),
        "{err}"
    );
    let out = dir.run(&[
        "split-inventory",
        "--inventory",
        "inventory.csv",
        "--shards",
        "2",
        "afile",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("afile: is not a directory") && !err.contains("os error"),
        "{err}"
    );
}

#[test]
fn a_range_error_names_the_file_and_line_or_the_variable_as_a_type_error_does() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    dir.write("c.toml", "[load]\nbatch_size = 10\n\nworkers = 0\n");
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("configuration c.toml:4: key `load.workers`: must be at least 1"),
        "{err}"
    );
    let out = dir.run_env(
        &["validate", "--config", "c.toml"],
        &[("APP__LOAD__WORKERS", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "environment variable APP__LOAD__WORKERS (key `load.workers`): must be at least 1"
        ),
        "{err}"
    );
    dir.write("c.toml", "[load]\nbatch_bytes = 18446744073709551616\n");
    let out = dir.run(&["validate", "--config", "c.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.toml:2: key `load.batch_bytes`")
            && err.contains("too large")
            && !err.contains("i128"),
        "{err}"
    );
}

#[test]
fn a_missing_relative_inventory_says_it_is_relative_to_the_current_directory_and_demo_leaves_no_log(
) {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("conf")).unwrap();
    dir.write("conf/c.toml", "[inventory]\npath = \"inventory.csv\"\n");
    let out = dir.run(&["validate", "--config", "conf/c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inventory.path") && err.contains("relative to the current directory"),
        "{err}"
    );
    // `demo` where there is no appliances.csv: the error, and no etl.log left behind.
    let out = dir.run(&["demo"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("appliances.csv") && err.contains("relative to the current directory"),
        "{err}"
    );
    assert!(!dir.join("etl.log").exists(), "no log file left behind");
}

#[test]
fn the_http_source_says_why_a_device_failed_connect_http_status_or_bad_body() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 4);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let dead = dead_endpoint().replace("/load", "/device/{name}");
    let base = m.url();
    for (template, reason) in [
        (dead.as_str(), "connect"),
        (&*format!("{base}/load?d={{name}}"), "http_status"),
        (&*format!("{base}/stats?d={{name}}"), "bad_body"),
    ] {
        let out = dir.run_env(
            &["etl", "--config", "c.toml", "--summary-json", "s.json"],
            &[
                ("APP__EXTRACT__SOURCE", "http"),
                ("APP__EXTRACT__HTTP__URL_TEMPLATE", template),
            ],
        );
        assert_eq!(out.status.code(), Some(3), "{reason}: {}", show(&out));
        let s = dir.summary("s.json");
        assert_eq!(s["devices"]["failed_by_reason"][reason], 4, "{reason}: {s}");
        assert!(
            s["devices"]["failed_by_reason"].get("failed").is_none(),
            "{s}"
        );
    }
}

#[test]
fn quiet_hides_the_info_lines_as_well_as_the_progress() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20);
    let cfg = fast_config(&m.load_url(), "").set("log.progress_interval_ms", 100);
    dir.write("c.toml", &cfg);
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("INFO"),
        "{}",
        show(&out)
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("INFO") && !err.contains("[Progress]"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("every record delivered"));
    // A level flag still wins.
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet", "-v"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("INFO"),
        "{}",
        show(&out)
    );
}

#[test]
fn the_result_line_says_where_undelivered_records_are_and_how_to_send_them() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 30);
    let dead = fast_config(&dead_endpoint(), "").set("load.workers", 2);
    dir.write("dead.toml", &dead);
    let out = dir.run(&["etl", "--config", "dead.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    // A replay against the dead API: what is still in the spool.
    let out = dir.run(&[
        "replay",
        "--config",
        "dead.toml",
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let files = spool_files(&dir.join("spool")).len();
    assert!(files > 0);
    let result = dir.summary("s.json")["result"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        result.starts_with("30 records spooled; spool holds ")
            && result.contains(&format!("{files} spool file"))
            && result.contains("`app replay` sends them"),
        "{result}"
    );
    // Dead letters: where they are and how to re-drive them.
    let m = MockThread::start(quiet(app::config::MockSettings {
        token: app::config::Secret::new("right"),
        ..app::config::MockSettings::default()
    }));
    dir.write(
        "wrong.toml",
        &fast_config(&m.load_url(), "").set("load.token", "wrong"),
    );
    let out = dir.run(&[
        "replay",
        "--config",
        "wrong.toml",
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let result = dir.summary("s.json")["result"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        result.contains("30 records rejected")
            && result.contains("dead letters are in spool/rejected")
            && result.contains("app replay --rejected"),
        "{result}"
    );
}

#[test]
fn a_replay_prints_no_devices_line_and_logs_replay_words() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 10);
    dir.write("dead.toml", &fast_config(&dead_endpoint(), ""));
    dir.write("up.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "dead.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let out = dir.run(&["replay", "--config", "up.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("s.json")["records"]["replayed"], 10);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Replay summary"), "{text}");
    assert!(!text.contains("devices "), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("extraction done") && !err.contains("ETL:") && err.contains("Before replay:"),
        "{err}"
    );
    // An etl run still has them.
    let out = dir.run(&["etl", "--config", "up.toml"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("  devices   10 ok"),
        "{}",
        show(&out)
    );
}

#[test]
fn validate_hints_at_hostnames_a_name_ip_header_and_zone_ids() {
    let dir = TestDir::new();
    dir.write(
        "inventory.csv",
        "name,ip\nrouter-1.example,r1\nfe80::1%eth0,r2\n127.0.0.1,ok\n",
    );
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inventory.csv:1: field `ip`: `name`")
            && err.contains("the columns are ip,name"),
        "{err}"
    );
    assert!(
        err.contains("inventory.csv:2:") && err.contains("names are not resolved"),
        "{err}"
    );
    assert!(
        err.contains("inventory.csv:3:") && err.contains("zone ids"),
        "{err}"
    );
}

#[test]
fn a_directory_given_as_the_inventory_is_said_to_be_one_without_a_line() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("adir")).unwrap();
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    for args in [
        &["validate", "--config", "c.toml", "--inventory", "adir"][..],
        &["etl", "--config", "c.toml", "--inventory", "adir"],
    ] {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("inventory adir: is a directory") && !err.contains("line 1"),
            "{err}"
        );
    }
}

#[test]
fn an_empty_spool_file_and_one_with_data_after_its_gzip_stream_are_quarantined_saying_so() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::write(
        spool.join("buffer_failed_worker0-20260101T000000Z-00000001-w0-000001.json.gz"),
        b"",
    )
    .unwrap();
    let mut trailing = gzip(records_json(2).as_bytes());
    trailing.extend_from_slice(b"garbage");
    std::fs::write(
        spool.join("buffer_failed_worker0-20260101T000000Z-00000001-w0-000002.json.gz"),
        trailing,
    )
    .unwrap();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(dir.summary("s.json")["spool"]["files_quarantined"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("empty file") && err.contains("data after the gzip stream"),
        "{err}"
    );
    assert!(!err.contains("unexpected end of file"), "{err}");
}

#[test]
fn variables_that_look_like_configuration_but_are_not_read_are_warned_about() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let out = dir.run_env(
        &["validate", "--config", "c.toml"],
        &[
            ("APP_LOAD_ENDPOINT", "http://127.0.0.1:1/load"),
            ("app__spool__dir", "elsewhere"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("APP_LOAD_ENDPOINT is not read") && err.contains("APP__LOAD__ENDPOINT"),
        "{err}"
    );
    assert!(
        err.contains("app__spool__dir is not read") && err.contains("APP__SPOOL__DIR"),
        "{err}"
    );
}

#[test]
fn the_snmp_section_is_checked_only_when_the_source_is_snmp() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
    let env = [
        (
            "APP__EXTRACT__SNMP__COMMUNITY_FILE",
            "/nonexistent/community",
        ),
        ("APP__EXTRACT__SNMP__AUTH_PASSWORD", "password1"),
        (
            "APP__EXTRACT__SNMP__AUTH_PASSWORD_FILE",
            "/nonexistent/auth",
        ),
    ];
    let out = dir.run_env(&["validate", "--config", "c.toml"], &env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "simulated source: {}",
        show(&out)
    );
    let mut snmp = env.to_vec();
    snmp.push(("APP__EXTRACT__SOURCE", "snmp"));
    let out = dir.run_env(&["validate", "--config", "c.toml"], &snmp);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("extract.snmp."),
        "{}",
        show(&out)
    );
}

#[test]
fn snmp_protocol_names_are_taken_in_any_case_as_net_snmp_takes_them() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    let cfg = fast_config(&dead_endpoint(), "").merge(
        r#"
[extract]
source = "snmp"
[extract.snmp]
version = "3"
user = "alice"
security_level = "authpriv"
auth_protocol = "sha-256"
priv_protocol = "aes"
auth_password = "password1"
priv_password = "password2"
"#,
    );
    dir.write("c.toml", &cfg);
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    dir.write(
        "c.toml",
        &cfg.clone().set("extract.snmp.auth_protocol", "sha-257"),
    );
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.toml:") && err.contains("`SHA-256`"),
        "{err}"
    );
}

#[test]
fn validate_and_a_run_warn_about_a_connection_cap_that_caps_nothing() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    let cfg = fast_config(&m.load_url(), "")
        .set("load.workers", 2)
        .set("load.max_in_flight", 4)
        .set("load.max_connections", 8);
    dir.write("c.toml", &cfg);
    let warning =
        "warning: load.max_connections = 8 caps nothing: the loaders have load.workers × \
                   load.max_in_flight = 8 slots";
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(warning),
        "{}",
        show(&out)
    );
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(
        log.contains("load.max_connections = 8 caps nothing"),
        "{log}"
    );
    assert!(log.contains("at most 8 connections to the API"), "{log}");
}

#[test]
fn validate_warns_about_an_unused_snmp_password_and_attempts_past_the_device_timeout() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 1);
    let cfg = fast_config(&dead_endpoint(), "").merge(
        r#"
[extract]
source = "snmp"
timeout_ms = 7000
[extract.snmp]
version = "3"
user = "alice"
security_level = "noAuthNoPriv"
auth_password = "password1"
timeout_ms = 3000
retries = 2
"#,
    );
    dir.write("c.toml", &cfg);
    let out = dir.run(&["validate", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: extract.snmp.auth_password is set but security_level is \"noAuthNoPriv\""
        ),
        "{err}"
    );
    assert!(
        err.contains("3000 × 3 = 9000 ms does not fit in extract.timeout_ms (7000 ms)"),
        "{err}"
    );
}

#[test]
fn an_empty_spool_file_is_deleted_without_a_request_and_said_so() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    let spool = dir.join("spool");
    std::fs::create_dir(&spool).unwrap();
    let name = "buffer_failed_worker0-20260101T000000Z-00000001-w0-000001.json.gz";
    std::fs::write(spool.join(name), gzip(b"[]")).unwrap();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["replay", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(m.stats().requests, 0, "no request for an empty batch");
    assert!(!spool.join(name).exists(), "deleted");
    assert_eq!(dir.summary("s.json")["spool"]["files_replayed"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no record (`[]`): deleted without a request"),
        "{err}"
    );
}

#[test]
fn mock_server_on_sigterm_says_how_many_requests_it_drains() {
    use std::io::BufRead;
    let dir = TestDir::new();
    dir.write(
        "m.toml",
        "[mock]\ndelay_ms = 1500\n[log]\nlevel = \"info\"\n",
    );
    let mut child = app()
        .current_dir(dir.path())
        .args([
            "mock-server",
            "--config",
            "m.toml",
            "--bind",
            "127.0.0.1:0",
            "--log-file",
            "",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let body = records_json(1);
    let request = std::thread::spawn(move || {
        post_load(
            addr,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    });
    // Signalled once the request is at the mock (answered 1.5 s later): `/stats` counts it on arrival.
    wait_until("the request at the mock", Duration::from_secs(30), || {
        let (_, stats) = http(addr, "GET", "/stats", &[], b"");
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()["requests"].as_u64() == Some(1)
    });
    send_signal(child.id(), "TERM");
    let (status, _) = request.join().unwrap();
    assert_eq!(status, 200, "the request in flight is answered");
    let out = wait_or_kill(child, 30, "mock-server after SIGTERM");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mock API SIGTERM: draining 1 request, then stopping"),
        "{err}"
    );
}

#[test]
fn man_out_dir_writes_every_page_the_main_page_refers_to() {
    let dir = TestDir::new();
    let out = dir.run(&["man", "--out-dir", "man"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let main = std::fs::read_to_string(dir.join("man/app.1")).unwrap();
    // Every page app.1 cites (app-etl(1), …) is there, with its own flags.
    let cited: Vec<&str> = main
        .split("app\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)").map(|(name, _)| name))
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c == '\\' || c == '-')
        })
        .collect();
    assert!(cited.len() >= 5, "{cited:?}\n{main}");
    for name in cited {
        let file = dir.join(&format!("man/app-{}.1", name.replace("\\-", "-")));
        assert!(file.exists(), "{} is cited but not written", file.display());
    }
    let etl = std::fs::read_to_string(dir.join("man/app-etl.1")).unwrap();
    assert!(etl.contains("dry\\-run") && etl.contains("limit"), "{etl}");
}
