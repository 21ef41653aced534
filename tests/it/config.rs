//! Configuration: precedence (defaults < file < environment < flags), unknown keys, every validation error, what
//! `validate` checks on disk, and `--print-config`. Types and secrets: `config_types.rs`.

use crate::helpers::*;

fn effective(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec!["validate", "--print-config"];
    all.extend_from_slice(args);
    let out = dir.run_env(&all, env);
    let text = String::from_utf8_lossy(&out.stdout);
    let json_end = text
        .rfind("\n}")
        .map(|i| i + 2)
        .unwrap_or_else(|| panic!("{}", show(&out)));
    serde_json::from_str(&text[..json_end]).unwrap()
}

#[test]
fn file_overrides_defaults_env_overrides_file_and_flags_override_env() {
    let dir = TestDir::new();
    dir.inventory("a.csv", 3);
    dir.inventory("b.csv", 3);
    dir.write(
        "c.toml",
        "[inventory]\npath = \"a.csv\"\n[mock]\ndelay_ms = 5\njitter_ms = 1\n",
    );
    let v = effective(&dir, &["--config", "c.toml"], &[]);
    assert_eq!(v["inventory"]["path"], "a.csv");
    assert_eq!(v["mock"]["delay_ms"], 5);
    assert_eq!(
        v["load"]["batch_size"], 200,
        "untouched keys keep their defaults"
    );
    let env = [
        ("APP__MOCK__DELAY_MS", "50"),
        ("APP__INVENTORY__PATH", "b.csv"),
    ];
    let v = effective(&dir, &["--config", "c.toml"], &env);
    assert_eq!(v["mock"]["delay_ms"], 50);
    assert_eq!(v["inventory"]["path"], "b.csv");
    let v = effective(&dir, &["--config", "c.toml", "--inventory", "a.csv"], &env);
    assert_eq!(v["inventory"]["path"], "a.csv");
}

#[test]
fn the_token_never_shows_in_the_effective_configuration() {
    let dir = TestDir::new();
    dir.inventory("appliances.csv", 1);
    let v = effective(&dir, &[], &[("APP__LOAD__TOKEN", "very-secret")]);
    assert_eq!(v["load"]["token"], "***");
}

#[test]
fn a_missing_default_file_falls_back_to_defaults_but_a_missing_explicit_file_is_an_error() {
    let dir = TestDir::new();
    dir.inventory("appliances.csv", 2);
    let out = dir.run(&["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = dir.run(&["validate", "--config", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope.toml: not found"),
        "{}",
        show(&out)
    );
}

#[test]
fn unknown_keys_and_bad_toml_are_rejected_naming_them() {
    let dir = TestDir::new();
    dir.inventory("appliances.csv", 1);
    dir.write("u.toml", "[load]\nbatch_sise = 5\n");
    let out = dir.run(&["validate", "--config", "u.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("batch_sise") && err.contains("u.toml"),
        "{err}"
    );

    dir.write("s.toml", "[load\nbatch_size = 5\n");
    let out = dir.run(&["validate", "--config", "s.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("s.toml"),
        "{}",
        show(&out)
    );

    let out = dir.run_env(&["validate"], &[("APP__LOAD__NOPE", "1")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("APP__LOAD__NOPE"),
        "{}",
        show(&out)
    );

    dir.write("t.toml", "[load]\nbatch_size = \"many\"\n");
    let out = dir.run(&["validate", "--config", "t.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("batch_size"),
        "{}",
        show(&out)
    );
}

#[test]
fn every_invalid_value_is_an_error_naming_its_key() {
    let cases: &[(&str, &str)] = &[
        ("[extract]\nconcurrency = 0", "extract.concurrency"),
        ("[extract]\ntimeout_ms = 0", "extract.timeout_ms"),
        ("[extract]\nshard = \"3/3\"", "extract.shard"),
        ("[extract]\nshard = \"x\"", "extract.shard"),
        ("[extract]\nsource = \"ftp\"", "source"),
        (
            "[extract.simulated]\ncpus_per_device = 0",
            "extract.simulated.cpus_per_device",
        ),
        (
            "[extract.simulated]\nfailure_rate = 1.5",
            "extract.simulated.failure_rate",
        ),
        (
            "[extract.http]\nurl_template = \"ftp://x/{name}\"",
            "extract.http.url_template",
        ),
        (
            "[extract.http]\nurl_template = \"http://127.0.0.1/x\"",
            "extract.http.url_template",
        ),
        (
            "[load]\nendpoint = \"127.0.0.1:8080/load\"",
            "load.endpoint",
        ),
        ("[load]\nworkers = 0", "load.workers"),
        ("[load]\nworkers = 5000", "load.workers"),
        ("[load]\nbatch_size = 0", "load.batch_size"),
        ("[load]\nbatch_bytes = 10", "load.batch_bytes"),
        ("[load]\nflush_interval_ms = 0", "load.flush_interval_ms"),
        ("[load]\nmax_in_flight = 0", "load.max_in_flight"),
        ("[load]\nrequest_timeout_ms = 0", "load.request_timeout_ms"),
        ("[load]\ncompression = \"zip\"", "compression"),
        ("[load.retry]\nmax_attempts = 0", "load.retry.max_attempts"),
        (
            "[load]\ntoken = \"a\"\ntoken_file = \"b\"",
            "load.token_file",
        ),
        ("[load]\nmax_in_flight = 5000", "load.max_in_flight"),
        ("[extract]\nconcurrency = 2000000", "extract.concurrency"),
        ("[metrics]\naddr = \"nowhere\"", "metrics.addr"),
        (
            "[log]\nprogress_interval_ms = 0",
            "log.progress_interval_ms",
        ),
        ("[log]\nformat = \"xml\"", "format"),
        (
            "[load.retry]\ninitial_backoff_ms = 0",
            "load.retry.initial_backoff_ms",
        ),
        (
            "[load.retry]\ninitial_backoff_ms = 500\nmax_backoff_ms = 100",
            "load.retry.max_backoff_ms",
        ),
        ("[inventory]\non_invalid = \"ignore\"", "on_invalid"),
        ("[spool]\ndir = \"\"", "spool.dir"),
        ("[log]\nlevel = \"loud\"", "log.level"),
        ("[profile]\nfrequency_hz = 0", "profile.frequency_hz"),
        ("[mock]\nbind = \"localhost\"", "mock.bind"),
        ("[mock]\nfail_rate = -0.1", "mock.fail_rate"),
        ("[mock]\ndevice_fail_rate = 2", "mock.device_fail_rate"),
        ("[mock]\nfail_status = 200", "mock.fail_status"),
        ("[mock]\nmax_body_bytes = 0", "mock.max_body_bytes"),
        (
            "[mock]\nmax_idempotency_keys = 0",
            "mock.max_idempotency_keys",
        ),
        ("[mock]\nheader_timeout_ms = 999", "mock.header_timeout_ms"),
        ("[mock]\nbody_timeout_ms = 0", "mock.body_timeout_ms"),
        ("[mock]\ntls_cert_file = \"c.pem\"", "mock.tls_key_file"),
        ("[mock]\ntls_key_file = \"k.pem\"", "mock.tls_cert_file"),
        (
            "[mock]\ntls_client_ca_file = \"ca.pem\"",
            "mock.tls_client_ca_file",
        ),
        (
            "[load]\nclient_key_file = \"k.pem\"",
            "load.client_cert_file",
        ),
    ];
    let dir = TestDir::new();
    for (i, (toml, key)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        dir.write(&name, toml);
        let err = match app::config::Settings::load_from(Some(&dir.join(&name)), Vec::new()) {
            Ok(_) => panic!("{toml:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(key),
            "{toml:?}: error {err:?} does not name {key}"
        );
    }
}

#[test]
fn the_shipped_default_toml_equals_the_built_in_defaults() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let from_file = app::config::Settings::load_from(Some(&shipped), Vec::new()).unwrap();
    let built_in = app::config::Settings::default();
    assert_eq!(
        serde_json::to_value(&from_file).unwrap(),
        serde_json::to_value(&built_in).unwrap()
    );
    // and it lists every key: removing none of them changes nothing, so compare the key sets too.
    let text = std::fs::read_to_string(&shipped).unwrap();
    let value = serde_json::to_value(&built_in).unwrap();
    for (section, keys) in value.as_object().unwrap() {
        for (key, v) in keys.as_object().unwrap() {
            if v.is_object() {
                for sub in v.as_object().unwrap().keys() {
                    assert!(
                        text.contains(&format!("\n{sub} =")),
                        "{section}.{key}.{sub} missing from default.toml"
                    );
                }
            } else {
                assert!(
                    text.contains(&format!("\n{key} =")),
                    "{section}.{key} missing from default.toml"
                );
            }
        }
    }
}

#[test]
fn the_seed_config_is_valid() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/seed.toml");
    let s = app::config::Settings::load_from(Some(&seed), Vec::new()).unwrap();
    assert_eq!(s.extract.simulated.latency_ms, 6000);
    assert_eq!(s.extract.concurrency, 1000);
    assert_eq!((s.load.workers, s.load.batch_size), (10, 200));
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
        let (code, stderr) = dir.validate(&base.clone().set(key, value), &[]);
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
        let (code, stderr) = dir.validate(&profiled.clone().set(key, "no-dir/p"), &[]);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains("no-dir"),
            "{stderr}"
        );
    }
    // A spool directory that does not exist yet but can be made passes, and validate makes nothing.
    let (code, stderr) = dir.validate(&base.clone().set("spool.dir", "new/spool"), &[]);
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
