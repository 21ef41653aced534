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
