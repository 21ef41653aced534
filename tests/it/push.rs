//! The end-of-run report as an operator meets it: Debian's real Pushgateway on a loopback port, node_exporter's
//! textfile, and the metric names that deploy/prometheus/rules.yml and deploy/grafana/app.json use.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::load::sinks::prometheus_remote_write as remote_write;

use crate::helpers::*;

const PUSHGATEWAY: &str = "/usr/bin/prometheus-pushgateway";

/// Debian's `prometheus-pushgateway` on a free loopback port; killed on drop.
struct Pushgateway {
    child: Child,
    url: String,
}

impl Pushgateway {
    /// Starts the gateway, or None (with a note) when it is not installed outside CI; in CI it must run.
    fn start(test: &str) -> Option<Self> {
        if !Path::new(PUSHGATEWAY).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{PUSHGATEWAY} is missing in CI: .ci/run installs prometheus-pushgateway"
            );
            eprintln!("{test}: SKIPPED: {PUSHGATEWAY} is not installed (apt-get install prometheus-pushgateway)");
            return None;
        }
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(PUSHGATEWAY)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the pushgateway starts");
        let gw = Pushgateway {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Ready within 10 s (bounded): /-/ready answers 200.
        for _ in 0..100 {
            if get(&format!("{}/-/ready", gw.url)).is_some_and(|(s, _)| s == 200) {
                return Some(gw);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the pushgateway on {} did not become ready", gw.url);
    }

    /// Its `/metrics`: `name{labels}` (labels sorted, as the gateway prints them) -> value, for the series of one
    /// group.
    fn group(&self, job: &str, shard: &str) -> HashMap<String, f64> {
        let (status, text) =
            get(&format!("{}/metrics", self.url)).expect("the pushgateway answers");
        assert_eq!(status, 200);
        let needle = [format!("job=\"{job}\""), format!("shard=\"{shard}\"")];
        text.lines()
            .filter(|l| !l.starts_with('#') && needle.iter().all(|n| l.contains(n.as_str())))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (strip_group(k), v.parse().unwrap())
            })
            .collect()
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name{a="1",instance="",job="x",shard="y"}` -> `name{a="1"}` (or `name`).
fn strip_group(key: &str) -> String {
    let Some((name, labels)) = key.split_once('{') else {
        return key.to_string();
    };
    let kept: Vec<&str> = labels
        .trim_end_matches('}')
        .split(',')
        .filter(|l| {
            !(l.starts_with("instance=") || l.starts_with("job=") || l.starts_with("shard="))
        })
        .collect();
    if kept.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", kept.join(","))
    }
}

/// GET `url` (loopback) with awc; (status, body).
fn get(url: &str) -> Option<(u16, String)> {
    actix_rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish();
        let mut resp = client.get(url).send().await.ok()?;
        let body = resp.body().limit(16 << 20).await.ok()?;
        Some((
            resp.status().as_u16(),
            String::from_utf8_lossy(&body).into_owned(),
        ))
    })
}

/// Parses a text-format (0.0.4) exposition strictly: `# HELP`/`# TYPE` lines, then samples `name{labels} value`
/// of a declared family; returns `name{labels}` -> value.
fn parse_text_format(text: &str) -> HashMap<String, f64> {
    let mut families = BTreeSet::new();
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (key, value) = line.rsplit_once(' ').expect("name value");
        let name = key.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family_declared = families.contains(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|f| families.contains(f)));
        assert!(family_declared, "sample of an undeclared family: {line}");
        if let Some(labels) = key.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        out.insert(key.to_string(), value.parse().expect("a number"));
    }
    out
}

/// `name{shard="x",a="1"}` -> `name{a="1"}`, asserting that the shard label is there with value `shard`.
fn without_shard(samples: &HashMap<String, f64>, shard: &str) -> HashMap<String, f64> {
    let label = format!("shard=\"{shard}\"");
    samples
        .iter()
        .map(|(k, v)| {
            assert!(k.contains(&label), "{k} lacks {label}");
            let k = k
                .replace(&format!("{label},"), "")
                .replace(&format!("{{{label}}}"), "");
            (k, *v)
        })
        .collect()
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn every_run_pushes_its_figures_to_the_pushgateway_in_its_shards_group() {
    let Some(gw) = Pushgateway::start("pushgateway group") else {
        return;
    };
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 900);
    let extra = format!("[metrics]\npush_url = \"{}\"\n", gw.url);
    dir.write("c.toml", &fast_config(&m.load_url(), &extra));
    let before = now_s();
    let out = dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--shard",
        "1/3",
        "--summary-json",
        "s.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = dir.summary("s.json");
    let got = gw.group("app_etl", "1_of_3");
    for (state, key) in [
        ("extracted", "extracted"),
        ("loaded", "loaded"),
        ("spooled", "spooled"),
    ] {
        assert_eq!(
            got[&format!("app_records_total{{state=\"{state}\"}}")],
            s["records"][key].as_f64().unwrap(),
            "{state}: {got:?}"
        );
    }
    let ok = got["app_devices_total{outcome=\"ok\"}"];
    assert!(ok > 0.0 && ok < 900.0, "a third or so of 900: {ok}");
    assert_eq!(
        ok + got["app_devices_total{outcome=\"skipped_shard\"}"],
        900.0
    );
    assert_eq!(got["app_run_exit_code"], 0.0);
    let last_run = got["app_last_run_timestamp_seconds"];
    assert!(
        last_run >= before.floor() && last_run <= now_s(),
        "{last_run}"
    );
    assert_eq!(got["app_last_success_timestamp_seconds"], last_run);
    assert!(got["app_run_duration_seconds"] > 0.0);
    assert!(got.contains_key("app_request_duration_seconds_count"));
    // The gateway itself records the push; no other group was touched.
    assert!(got.contains_key("push_time_seconds"), "{got:?}");
    assert!(gw.group("app_etl", "all").is_empty());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!(
            "pushed the run's figures to {}/metrics/job/app_etl/shard/1_of_3",
            gw.url
        )),
        "{log}"
    );
}

#[test]
fn a_failing_run_and_a_stopped_run_push_but_keep_the_last_success_in_the_gateway() {
    let Some(gw) = Pushgateway::start("pushgateway failure") else {
        return;
    };
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 300);
    let extra = format!("[metrics]\npush_url = \"{}\"\n", gw.url);
    dir.write("ok.toml", &fast_config(&m.load_url(), &extra));
    let out = dir.run(&["etl", "--config", "ok.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let first = gw.group("app_etl", "all");
    let success = first["app_last_success_timestamp_seconds"];

    // The API is gone: everything is spooled, exit 3.
    dir.write("down.toml", &fast_config(&dead_endpoint(), &extra));
    let out = dir.run(&["etl", "--config", "down.toml"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let failed = gw.group("app_etl", "all");
    assert_eq!(failed["app_run_exit_code"], 3.0);
    assert_eq!(failed["app_records_total{state=\"spooled\"}"], 300.0);
    assert_eq!(failed["app_records_total{state=\"loaded\"}"], 0.0);
    assert!(failed["app_circuit_opened_total"] >= 1.0, "{failed:?}");
    assert!(failed["app_spool_files"] >= 1.0);
    assert!(failed["app_last_run_timestamp_seconds"] > first["app_last_run_timestamp_seconds"]);
    assert_eq!(failed["app_last_success_timestamp_seconds"], success);

    // A run stopped by SIGTERM pushes too (exit 143), and it replayed the spool first (with the API back).
    let slow = fast_config(
        &m.load_url(),
        &format!("{extra}[extract]\nconcurrency = 10\n"),
    )
    .replace("latency_ms = 0", "latency_ms = 300");
    dir.write("slow.toml", &slow);
    let mut child = dir.spawn(
        &["etl", "--config", "slow.toml"],
        Stdio::null(),
        Stdio::piped(),
    );
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    // The spool is replayed first: once its files are gone (each deleted when its batch was acknowledged; bounded
    // wait), stop the run.
    let replayed =
        || m.stats().records_accepted >= 600 && spool_files(&dir.join("spool")).is_empty();
    wait_until("the replay at the API", Duration::from_secs(10), replayed);
    send_signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let stopped = gw.group("app_etl", "all");
    assert_eq!(stopped["app_run_exit_code"], 143.0);
    assert_eq!(stopped["app_records_total{state=\"replayed\"}"], 300.0);
    assert!(
        stopped["app_devices_total{outcome=\"cancelled\"}"] > 0.0,
        "{stopped:?}"
    );
    assert_eq!(stopped["app_last_success_timestamp_seconds"], success);
}

#[test]
fn the_textfile_is_replaced_atomically_parses_and_keeps_the_last_success_after_a_failure() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 200);
    std::fs::create_dir(dir.join("textfiles")).unwrap();
    let extra = "[metrics]\ntextfile = \"textfiles/app_etl.prom\"\n";
    dir.write("ok.toml", &fast_config(&m.load_url(), extra));
    let out = dir.run(&["etl", "--config", "ok.toml", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let path = dir.join("textfiles/app_etl.prom");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = without_shard(&parse_text_format(&text), "0_of_2");
    assert_eq!(file_mode(&path), 0o644, "readable by node_exporter's user");
    assert_eq!(first["app_run_exit_code"], 0.0);
    let success = first["app_last_success_timestamp_seconds"];
    assert_eq!(success, first["app_last_run_timestamp_seconds"]);
    assert_eq!(
        first["app_devices_total{outcome=\"ok\"}"]
            + first["app_devices_total{outcome=\"skipped_shard\"}"],
        200.0
    );
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output();
    match promtool {
        Ok(o) => assert!(o.status.success(), "promtool check metrics: {}", show(&o)),
        Err(_) => {
            eprintln!("textfile: promtool not installed; checked by this test's own parser only")
        }
    }
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(&path).unwrap().ino();

    dir.write("down.toml", &fast_config(&dead_endpoint(), extra));
    let out = dir.run(&["etl", "--config", "down.toml", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let second = without_shard(
        &parse_text_format(&std::fs::read_to_string(&path).unwrap()),
        "0_of_2",
    );
    assert_eq!(second["app_run_exit_code"], 3.0);
    assert!(second["app_records_total{state=\"spooled\"}"] > 0.0);
    assert!(second["app_last_run_timestamp_seconds"] > first["app_last_run_timestamp_seconds"]);
    assert_eq!(second["app_last_success_timestamp_seconds"], success);
    // Replaced by a rename (a new inode), and no temp file left beside it.
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), inode);
    let names: Vec<String> = std::fs::read_dir(dir.join("textfiles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["app_etl.prom"]);
}

#[test]
fn a_run_that_cannot_bind_its_metrics_port_reports_exit_4_for_the_runtime_failure_alert() {
    // deploy/prometheus/rules.yml's AppEtlRuntimeFailure fires on app_run_exit_code == 4 with a shard label: the
    // textfile of a run stopped by a port in use must say so, with that label.
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 20);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let extra = format!(
        "[metrics]\ntextfile = \"app_etl.prom\"\naddr = \"{}\"\n",
        taken.local_addr().unwrap()
    );
    dir.write("c.toml", &fast_config(&m.load_url(), &extra));
    let out = dir.run(&["etl", "--config", "c.toml", "--shard", "1/2"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let text = std::fs::read_to_string(dir.join("app_etl.prom")).unwrap();
    let report = without_shard(&parse_text_format(&text), "1_of_2");
    assert_eq!(report["app_run_exit_code"], 4.0, "{text}");
    assert!(
        !report.contains_key("app_last_success_timestamp_seconds"),
        "no run of this shard succeeded yet: {text}"
    );
    assert!(
        text.contains("shard=\"1_of_2\""),
        "the alert's shard label: {text}"
    );
    assert_eq!(m.stats().requests, 0, "nothing was sent");
}

#[test]
fn a_textfile_without_the_prom_suffix_is_refused_naming_the_key() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write(
        "c.toml",
        &fast_config(&dead_endpoint(), "[metrics]\ntextfile = \"app.txt\"\n"),
    );
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.textfile"));
}

/// Identifiers of PromQL expressions: `app_*` metric names and `a:b:c` recorded names (not inside quotes, label
/// matchers or `by (...)`/`without (...)` lists).
fn promql_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = expr.chars().peekable();
    let (mut in_braces, mut in_quotes, mut grouping) = (false, false, false);
    let mut last_word = String::new();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '\\' {
                chars.next();
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '{' => in_braces = true,
            '}' => in_braces = false,
            '(' => grouping = matches!(last_word.as_str(), "by" | "without" | "on" | "ignoring"),
            ')' => grouping = false,
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let mut word = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == ':' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let sink_series = word.starts_with(remote_write::series::PREFIX);
                if !in_braces
                    && !grouping
                    && (word.starts_with("app_") || word.contains(':') || sink_series)
                {
                    names.push(word.clone());
                }
                last_word = word;
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
    }
    names
}

/// The `expr:` values of a rules file (one line, or a `|`/`>` block) and its `record:` names.
fn rule_exprs(yaml: &str) -> (Vec<String>, BTreeSet<String>) {
    let lines: Vec<&str> = yaml.lines().collect();
    let (mut exprs, mut records) = (Vec::new(), BTreeSet::new());
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if let Some(r) = t.strip_prefix("- record: ") {
            records.insert(r.trim().to_string());
        }
        let Some(rest) = t.strip_prefix("expr: ") else {
            continue;
        };
        if rest.starts_with('|') || rest.starts_with('>') {
            let indent = line.len() - t.len();
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .copied()
                .collect();
            exprs.push(block.join("\n"));
        } else {
            exprs.push(rest.to_string());
        }
    }
    (exprs, records)
}

/// Every PromQL expression of the Grafana dashboard (panel targets and template variable queries).
fn dashboard_exprs(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    ("query", serde_json::Value::String(s)) if s.contains("app_") => {
                        out.push(s.clone())
                    }
                    _ => dashboard_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn every_metric_the_alerting_rules_and_the_dashboard_name_is_one_a_real_run_exports() {
    // A real run's end-of-run output (the same families as its /metrics, plus the run gauges) ...
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 100);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "[metrics]\ntextfile = \"app.prom\"\n"),
    );
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let pushed = parse_text_format(&std::fs::read_to_string(dir.join("app.prom")).unwrap());
    let exported: BTreeSet<String> = pushed
        .keys()
        .map(|k| k.split('{').next().unwrap().to_string())
        .collect();
    // ... and the /metrics of a running one: the same names (so the live panels and rules hold too).
    let live = {
        let mut child = dir.spawn(
            &["etl", "--config", "c.toml", "--metrics-addr", "127.0.0.1:0"],
            Stdio::null(),
            Stdio::piped(),
        );
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr: std::net::SocketAddr = loop {
            let line = lines
                .next()
                .expect("the etl logs its metrics address")
                .unwrap();
            if let Some(rest) = line.split("serving http://").nth(1) {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        let (status, text) = http(addr, "GET", "/metrics", &[], b"");
        std::thread::spawn(move || for _ in lines {});
        assert_eq!(child.wait().unwrap().code(), Some(0));
        assert_eq!(status, 200);
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
            .collect::<BTreeSet<_>>()
    };
    let run_gauges = [
        "app_last_run_timestamp_seconds",
        "app_last_success_timestamp_seconds",
        "app_run_duration_seconds",
        "app_run_exit_code",
    ];
    for name in &live {
        assert!(exported.contains(name), "{name} is live but not pushed");
    }
    for name in &exported {
        assert!(
            live.contains(name) || run_gauges.contains(&name.as_str()),
            "{name} pushed but not live"
        );
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/rules.yml")).unwrap();
    let (exprs, records) = rule_exprs(&rules);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/app.json")).unwrap(),
    )
    .unwrap();
    let mut panels = Vec::new();
    dashboard_exprs(&dashboard, &mut panels);
    assert!(panels.len() >= 15, "{panels:?}");
    // ... or a series the prometheus-remote-write sink writes (the dashboard's appliance CPU row).
    let sink_series: BTreeSet<String> =
        app::transform::transform_all(app::extract::simulated::device_stats("d", 1, 1_700_000_000))
            .unwrap()[0]
            .indicators
            .iter()
            .map(|i| remote_write::series::metric_name(i.name))
            .collect();
    let mut used = BTreeSet::new();
    for (origin, e) in exprs
        .iter()
        .map(|e| ("rules.yml", e))
        .chain(panels.iter().map(|e| ("app.json", e)))
    {
        let names = promql_names(e);
        assert!(!names.is_empty(), "{origin}: no metric in {e:?}");
        for n in names {
            if n.contains(':') {
                assert!(
                    records.contains(&n),
                    "{origin}: {n} is not a recording rule of rules.yml"
                );
            } else if n.starts_with(remote_write::series::PREFIX) {
                assert!(
                    sink_series.contains(&n),
                    "{origin}: {n} is not a series the prometheus-remote-write sink writes: {sink_series:?}"
                );
            } else {
                assert!(
                    exported.contains(&n),
                    "{origin}: {n} (in {e:?}) is not exported; exported: {exported:?}"
                );
                used.insert(n);
            }
        }
    }
    for name in run_gauges {
        assert!(used.contains(name), "{name} is used by no rule or panel");
    }
}

#[test]
fn promql_names_skips_labels_strings_and_groupings() {
    assert_eq!(
        promql_names(
            r#"sum without (state) (app_records_total{state=~"loaded|app_x"}) / (app_run_duration_seconds{shard!=""} > 0)"#
        ),
        ["app_records_total", "app_run_duration_seconds"]
    );
    assert_eq!(
        promql_names(
            "sum without (shard, instance) (shard:app_records_delivered:per_second_last_run)"
        ),
        ["shard:app_records_delivered:per_second_last_run"]
    );
    assert_eq!(
        promql_names("label_values(app_last_run_timestamp_seconds, shard)"),
        ["app_last_run_timestamp_seconds"]
    );
    assert_eq!(
        promql_names(
            r#"count(count by (device) (last_over_time(appliance_cpu_utilization_percent{device=~"$device"}[5m])))"#
        ),
        ["appliance_cpu_utilization_percent"]
    );
}
