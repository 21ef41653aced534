//! `app validate` and the inventory as a user meets it: every bad row by line (the first 100 in line order, then
//! how many more), rows that only looked valid, an empty inventory, exit codes.

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
    // Problems on stderr (issue 13), the summary line on stdout.
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("bad.csv:3: field `ip`: `127.0.0.300` is not an IPv4 or IPv6 address"),
        "{text}"
    );
    assert!(text.contains("bad.csv:5: missing field `name`"), "{text}");
    assert!(
        text.contains("bad.csv:7: field `name`: the same name is on line 2"),
        "{text}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 devices, 3 invalid rows"), "{stdout}");
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
        String::from_utf8_lossy(&out.stderr).contains("bin.csv:2: the row is not valid UTF-8"),
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

#[test]
fn an_unterminated_quote_and_a_bracketed_ipv6_address_are_bad_rows() {
    let dir = TestDir::new();
    dir.write(
        "inv.csv",
        "127.0.0.1,ok\n127.0.0.4,\"unterminated\n[::1],x\n127.0.0.5,\"quoted, fine\"\n::1,y\n",
    );
    let out = dir.run(&["validate", "--inventory", "inv.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("inv.csv:2: ") && stderr.contains("unterminated quoted field"),
        "{stderr}"
    );
    assert!(
        stderr.contains("inv.csv:3: field `ip`: `[::1]`")
            && stderr.contains("brackets are for URLs; write ::1"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 devices, 2 invalid rows"),
        "{}",
        show(&out)
    );
}

/// An inventory of `pairs` × (a row repeating line 1's name, a row without a name) after one good row: the
/// repeated names are found at the end of the check, the others as they are read.
fn interleaved_bad_rows(dir: &TestDir, pairs: usize) {
    let mut text = String::from("127.0.0.1,a\n");
    for _ in 0..pairs {
        text.push_str("127.0.0.2,a\n127.0.0.3\n");
    }
    dir.write("inventory.csv", &text);
}

/// The problem lines (`inventory.csv:N: …`) of `text`, as line numbers.
fn problem_lines(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("inventory.csv:"))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect()
}

#[test]
fn the_first_100_problems_are_reported_in_line_order_on_stderr_then_how_many_more() {
    let dir = TestDir::new();
    interleaved_bad_rows(&dir, 125);
    dir.write(
        "c.toml",
        &fast_config("http://127.0.0.1:9/load", "").set("load.workers", 1),
    );
    let expected: Vec<u64> = (2..=101).collect();
    for command in ["validate", "etl"] {
        let out = dir.run(&[command, "--config", "c.toml"]);
        assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(problem_lines(&stderr), expected, "{command}: {stderr}");
        assert!(
            stderr.contains("… and 150 more (250 rows in all)"),
            "{command}: {stderr}"
        );
        assert!(
            problem_lines(&String::from_utf8_lossy(&out.stdout)).is_empty(),
            "{command}: problems on stdout: {}",
            show(&out)
        );
    }
}

#[test]
fn a_file_of_binary_garbage_gives_at_most_100_problem_lines() {
    let dir = TestDir::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..400_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("inventory.csv"), &garbage).unwrap();
    let out = dir.run(&["validate", "--inventory", "inventory.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = problem_lines(&stderr);
    assert_eq!(lines.len(), 100, "{}", tail(&stderr, 5));
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    assert!(stderr.contains("… and "), "{}", tail(&stderr, 5));
}

#[test]
fn an_empty_inventory_is_warned_about_and_exits_3_unless_the_run_is_a_shard() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "").set("load.workers", 1),
    );
    for content in ["", "ip,name\n", "# nothing yet\n\n"] {
        dir.write("inventory.csv", content);
        let out = dir.run(&["etl", "--config", "c.toml", "--summary-json", "s.json"]);
        assert_eq!(out.status.code(), Some(3), "{content:?}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("WARN") && stderr.contains("inventory.csv holds no device"),
            "{content:?}: {stderr}"
        );
        let s = dir.summary("s.json");
        assert!(
            s["result"]
                .as_str()
                .unwrap()
                .contains("the inventory holds no device"),
            "{s}"
        );
    }
    dir.write("inventory.csv", "");
    let out = dir.run(&["etl", "--config", "c.toml", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no device"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_run_that_skips_bad_rows_logs_the_first_100_in_line_order_then_how_many_more() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    interleaved_bad_rows(&dir, 125);
    dir.write(
        "c.toml",
        &fast_config(&m.load_url(), "")
            .set("load.workers", 1)
            .set("inventory.on_invalid", "skip"),
    );
    let out = dir.run(&["etl", "--config", "c.toml", "--quiet"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let skipped: Vec<u64> = stderr
        .lines()
        .filter(|l| l.contains("row skipped"))
        .filter_map(|l| {
            l.split("inventory.csv:")
                .nth(1)?
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(skipped, (2..=101).collect::<Vec<u64>>(), "{stderr}");
    assert!(
        stderr.contains("… and 150 more skipped (250 rows in all)"),
        "{stderr}"
    );
    assert_eq!(m.stats().records_accepted, 1);
}
