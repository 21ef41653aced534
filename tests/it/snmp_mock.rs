//! The mock SNMP fleet of `app mock-server --snmp-port`: queried with net-snmp's `snmpget` / `snmpbulkwalk` and
//! with a raw UDP client at several 127.x.y.z addresses (answers come from the address asked, values follow the
//! documented formula), its faults and counters; and the ETL's SNMP source against a 10,000-device fleet.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::mock::snmp::fleet::{self, Kind, Shares, UCD_FIELDS};
use app::snmp::{CommunityMessage, Oid, Pdu, Value};

use crate::helpers::*;

/// `app mock-server --bind 127.0.0.1:0 --snmp-port auto` with `env`; killed on drop.
struct Fleet {
    child: Child,
    http: SocketAddr,
    port: u16,
}

impl Fleet {
    fn start(dir: &TestDir, env: &[(&str, &str)]) -> Fleet {
        let mut cmd = app();
        cmd.current_dir(dir.path())
            .args([
                "mock-server",
                "--bind",
                "127.0.0.1:0",
                "--snmp-port",
                "auto",
            ])
            .args(["--log-file", "mock.log"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("mock-server starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let http = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("snmp listening on udp://0.0.0.0:")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .parse()
            .unwrap();
        Fleet { child, http, port }
    }

    fn stats(&self) -> serde_json::Value {
        let (status, body) = http(self.http, "GET", "/stats", &[], b"");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    fn target(&self, addr: Ipv4Addr) -> String {
        format!("udp:{addr}:{}", self.port)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// net-snmp's `tool` (snmpget, snmpbulkwalk) with numeric output, no MIB loading, one try of 2 s.
fn net_snmp(tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool)
        .env("MIBS", "")
        .env("SNMPCONFPATH", "/nonexistent")
        .args(["-v2c", "-On", "-Oe", "-Ot", "-t", "2", "-r", "1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs (Debian package `snmp`): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `.OID = TYPE: VALUE` lines of net-snmp's output as (oid, value text).
fn lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(o, v)| (o.trim_start_matches('.').to_string(), v.to_string()))
        .collect()
}

fn oid_text(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

const SHARES: Shares = Shares {
    vendors: 0.0,
    host_resources: 0.3,
    wrong_community: 0.0,
};
const SHARES_ENV: &[(&str, &str)] = &[("APP__MOCK__SNMP_HOST_RESOURCES_SHARE", "0.3")];

/// The first `n` addresses from 127.`a`.x.y of `kind`.
fn addresses_of(kind: Kind, a: u8, n: usize) -> Vec<Ipv4Addr> {
    (1..=60_000u32)
        .map(|k| Ipv4Addr::new(127, a, (k >> 8) as u8, k as u8))
        .filter(|ip| ip.octets()[3] != 0 && fleet::device(*ip, SHARES).kind == kind)
        .take(n)
        .collect()
}

#[test]
fn snmpget_reads_every_ucd_counter_by_the_formula_at_several_addresses() {
    let dir = TestDir::new();
    let f = Fleet::start(&dir, SHARES_ENV);
    let mut oids = vec![oid_text(fleet::SYS_UPTIME)];
    oids.extend(
        UCD_FIELDS
            .iter()
            .map(|(sub, _)| oid_text(&fleet::ucd_oid(*sub))),
    );
    oids.push(oid_text(&fleet::ucd_oid(fleet::UCD_NUM_CPUS)));
    for addr in addresses_of(Kind::Ucd, 7, 3)
        .into_iter()
        .chain(addresses_of(Kind::Ucd, 200, 2))
    {
        let d = fleet::device(addr, SHARES);
        let target = f.target(addr);
        let mut args = vec!["-c", "public", target.as_str()];
        args.extend(oids.iter().map(String::as_str));
        let (ok, text) = net_snmp("snmpget", &args);
        assert!(ok, "{addr}: {text}");
        let got = lines(&text);
        assert_eq!(got.len(), 10, "{addr}: {text}");
        // sysUpTime is the device's uptime n (its boot offset plus the seconds the fleet has run) ...
        let n: u64 = got[0]
            .1
            .parse()
            .unwrap_or_else(|_| panic!("raw timeticks (-Ot): {text}"));
        assert!(
            n >= d.boot_offset_cs && n - d.boot_offset_cs < 3_600 * 100,
            "{addr}: {n}"
        );
        // ... and every raw counter of the same answer is w × cpus × n mod 2^32.
        for (i, (_, field)) in UCD_FIELDS.iter().enumerate() {
            assert_eq!(
                got[i + 1],
                (
                    oids[i + 1].clone(),
                    format!("Counter32: {}", d.counter(*field, n))
                ),
                "{addr} {field:?}"
            );
        }
        assert_eq!(got[9].1, format!("INTEGER: {}", d.cpus), "{addr}");
    }
    let s = stats_when(&f, "replies", 5);
    assert_eq!(s["snmp"]["requests"], 5);
    assert_eq!(s["snmp"]["replies"], 5);
}

#[test]
fn snmpbulkwalk_reads_hr_processor_load_and_host_resources_devices_have_no_ucd() {
    let dir = TestDir::new();
    let f = Fleet::start(&dir, SHARES_ENV);
    let hr_only = addresses_of(Kind::HostResources, 3, 3);
    let ucd = addresses_of(Kind::Ucd, 3, 2);
    for addr in hr_only.iter().chain(&ucd) {
        let target = f.target(*addr);
        let (ok, text) = net_snmp(
            "snmpbulkwalk",
            &["-c", "public", &target, &oid_text(fleet::HR_PROCESSOR_LOAD)],
        );
        assert!(ok, "{addr}: {text}");
        // A device whose MIB ends with its processors answers endOfMibView, which net-snmp prints as a line.
        let loads: Vec<i32> = lines(&text)
            .into_iter()
            .filter(|(_, v)| !v.starts_with("No more variables left in this MIB View"))
            .map(|(o, v)| {
                assert!(o.starts_with(&oid_text(fleet::HR_PROCESSOR_LOAD)), "{o}");
                v.strip_prefix("INTEGER: ").unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(
            loads,
            fleet::expected_processor_loads(*addr),
            "{addr}: {text}"
        );
    }
    for addr in &hr_only {
        let target = f.target(*addr);
        let (_, text) = net_snmp(
            "snmpget",
            &["-c", "public", &target, &oid_text(&fleet::ucd_oid(50))],
        );
        assert!(text.contains("No Such Object"), "{addr}: {text}");
    }
}

/// A raw v2c client on 127.0.0.1: sends one request, collects what arrives within `wait`.
struct Client {
    socket: UdpSocket,
}

impl Client {
    fn new() -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        Client { socket }
    }

    fn send(&self, to: SocketAddr, community: &str, pdu: Pdu) {
        let bytes = CommunityMessage::v2c(community.as_bytes(), pdu).encode();
        self.socket.send_to(&bytes, to).unwrap();
    }

    /// Datagrams as they arrive, until `n` came or none came for `quiet` (a bound for the lost ones, not an
    /// assertion on speed).
    fn receive(&self, n: usize, quiet: Duration) -> Vec<(SocketAddr, CommunityMessage)> {
        self.socket.set_read_timeout(Some(quiet)).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65_535];
        while out.len() < n {
            let Ok((len, from)) = self.socket.recv_from(&mut buf) else {
                break;
            };
            out.push((
                from,
                CommunityMessage::decode(&buf[..len]).expect("a v2c message"),
            ));
        }
        out
    }
}

/// `/stats` once its `snmp.<key>` reached `n` (the fleet counts after it reads or sends; bounded wait).
fn stats_when(f: &Fleet, key: &str, n: u64) -> serde_json::Value {
    for _ in 0..200 {
        let s = f.stats();
        if s["snmp"][key].as_u64() >= Some(n) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the fleet never counted {n} {key}: {}", f.stats());
}

fn uptime_oid() -> Oid {
    Oid::new(fleet::SYS_UPTIME).unwrap()
}

#[test]
fn each_answer_comes_from_the_address_asked_and_mirrors_the_request_id() {
    let dir = TestDir::new();
    let f = Fleet::start(&dir, &[]);
    let c = Client::new();
    let addrs = [
        Ipv4Addr::new(127, 0, 0, 1),
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 45, 3, 9),
        Ipv4Addr::new(127, 255, 255, 254),
    ];
    for (i, a) in addrs.iter().enumerate() {
        c.send(
            (*a, f.port).into(),
            "public",
            Pdu::get(1000 + i as i32, &[uptime_oid()]),
        );
    }
    let mut got = c.receive(addrs.len(), Duration::from_secs(10));
    got.sort_by_key(|(_, m)| m.pdu.request_id);
    assert_eq!(got.len(), addrs.len(), "{got:?}");
    for (i, (from, m)) in got.iter().enumerate() {
        assert_eq!(
            *from,
            SocketAddr::from((addrs[i], f.port)),
            "answered from the device's address"
        );
        assert_eq!(m.pdu.request_id, 1000 + i as i32);
        let d = fleet::device(
            addrs[i],
            fleet::Shares {
                vendors: 0.0,
                host_resources: 0.1,
                wrong_community: 0.0,
            },
        );
        match m.pdu.varbinds[0].1 {
            Value::TimeTicks(n) => assert!(u64::from(n) >= d.boot_offset_cs),
            ref other => panic!("{other:?}"),
        }
    }
}

#[test]
fn drops_duplicates_delays_and_wrong_communities_are_injected_and_counted() {
    let dir = TestDir::new();
    let a = Ipv4Addr::new(127, 0, 3, 4);
    // Everything duplicated and delayed.
    let f = Fleet::start(
        &dir,
        &[
            ("APP__MOCK__SNMP_DUPLICATE_RATE", "1.0"),
            ("APP__MOCK__SNMP_DELAY_MS", "200"),
        ],
    );
    let c = Client::new();
    for id in 1..=3 {
        c.send((a, f.port).into(), "public", Pdu::get(id, &[uptime_oid()]));
    }
    let got = c.receive(6, Duration::from_secs(10));
    let mut ids: Vec<i32> = got.iter().map(|(_, m)| m.pdu.request_id).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 1, 2, 2, 3, 3], "each reply twice");
    let s = stats_when(&f, "duplicated", 3);
    assert_eq!(s["snmp"]["requests"], 3);
    assert_eq!(s["snmp"]["replies"], 3);
    assert_eq!(s["snmp"]["duplicated"], 3);
    assert_eq!(s["snmp"]["delayed"], 3);
    drop(f);

    // Everything dropped; a wrong community is silence too.
    let f = Fleet::start(&dir, &[("APP__MOCK__SNMP_DROP_RATE", "1.0")]);
    c.send((a, f.port).into(), "public", Pdu::get(5, &[uptime_oid()]));
    c.send(
        (a, f.port).into(),
        "not-the-community",
        Pdu::get(6, &[uptime_oid()]),
    );
    stats_when(&f, "dropped", 1);
    let s = stats_when(&f, "bad_community", 1);
    assert!(c.receive(1, Duration::from_millis(500)).is_empty());
    assert_eq!(s["snmp"]["requests"], 2);
    assert_eq!(s["snmp"]["dropped"], 1);
    assert_eq!(s["snmp"]["bad_community"], 1);
    assert_eq!(s["snmp"]["replies"], 0);
    let (status, metrics) = http(f.http, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    for line in [
        "app_mock_snmp_requests_total 2",
        "app_mock_snmp_dropped_total 1",
        "app_mock_snmp_bad_community_total 1",
        "app_mock_snmp_not_loopback_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    drop(f);

    // The wrong-community share: those devices never answer "public", the others do.
    let f = Fleet::start(&dir, &[("APP__MOCK__SNMP_WRONG_COMMUNITY_SHARE", "0.5")]);
    let shares = Shares {
        vendors: 0.0,
        host_resources: 0.1,
        wrong_community: 0.5,
    };
    let addrs: Vec<Ipv4Addr> = (1..=40).map(|k| Ipv4Addr::new(127, 0, 9, k)).collect();
    for (i, ip) in addrs.iter().enumerate() {
        c.send(
            (*ip, f.port).into(),
            "public",
            Pdu::get(i as i32, &[uptime_oid()]),
        );
    }
    let expected: Vec<Ipv4Addr> = addrs
        .iter()
        .copied()
        .filter(|ip| fleet::device(*ip, shares).community_ok)
        .collect();
    let mut answered: Vec<Ipv4Addr> = c
        .receive(expected.len(), Duration::from_secs(10))
        .into_iter()
        .map(|(from, _)| match from {
            SocketAddr::V4(v4) => *v4.ip(),
            other => panic!("{other}"),
        })
        .collect();
    answered.sort();
    assert!(!expected.is_empty() && expected.len() < addrs.len());
    assert_eq!(answered, expected);
    let silent = (addrs.len() - expected.len()) as u64;
    let s = stats_when(&f, "bad_community", silent);
    assert_eq!(s["snmp"]["bad_community"], silent);
    assert_eq!(s["snmp"]["requests"], addrs.len() as u64);
}

#[test]
fn a_bad_snmp_key_is_named_and_the_fleet_is_off_by_default() {
    let dir = TestDir::new();
    let out = dir.run_env(
        &[
            "mock-server",
            "--bind",
            "127.0.0.1:0",
            "--snmp-port",
            "auto",
        ],
        &[("APP__MOCK__SNMP_DROP_RATE", "2")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mock.snmp_drop_rate"),
        "{}",
        show(&out)
    );
    let out = dir.run(&["mock-server", "--snmp-port", "snmp"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let m = MockProcess::start(&dir, &[]);
    let (_, body) = http(m.addr, "GET", "/stats", &[], b"");
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["snmp"]["requests"], 0, "no fleet unless asked");
}

/// The inventory `TestDir::inventory` writes: `device-K` at the generator's address for K (127.0.0.1 + K − 1).
fn inventory_address(k: usize) -> Ipv4Addr {
    app::inventory::generate::address(k as u64)
}

/// Every record of every distinct batch the mock logged (`mock.log_body_preview` as large as a body), by batch key.
fn logged_records(log: &str) -> Vec<serde_json::Value> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in log.lines().filter(|l| l.contains("Received POST /load")) {
        let key = line
            .split(" key ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .expect("the load carries an Idempotency-Key")
            .to_string();
        let body = line.split_once(" body: ").expect("the body is logged").1;
        if seen.insert(key) {
            let batch: Vec<serde_json::Value> =
                serde_json::from_str(body).expect("a whole JSON body");
            out.extend(batch);
        }
    }
    out
}

/// The indicators of a record as (name, value) pairs.
fn indicators(r: &serde_json::Value) -> Vec<(String, f64)> {
    r["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A record as compared: its `cpu_number` and its indicators.
type Loaded = (String, Vec<(String, f64)>);

/// What the ETL must load for the device at `addr` of a fleet with `shares`, by the mock's formula: one record
/// (`cpu_number` "all") for a UCD device, one per processor for a host-resources one.
fn expected_records(addr: Ipv4Addr, shares: Shares) -> Vec<Loaded> {
    let named = |u: f64, n: f64, us: f64, s: f64, i: f64| {
        [
            ("utilization", u),
            ("nice", n),
            ("user", us),
            ("system", s),
            ("irq", i),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<Vec<_>>()
    };
    match fleet::device(addr, shares).kind {
        Kind::Ucd => {
            let p = fleet::expected_percentages(addr);
            vec![(
                "all".to_string(),
                named(p.utilization, p.nice, p.user, p.system, p.irq),
            )]
        }
        Kind::HostResources => fleet::expected_processor_loads(addr)
            .into_iter()
            .enumerate()
            .map(|(i, load)| (i.to_string(), named(f64::from(load), 0.0, 0.0, 0.0, 0.0)))
            .collect(),
        other => panic!("{addr}: a {other:?} device in a fleet without vendor personalities"),
    }
}

#[test]
fn ten_thousand_devices_with_drops_delays_and_duplicates_each_load_the_formulas_values() {
    const N: usize = 10_000;
    let dir = TestDir::new();
    let shares = Shares {
        vendors: 0.0,
        host_resources: 0.1,
        wrong_community: 0.005,
    };
    let f = Fleet::start(
        &dir,
        &[
            ("APP__MOCK__SNMP_DROP_RATE", "0.05"),
            ("APP__MOCK__SNMP_DELAY_MS", "20"),
            ("APP__MOCK__SNMP_JITTER_MS", "15"),
            ("APP__MOCK__SNMP_DUPLICATE_RATE", "0.1"),
            ("APP__MOCK__SNMP_HOST_RESOURCES_SHARE", "0.1"),
            ("APP__MOCK__SNMP_WRONG_COMMUNITY_SHARE", "0.005"),
            ("APP__MOCK__SEED", "14"),
            ("APP__MOCK__DELAY_MS", "0"),
            ("APP__MOCK__JITTER_MS", "0"),
            ("APP__MOCK__LOG_BODY_PREVIEW", "16777216"),
        ],
    );
    dir.inventory("inventory.csv", N);
    // Six attempts of 400 ms per request: a device fails by drops alone with odds 0.05^6 per request.
    let extra = format!(
        "[extract]\nsource = \"snmp\"\nconcurrency = 1000\ntimeout_ms = 30000\n\
         [extract.snmp]\nport = {}\ntimeout_ms = 400\nretries = 5\nsample_interval_ms = 200\n",
        f.port
    );
    dir.write(
        "c.toml",
        &fast_config(&format!("http://{}/load", f.http), &extra),
    );
    let out = dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--summary-json",
        "s.json",
        "--quiet",
    ]);
    let silent: Vec<usize> = (1..=N)
        .filter(|k| !fleet::device(inventory_address(*k), shares).community_ok)
        .collect();
    assert!(!silent.is_empty());
    assert_eq!(
        out.status.code(),
        Some(3),
        "the silent devices fail: {}",
        show(&out)
    );
    let s = dir.summary("s.json");
    assert_eq!(s["devices"]["ok"], (N - silent.len()) as u64, "{s}");
    assert_eq!(s["devices"]["failed"], silent.len() as u64, "{s}");
    assert_eq!(
        s["devices"]["failed_by_reason"]["timeout"],
        silent.len() as u64,
        "{s}"
    );
    // Exactly the wrong-community devices failed, each named with the hint.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut failed: Vec<usize> = stderr
        .lines()
        .filter(|l| l.contains("[Extract] device-") && l.contains("failed"))
        .map(|l| {
            assert!(
                l.contains("(no answer: no agent, wrong port, or wrong community)"),
                "{l}"
            );
            let name = l.split("[Extract] device-").nth(1).unwrap();
            name.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect();
    failed.sort();
    assert_eq!(failed, silent);

    // Every loaded record is the formula's, for its own device: nothing of device A ever lands on device B, and
    // a late or duplicated answer changes nothing.
    let log = std::fs::read_to_string(dir.join("mock.log")).unwrap();
    let records = logged_records(&log);
    let mut by_device: std::collections::BTreeMap<usize, Vec<Loaded>> = Default::default();
    for r in &records {
        let k: usize = r["name"]
            .as_str()
            .unwrap()
            .strip_prefix("device-")
            .unwrap()
            .parse()
            .unwrap();
        let cpu = r["cpu_number"].as_str().unwrap().to_string();
        by_device.entry(k).or_default().push((cpu, indicators(r)));
    }
    assert_eq!(by_device.len(), N - silent.len());
    let mut hr_devices = 0;
    for (k, mut got) in by_device {
        let addr = inventory_address(k);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want = expected_records(addr, shares);
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "device-{k} at {addr}");
        hr_devices += usize::from(fleet::device(addr, shares).kind == Kind::HostResources);
    }
    assert!(
        hr_devices > 500,
        "host-resources devices were read too: {hr_devices}"
    );
    assert_eq!(
        s["records"]["loaded"].as_u64().unwrap(),
        records.len() as u64
    );

    // The faults did happen.
    let st = f.stats();
    let snmp = &st["snmp"];
    for key in ["dropped", "delayed", "duplicated", "bad_community"] {
        assert!(snmp[key].as_u64().unwrap() > 0, "{key}: {snmp}");
    }
    assert_eq!(snmp["not_loopback"], 0);
    assert_eq!(snmp["malformed"], 0);
}

#[test]
fn demo_with_the_snmp_source_runs_the_pipeline_against_the_in_process_fleet() {
    const N: usize = 300;
    let dir = TestDir::new();
    dir.inventory("appliances.csv", N);
    let out = dir.run_env(
        &["demo", "--source", "snmp", "--quiet"],
        &[("APP__EXTRACT__SNMP__SAMPLE_INTERVAL_MS", "300")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let shares = Shares {
        vendors: 0.0,
        host_resources: 0.1,
        wrong_community: 0.0,
    };
    let records: usize = (1..=N)
        .map(|k| expected_records(inventory_address(k), shares).len())
        .sum();
    assert!(
        records > N,
        "host-resources devices give a record per processor"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("demo: mock SNMP fleet on udp://0.0.0.0:"),
        "{stdout}"
    );
    assert!(stdout.contains("(snmp source)"), "{stdout}");
    assert!(
        stdout.contains(&format!("{records} extracted, {records} loaded")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\"records_accepted\": {records}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"replies\": "),
        "the fleet's counters are shown: {stdout}"
    );
}

/// The loads (hundredths) a vendor device's records may carry: its vendor objects' values, which are 0 to 100.
fn vendor_loads(addr: Ipv4Addr, kind: Kind) -> Vec<i64> {
    use app::mock::snmp::fleet::Value as V;
    app::mock::snmp::vendors::objects(addr, kind)
        .into_iter()
        .filter_map(|(_, v)| match v {
            V::Gauge32(x) => Some(i64::from(x) * 100),
            V::Integer(x) if (0..=100).contains(&x) => Some(i64::from(x) * 100),
            _ => None,
        })
        .collect()
}

#[test]
fn vendor_personalities_answer_like_the_vendor_and_a_run_detects_and_reads_them() {
    const N: usize = 400;
    let dir = TestDir::new();
    let shares = Shares {
        vendors: 0.6,
        host_resources: 0.25,
        wrong_community: 0.0,
    };
    let f = Fleet::start(
        &dir,
        &[
            ("APP__MOCK__SNMP_VENDOR_SHARE", "0.6"),
            ("APP__MOCK__SNMP_HOST_RESOURCES_SHARE", "0.25"),
            ("APP__MOCK__DELAY_MS", "0"),
            ("APP__MOCK__JITTER_MS", "0"),
            ("APP__MOCK__LOG_BODY_PREVIEW", "16777216"),
        ],
    );
    // Each kind answers sysObjectID.0 with its vendor's enterprise number, and its table walks.
    let kinds = [
        (Kind::Ucd, "8072"),
        (Kind::HostResources, "30065"),
        (Kind::Cisco, "9"),
        (Kind::Juniper, "2636"),
        (Kind::Huawei, "2011"),
        (Kind::Fortinet, "12356"),
    ];
    for (kind, enterprise) in kinds {
        let addr = addresses_of_shares(kind, shares);
        let (ok, text) = net_snmp(
            "snmpget",
            &[
                "-v2c",
                "-c",
                "public",
                &f.target(addr),
                "1.3.6.1.2.1.1.2.0",
                "1.3.6.1.2.1.1.1.0",
            ],
        );
        assert!(ok, "{kind:?} {addr}: {text}");
        let prefix = format!(".1.3.6.1.4.1.{enterprise}.");
        assert!(
            text.lines().next().unwrap().contains(&prefix),
            "{kind:?}: {text}"
        );
    }
    let cisco = addresses_of_shares(Kind::Cisco, shares);
    let (ok, text) = net_snmp(
        "snmpbulkwalk",
        &[
            "-v2c",
            "-c",
            "public",
            &f.target(cisco),
            "1.3.6.1.4.1.9.9.109.1.1.1.1.8",
        ],
    );
    let members = app::mock::snmp::vendors::rows(cisco, Kind::Cisco) as usize;
    let rows = text.lines().filter(|l| l.contains("Gauge32")).count();
    assert!(ok && rows == members, "{members} members: {text}");
    let (ok, text) = net_snmp(
        "snmpget",
        &[
            "-v2c",
            "-c",
            "public",
            &f.target(cisco),
            "1.3.6.1.2.1.47.1.1.1.1.7.1000",
        ],
    );
    assert!(ok && text.contains("Switch 1 - CPU"), "{text}");

    // A run over N devices of every kind: each gives records whose loads its table holds.
    dir.inventory("inventory.csv", N);
    let extra = format!(
        "[extract]\nsource = \"snmp\"\nconcurrency = 200\ntimeout_ms = 20000\n\
         [extract.snmp]\nport = {}\ntimeout_ms = 1000\nretries = 2\nsample_interval_ms = 200\n",
        f.port
    );
    dir.write(
        "c.toml",
        &fast_config(&format!("http://{}/load", f.http), &extra),
    );
    let out = dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--summary-json",
        "s.json",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let records = logged_records(&std::fs::read_to_string(dir.join("mock.log")).unwrap());
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut devices = std::collections::BTreeSet::new();
    for r in &records {
        let k: usize = r["name"].as_str().unwrap()["device-".len()..]
            .parse()
            .unwrap();
        let addr = inventory_address(k);
        let kind = fleet::device(addr, shares).kind;
        devices.insert(k);
        *seen.entry(format!("{kind:?}")).or_default() += 1;
        if matches!(kind, Kind::Ucd | Kind::HostResources) {
            continue; // the formula's values, checked by the test above
        }
        let u = indicators(r)
            .iter()
            .find(|(n, _)| n == "utilization")
            .unwrap()
            .1;
        let hundredths = (u * 100.0).round() as i64;
        assert!(
            vendor_loads(addr, kind).contains(&hundredths),
            "device-{k} ({kind:?} at {addr}): {u} is no load of its table: {r}"
        );
    }
    assert_eq!(devices.len(), N, "every device gave records: {seen:?}");
    for kind in [
        "Cisco",
        "Juniper",
        "Huawei",
        "Fortinet",
        "Ucd",
        "HostResources",
    ] {
        assert!(seen.get(kind).is_some_and(|&n| n > 10), "{kind}: {seen:?}");
    }
}

/// The first address of the generated inventory (`device-K`) of `kind` in a fleet with `shares`.
fn addresses_of_shares(kind: Kind, shares: Shares) -> Ipv4Addr {
    (1..)
        .map(inventory_address)
        .find(|a| fleet::device(*a, shares).kind == kind)
        .unwrap()
}

#[test]
fn probe_with_the_shipped_configuration_reads_the_snmp_section_although_its_source_is_simulated() {
    // A new user's first probe: config/default.toml as shipped (source "simulated"). The probe is the snmp
    // source's: it sends [extract.snmp]'s community ("public", which the fleet answers), not an empty one.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    assert!(
        text.contains("source = \"simulated\""),
        "the shipped source"
    );
    let dir = TestDir::new();
    let fleet = Fleet::start(&dir, &[]);
    let addr = addresses_of(Kind::Ucd, 1, 1)[0].to_string();
    let port = fleet.port.to_string();
    let out = dir.run_env(
        &[
            "snmp",
            "probe",
            &addr,
            "--config",
            shipped.to_str().unwrap(),
        ],
        &[
            ("APP__EXTRACT__SNMP__PORT", &port),
            ("APP__EXTRACT__SNMP__SAMPLE_INTERVAL_MS", "100"),
            ("APP__LOG__FILE", ""),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("profile \"generic\""), "{text}");
    assert!(text.contains("records a run would produce"), "{text}");
    assert_eq!(fleet.stats()["snmp"]["bad_community"], 0);
}

#[test]
fn probe_talks_with_the_credential_set_it_is_given_and_refuses_one_the_configuration_lacks() {
    // [extract.snmp]'s community is one the fleet ignores; the set "lab" has the fleet's.
    let dir = TestDir::new();
    let fleet = Fleet::start(&dir, &[]);
    dir.write(
        "c.toml",
        &format!(
            "[extract]\nsource = \"snmp\"\n[extract.snmp]\nport = {}\ncommunity = \"nobody-knows\"\n\
             timeout_ms = 300\nretries = 0\nsample_interval_ms = 100\n\
             [extract.snmp.credentials.lab]\ncommunity = \"public\"\n[log]\nfile = \"\"\n",
            fleet.port
        ),
    );
    let addr = addresses_of(Kind::Ucd, 1, 1)[0].to_string();
    let probe = |extra: &[&str]| {
        let mut args = vec!["snmp", "probe", &addr, "--config", "c.toml"];
        args.extend_from_slice(extra);
        dir.run(&args)
    };
    let out = probe(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wrong community"),
        "{}",
        show(&out)
    );
    let out = probe(&["--credentials", "lab"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("records a run would produce"));
    let out = probe(&["--credentials", "lob"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--credentials") && err.contains("\"lob\"") && err.contains("sets: lab"),
        "{err}"
    );
}
