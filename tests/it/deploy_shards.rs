//! The shard expressions of deploy/ cover an inventory exactly: for N = 1..16, the N pods of the Kubernetes Job
//! (`--shard $(JOB_COMPLETION_INDEX)/$(SHARD_COUNT)`, index 0..N-1) and the N systemd instances (`app-etl@K-N`,
//! `--shard %I`) run the real binary over every device exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::helpers::*;

/// The `--shard` argument of the CronJob's container, as written in deploy/kubernetes/cronjob.yaml.
fn manifest_shard_argument() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/cronjob.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| *l == "- --shard")
        .expect("cronjob.yaml passes --shard");
    lines[at + 1]
        .strip_prefix("- ")
        .expect("the shard argument follows")
        .to_string()
}

/// The `--shard` argument of the systemd template, `%I` of an instance `K-N` (systemd unescapes `-` to `/`).
fn systemd_shard_argument(instance: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/app-etl@.service");
    let text = std::fs::read_to_string(path).unwrap();
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let arg = exec
        .split_whitespace()
        .skip_while(|w| *w != "--shard")
        .nth(1)
        .expect("ExecStart passes --shard");
    assert_eq!(arg, "%I", "the shard is the unescaped instance name");
    instance.replace('-', "/")
}

/// The devices a run extracted, from its debug log (`[Extract] Completed extraction for NAME`).
fn extracted(dir: &TestDir, log: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(log))
        .unwrap()
        .lines()
        .filter_map(|l| l.split("Completed extraction for ").nth(1))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_manifests_shard_expression_covers_the_inventory_exactly_for_1_to_16_shards() {
    let arg = manifest_shard_argument();
    assert_eq!(arg, "$(JOB_COMPLETION_INDEX)/$(SHARD_COUNT)");
    let devices = 400;
    let dir = TestDir::new();
    dir.inventory("inventory.csv", devices);
    let m = MockThread::fast();
    let cfg = fast_config(&m.load_url(), "").set("log.level", "debug");
    dir.write("c.toml", &cfg);
    let mut accepted = 0;
    for n in 1..=16u64 {
        // device -> the shards that extracted it
        let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for k in 0..n {
            // The Job controller's index and the manifest's SHARD_COUNT, as the kubelet expands them.
            let shard = arg
                .replace("$(JOB_COMPLETION_INDEX)", &k.to_string())
                .replace("$(SHARD_COUNT)", &n.to_string());
            // The systemd instance app-etl@K-N.service gives the same argument.
            assert_eq!(systemd_shard_argument(&format!("{k}-{n}")), shard);
            let log = format!("etl-{k}-{n}.log");
            let out = dir.run_env(
                &[
                    "etl",
                    "--config",
                    "c.toml",
                    "--shard",
                    &shard,
                    "--summary-json",
                    "s.json",
                ],
                &[("APP__LOG__FILE", &log)],
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "--shard {shard}: {}",
                show(&out)
            );
            let s = dir.summary("s.json");
            let names = extracted(&dir, &log);
            assert_eq!(
                names.len() as u64,
                s["devices"]["ok"].as_u64().unwrap(),
                "--shard {shard}"
            );
            assert_eq!(
                s["devices"]["ok"].as_u64().unwrap()
                    + s["devices"]["skipped_shard"].as_u64().unwrap(),
                devices as u64
            );
            for name in names {
                // The library's rule agrees with what the binary did.
                assert_eq!(
                    app::model::shard_index(app::model::stable_hash(&name), n),
                    k,
                    "{name}"
                );
                seen.entry(name).or_default().push(k);
            }
        }
        assert_eq!(seen.len(), devices, "N={n}: every device extracted");
        let repeated: Vec<_> = seen.iter().filter(|(_, ks)| ks.len() != 1).collect();
        assert!(
            repeated.is_empty(),
            "N={n}: devices in more than one shard: {repeated:?}"
        );
        accepted += devices as u64;
        assert_eq!(
            m.stats().records_accepted,
            accepted,
            "N={n}: the API got each record once"
        );
    }
}

#[test]
fn shards_stay_balanced_for_1_to_16_shards_of_a_large_fleet() {
    // The rule the binary applies (checked against it above), over 200,000 names: each of N shards holds
    // total / N devices within 3 % (the hash is uniform: at N = 16 that is over 3 standard deviations; the
    // benchmark's `shards` case checks 1 % at 10M devices).
    let total = 200_000u64;
    for n in 1..=16u64 {
        let mut per = vec![0u64; n as usize];
        for i in 1..=total {
            per[app::model::shard_index(app::model::stable_hash(&format!("device-{i}")), n)
                as usize] += 1;
        }
        assert_eq!(per.iter().sum::<u64>(), total);
        let ideal = total as f64 / n as f64;
        for (k, c) in per.iter().enumerate() {
            assert!(
                ((*c as f64) - ideal).abs() <= ideal * 0.03,
                "N={n}: shard {k} has {c}, ideal {ideal:.0}"
            );
        }
    }
}

/// `app etl --config CONFIG --inventory INVENTORY --shard SHARD`: its output and the summary's `devices`.
fn run_shard(
    dir: &TestDir,
    config: &str,
    inventory: &str,
    shard: &str,
) -> (Output, serde_json::Value) {
    let out = dir.run(&[
        "etl",
        "--config",
        config,
        "--inventory",
        inventory,
        "--shard",
        shard,
        "--summary-json",
        "s.json",
    ]);
    (out, dir.summary("s.json")["devices"].clone())
}

#[test]
fn split_inventory_gives_each_shard_file_exactly_its_rows_and_refuses_a_bad_inventory() {
    let dir = TestDir::new();
    // A BOM and a header, a comment, a blank line, extra columns, a CRLF line, a quoted name with a comma.
    let mut text = String::from("\u{feff}ip,name\n# the fleet\n\n");
    for k in 1..=300 {
        let extra = if k % 7 == 0 { ",rack-9" } else { "" };
        text.push_str(&format!(
            "127.0.{}.{},device-{k}{extra}\n",
            k / 200,
            k % 200 + 1
        ));
    }
    text.push_str("127.0.9.1,\"quoted, name\"\r\n");
    dir.write("inventory.csv", &text);
    let m = MockThread::fast();
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let mut loaded = 0;
    for n in [1u64, 3, 5] {
        let out = dir.run(&[
            "split-inventory",
            "--inventory",
            "inventory.csv",
            "--shards",
            &n.to_string(),
            "split",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let mut ok = 0;
        for k in 0..n {
            let (file, shard) = (format!("split/shard-{k}-{n}.csv"), format!("{k}/{n}"));
            assert_eq!(
                file_mode(&dir.join(&file)) & 0o777,
                0o644,
                "readable by the shard's user"
            );
            // The same devices as the shard of the whole file, and nothing else in its file.
            let run = |inventory: &str| {
                let (out, devices) = run_shard(&dir, "c.toml", inventory, &shard);
                assert_eq!(out.status.code(), Some(0), "{}", show(&out));
                devices
            };
            let (whole, own) = (run("inventory.csv"), run(&file));
            assert_eq!(own["ok"], whole["ok"], "{shard}");
            assert_eq!(
                own["skipped_shard"], 0,
                "{shard}: the file holds only its shard's rows"
            );
            ok += own["ok"].as_u64().unwrap();
        }
        assert_eq!(ok, 301, "N = {n}: every device in exactly one file");
        loaded += 2 * 301;
    }
    assert_eq!(m.stats().records_accepted, loaded);

    // A bad row or a repeated name: exit 2, the lines named, nothing written.
    dir.write("bad.csv", "127.0.0.1,a\nnot-an-ip,b\n127.0.0.3,a\n");
    let out = dir.run(&[
        "split-inventory",
        "--inventory",
        "bad.csv",
        "--shards",
        "2",
        "bad",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv:2") && err.contains("bad.csv:3"),
        "{err}"
    );
    assert!(!dir.join("bad").exists(), "nothing written");
    // The bounds of --shards (1 to 256: one open file each).
    for shards in ["0", "257"] {
        let out = dir.run(&[
            "split-inventory",
            "--inventory",
            "inventory.csv",
            "--shards",
            shards,
            "x",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--shards"),
            "{}",
            show(&out)
        );
        assert!(!dir.join("x").exists(), "nothing written");
    }
}

#[test]
fn each_bad_row_is_one_shards_and_the_reread_inventory_counts_the_others_as_skipped() {
    // With a bad row and `on_invalid = "skip"` the run reads the CSV again (no kept rows): the shards still add
    // up, every bad row is counted by exactly one shard, and with "fail" only that shard refuses to run.
    let dir = TestDir::new();
    let mut text = String::new();
    for k in 1..=200 {
        text.push_str(&format!("127.0.0.{},device-{k}\n", k % 250 + 1));
    }
    text.push_str("not-an-address,bad-1\n127.0.1.1,\n127.0.1.2,device-7\n");
    dir.write("inventory.csv", &text);
    let m = MockThread::fast();
    dir.write(
        "skip.toml",
        &fast_config(&m.load_url(), "").set("inventory.on_invalid", "skip"),
    );
    dir.write("fail.toml", &fast_config(&m.load_url(), ""));
    let n = 3;
    let (mut ok, mut invalid, mut refused) = (0, 0, 0);
    for k in 0..n {
        let shard = format!("{k}/{n}");
        let (out, d) = run_shard(&dir, "skip.toml", "inventory.csv", &shard);
        let (o, i, s) = (
            d["ok"].as_u64().unwrap(),
            d["invalid"].as_u64().unwrap(),
            d["skipped_shard"].as_u64().unwrap(),
        );
        assert_eq!(o + i + s, 203, "{shard}: every row is dealt with: {d}");
        assert_eq!(
            out.status.code(),
            Some(if i > 0 { 3 } else { 0 }),
            "{}",
            show(&out)
        );
        (ok, invalid) = (ok + o, invalid + i);
        let out = dir.run(&["etl", "--config", "fail.toml", "--shard", &shard]);
        if i > 0 {
            assert_eq!(
                out.status.code(),
                Some(2),
                "{shard} holds a bad row: {}",
                show(&out)
            );
            refused += 1;
        } else {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{shard} holds none: {}",
                show(&out)
            );
        }
    }
    // 200 good rows; the bad address, the empty name and the repeated device-7 are one shard's each.
    assert_eq!((ok, invalid), (200, 3));
    assert!((1..=3).contains(&refused));
}
