//! SNMP profiles as a user meets them: `app snmp probe` and `app etl` (`mib = "auto"`) against the real net-snmp
//! agent and against recordings of real devices (`snmpsim-data`) served by `snmpsim-command-responder` on a
//! loopback port: the profile chosen by sysObjectID, the recorded values loaded, the detection kept between
//! runs, a device no profile fits failing with its sysObjectID named.
//!
//! snmpsim is looked for in `$SNMPSIM_VENV` (default `/opt/snmpsim`, where `.ci/run` installs it); outside CI a
//! test without it says so and returns, in CI it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::snmp_agent::{config, etl, indicator, mock, received, snmpget, Agent};

/// The OID sub-trees kept from a recording: what a CPU poller reads (indexing a whole recording takes snmpsim
/// minutes for the largest).
const KEPT_TREES: &[&str] = &[
    "1.3.6.1.2.1.1.",             // system
    "1.3.6.1.2.1.25.3.3.",        // hrProcessorTable
    "1.3.6.1.2.1.47.1.1.1.1.7.",  // entPhysicalName
    "1.3.6.1.4.1.2021.11.",       // UCD systemStats
    "1.3.6.1.4.1.9.9.109.",       // CISCO-PROCESS-MIB
    "1.3.6.1.4.1.9.2.1.",         // OLD-CISCO-CPU-MIB
    "1.3.6.1.4.1.2636.3.1.13.",   // jnxOperatingTable
    "1.3.6.1.4.1.10002.1.1.1.4.", // FROGFOOT-RESOURCES-MIB loadTable (Ubiquiti's load averages)
    "1.3.6.1.4.1.1916.1.32.1.",   // EXTREME-SOFTWARE-MONITOR-MIB CPU
    "1.3.6.1.4.1.3375.2.1.",      // F5-BIGIP-SYSTEM-MIB
];

fn venv() -> PathBuf {
    PathBuf::from(std::env::var("SNMPSIM_VENV").unwrap_or_else(|_| "/opt/snmpsim".into()))
}

/// The venv's python and the recordings' directory, or `None` (outside CI) when snmpsim is not installed.
fn snmpsim() -> Option<(PathBuf, PathBuf)> {
    let python = venv().join("bin/python");
    let found = python.exists() && venv().join("bin/snmpsim-command-responder").exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "snmpsim is missing in CI: .ci/run installs snmpsim and snmpsim-data into {}",
            venv().display()
        );
        eprintln!(
            "snmpsim not installed in {}: test skipped",
            venv().display()
        );
        return None;
    }
    let out = Command::new(&python)
        .args([
            "-c",
            "import os, snmpsim_data; print(os.path.join(os.path.dirname(snmpsim_data.__file__), 'data'))",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let data = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some((python, data))
}

/// Writes `recording` (a path under the data directory, `.snmprec.bz2`) to `out`, keeping `KEPT_TREES`.
fn trim(python: &Path, recording: &Path, out: &Path) {
    let script = r#"
import bz2, sys
src, dst, keep = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
opener = bz2.open if src.endswith('.bz2') else open
with opener(src, 'rt', encoding='latin-1') as f, open(dst, 'w', encoding='latin-1') as o:
    for line in f:
        if any(line.startswith(k) for k in keep):
            o.write(line)
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(recording)
        .arg(out)
        .arg(KEPT_TREES.join(","))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}

/// `snmpsim-command-responder` serving the `.snmprec` files of `data` (community = file name) on 127.0.0.1;
/// killed on drop.
struct Simulator {
    child: Child,
    port: u16,
}

impl Simulator {
    fn start(dir: &TestDir, recordings: &[(&str, &str)]) -> Option<Simulator> {
        let (python, data) = snmpsim()?;
        let served = dir.join("data");
        let cache = dir.join("cache");
        std::fs::create_dir_all(&served).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        for (community, path) in recordings {
            trim(
                &python,
                &data.join(path),
                &served.join(format!("{community}.snmprec")),
            );
        }
        // snmpsim drops root privileges to nobody: it must read the data and write its index.
        let chmod = |p: &Path, mode: &str| {
            assert!(Command::new("chmod")
                .args(["-R", mode])
                .arg(p)
                .status()
                .unwrap()
                .success())
        };
        chmod(dir.path(), "a+rX");
        chmod(&cache, "a+rwX");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        drop(socket);
        let log = std::fs::File::create(dir.join("snmpsim.log")).unwrap();
        let mut cmd = Command::new(venv().join("bin/snmpsim-command-responder"));
        cmd.arg(format!("--data-dir={}", served.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["--process-user=nobody", "--process-group=nogroup"]);
        }
        let child = cmd.spawn().expect("snmpsim-command-responder starts");
        let sim = Simulator { child, port };
        // Ready once it answers the first recording's sysObjectID (bounded: indexing the trimmed files is quick).
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if snmpget(port, recordings[0].0, "1.3.6.1.2.1.1.2.0").is_some() {
                return Some(sim);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "snmpsim did not answer within 60 s:\n{}",
            std::fs::read_to_string(dir.join("snmpsim.log")).unwrap_or_default()
        );
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe(dir: &TestDir, addr: &str) -> (Output, String) {
    let out = dir.run(&["snmp", "probe", addr, "--config", "c.toml"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The mock, and an ETL configuration of `dir` polling the simulator with `community`.
fn setup(dir: &TestDir, port: u16, community: &str, extra: &str) -> MockProcess {
    let m = mock(dir);
    dir.write("inventory.csv", "127.0.0.1,dev-a\n");
    dir.write(
        "c.toml",
        &config(
            &format!("http://{}/load", m.addr),
            port,
            &format!("community = \"{community}\"\ntimeout_ms = 500\n{extra}"),
            "",
        ),
    );
    m
}

#[test]
fn recordings_of_a_cisco_and_a_juniper_load_their_recorded_values_and_an_unknown_device_names_its_sysobjectid(
) {
    let dir = TestDir::new();
    let Some(sim) = Simulator::start(
        &dir,
        &[
            ("c3750", "network/switch/cisco-c3750.snmprec.bz2"),
            ("mx960", "network/router/juniper-mx960-12-3r6-6.snmprec.bz2"),
            (
                "tripplite",
                "network/appliance/tripplite-poweralert.snmprec",
            ),
            ("hwmgmt", "network/appliance/empirical-hw-mgmt.snmprec.bz2"),
        ],
    ) else {
        return;
    };

    // Cisco IOS: cpmCPUTotal5minRev by default (29 recorded), cpmCPUTotal1minRev (64) with cpu_window = "1min".
    for (window, value) in [("", 29.0), ("cpu_window = \"1min\"\n", 64.0)] {
        let run = TestDir::new();
        let _m = setup(&run, sim.port, "c3750", window);
        let out = etl(&run);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let records = received(&run);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["name"], "dev-a");
        assert_eq!(records[0]["cpu_number"], "1");
        assert_eq!(indicator(&records[0], "utilization"), value, "{window}");
        assert_eq!(indicator(&records[0], "user"), 0.0);
        let kept = std::fs::read_to_string(run.join("spool/snmp-detection.tsv")).unwrap();
        assert!(
            kept.contains(&format!("127.0.0.1:{}\tcisco\t", sim.port)),
            "{kept}"
        );
    }

    // Juniper MX960: the Routing Engines and FPCs (jnxOperatingMemory non-zero), named by jnxOperatingDescr.
    let run = TestDir::new();
    let _m = setup(&run, sim.port, "mx960", "");
    let (out, text) = probe(&run, "127.0.0.1");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text.contains("sysObjectID: 1.3.6.1.4.1.2636.1.1.1.2.21"),
        "{text}"
    );
    assert!(
        text.contains(
            "profile \"juniper\" (built-in juniper.toml): sysObjectID starts with 1.3.6.1.4.1.2636"
        ),
        "{text}"
    );
    assert!(
        text.contains("58 rows, 5 kept: 7.1.0.0 = 13.00 %, 7.2.0.0 = 19.00 %"),
        "{text}"
    );
    assert!(text.contains("records a run would produce (5):"), "{text}");
    let out = etl(&run);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let got = loaded(&run);
    let want = [
        ("7.1.0.0 (FPC: MPC Type 2 3D @ 0/*/*)", 13.0),
        ("7.2.0.0 (FPC: MPC Type 2 3D @ 1/*/*)", 19.0),
        ("7.3.0.0 (FPC: MPC Type 2 3D @ 2/*/*)", 7.0),
        ("9.1.0.0 (Routing Engine 0)", 29.0),
        ("9.2.0.0 (Routing Engine 1)", 0.0),
    ];
    let want: Vec<(String, f64)> = want.iter().map(|(c, v)| (c.to_string(), *v)).collect();
    assert_eq!(got, want);

    // A Huawei management board without hwEntityCpuUsage: the generic fallback's UCD counters, frozen in the
    // recording, give 100 - ssCpuIdle (0 recorded) after net-snmp's refresh time.
    let run = TestDir::new();
    let _m = setup(&run, sim.port, "hwmgmt", "");
    let (out, text) = probe(&run, "127.0.0.1");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(text.contains("profile \"huawei\""), "{text}");
    assert!(text.contains("huawei source 1 (walk"), "{text}");
    assert!(
        text.contains("generic source 1 (UCD-SNMP-MIB counters): \"all\" 100.00 %"),
        "{text}"
    );

    // A power appliance no profile fits (no vendor CPU, no UCD, no hrProcessorLoad): named, counted apart.
    let run = TestDir::new();
    let _m = setup(&run, sim.port, "tripplite", "");
    let (out, text) = probe(&run, "127.0.0.1");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text.contains("no profile fits; trying the \"generic\" profile's sources"),
        "{text}"
    );
    assert!(
        text.contains("noSuchObject for 1.3.6.1.4.1.2021.11.50.0"),
        "{text}"
    );
    let log = fails_as_no_profile(
        &run,
        "no SNMP profile fits sysObjectID 1.3.6.1.4.1.850.1.1.1 (sysDescr \"Ubuntu 16.04.4 LTS",
    );
    assert!(log.contains("run `app snmp probe 127.0.0.1`"), "{log}");
}

/// An Extreme EXOS stack of two (its per-slot CPU as text) and an F5 BIG-IP with two host CPUs, as `.snmprec`
/// lines (OID order: snmpsim walks the file as written).
const EXOS: &str =
    "1.3.6.1.2.1.1.1.0|4|ExtremeXOS (X440G2-48p-10G4) version 30.7.1.1 30.7.1.1 by release-manager
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.1916.2.167
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.4.1.1916.1.32.1.2.0|2|9
1.3.6.1.4.1.1916.1.32.1.4.1.8.1|4|7.3
1.3.6.1.4.1.1916.1.32.1.4.1.8.2|4|12.5
1.3.6.1.4.1.1916.1.32.1.4.1.9.1|4|6.1
1.3.6.1.4.1.1916.1.32.1.4.1.9.2|4|10.0
";
const F5: &str = "1.3.6.1.2.1.1.1.0|4|Linux f5-lb-1 3.10.0-862.14.4.el7.ve.x86_64 #1 SMP x86_64
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.3375.2.1.3.4.43
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.4.1.3375.2.1.1.2.20.29.0|66|30
1.3.6.1.4.1.3375.2.1.1.2.20.37.0|66|25
1.3.6.1.4.1.3375.2.1.7.5.2.1.27.1.48.0|66|41
1.3.6.1.4.1.3375.2.1.7.5.2.1.27.1.48.1|66|19
1.3.6.1.4.1.3375.2.1.7.5.2.1.35.1.48.0|66|33
1.3.6.1.4.1.3375.2.1.7.5.2.1.35.1.48.1|66|17
";

/// The (cpu_number, utilization) pairs loaded by the run of `dir`, sorted.
fn loaded(dir: &TestDir) -> Vec<(String, f64)> {
    let mut got: Vec<(String, f64)> = received(dir)
        .iter()
        .map(|r| {
            (
                r["cpu_number"].as_str().unwrap().to_string(),
                indicator(r, "utilization"),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    got
}

#[test]
fn extreme_and_f5_load_each_cpu_in_the_window_set_and_ubiquiti_load_averages_are_never_loaded() {
    let dir = TestDir::new();
    dir.write("exos.snmprec", EXOS);
    dir.write("f5.snmprec", F5);
    let (exos, f5) = (
        dir.join("exos.snmprec").display().to_string(),
        dir.join("f5.snmprec").display().to_string(),
    );
    let Some(sim) = Simulator::start(
        &dir,
        &[
            ("airos", "network/wifi/ubiquiti-m5.snmprec.bz2"),
            ("exos", &exos),
            ("f5", &f5),
        ],
    ) else {
        return;
    };
    let pairs = |v: &[(&str, f64)]| -> Vec<(String, f64)> {
        v.iter().map(|(c, u)| (c.to_string(), *u)).collect()
    };

    // EXOS: one record per slot, its text read as a number, in the window set (5 minutes by default).
    for (window, want) in [
        ("", [("1", 6.1), ("2", 10.0)]),
        ("cpu_window = \"1min\"\n", [("1", 7.3), ("2", 12.5)]),
    ] {
        let run = TestDir::new();
        let _m = setup(&run, sim.port, "exos", window);
        let (out, text) = probe(&run, "127.0.0.1");
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(
            text.contains("profile \"extreme\" (built-in extreme.toml): sysObjectID starts with 1.3.6.1.4.1.1916"),
            "{text}"
        );
        let out = etl(&run);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(loaded(&run), pairs(&want), "{window}");
    }

    // F5: one record per host CPU (index: host "0" as a string, CPU number), both windows.
    for (window, want) in [
        ("", [("1.48.0", 33.0), ("1.48.1", 17.0)]),
        (
            "cpu_window = \"1min\"\n",
            [("1.48.0", 41.0), ("1.48.1", 19.0)],
        ),
    ] {
        let run = TestDir::new();
        let _m = setup(&run, sim.port, "f5", window);
        let out = etl(&run);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(loaded(&run), pairs(&want), "{window}");
        let kept = std::fs::read_to_string(run.join("spool/snmp-detection.tsv")).unwrap();
        assert!(kept.contains("\tf5-bigip\t"), "{kept}");
    }

    // Ubiquiti AirOS: its CPU objects are load averages (FROGFOOT loadValue, 12 = a load of 0.12), never read;
    // without UCD or hrProcessorLoad it fails as no_profile, naming its profile and sysObjectID.
    let run = TestDir::new();
    let _m = setup(&run, sim.port, "airos", "");
    assert!(
        snmpget(sim.port, "airos", "1.3.6.1.4.1.10002.1.1.1.4.2.1.3.1").is_some(),
        "the recording holds its load averages"
    );
    let (out, text) = probe(&run, "127.0.0.1");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        text.contains("profile \"ubiquiti\" (built-in ubiquiti.toml): sysObjectID starts with 1.3.6.1.4.1.41112"),
        "{text}"
    );
    assert!(
        !text.contains("10002.1.1.1.4"),
        "no load average is read: {text}"
    );
    // Its sources are the generic profile's: each tried once, the fallback's copies skipped.
    for source in [1, 2] {
        assert!(
            text.contains(&format!(
                "generic source {source}: skipped (already tried in \"ubiquiti\")"
            )),
            "{text}"
        );
    }
    let _ = fails_as_no_profile(
        &run,
        "profile \"ubiquiti\" fits sysObjectID 1.3.6.1.4.1.41112.1.4",
    );
}

/// `etl` over the one device of `run`: exit 3, nothing loaded, the device counted as `no_profile`, and its log
/// line holding `says`; the log.
fn fails_as_no_profile(run: &TestDir, says: &str) -> String {
    let out = etl(run);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(received(run).is_empty());
    let s = run.summary("s.json");
    assert_eq!(s["devices"]["failed_by_reason"]["no_profile"], 1, "{s}");
    let log = std::fs::read_to_string(run.join("etl.log")).unwrap();
    assert!(log.contains(says), "{log}");
    log
}

#[test]
fn snmpd_is_probed_detected_once_and_read_through_its_kept_profile_on_the_next_run() {
    let agent = Agent::start();
    // UCD counters read 0 for net-snmp's first seconds.
    agent.wait_for(
        "public",
        "1.3.6.1.4.1.2021.11.50.0",
        Duration::from_secs(20),
    );
    let dir = TestDir::new();
    let m = mock(&dir);
    dir.write("inventory.csv", "127.0.0.1,agent-a\n");
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    assert_eq!(
        snmpget(agent.port, "public", "1.3.6.1.4.1.2021.11.1.0").as_deref(),
        Some("1")
    );
    // A user profile detection never picks for snmpd (another sysObjectID): only a kept detection reads it. Its
    // "gauge" is UCD's ssIndex.0, always 1 (ssCpuIdle is only there after the agent's first minute).
    dir.write(
        "profiles/kept.toml",
        "[[profile]]\nname = \"kept-only\"\nsys_object_id = [\"1.3.6.1.4.1.99999\"]\n\n\
         [[profile.cpu]]\nscalar = \"1.3.6.1.4.1.2021.11.1.0\"\n",
    );
    dir.write(
        "c.toml",
        &config(
            &format!("http://{}/load", m.addr),
            agent.port,
            &format!("profiles_dir = \"{}\"\n", profiles.display()),
            "",
        ),
    );

    let (out, text) = probe(&dir, "127.0.0.1");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text.contains("sysObjectID: 1.3.6.1.4.1.8072.3.2.10"),
        "{text}"
    );
    assert!(
        text.contains("profile \"generic\" (built-in generic.toml)"),
        "{text}"
    );
    assert!(
        text.contains("generic source 1 (UCD-SNMP-MIB counters): \"all\""),
        "{text}"
    );
    assert!(text.contains("records a run would produce (1):"), "{text}");
    assert!(
        !dir.join("spool/snmp-detection.tsv").exists(),
        "the probe keeps nothing"
    );

    // First run: detected (sysObjectID, then UCD's two samples) and kept.
    let out = etl(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(received(&dir).len(), 1);
    let kept_file = dir.join("spool/snmp-detection.tsv");
    let kept = std::fs::read_to_string(&kept_file).unwrap();
    let line = format!("127.0.0.1:{}\tgeneric\t1\n", agent.port);
    assert!(kept.ends_with(&line), "{kept}");

    // A kept choice is read as kept, without detection: one GET, no UCD sampling.
    std::fs::write(
        &kept_file,
        kept.replace(&line, &format!("127.0.0.1:{}\tkept-only\t1\n", agent.port)),
    )
    .unwrap();
    let started = Instant::now();
    let out = etl(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no UCD sampling: {:?}",
        started.elapsed()
    );
    let records = received(&dir);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["cpu_number"], "all");
    assert_eq!(indicator(&records[1], "utilization"), 1.0);

    // A kept source that no longer answers is detected again, and the file follows.
    std::fs::write(&kept_file, format!("127.0.0.1:{}\tcisco\t2\n", agent.port)).unwrap();
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap();
    assert!(
        log.contains("the kept source no longer answers; detecting again"),
        "{log}"
    );
    let kept = std::fs::read_to_string(&kept_file).unwrap();
    assert!(kept.ends_with(&line), "{kept}");
}

#[test]
fn a_bad_user_profile_stops_etl_and_validate_naming_file_line_and_key() {
    let dir = TestDir::new();
    dir.write("inventory.csv", "127.0.0.1,a\n");
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    dir.write(
        "profiles/acme.toml",
        "[[profile]]\nname = \"acme\"\nsys_object_id = [\"1.3.6.1.4.1.77\"]\n\n[[profile.cpu]]\nscalar = \"1.3.6.1.4.1.77.1.0\"\nscale = \"thousandths\"\n",
    );
    dir.write(
        "c.toml",
        &config(&dead_endpoint(), 161, "profiles_dir = \"profiles\"\n", ""),
    );
    for args in [
        &["etl", "--config", "c.toml", "--quiet"][..],
        &["validate", "--config", "c.toml"][..],
        &["snmp", "probe", "127.0.0.1", "--config", "c.toml"][..],
    ] {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("profile file profiles/acme.toml line 7: scale: \"thousandths\""),
            "{args:?}: {err}"
        );
    }
    // The built-in profiles print, one file at a time too.
    let out = dir.run(&["snmp", "profiles", "juniper"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("name = \"juniper\"") && text.contains("1.3.6.1.4.1.2636.3.1.13.1.8"),
        "{text}"
    );
    assert!(!text.contains("name = \"cisco\""), "{text}");
    let out = dir.run(&["snmp", "profiles", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}
