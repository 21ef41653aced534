//! Test helpers: temp dirs, config files, the mock API in a thread of its own (port 0), the `app` binary, raw
//! loopback HTTP, waits for a state a test can see (a counter, a process blocked on a FIFO, a `/metrics`
//! figure), and reading spool files.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::config::MockSettings;
use app::mock::{MockState, StatsSnapshot};

/// The `app` binary under test.
pub fn app() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_app"));
    cmd.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("APP__") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A temp dir per test, with helpers to write files in it.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::tempdir().expect("a temp dir can be made"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// An inventory of `n` loopback devices `device-1..n`.
    pub fn inventory(&self, name: &str, n: usize) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, app::inventory::generate::text(n as u64)).unwrap();
        p
    }
    /// Runs `app` with `args` in this dir.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = app();
        cmd.current_dir(self.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("the app binary runs")
    }
    /// Starts `app` with `args` in this dir, with stdout and stderr as given.
    pub fn spawn(&self, args: &[&str], stdout: Stdio, stderr: Stdio) -> Child {
        app()
            .current_dir(self.path())
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the app binary starts")
    }
    /// Writes `config` as `c.toml` and runs `app validate --config c.toml` with `env`: its exit code and stderr.
    pub fn validate(&self, config: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
        self.write("c.toml", config);
        let out = self.run_env(&["validate", "--config", "c.toml"], env);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    /// Reads a `--summary-json` file.
    pub fn summary(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.join(name)).expect("summary written");
        serde_json::from_str(&text).expect("summary is JSON")
    }
}

/// Text of an output, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr (tail)\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    )
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A mock API running in a thread of its own (its own actix system), on 127.0.0.1:0.
pub struct MockThread {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockThread {
    pub fn start(settings: MockSettings) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let server = app::mock::start(settings, listener).unwrap();
                tx.send((server.addr, server.state.clone(), server.handle.clone()))
                    .unwrap();
                server.server.await.unwrap();
            })
        });
        let (addr, state, handle) = rx.recv().expect("mock started");
        MockThread {
            addr,
            state,
            handle,
            thread: Some(thread),
        }
    }
    /// A quiet, fast mock: no delay, no body preview.
    pub fn fast() -> Self {
        Self::start(quiet(MockSettings::default()))
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn load_url(&self) -> String {
        format!("http://{}/load", self.addr)
    }
    pub fn stats(&self) -> StatsSnapshot {
        self.state.snapshot()
    }
}

impl Drop for MockThread {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_rt::System::new().block_on(handle.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Mock settings without delay or logging noise.
pub fn quiet(mut s: MockSettings) -> MockSettings {
    s.delay_ms = 0;
    s.jitter_ms = 0;
    s.log_body_preview = 0;
    s.workers = 2;
    s
}

/// An address on which nothing listens (bound, then released).
pub fn dead_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/load")
}

/// A config for fast pipeline tests: no extraction latency, quick retries, everything in `dir`.
pub fn fast_config(endpoint: &str, extra: &str) -> TestConfig {
    TestConfig::parse(&format!(
        r#"
[inventory]
path = "inventory.csv"
[extract.simulated]
latency_ms = 0
jitter_ms = 0
[load]
endpoint = "{endpoint}"
flush_interval_ms = 200
request_timeout_ms = 5000
[load.retry]
max_attempts = 3
initial_backoff_ms = 1
max_backoff_ms = 10
[log]
level = "info"
file = "etl.log"
"#
    ))
    .merge(extra)
}

/// A test's configuration as a typed TOML table: `set` puts one value at a dotted key (`"load.workers"`),
/// `merge` lays a TOML text over it (tables merged, values replaced). It reads as `&str` (the TOML text) wherever
/// a file's content is wanted.
#[derive(Debug, Clone)]
pub struct TestConfig {
    table: toml::Table,
    text: String,
}

impl TestConfig {
    /// Parses `text`; a test's own TOML that does not parse is a bug in the test.
    pub fn parse(text: &str) -> Self {
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("test configuration is not TOML: {e}\n{text}"));
        let text = table.to_string();
        TestConfig { table, text }
    }

    /// Sets `key` (dotted: `section.sub.key`), creating the tables on the way.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("a key has a name");
        let mut table = &mut self.table;
        for part in parts {
            table = table
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("`{part}` in `{key}` is not a table"));
        }
        table.insert(last.to_string(), value.into());
        self.text = self.table.to_string();
        self
    }

    /// Lays `extra` (TOML text) over this configuration.
    pub fn merge(mut self, extra: &str) -> Self {
        fn merge_into(into: &mut toml::Table, from: toml::Table) {
            for (k, v) in from {
                match (into.get_mut(&k), v) {
                    (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge_into(a, b),
                    (_, v) => {
                        into.insert(k, v);
                    }
                }
            }
        }
        merge_into(&mut self.table, TestConfig::parse(extra).table);
        self.text = self.table.to_string();
        self
    }
}

impl std::ops::Deref for TestConfig {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

/// The `app mock-server` binary on 127.0.0.1:0; killed on drop.
pub struct MockProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl MockProcess {
    pub fn start(dir: &TestDir, args: &[&str]) -> Self {
        let mut child = app()
            .current_dir(dir.path())
            .args(["mock-server", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mock-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let line = line.trim();
        let addr = line
            .strip_prefix("listening on http://")
            .or_else(|| line.strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        MockProcess { child, addr }
    }
    pub fn signal(&self, sig: &str) {
        send_signal(self.child.id(), sig);
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `sig` (`TERM`, `INT`, …) to process `pid`.
pub fn send_signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {sig} {pid}");
}

/// Polls `reached` every 10 ms until it holds, and fails naming `what` if it does not within `limit`: how a test
/// waits for a state it can see (a counter, a file, a line) instead of sleeping for a time it hopes is enough.
pub fn wait_until(what: &str, limit: Duration, mut reached: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !reached() {
        assert!(Instant::now() < until, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (at most `limit`) until a thread of process `pid` is blocked opening a FIFO that no one has opened from
/// the other end (Linux shows that wait as `wait_for_partner` in the thread's `wchan`).
pub fn wait_for_fifo_open(pid: u32, limit: Duration) {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    wait_until(&format!("process {pid} opening a FIFO"), limit, || {
        std::fs::read_dir(&tasks).is_ok_and(|d| {
            d.flatten().any(|task| {
                std::fs::read_to_string(task.path().join("wchan"))
                    .is_ok_and(|w| w == "wait_for_partner")
            })
        })
    });
}

/// Waits for `child` up to `secs`; if it is still running then, kills it and fails with its output.
pub fn wait_or_kill(mut child: Child, secs: u64, what: &str) -> Output {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    panic!("{what}: still running after {secs} s: {}", show(&out));
}

/// The address a running `etl --metrics-addr 127.0.0.1:0` serves `/metrics` on, read from its log `lines`
/// (its stderr) up to the line that says so.
pub fn metrics_addr(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> SocketAddr {
    loop {
        let line = lines
            .next()
            .expect("the run logs where it serves metrics")
            .unwrap();
        if let Some(rest) = line.split("serving http://").nth(1) {
            return rest.split('/').next().unwrap().parse().unwrap();
        }
    }
}

/// `name{labels}` → value, from an OpenMetrics exposition text of `app_…` families (comment lines checked for
/// form).
pub fn parse_exposition(text: &str) -> std::collections::HashMap<String, f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF",
                "{line}"
            );
            continue;
        }
        let (k, v) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let name = k.split('{').next().unwrap();
        assert!(name.starts_with("app_"), "{name}");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        out.insert(
            k.to_string(),
            v.parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        );
    }
    out
}

/// `GET /metrics` of `addr`, parsed.
pub fn scrape(addr: SocketAddr) -> std::collections::HashMap<String, f64> {
    let (status, text) = http(addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{text}");
    parse_exposition(&text)
}

/// Waits (at most `limit`) until the `/metrics` of a running `etl` at `addr` shows `series` above zero; answers
/// that scrape.
pub fn wait_for_metric(
    addr: SocketAddr,
    series: &str,
    limit: Duration,
) -> std::collections::HashMap<String, f64> {
    let mut last = Default::default();
    wait_until(&format!("{series} above 0 at {addr}"), limit, || {
        last = scrape(addr);
        last.get(series).is_some_and(|v| *v > 0.0)
    });
    last
}

/// A raw HTTP/1.1 request over loopback; answers (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `POST /load` with `headers` and `body`; answers (status, body).
pub fn post_load(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    http(addr, "POST", "/load", headers, body)
}

/// The loader that formed batch `id` (`{run}-w{worker}-{seq}`, as the API sees it in `Idempotency-Key`).
pub fn batch_worker(id: &str) -> usize {
    id.rsplit("-w")
        .next()
        .and_then(|rest| rest.split('-').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no worker in batch id {id:?}"))
}

/// Spool files (not sub-directories) in `dir`.
pub fn spool_files(dir: &Path) -> Vec<PathBuf> {
    app::spool::list(dir).unwrap()
}

/// Records held by spool files, read back the way an operator would (gunzip + JSON).
pub fn spool_records(dir: &Path) -> usize {
    spool_files(dir)
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).unwrap();
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut text)
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
            v.as_array().unwrap().len()
        })
        .sum()
}

/// The permission bits of `path`.
pub fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// `n` records in the original's load shape.
pub fn records_json(n: usize) -> String {
    let one = r#"{"name":"device-1","cpu_number":"0","timestamp":1700000000,"indicators":[{"name":"utilization","value":12.5},{"name":"user","value":10}]}"#;
    format!("[{}]", vec![one; n].join(","))
}

/// Un-acknowledged batches in the write-ahead log of the spool directory `dir` (what the next start sends), as
/// (batch id, records); each entry's payload is read back and checked to be a JSON array of that many records.
/// Runs the log's recovery, which is what the next start does first anyway.
pub fn log_batches(dir: &Path) -> Vec<(String, usize)> {
    let rec = app::spool::wal::recovery::recover(dir).unwrap();
    rec.batches
        .iter()
        .map(|b| {
            let body = app::spool::wal::read_batch(b).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v.as_array().unwrap().len(), b.records, "{}", b.id);
            (b.id.clone(), b.records)
        })
        .collect()
}

/// Segment files left in the write-ahead log of the spool directory `dir`.
pub fn log_segments(dir: &Path) -> usize {
    app::spool::wal::recovery::segments_in(dir)
}
