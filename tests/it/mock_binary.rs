//! The `app mock-server` binary: listening line, the seed README's curl examples, the log file (`--log-file ''`
//! turns it off), signals.

use std::time::Duration;

use crate::helpers::*;

#[test]
fn mock_server_binary_serves_the_seed_examples_logs_them_and_stops_on_sigterm() {
    let dir = TestDir::new();
    let mut m = MockProcess::start(
        &dir,
        &[
            "--token",
            "tok-123-secret",
            "--delay-ms",
            "0",
            "--log-file",
            "mock.log",
        ],
    );
    // curl http://localhost:8080/health
    let (status, body) = http(m.addr, "GET", "/health", &[], b"");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    // curl -X POST .../load -H "Content-Type: application/json" -d '[{"name":"device1","cpu_number":"0", ...}]'
    let auth = ("Authorization", "Bearer tok-123-secret");
    let (status, _) = post_load(
        m.addr,
        &[("Content-Type", "application/json"), auth],
        records_json(2).as_bytes(),
    );
    assert_eq!(status, 200);
    m.signal("TERM");
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = m.child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        exited.expect("mock-server stops on SIGTERM").code(),
        Some(0)
    );
    let log = std::fs::read_to_string(dir.join("mock.log")).unwrap();
    assert!(log.contains("Received POST /load with size"), "{log}");
    assert!(
        log.contains("body: [{\"name\":\"device-1\""),
        "the body preview is logged: {log}"
    );
    assert!(
        !log.contains("tok-123-secret"),
        "the token never appears in a log: {log}"
    );
}

#[test]
fn log_body_preview_zero_turns_the_preview_off_and_the_log_is_0600() {
    let dir = TestDir::new();
    dir.write(
        "c.toml",
        "[mock]\nlog_body_preview = 0\ndelay_ms = 0\nlog_file = \"m.log\"\n",
    );
    let m = MockProcess::start(&dir, &["--config", "c.toml"]);
    assert_eq!(
        post_load(
            m.addr,
            &[("Content-Type", "application/json")],
            records_json(1).as_bytes()
        )
        .0,
        200
    );
    drop(m);
    let log = std::fs::read_to_string(dir.join("m.log")).unwrap();
    assert!(log.contains("Received POST /load with size"), "{log}");
    assert!(!log.contains("body:"), "{log}");
    assert_eq!(file_mode(&dir.join("m.log")), 0o600);
}

#[test]
fn a_bind_address_in_use_is_a_clear_error_with_the_runtime_failure_code() {
    let dir = TestDir::new();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let out = dir.run(&["mock-server", "--bind", &addr]);
    // Not bad usage (the address is valid): the port is taken now, and a later try may find it free.
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("mock.bind {addr}")),
        "{}",
        show(&out)
    );
}

/// `--token-file` keeps the token off the command line (where `ps` shows it): the file's one line is the token the
/// mock requires; its command line holds only the path.
#[test]
fn mock_server_token_file_keeps_the_token_out_of_ps() {
    let dir = TestDir::new();
    dir.write("token", "tok-from-file-77\n");
    let m = MockProcess::start(
        &dir,
        &["--token-file", "token", "--delay-ms", "0", "--log-file", ""],
    );
    let json = ("Content-Type", "application/json");
    let body = records_json(1);
    assert_eq!(post_load(m.addr, &[json], body.as_bytes()).0, 401);
    let auth = ("Authorization", "Bearer tok-from-file-77");
    assert_eq!(post_load(m.addr, &[json, auth], body.as_bytes()).0, 200);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", m.child.id())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("tok-from-file-77"));
    // Both at once is a usage error.
    let out = dir.run(&["mock-server", "--token", "a", "--token-file", "token"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn mock_server_log_file_empty_disables_the_log_file_as_the_variable_does() {
    let dir = TestDir::new();
    let m = MockProcess::start(&dir, &["--log-file", ""]);
    let (status, _) = post_load(
        m.addr,
        &[("Content-Type", "application/json")],
        records_json(1).as_bytes(),
    );
    assert_eq!(status, 200);
    drop(m);
    assert!(
        !dir.join("mock_server.log").exists(),
        "--log-file '' wrote the default log file"
    );
    let m = MockProcess::start(&dir, &["--log-file", "m.log"]);
    post_load(
        m.addr,
        &[("Content-Type", "application/json")],
        records_json(1).as_bytes(),
    );
    drop(m);
    assert!(dir.join("m.log").exists());
}
