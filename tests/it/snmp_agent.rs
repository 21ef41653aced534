//! The snmp source against the real net-snmp agent: `snmpd` started per test in the foreground on a loopback high
//! port with a generated configuration (v2c communities, v3 users made by `createUser`, views), polled by the real
//! `app etl`, the records read from the mock API's log.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// The agent's users, made at its start (`createUser` in the configuration file; the persistent dir is the
/// test's, so net-snmp may write their keys there).
const USERS: &str = r#"
createUser shaaes SHA "sha-aes-pass" AES "sha-aes-priv"
createUser sha256 SHA-256 "sha256-pass" AES-256 "sha256-priv"
createUser md5des MD5 "md5-des-pass" DES "md5-des-priv"
createUser shaaes256 SHA "sha-aes256-pass" AES-256 "sha-aes256-priv"
createUser md5aes192 MD5 "md5-aes192-pass" AES-192 "md5-aes192-priv"
rouser shaaes priv
rouser sha256 priv
rouser md5des priv
rouser shaaes256 priv
rouser md5aes192 priv
rocommunity public 127.0.0.1
view noucd included .1
view noucd excluded .1.3.6.1.4.1.2021
rocommunity noucd 127.0.0.1 -V noucd
"#;

fn snmpd_binary() -> &'static str {
    for candidate in ["/usr/sbin/snmpd", "/usr/local/sbin/snmpd"] {
        if std::path::Path::new(candidate).exists() {
            return candidate;
        }
    }
    "snmpd"
}

/// A UDP port free a moment ago on 127.0.0.1 (bound to port 0, then released).
fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("a UDP port can be bound");
    s.local_addr().unwrap().port()
}

/// `snmpget -v2c` of one OID with a short timeout: its value, or `None` when the agent did not answer it.
pub(crate) fn snmpget(port: u16, community: &str, oid: &str) -> Option<String> {
    let out = Command::new("snmpget")
        .args([
            "-v2c", "-c", community, "-t", "0.3", "-r", "0", "-On", "-Oqv",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg(oid)
        .env("MIBS", "")
        .output()
        .expect("snmpget (Debian package snmp) is installed");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty() && !text.starts_with("No Such")).then_some(text)
}

/// A running `snmpd`, killed on drop.
pub(crate) struct Agent {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: TestDir,
}

impl Agent {
    /// Starts snmpd with `USERS` on a free port; waits (bounded) until it answers sysUpTime.0.
    pub(crate) fn start() -> Agent {
        for _ in 0..5 {
            let dir = TestDir::new();
            let conf = dir.write("snmpd.conf", USERS);
            let port = free_udp_port();
            let log = std::fs::File::create(dir.join("snmpd.log")).unwrap();
            let child = Command::new(snmpd_binary())
                .args(["-f", "-Lo", "-C", "-c"])
                .arg(&conf)
                .arg(format!("udp:127.0.0.1:{port}"))
                .env("SNMP_PERSISTENT_DIR", dir.path())
                .env("MIBS", "")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("snmpd (Debian package snmpd) is installed");
            let mut agent = Agent {
                child: Some(child),
                port,
                dir,
            };
            for _ in 0..100 {
                if snmpget(port, "public", "1.3.6.1.2.1.1.3.0").is_some() {
                    return agent;
                }
                if let Some(Some(_)) = agent.child.as_mut().map(|c| c.try_wait().unwrap()) {
                    break; // exited: the port was taken meanwhile; try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            agent.stop();
        }
        panic!("snmpd did not start on a loopback port after 5 tries");
    }

    /// Waits (at most `limit`) until `oid` reads as a number other than 0 with `community`.
    pub(crate) fn wait_for(&self, community: &str, oid: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(v) = snmpget(self.port, community, oid) {
                if v.parse::<u64>().is_ok_and(|n| n > 0) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "{oid} did not become non-zero within {limit:?}; snmpd log:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("snmpd.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `app mock-server` logging each body in full to `mock.log` in `dir`.
pub(crate) fn mock(dir: &TestDir) -> MockProcess {
    dir.write(
        "mock.toml",
        "[mock]\ndelay_ms = 0\njitter_ms = 0\nlog_body_preview = 1000000\nlog_file = \"mock.log\"\n",
    );
    MockProcess::start(dir, &["--config", "mock.toml"])
}

/// The records the mock acknowledged, from its log.
pub(crate) fn received(dir: &TestDir) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("mock.log")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some((_, body)) = line.split_once(" body: ") {
            let records: Vec<serde_json::Value> =
                serde_json::from_str(body).expect("the mock logs whole bodies here");
            out.extend(records);
        }
    }
    out
}

/// An ETL configuration for the snmp source against `port`, loading into `endpoint`: `snmp` is TOML for
/// `[extract.snmp]`, `extra` TOML laid over the whole.
pub(crate) fn config(endpoint: &str, port: u16, snmp: &str, extra: &str) -> TestConfig {
    fast_config(endpoint, "")
        .set("extract.source", "snmp")
        .set("extract.snmp.port", i64::from(port))
        .merge(&format!("[extract.snmp]\n{snmp}"))
        .merge(extra)
}

pub(crate) fn etl(dir: &TestDir) -> Output {
    dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--summary-json",
        "s.json",
        "--quiet",
    ])
}

/// The value of indicator `name` in `record`.
pub(crate) fn indicator(record: &serde_json::Value, name: &str) -> f64 {
    record["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {record}"))["value"]
        .as_f64()
        .unwrap()
}

/// A UCD record's indicators are percentages, and the parts fit in the utilization (which also counts iowait
/// and steal, as 100 − idle).
fn check_ucd_record(r: &serde_json::Value) {
    assert_eq!(r["cpu_number"], "all", "{r}");
    let u = indicator(r, "utilization");
    let parts: f64 = ["nice", "user", "system", "irq"]
        .iter()
        .map(|n| indicator(r, n))
        .sum();
    assert!((0.0..=100.0).contains(&u), "{r}");
    assert!(parts <= u + 0.05, "{r}");
}

/// One /proc/stat `cpu` line: user nice system idle iowait irq softirq steal (ticks).
fn proc_stat() -> [u64; 8] {
    let text = std::fs::read_to_string("/proc/stat").expect("Linux /proc/stat");
    let line = text.lines().next().expect("the cpu line");
    let mut v = [0u64; 8];
    for (i, f) in line.split_whitespace().skip(1).take(8).enumerate() {
        v[i] = f.parse().unwrap();
    }
    v
}

/// The percentage bounds (idle, user, nice, system, irq) over any window that starts between readings `a0`, `a1`
/// and ends between readings `b0`, `b1` (counters only grow, so each delta and the total lie between the
/// inner and outer differences).
fn bounds(a0: &[u64; 8], a1: &[u64; 8], b0: &[u64; 8], b1: &[u64; 8]) -> [(f64, f64); 5] {
    let inner = |i: usize| b0[i].saturating_sub(a1[i]) as f64;
    let outer = |i: usize| (b1[i] - a0[i]) as f64;
    let (t_in, t_out): (f64, f64) = ((0..8).map(inner).sum(), (0..8).map(outer).sum());
    let field = |lo: f64, hi: f64| {
        (
            100.0 * lo / t_out,
            if t_in > 0.0 { 100.0 * hi / t_in } else { 100.0 },
        )
    };
    [
        field(inner(3), outer(3)),
        field(inner(0), outer(0)),
        field(inner(1), outer(1)),
        field(inner(2), outer(2)),
        field(inner(5) + inner(6), outer(5) + outer(6)),
    ]
}

/// When /proc/stat was read, and its `cpu` line.
type Reading = (Instant, [u64; 8]);

#[test]
fn v2c_percentages_agree_with_proc_stat_over_the_agents_window() {
    // Readings of /proc/stat every 20 ms from before the agent starts until the run ends.
    let readings: Arc<Mutex<Vec<Reading>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (readings, stop) = (readings.clone(), stop.clone());
        std::thread::spawn(move || {
            for _ in 0..6_000 {
                readings.lock().unwrap().push((Instant::now(), proc_stat()));
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let agent = Agent::start();
    let dir = TestDir::new();
    let m = mock(&dir);
    dir.write("inventory.csv", "127.0.0.1,agent-a\n127.0.0.1,agent-b\n");
    dir.write(
        "c.toml",
        &config(&format!("http://{}/load", m.addr), agent.port, "", ""),
    );
    let out = etl(&dir);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        show(&out),
        agent.log()
    );
    let records = received(&dir);
    assert_eq!(records.len(), 2, "{records:?}");
    let readings = readings.lock().unwrap();
    for r in &records {
        check_ucd_record(r);
        let got = [
            100.0 - indicator(r, "utilization"),
            indicator(r, "user"),
            indicator(r, "nice"),
            indicator(r, "system"),
            indicator(r, "irq"),
        ];
        // snmpd read /proc/stat at two instants of its 5 s refreshes (at least 4 s apart, whatever the
        // scheduling), each between two of our readings. Some such pair of reading intervals must bound every value
        // (±0.02: rounding to hundredths, and 100 − idle), and bound it tightly (within 3 points: the readings
        // are 20 ms apart, a few ticks, against the hundreds of ticks of the window), so the check says something.
        let n = readings.len();
        let fits = (0..n - 1).any(|i| {
            (i + 1..n - 1).any(|j| {
                if readings[j].0 < readings[i + 1].0 + Duration::from_secs(4) {
                    return false;
                }
                let b = bounds(
                    &readings[i].1,
                    &readings[i + 1].1,
                    &readings[j].1,
                    &readings[j + 1].1,
                );
                b.iter()
                    .zip(got)
                    .all(|((lo, hi), v)| hi - lo <= 3.0 && v >= lo - 0.021 && v <= hi + 0.021)
            })
        });
        assert!(fits, "{r} matches no /proc/stat window ({n} readings)");
    }
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["ok"], 2);
}

/// Runs the ETL with v3 `user` and the given protocols and passwords; the output and the records.
fn run_v3(agent: &Agent, snmp: &str) -> (Output, Vec<serde_json::Value>, TestDir) {
    let dir = TestDir::new();
    let m = mock(&dir);
    dir.write("inventory.csv", "127.0.0.1,agent-a\n127.0.0.1,agent-b\n");
    let snmp = format!("version = \"3\"\nsecurity_level = \"authPriv\"\nsample_interval_ms = 1000\ntimeout_ms = 500\nretries = 1\n{snmp}");
    dir.write(
        "c.toml",
        &config(&format!("http://{}/load", m.addr), agent.port, &snmp, ""),
    );
    let out = etl(&dir);
    let records = received(&dir);
    (out, records, dir)
}

#[test]
fn v3_auth_priv_users_with_sha_aes_sha256_aes256_md5_des_and_extended_aes_keys_all_give_records() {
    let agent = Agent::start();
    agent.wait_for(
        "public",
        "1.3.6.1.4.1.2021.11.53.0",
        Duration::from_secs(20),
    );
    for (user, auth, auth_pass, privacy, priv_pass) in [
        ("shaaes", "SHA", "sha-aes-pass", "AES", "sha-aes-priv"),
        ("sha256", "SHA-256", "sha256-pass", "AES-256", "sha256-priv"),
        ("md5des", "MD5", "md5-des-pass", "DES", "md5-des-priv"),
        // Keys shorter than the cipher's: extended as net-snmp does (Blumenthal).
        (
            "shaaes256",
            "SHA",
            "sha-aes256-pass",
            "AES-256",
            "sha-aes256-priv",
        ),
        (
            "md5aes192",
            "MD5",
            "md5-aes192-pass",
            "AES-192",
            "md5-aes192-priv",
        ),
    ] {
        let (out, records, _dir) = run_v3(
            &agent,
            &format!(
                "user = \"{user}\"\nauth_protocol = \"{auth}\"\nauth_password = \"{auth_pass}\"\npriv_protocol = \"{privacy}\"\npriv_password = \"{priv_pass}\"\n"
            ),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{user}: {}\n{}",
            show(&out),
            agent.log()
        );
        assert_eq!(records.len(), 2, "{user}: {records:?}");
        for r in &records {
            check_ucd_record(r);
        }
    }
}

#[test]
fn v3_errors_are_named_a_wrong_password_as_wrong_digests_an_unknown_user_as_such() {
    let agent = Agent::start();
    for (snmp, reason, text) in [
        (
            "user = \"shaaes\"\nauth_protocol = \"SHA\"\nauth_password = \"not-the-pass\"\npriv_password = \"sha-aes-priv\"\n",
            "wrong_digest",
            "usmStatsWrongDigests",
        ),
        (
            "user = \"nobody\"\nauth_password = \"sha-aes-pass\"\npriv_password = \"sha-aes-priv\"\n",
            "unknown_user",
            "usmStatsUnknownUserNames",
        ),
    ] {
        let (out, records, dir) = run_v3(&agent, snmp);
        assert_eq!(out.status.code(), Some(3), "{}", show(&out));
        assert!(records.is_empty());
        let s = dir.summary("s.json");
        assert_eq!(s["devices"]["failed"], 2, "{s}");
        assert_eq!(s["devices"]["failed_by_reason"][reason], 2, "{s}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("2 failed ({reason} 2)")), "{stdout}");
        let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
        assert!(log.contains(text), "{log}");
    }
}

#[test]
fn a_wrong_community_is_a_timeout_that_says_so() {
    let agent = Agent::start();
    let dir = TestDir::new();
    let m = mock(&dir);
    dir.write("inventory.csv", "127.0.0.1,agent-a\n127.0.0.1,agent-b\n");
    dir.write(
        "c.toml",
        &config(
            &format!("http://{}/load", m.addr),
            agent.port,
            "community = \"not-public\"\ntimeout_ms = 300\nretries = 1\n",
            "",
        ),
    );
    let out = etl(&dir);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["failed_by_reason"]["timeout"], 2, "{s}");
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(
        log.contains("failed: timeout after 2 attempts (no answer: no agent, wrong port, or wrong community)"),
        "{log}"
    );
    assert!(!log.contains("not-public"), "the community is never logged");
}

#[test]
fn without_ucd_in_the_view_auto_falls_back_to_host_resources_and_ucd_names_the_oid() {
    let agent = Agent::start();
    // net-snmp computes hrProcessorLoad over a minute: it answers it only after its first minute.
    agent.wait_for(
        "public",
        "1.3.6.1.2.1.25.3.3.1.2.196608",
        Duration::from_secs(120),
    );
    assert_eq!(
        snmpget(agent.port, "noucd", "1.3.6.1.4.1.2021.11.50.0"),
        None,
        "the view hides UCD"
    );
    let cpus = std::thread::available_parallelism().unwrap().get();
    for (mib, code) in [("auto", 0), ("ucd", 3), ("host-resources", 0)] {
        let dir = TestDir::new();
        let m = mock(&dir);
        dir.write("inventory.csv", "127.0.0.1,agent-a\n");
        dir.write(
            "c.toml",
            &config(
                &format!("http://{}/load", m.addr),
                agent.port,
                &format!("community = \"noucd\"\nmib = \"{mib}\"\n"),
                "",
            ),
        );
        let out = etl(&dir);
        assert_eq!(out.status.code(), Some(code), "{mib}: {}", show(&out));
        let records = received(&dir);
        if code == 0 {
            assert_eq!(
                records.len(),
                cpus,
                "{mib}: one record per processor: {records:?}"
            );
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r["cpu_number"], i.to_string(), "{r}");
                assert!((0.0..=100.0).contains(&indicator(r, "utilization")), "{r}");
                for other in ["nice", "user", "system", "irq"] {
                    assert_eq!(indicator(r, other), 0.0, "{r}");
                }
            }
        } else {
            assert!(records.is_empty());
            let s = dir.summary("s.json");
            assert_eq!(s["devices"]["failed_by_reason"]["no_such_object"], 1, "{s}");
            let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
            assert!(
                log.contains(
                    "noSuchObject for 1.3.6.1.4.1.2021.11.50.0 (extract.snmp.mib = \"ucd\")"
                ),
                "{log}"
            );
        }
    }
}

#[test]
fn when_the_agent_stops_mid_run_the_rest_fail_as_timeouts_and_the_run_still_ends_with_a_summary() {
    let mut agent = Agent::start();
    agent.wait_for(
        "public",
        "1.3.6.1.4.1.2021.11.53.0",
        Duration::from_secs(20),
    );
    let dir = TestDir::new();
    let m = MockThread::fast();
    let rows: String = (1..=5).map(|i| format!("127.0.0.1,agent-{i}\n")).collect();
    dir.write("inventory.csv", &rows);
    dir.write(
        "c.toml",
        &config(
            &m.load_url(),
            agent.port,
            "timeout_ms = 300\nretries = 1\n",
            "[extract]\nconcurrency = 1\n",
        ),
    );
    let mut child = dir.spawn(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        Stdio::piped(),
        Stdio::null(),
    );
    // The first device's record arrives: stop the agent.
    wait_until("a record at the API", Duration::from_secs(60), || {
        m.stats().records_accepted > 0
    });
    agent.stop();
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("ETL summary"), "{stdout}");
    let s = dir.summary("s.json");
    let (ok, failed) = (
        s["devices"]["ok"].as_u64().unwrap(),
        s["devices"]["failed"].as_u64().unwrap(),
    );
    assert!(ok >= 1 && failed >= 1 && ok + failed == 5, "{s}");
    assert_eq!(s["devices"]["failed_by_reason"]["timeout"], failed, "{s}");
}

#[test]
fn snmp_secrets_are_never_printed_and_a_missing_v3_key_is_named() {
    let dir = TestDir::new();
    dir.write("inventory.csv", "127.0.0.1,agent-a\n");
    dir.write(
        "c.toml",
        "[inventory]\npath = \"inventory.csv\"\n[extract]\nsource = \"snmp\"\n",
    );
    let out = dir.run_env(
        &["validate", "--config", "c.toml", "--print-config"],
        &[
            ("APP__EXTRACT__SNMP__COMMUNITY", "hunter2-community"),
            ("APP__EXTRACT__SNMP__PRIV_PASSWORD", "hunter2-privacy"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(r#""community": "***""#), "{text}");
    let out = dir.run_env(
        &["validate", "--config", "c.toml"],
        &[("APP__EXTRACT__SNMP__VERSION", "3")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("extract.snmp.user") && err.contains("must be set for version \"3\""),
        "{err}"
    );
    let out = dir.run_env(
        &["validate", "--config", "c.toml"],
        &[
            ("APP__EXTRACT__SNMP__VERSION", "3"),
            ("APP__EXTRACT__SNMP__USER", "etl"),
            ("APP__EXTRACT__SNMP__AUTH_PASSWORD_FILE", "missing-file"),
            ("APP__EXTRACT__SNMP__PRIV_PASSWORD", "long-enough"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("extract.snmp.auth_password_file") && err.contains("missing-file"),
        "{err}"
    );
}

#[test]
fn each_row_is_polled_with_its_own_credential_set_and_port_v2c_and_several_v3_users_in_one_run() {
    let agent = Agent::start();
    agent.wait_for(
        "public",
        "1.3.6.1.4.1.2021.11.53.0",
        Duration::from_secs(20),
    );
    let dir = TestDir::new();
    let m = mock(&dir);
    std::fs::write(dir.join("sha256-priv"), "sha256-priv\n").unwrap();
    // [extract.snmp] points at a port where nothing answers: only the rows' port column reaches the agent. A row
    // without a set uses [extract.snmp]'s community; the set "view" has the community whose view holds no CPU
    // object (the agent answers it, so that device fails as having no CPU, not as silent).
    let dead = free_udp_port();
    let p = agent.port;
    dir.write(
        "inventory.csv",
        &format!(
            "ip,name,credentials,port\n127.0.0.1,plain,,{p}\n127.0.0.1,v2c,view,{p}\n\
             127.0.0.1,sha-aes,shaaes,{p}\n127.0.0.1,sha256,sha256,{p}\n127.0.0.1,md5-des,md5des,{p}\n\
             127.0.0.1,wrong,wrongpass,{p}\n127.0.0.1,default-port,shaaes,\n"
        ),
    );
    let snmp =
        "community = \"public\"\nsample_interval_ms = 1000\ntimeout_ms = 500\nretries = 1\n\
         [extract.snmp.credentials.view]\ncommunity = \"noucd\"\n\
         [extract.snmp.credentials.shaaes]\nversion = \"3\"\nuser = \"shaaes\"\nauth_password = \"sha-aes-pass\"\npriv_password = \"sha-aes-priv\"\n\
         [extract.snmp.credentials.sha256]\nversion = \"3\"\nuser = \"sha256\"\nauth_protocol = \"SHA-256\"\nauth_password = \"sha256-pass\"\npriv_protocol = \"AES-256\"\npriv_password_file = \"sha256-priv\"\n\
         [extract.snmp.credentials.md5des]\nversion = \"3\"\nuser = \"md5des\"\nauth_protocol = \"MD5\"\nauth_password = \"md5-des-pass\"\npriv_protocol = \"DES\"\npriv_password = \"md5-des-priv\"\n\
         [extract.snmp.credentials.wrongpass]\nversion = \"3\"\nuser = \"shaaes\"\nauth_password = \"not-the-pass\"\npriv_password = \"sha-aes-priv\"\n";
    dir.write(
        "c.toml",
        &config(&format!("http://{}/load", m.addr), dead, snmp, ""),
    );
    let out = etl(&dir);
    let records = received(&dir);
    let names: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["md5-des", "plain", "sha-aes", "sha256"],
        "{}\n{}",
        show(&out),
        agent.log()
    );
    for r in &records {
        check_ucd_record(r);
    }
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["failed"], 3, "{s}");
    assert_eq!(s["devices"]["failed_by_reason"]["wrong_digest"], 1, "{s}");
    assert_eq!(s["devices"]["failed_by_reason"]["timeout"], 1, "{s}");
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(log.contains("default-port (127.0.0.1) failed"), "{log}");
    assert!(log.contains("usmStatsWrongDigests"), "{log}");
    let v2c = log
        .lines()
        .find(|l| l.contains("[Extract] v2c ("))
        .unwrap_or("");
    assert!(
        v2c.contains("failed") && !v2c.contains("timeout") && !v2c.contains("wrong community"),
        "{log}"
    );
}

#[test]
fn an_unknown_credential_set_or_a_bad_port_names_its_line_in_validate_and_etl() {
    let dir = TestDir::new();
    dir.write(
        "inventory.csv",
        "ip,name,credentials,port\n127.0.0.1,a,core,\n127.0.0.1,b,nope,\n127.0.0.1,c,,70000\n",
    );
    dir.write(
        "c.toml",
        &config(
            &dead_endpoint(),
            161,
            "[extract.snmp.credentials.core]\ncommunity = \"c\"\n",
            "",
        ),
    );
    for args in [
        &["validate", "--config", "c.toml"][..],
        &["etl", "--config", "c.toml"][..],
    ] {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("inventory.csv:3: field `credentials`: `nope` is no [extract.snmp.credentials.NAME] set"),
            "{stderr}"
        );
        assert!(
            stderr.contains("inventory.csv:4: field `port`: `70000` is not a port (1 to 65535)"),
            "{stderr}"
        );
    }
}
