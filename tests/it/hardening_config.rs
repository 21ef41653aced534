//! Hardening (issue 13, items 8–13), through the real binary: strict configuration types, what `validate` checks
//! on disk, `--help` and the mock's `--log-file ''`, inventory rows that only looked valid, a capped and ordered
//! problem report, and an empty inventory.

use crate::helpers::*;

/// `app validate --config c.toml` (and `env`) in `dir`: its exit code and stderr.
fn validate_with(dir: &TestDir, config: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    dir.write("c.toml", config);
    let out = dir.run_env(&["validate", "--config", "c.toml"], env);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_naming_its_key_and_line_not_a_coercion() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    let base = fast_config("http://127.0.0.1:9/load", "");
    for (key, value, why) in [
        (
            "load.workers",
            toml::Value::Float(3.5),
            "floating point `3.5`",
        ),
        ("load.workers", toml::Value::Boolean(true), "boolean `true`"),
        (
            "load.request_timeout_ms",
            toml::Value::Float(0.5),
            "floating point `0.5`",
        ),
        ("spool.durable", "yes".into(), "string \"yes\""),
        (
            "load.compression",
            "zstd".into(),
            "expected `none` or `gzip`",
        ),
        ("mock.fail_status", 70000.into(), "70000"),
        (
            "extract.simulated.cpus_per_device",
            5_000_000_000i64.into(),
            "5000000000",
        ),
    ] {
        let config = base.clone().set(key, value.clone());
        let line = config
            .lines()
            .position(|l| l.starts_with(&format!("{} =", key.rsplit('.').next().unwrap())))
            .map(|i| i + 1)
            .expect("the key is in the file");
        let (code, stderr) = validate_with(&dir, &config, &[]);
        assert_eq!(code, Some(2), "{key} = {value}: {stderr}");
        assert!(
            stderr.contains(&format!("c.toml:{line}: key `{key}`")) && stderr.contains(why),
            "{key} = {value}: {stderr}"
        );
    }
    for (name, value, why) in [
        ("APP__LOAD__WORKERS", "3.5", "floating point `3.5`"),
        ("APP__SPOOL__DURABLE", "yes", "`yes` is not true or false"),
        (
            "APP__LOAD__COMPRESSION",
            "zstd",
            "expected `none` or `gzip`",
        ),
    ] {
        let (code, stderr) = validate_with(&dir, &base, &[(name, value)]);
        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(why),
            "{name}={value}: {stderr}"
        );
    }
    // Values of the right type still pass, from the file and from the environment.
    let (code, stderr) = validate_with(
        &dir,
        &base
            .clone()
            .set("load.workers", 3)
            .set("spool.durable", true),
        &[
            ("APP__MOCK__FAIL_RATE", "1"),
            ("APP__LOAD__BATCH_SIZE", "50"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn validate_checks_the_spool_directory_the_log_file_and_the_profile_files_a_run_needs() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write("a-file", "not a directory");
    let base = fast_config("http://127.0.0.1:9/load", "");
    for (key, value, why) in [
        ("spool.dir", "a-file", "not a directory"),
        ("spool.dir", "a-file/spool", "not a directory"),
        ("log.file", "missing-dir/etl.log", "missing-dir"),
        ("log.file", ".", "a directory"),
    ] {
        let (code, stderr) = validate_with(&dir, &base.clone().set(key, value), &[]);
        assert_eq!(code, Some(2), "{key} = {value}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(why),
            "{key} = {value}: {stderr}"
        );
    }
    let profiled = base.clone().set("profile.enabled", true);
    for key in [
        "profile.cpu_file",
        "profile.flamegraph_file",
        "profile.heap_file",
    ] {
        let (code, stderr) = validate_with(&dir, &profiled.clone().set(key, "no-dir/p"), &[]);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains("no-dir"),
            "{stderr}"
        );
    }
    // A spool directory that does not exist yet but can be made passes, and validate makes nothing.
    let (code, stderr) = validate_with(&dir, &base.clone().set("spool.dir", "new/spool"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!dir.join("new").exists(), "validate created the spool dir");
}

#[test]
fn validate_print_config_writes_only_json_on_stdout() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write("c.toml", &fast_config("http://127.0.0.1:9/load", ""));
    let out = dir.run(&["validate", "--config", "c.toml", "--print-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", show(&out)));
    assert_eq!(v["inventory"]["path"], "inventory.csv");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("validate: configuration ok"),
        "{}",
        show(&out)
    );
}

#[test]
fn help_shows_each_flags_default_and_variable_and_every_exit_code() {
    let dir = TestDir::new();
    let help = |args: &[&str]| {
        let out = dir.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for c in app::observe::exit::ExitCode::ALL {
        assert!(
            top.contains(&format!("{:<4} {}", c.code(), c.meaning())),
            "exit {} missing: {top}",
            c.code()
        );
    }
    for (args, wanted) in [
        (
            &["etl", "--help"][..],
            &[
                "[env: APP__INVENTORY__PATH] [default: appliances.csv]",
                "[env: APP__LOAD__ENDPOINT] [default: http://127.0.0.1:8080/load]",
                "[env: APP__SPOOL__DIR] [default: spool]",
                "[env: APP__EXTRACT__SHARD] [default: \"\" (all)]",
                "[env: APP__PROFILE__ENABLED] [default: false]",
                "[env: APP__METRICS__ADDR] [default: \"\" (none)]",
            ][..],
        ),
        (
            &["replay", "--help"][..],
            &["[env: APP__LOAD__ENDPOINT] [default: http://127.0.0.1:8080/load]"][..],
        ),
        (
            &["mock-server", "--help"][..],
            &[
                "[env: APP__MOCK__BIND] [default: 127.0.0.1:8080]",
                "[env: APP__MOCK__TOKEN] [default: \"\" (none)]",
                "[env: APP__MOCK__DELAY_MS] [default: 20]",
                "[env: APP__MOCK__FAIL_RATE] [default: 0.0]",
                "[env: APP__MOCK__LOG_FILE] [default: mock_server.log]",
            ][..],
        ),
        (
            &["validate", "--help"][..],
            &["[env: APP__INVENTORY__PATH] [default: appliances.csv]"][..],
        ),
        (
            &["demo", "--help"][..],
            &["[env: APP__INVENTORY__PATH] [default: appliances.csv]"][..],
        ),
    ] {
        let text = help(args);
        for w in wanted {
            assert!(text.contains(w), "{args:?} lacks {w}: {text}");
        }
        assert!(
            text.contains("[default: config/default.toml]"),
            "{args:?}: {text}"
        );
    }
    // default.toml says what the code does: the loaders share one thread per core.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"),
    )
    .unwrap();
    let workers = shipped
        .lines()
        .find(|l| l.starts_with("workers = 10"))
        .unwrap();
    assert!(
        !workers.contains("own thread") && workers.contains("one thread per core"),
        "{workers}"
    );
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

#[test]
fn a_numeric_secret_and_credentials_in_the_endpoint_are_refused_without_echoing_them() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    for key in ["load.token", "mock.token", "extract.snmp.community"] {
        let config = fast_config("http://127.0.0.1:9/load", "").set(key, 98765432109_i64);
        let (code, err) = validate_with(&dir, &config, &[]);
        assert_eq!(code, Some(2), "{key}: {err}");
        assert!(err.contains("must be a quoted string"), "{key}: {err}");
        assert!(!err.contains("98765432109"), "{key}: {err}");
    }
    let config = fast_config("https://etl:p4ssw0rd@127.0.0.1:8443/load", "");
    let (code, err) = validate_with(&dir, &config, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("load.endpoint")
            && err.contains("holds credentials")
            && err.contains("load.token_file"),
        "{err}"
    );
    assert!(!err.contains("p4ssw0rd"), "{err}");
    let (code, err) = validate_with(
        &dir,
        &fast_config("http://127.0.0.1:9/load", ""),
        &[("APP__LOAD__ENDPOINT", "http://a:p4ssw0rd@127.0.0.1:9/load")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("p4ssw0rd"), "{err}");
}
