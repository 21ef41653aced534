//! Hardening (issue 13, "data loss and wrong exit codes"): what a new user hit, through the real binary: a demo
//! that must not touch the real spool, `--summary-json` checked before anything is sent, unreadable spool files,
//! URLs, addresses and tokens checked at validation, signals from the start of the process, and a signal while a
//! loader waits out a `Retry-After`.

use std::path::Path;

use crate::helpers::*;

/// A config for `demo`: the fast pipeline settings, a small inventory, the real spool at `spool/`.
fn demo_config(dir: &TestDir, devices: usize) {
    dir.inventory("inventory.csv", devices);
    // The endpoint is replaced by the demo's own mock; this one is never used.
    dir.write("c.toml", &fast_config(&dead_endpoint(), ""));
}

#[test]
fn demo_leaves_the_real_spool_alone_and_says_where_it_spools() {
    let dir = TestDir::new();
    demo_config(&dir, 50);
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let real = spool.join("buffer_failed_worker3.json.gz");
    std::fs::write(&real, gzip(records_json(1).as_bytes())).unwrap();

    let out = dir.run(&["demo", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        real.exists(),
        "the real spool file is still there: {}",
        show(&out)
    );
    assert_eq!(spool_records(&spool), 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("50 extracted, 50 loaded, 0 replayed"),
        "{stdout}"
    );
    assert!(stdout.contains("\"records_accepted\": 50"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("demo: spool "))
        .unwrap_or_else(|| panic!("the demo says where it spools: {stdout}"));
    assert!(line.contains("temporary"), "{line}");
    let temp = line
        .strip_prefix("demo: spool ")
        .and_then(|l| l.split(" (").next())
        .unwrap();
    assert!(
        !Path::new(temp).exists(),
        "the empty temporary spool {temp} is removed at the end"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("replayed"));
}

#[test]
fn demo_with_a_spool_dir_spools_there_but_replays_nothing_into_its_mock() {
    let dir = TestDir::new();
    demo_config(&dir, 20);
    let given = dir.join("demo-spool");
    std::fs::create_dir_all(&given).unwrap();
    let old = given.join("buffer_failed_worker1.json.gz");
    std::fs::write(&old, gzip(records_json(2).as_bytes())).unwrap();

    let out = dir.run(&[
        "demo",
        "--config",
        "c.toml",
        "--spool-dir",
        "demo-spool",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(old.exists(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("demo: spool demo-spool"), "{stdout}");
    assert!(stdout.contains("\"records_accepted\": 20"), "{stdout}");
}

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
    for _ in 0..3000 {
        if m.stats().requests > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(m.stats().requests > 0, "the run sent a batch");
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

/// `app` with `args` in `dir`, unable to read what its file modes forbid: run as root it would read a mode-000
/// file anyway, so then it runs without the capabilities that override file modes.
fn run_without_override(dir: &TestDir, probe: &Path, args: &[&str]) -> std::process::Output {
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

#[test]
fn invalid_urls_and_addresses_are_configuration_errors_naming_their_key() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    dir.write("c.toml", &fast_config("http://127.0.0.1:8080/load", ""));
    let cases = [
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1 :8080/load",
            "load.endpoint",
        ),
        ("APP__LOAD__ENDPOINT", "http://[::1", "load.endpoint"),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:99999/load",
            "load.endpoint",
        ),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:0/load",
            "load.endpoint",
        ),
        ("APP__LOAD__ENDPOINT", "http:///load", "load.endpoint"),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:8080/lo\nad",
            "load.endpoint",
        ),
        (
            "APP__EXTRACT__HTTP__URL_TEMPLATE",
            "http://127.0.0.1:8080/device/{nmae}/cpu",
            "extract.http.url_template",
        ),
        (
            "APP__EXTRACT__HTTP__URL_TEMPLATE",
            "http://127.0.0.1:99999/device/{name}/cpu",
            "extract.http.url_template",
        ),
        ("APP__MOCK__BIND", "127.0.0.1:99999", "mock.bind"),
        ("APP__METRICS__ADDR", "127.0.0.1 :9898", "metrics.addr"),
    ];
    for (var, value, key) in cases {
        for command in ["validate", "etl"] {
            let out = dir.run_env(&[command, "--config", "c.toml"], &[(var, value)]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} with {var}={value:?}: {}",
                show(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("`{key}`")),
                "{command} with {var}={value:?} names {key}: {stderr}"
            );
        }
    }
    // The flag is checked as the key is.
    let out = dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--endpoint",
        "http://127.0.0.1:99999/load",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`load.endpoint`"));
}

#[test]
fn healthcheck_with_a_bad_url_is_bad_usage_and_an_unanswered_one_is_unhealthy() {
    let dir = TestDir::new();
    for bad in [
        "http://[::1",
        "http://127.0.0.1:99999/health",
        "127.0.0.1:8080/health",
    ] {
        let out = dir.run(&["healthcheck", "--url", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--url"),
            "{}",
            show(&out)
        );
    }
    let dead = dead_endpoint().replace("/load", "/health");
    let out = dir.run(&["healthcheck", "--url", &dead, "--timeout-ms", "2000"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let m = MockThread::fast();
    let out = dir.run(&["healthcheck", "--url", &format!("{}/health", m.url())]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn a_token_an_http_header_cannot_carry_is_a_configuration_error_that_does_not_show_it() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    for command in ["validate", "etl"] {
        for token in ["s3cr\nXyZ", "s3cr\rXyZ", "s3cr\u{1}XyZ"] {
            let out = dir.run_env(
                &[command, "--config", "c.toml"],
                &[("APP__LOAD__TOKEN", token)],
            );
            assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(all.contains("`load.token`"), "{all}");
            assert!(!all.contains("s3cr") && !all.contains("XyZ"), "{all}");
        }
        // From a file: the error names the key and the file.
        let file = dir.write("token.txt", "s3cr\u{1}XyZ\n");
        let out = dir.run_env(
            &[command, "--config", "c.toml"],
            &[("APP__LOAD__TOKEN_FILE", file.to_str().unwrap())],
        );
        assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("`load.token_file`") && stderr.contains("token.txt"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cr") && !stderr.contains("XyZ"),
            "{stderr}"
        );
    }
    assert_eq!(m.stats().requests, 0, "nothing was sent");
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
    for _ in 0..3000 {
        if m.stats().injected_failures > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
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

/// An API that answers every request `400` with a body made to forge log lines (a newline, then a line of the
/// log's own shape, then 32 KiB); serves for at most `secs` seconds.
fn forging_api(secs: u64) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let body = format!(
            "refused\n2026-12-07T00:00:00Z ERROR [Loader-0] FORGED all records delivered\r\n{}",
            "x".repeat(32 << 10)
        );
        while std::time::Instant::now() < until {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut sink = vec![0u8; length];
            let _ = reader.read_exact(&mut sink);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn an_api_answer_cannot_forge_a_log_line_in_text_or_json() {
    let api = forging_api(60);
    for format in ["text", "json"] {
        let dir = TestDir::new();
        dir.inventory("inventory.csv", 5);
        let config = fast_config(&format!("http://{api}/load"), "").set("log.format", format);
        dir.write("c.toml", &config);
        let out = dir.run(&["etl", "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(3), "{format}: {}", show(&out));
        let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for raw in [&log[..], &stderr[..]] {
            // In JSON, each line is an object whose message holds the (escaped) text.
            let text = if format == "json" {
                raw.lines()
                    .map(|line| {
                        let v: serde_json::Value = serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                        v["message"].as_str().unwrap_or_default().to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                raw.to_string()
            };
            assert!(
                text.contains("refused\\n2026-12-07T00:00:00Z ERROR [Loader-0] FORGED"),
                "{format}: the body is logged escaped: {}",
                tail(&text, 20)
            );
            assert!(
                !text.lines().any(|l| l.starts_with("2026-12-07T00:00:00Z")),
                "{format}: a forged line"
            );
            let longest = raw.lines().map(str::len).max().unwrap_or(0);
            assert!(longest < 4096, "{format}: a line of {longest} bytes");
        }
    }
}
