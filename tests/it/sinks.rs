//! The sinks against the real stores (Debian's packages, which `.ci/run` installs): Prometheus 2.42 with its
//! remote-write receiver, VictoriaMetrics (remote write and line protocol) and InfluxDB 1.6 (line protocol), each
//! started on a free loopback port with its data in the test's temp dir. The real `app etl` (simulated source,
//! whose values are a function of the device name) loads them, and the data is read back through each store's own
//! query API (PromQL `/api/v1/query`, InfluxQL `/query`): every device and CPU, the exact values, the record's
//! timestamps. Also: a store stopped in the middle of a run, restarted and replayed (every point arrives, none
//! doubled), and a too-old sample ending as a dead letter that names the store's reason.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A name with every character line protocol escapes, a quote and a backslash (`DOMAIN\host`).
const ODD_NAME: &str = "edge, rack=2 \"core\" DOMAIN\\host";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A store's server process, on 127.0.0.1:`port` with its data in the test's dir; killed on drop.
struct Store {
    program: &'static str,
    args: Vec<String>,
    port: u16,
    ready_path: &'static str,
    log: PathBuf,
    child: Option<Child>,
}

impl Store {
    fn start(
        dir: &TestDir,
        program: &'static str,
        package: &str,
        args: Vec<String>,
        port: u16,
        ready_path: &'static str,
    ) -> Store {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "`{program}` is not installed: apt-get install {package} (.ci/run installs it)"
        );
        let mut s = Store {
            program,
            args,
            port,
            ready_path,
            log: dir.join(&format!("{program}.log")),
            child: None,
        };
        s.restart();
        s
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the server (again, on the same port and data) and waits until it answers.
    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(s) = std::net::TcpStream::connect(self.addr()) {
                drop(s);
                let (status, _) = http(self.addr(), "GET", self.ready_path, &[], b"");
                if (200..300).contains(&status) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer on {} within 30 s:\n{}",
                self.program,
                self.addr(),
                tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 20)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGTERM, as an operator or systemd does) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            c.wait().unwrap();
        }
    }

    fn prometheus(dir: &TestDir) -> Store {
        let config = dir.write("prometheus.yml", "global:\n  scrape_interval: 1h\n");
        let port = free_port();
        let args = vec![
            format!("--config.file={}", config.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".into(),
        ];
        Store::start(dir, "prometheus", "prometheus", args, port, "/-/ready")
    }

    /// VictoriaMetrics, with what makes a resent sample count once (`-dedup.minScrapeInterval`) and fresh
    /// samples visible at once (`-search.latencyOffset=0s`).
    fn victoria_metrics(dir: &TestDir) -> Store {
        let port = free_port();
        let args = vec![
            format!("-storageDataPath={}", dir.join("vm-data").display()),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-dedup.minScrapeInterval=1ms".into(),
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
        ];
        Store::start(
            dir,
            "victoria-metrics",
            "victoria-metrics",
            args,
            port,
            "/health",
        )
    }

    fn influxdb(dir: &TestDir) -> Store {
        let (port, rpc) = (free_port(), free_port());
        let data = dir.join("influx-data");
        let config = dir.write(
            "influxdb.conf",
            &format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
                 [monitor]\n  store-enabled = false\n",
                d = data.display()
            ),
        );
        let args = vec!["-config".into(), config.display().to_string()];
        Store::start(dir, "influxd", "influxdb", args, port, "/ping")
    }

    /// `method path?query` with the query's values URL-encoded, over HTTP/1.0 (an answer without chunks); the
    /// JSON answer.
    fn request(&self, method: &str, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        use std::io::{Read, Write};
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let mut conn = std::net::TcpStream::connect(self.addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            conn,
            "{method} {path}?{} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            q.join("&"),
            self.addr()
        )
        .unwrap();
        let mut resp = String::new();
        conn.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(
            head.starts_with("HTTP/1.") && head[9..].starts_with("200"),
            "{path} {query:?}: {resp}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        self.request("GET", path, query)
    }

    /// A PromQL instant query's result vector: each series' labels with its (timestamp, value).
    fn promql(&self, query: &str) -> Vec<(BTreeMap<String, String>, f64, f64)> {
        let v = self.get("/api/v1/query", &[("query", query)]);
        assert_eq!(v["status"], "success", "{query}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = serde_json::from_value(r["metric"].clone()).unwrap();
                let ts = r["value"][0].as_f64().unwrap();
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (labels, ts, value)
            })
            .collect()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An inventory of `n` loopback devices `device-1..n` and the odd name; the device names.
fn inventory(dir: &TestDir, n: usize) -> Vec<String> {
    let mut text = app::inventory::generate::text(n as u64);
    let odd = ODD_NAME.replace('"', "\"\"");
    text.extend_from_slice(format!("127.9.9.9,\"{odd}\"\n").as_bytes());
    std::fs::write(dir.join("inventory.csv"), text).unwrap();
    let mut names: Vec<String> = (1..=n).map(|i| format!("device-{i}")).collect();
    names.push(ODD_NAME.to_string());
    names
}

/// What the simulated source gives for `device` (its values depend on the name only): per CPU, each indicator.
fn expected(device: &str, cpus: u32) -> BTreeMap<(String, String), f64> {
    let records =
        app::transform::transform_all(app::extract::simulated::device_stats(device, cpus, 0))
            .unwrap();
    let mut out = BTreeMap::new();
    for r in records {
        for i in r.indicators {
            out.insert((r.cpu_number.to_string(), i.name.to_string()), i.value);
        }
    }
    out
}

const INDICATORS: [&str; 5] = ["utilization", "nice", "user", "system", "irq"];
const CPUS: u32 = 2;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn config(endpoint: &str, sink: &str, extra: &str) -> TestConfig {
    fast_config(endpoint, extra)
        .set("load.sink", sink)
        .set("extract.simulated.cpus_per_device", i64::from(CPUS))
        .set("spool.dir", "spool")
}

/// Runs `app etl` with `config`; asserts its exit code; the (start, end) of the run in Unix seconds.
fn etl(dir: &TestDir, config: &TestConfig, code: i32) -> (f64, f64) {
    dir.write("config.toml", config);
    let start = unix_now().floor();
    let out = dir.run(&[
        "etl",
        "--config",
        "config.toml",
        "--quiet",
        "--summary-json",
        "summary.json",
    ]);
    let end = unix_now().ceil();
    assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    (start, end)
}

/// Every device × CPU × indicator of a PromQL store, with the exact value and a timestamp of the run; `name`
/// gives the metric of an indicator, `extra` a label every series has.
fn check_promql(
    store: &Store,
    devices: &[String],
    name: impl Fn(&str) -> String,
    extra: Option<(&str, &str)>,
    (start, end): (f64, f64),
) {
    for indicator in INDICATORS {
        let metric = name(indicator);
        // A store may take a moment before what it took is searchable (VictoriaMetrics: about a second).
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut got = store.promql(&metric);
        while got.len() < devices.len() * CPUS as usize && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            got = store.promql(&metric);
        }
        let stamps = store.promql(&format!("timestamp({metric})"));
        assert_eq!(
            got.len(),
            devices.len() * CPUS as usize,
            "{metric}: {got:?}"
        );
        let mut seen = BTreeMap::new();
        for (labels, _, value) in &got {
            let (device, cpu) = (&labels["device"], &labels["cpu"]);
            assert!(
                devices.contains(device),
                "{metric}: unknown device {device:?}"
            );
            let want = expected(device, CPUS)[&(cpu.clone(), indicator.to_string())];
            assert_eq!(*value, want, "{metric} {device} cpu {cpu}");
            if let Some((k, v)) = extra {
                assert_eq!(labels.get(k).map(String::as_str), Some(v), "{labels:?}");
            }
            seen.insert((device.clone(), cpu.clone()), ());
        }
        assert_eq!(
            seen.len(),
            devices.len() * CPUS as usize,
            "{metric}: a device × CPU twice"
        );
        for (labels, _, ts) in &stamps {
            assert!(
                (start..=end).contains(ts),
                "{metric} {labels:?}: sample at {ts}, the run was {start}..{end}"
            );
        }
    }
}

/// Every query of deploy/grafana/app.json on the sink's series (its appliance CPU row and `$device` variable), run
/// against the store with every device selected: each gives series, and "Devices reporting" counts every device.
fn grafana_reads_the_series(store: &Store, devices: usize) {
    fn exprs(json: &serde_json::Value, out: &mut Vec<String>) {
        match json {
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| match (k.as_str(), v) {
                ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                _ => exprs(v, out),
            }),
            serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/app.json")).unwrap(),
    )
    .unwrap();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    let on_series: Vec<String> = all
        .iter()
        .filter(|e| e.contains("appliance_cpu_"))
        .map(|e| e.replace("$device", ".+"))
        .collect();
    assert!(on_series.len() >= 7, "{on_series:?}");
    for e in &on_series {
        let result = store.promql(e);
        assert!(!result.is_empty(), "the dashboard's {e:?} gives nothing");
        if e.starts_with("count(") {
            assert_eq!(result[0].2, devices as f64, "{e}");
        }
    }
}

#[test]
fn prometheus_remote_write_reads_back_exact_and_a_too_old_sample_is_a_dead_letter_with_the_reason()
{
    let dir = TestDir::new();
    let store = Store::prometheus(&dir);
    let devices = inventory(&dir, 40);
    let endpoint = format!("http://{}/api/v1/write", store.addr());
    let run = etl(&dir, &config(&endpoint, "prometheus-remote-write", ""), 0);
    let s = dir.summary("summary.json");
    assert_eq!(
        s["records"]["loaded"],
        devices.len() as u64 * u64::from(CPUS)
    );
    check_promql(
        &store,
        &devices,
        |i| format!("appliance_cpu_{i}_percent"),
        None,
        run,
    );
    grafana_reads_the_series(&store, devices.len());

    // A spool file in the original's format (cpu_number a string) with a sample three hours older than the
    // newest of its series: Prometheus refuses it as out of bounds.
    let old = run.0 as i64 - 3 * 3600;
    let record = format!(
        r#"[{{"name":"device-1","cpu_number":"0","timestamp":{old},"indicators":[{{"name":"utilization","value":12.5}}]}}]"#
    );
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    std::fs::write(
        dir.join("spool/buffer_failed_worker0.json.gz"),
        gzip(record.as_bytes()),
    )
    .unwrap();
    let out = dir.run(&[
        "replay",
        "--config",
        "config.toml",
        "--quiet",
        "--summary-json",
        "replay.json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("replay.json");
    assert_eq!(s["records"]["rejected"], 1, "{s}");
    assert_eq!(s["records"]["rejected_too_old"], 1, "{s}");
    let rejected: Vec<_> = std::fs::read_dir(dir.join("spool/rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let sidecar = rejected
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".rejection.json"))
        .expect("a sidecar");
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sidecar).unwrap()).unwrap();
    assert_eq!(sidecar["status"], 400);
    assert!(
        sidecar["response_body"]
            .as_str()
            .unwrap()
            .contains("out of bounds"),
        "{sidecar}"
    );
    assert!(
        spool_files(&dir.join("spool")).is_empty(),
        "the refused file is no longer replayed"
    );
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(log.contains("HTTP 400 (too_old)"), "{}", tail(&log, 10));
    // The series keeps its one sample of the run.
    let series = store.promql(
        "count_over_time(appliance_cpu_utilization_percent{device=\"device-1\",cpu=\"0\"}[6h])",
    );
    assert_eq!(series[0].2, 1.0);
}

#[test]
fn influxdb_line_protocol_reads_back_exact_with_escaped_names() {
    let dir = TestDir::new();
    let store = Store::influxdb(&dir);
    let v = store.request("POST", "/query", &[("q", "CREATE DATABASE appliances")]);
    assert!(v["results"][0].get("error").is_none(), "{v}");
    let devices = inventory(&dir, 40);
    let endpoint = format!("http://{}/write?db=appliances", store.addr());
    let (start, end) = etl(
        &dir,
        &config(&endpoint, "influx-line", "[load]\ncompression = \"gzip\"\n"),
        0,
    );
    let v = store.get(
        "/query",
        &[
            ("db", "appliances"),
            ("epoch", "s"),
            ("q", "SELECT * FROM appliance_cpu"),
        ],
    );
    let series = &v["results"][0]["series"][0];
    let columns: Vec<&str> = series["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let col = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let rows = series["values"].as_array().unwrap();
    assert_eq!(rows.len(), devices.len() * CPUS as usize, "{v}");
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        let device = row[col("device")].as_str().unwrap().to_string();
        let cpu = row[col("cpu")].as_str().unwrap().to_string();
        assert!(
            devices.contains(&device),
            "unknown device {device:?} (escaping)"
        );
        let ts = row[col("time")].as_f64().unwrap();
        assert!(
            (start..=end).contains(&ts),
            "{device} at {ts}, the run was {start}..{end}"
        );
        let want = expected(&device, CPUS);
        for indicator in INDICATORS {
            let got = row[col(indicator)].as_f64().unwrap();
            assert_eq!(
                got,
                want[&(cpu.clone(), indicator.to_string())],
                "{device} {cpu} {indicator}"
            );
        }
        assert!(seen.insert((device, cpu)), "a point twice");
    }
    assert!(seen.iter().any(|(d, _)| d == ODD_NAME));
}

#[test]
fn victoria_metrics_takes_both_sinks_and_an_outage_mid_run_loses_and_doubles_nothing() {
    let dir = TestDir::new();
    let mut store = Store::victoria_metrics(&dir);
    let devices = inventory(&dir, 30);
    let endpoint = format!("http://{}/api/v1/write", store.addr());
    let run = etl(&dir, &config(&endpoint, "prometheus-remote-write", ""), 0);
    check_promql(
        &store,
        &devices,
        |i| format!("appliance_cpu_{i}_percent"),
        None,
        run,
    );

    // Line protocol into /write, with the store stopped in the middle of the run: 200 devices extracted over
    // about 3 s; what fails goes to the spool, and the replay after the restart delivers it.
    let devices = inventory(&dir, 200);
    let endpoint = format!("http://{}/write?db=appliances", store.addr());
    let extra =
        "[extract]\nconcurrency = 20\n[extract.simulated]\nlatency_ms = 300\njitter_ms = 0\n\
                 [load]\nbatch_size = 20\nflush_interval_ms = 100\n";
    dir.write("config.toml", &config(&endpoint, "influx-line", extra));
    let start = unix_now().floor();
    let mut child = dir.spawn(
        &[
            "etl",
            "--config",
            "config.toml",
            "--metrics-addr",
            "127.0.0.1:0",
            "--summary-json",
            "outage.json",
        ],
        Stdio::null(),
        Stdio::piped(),
    );
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let addr = metrics_addr(&mut lines);
    std::thread::spawn(move || for _ in lines {});
    // Stopped once the run loaded records into it: the run is under way, about 2.5 s from its end.
    wait_for_metric(
        addr,
        "app_records_total{state=\"loaded\"}",
        Duration::from_secs(30),
    );
    store.stop();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "some records spooled");
    let s = dir.summary("outage.json");
    let total = devices.len() as u64 * u64::from(CPUS);
    let (loaded, spooled) = (
        s["records"]["loaded"].as_u64().unwrap(),
        s["records"]["spooled"].as_u64().unwrap(),
    );
    assert!(
        loaded > 0 && spooled > 0,
        "the outage fell in the middle of the run: {s}"
    );
    assert_eq!(loaded + spooled, total, "{s}");
    store.restart();
    let out = dir.run(&[
        "replay",
        "--config",
        "config.toml",
        "--quiet",
        "--summary-json",
        "replay.json",
    ]);
    let end = unix_now().ceil();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("replay.json")["records"]["replayed"], spooled);
    assert!(spool_files(&dir.join("spool")).is_empty());
    check_promql(
        &store,
        &devices,
        |i| format!("appliance_cpu_{i}"),
        Some(("db", "appliances")),
        (start, end),
    );
    // None doubled: one sample per series over the whole run.
    for indicator in INDICATORS {
        let counts = store.promql(&format!("count_over_time(appliance_cpu_{indicator}[1h])"));
        assert_eq!(counts.len() as u64, total);
        assert!(
            counts.iter().all(|(_, _, n)| *n == 1.0),
            "{indicator}: {counts:?}"
        );
    }
}
