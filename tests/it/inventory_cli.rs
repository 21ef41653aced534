//! `app validate` and the inventory as a user meets it: every bad row by line, exit codes.

use crate::helpers::*;

#[test]
fn validate_names_the_three_bad_lines_and_exits_2() {
    let dir = TestDir::new();
    dir.write(
        "bad.csv",
        "ip,name\n127.0.0.1,device-1\n127.0.0.300,device-2\n127.0.0.3,device-3\n127.0.0.4\n# fine\n127.0.0.5,device-1\n",
    );
    let out = dir.run(&["validate", "--inventory", "bad.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad.csv:3: field `ip`: `127.0.0.300` is not an IPv4 or IPv6 address"),
        "{text}"
    );
    assert!(text.contains("bad.csv:5: missing field `name`"), "{text}");
    assert!(
        text.contains("bad.csv:7: field `name`: the same name is on line 2"),
        "{text}"
    );
    assert!(text.contains("2 devices, 3 invalid rows"), "{text}");
}

#[test]
fn validate_accepts_the_shipped_inventory() {
    let dir = TestDir::new();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("appliances.csv");
    let out = dir.run(&["validate", "--inventory", shipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4000 devices, 0 invalid rows"));
    // loopback addresses only
    let text = std::fs::read_to_string(&shipped).unwrap();
    for line in text.lines() {
        let ip: std::net::IpAddr = line.split(',').next().unwrap().parse().unwrap();
        assert!(ip.is_loopback(), "{line}");
    }
}

#[test]
fn validate_reports_non_utf8_rows_by_line_and_a_missing_file() {
    let dir = TestDir::new();
    std::fs::write(dir.join("bin.csv"), b"127.0.0.1,a\n127.0.0.2,\xff\xfe\n").unwrap();
    let out = dir.run(&["validate", "--inventory", "bin.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bin.csv:2: the row is not valid UTF-8"),
        "{}",
        show(&out)
    );
    let out = dir.run(&["validate", "--inventory", "missing.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing.csv"),
        "{}",
        show(&out)
    );
}

#[test]
fn etl_refuses_a_bad_inventory_before_sending_anything_when_on_invalid_is_fail() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write("inventory.csv", "127.0.0.1,a\nnot-an-ip,b\n127.0.0.3,c\n");
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let out = dir.run(&["etl", "--config", "c.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inventory.csv:2:"),
        "{}",
        show(&out)
    );
    assert_eq!(m.stats().requests, 0);
}

#[test]
fn etl_skips_and_counts_bad_rows_when_on_invalid_is_skip() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write(
        "inventory.csv",
        "127.0.0.1,a\nnot-an-ip,b\n127.0.0.3,c\n127.0.0.4,a\n",
    );
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("inventory.on_invalid", "skip"),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("s.json");
    assert_eq!(
        s["devices"]["invalid"], 2,
        "the bad address and the repeated name"
    );
    assert_eq!(s["devices"]["ok"], 2);
    assert_eq!(m.stats().records_accepted, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("inventory.csv:2:"), "{err}");
    assert!(
        err.contains("inventory.csv:4: field `name`: the same name is on line 1"),
        "{err}"
    );
}

#[test]
fn etl_reads_the_csv_again_when_the_checked_rows_cannot_be_kept() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 50);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    let missing = dir.join("no-such-tmpdir");
    let out = dir.run_env(
        &["etl", "--config", "c.toml", "--summary-json", "s.json"],
        &[("TMPDIR", missing.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("s.json")["records"]["loaded"], 50);
    assert_eq!(m.stats().records_accepted, 50);
    let log = std::fs::read_to_string(dir.join("etl.log")).unwrap_or_default()
        + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("cannot keep the checked rows") && log.contains("reads the file again"),
        "{log}"
    );
}
