//! Configuration values checked by type and form, naming their key (and the file's line or the variable): strict
//! TOML and variable types (no coercion), URLs and addresses, and secrets: a token an HTTP header cannot carry, a
//! secret written as a number, credentials inside the endpoint, none of them echoed.

use crate::helpers::*;

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
        let (code, stderr) = dir.validate(&config, &[]);
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
        let (code, stderr) = dir.validate(&base, &[(name, value)]);
        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(why),
            "{name}={value}: {stderr}"
        );
    }
    // Values of the right type still pass, from the file and from the environment.
    let (code, stderr) = dir.validate(
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
fn invalid_urls_and_addresses_are_configuration_errors_naming_their_key() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    dir.write("c.toml", &fast_config("http://127.0.0.1:8080/load", ""));
    let cases = [
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1 :8080/load",
            "load.endpoint",
        ),
        ("APP__LOAD__ENDPOINT", "http://[::1", "load.endpoint"),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:99999/load",
            "load.endpoint",
        ),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:0/load",
            "load.endpoint",
        ),
        ("APP__LOAD__ENDPOINT", "http:///load", "load.endpoint"),
        (
            "APP__LOAD__ENDPOINT",
            "http://127.0.0.1:8080/lo\nad",
            "load.endpoint",
        ),
        (
            "APP__EXTRACT__HTTP__URL_TEMPLATE",
            "http://127.0.0.1:8080/device/{nmae}/cpu",
            "extract.http.url_template",
        ),
        (
            "APP__EXTRACT__HTTP__URL_TEMPLATE",
            "http://127.0.0.1:99999/device/{name}/cpu",
            "extract.http.url_template",
        ),
        ("APP__MOCK__BIND", "127.0.0.1:99999", "mock.bind"),
        ("APP__METRICS__ADDR", "127.0.0.1 :9898", "metrics.addr"),
    ];
    for (var, value, key) in cases {
        for command in ["validate", "etl"] {
            let out = dir.run_env(&[command, "--config", "c.toml"], &[(var, value)]);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} with {var}={value:?}: {}",
                show(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("`{key}`")),
                "{command} with {var}={value:?} names {key}: {stderr}"
            );
        }
    }
    // The flag is checked as the key is.
    let out = dir.run(&[
        "etl",
        "--config",
        "c.toml",
        "--endpoint",
        "http://127.0.0.1:99999/load",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`load.endpoint`"));
}

#[test]
fn a_token_an_http_header_cannot_carry_is_a_configuration_error_that_does_not_show_it() {
    let m = MockThread::fast();
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 5);
    dir.write("c.toml", &fast_config(&m.load_url(), ""));
    for command in ["validate", "etl"] {
        for token in ["s3cr\nXyZ", "s3cr\rXyZ", "s3cr\u{1}XyZ"] {
            let out = dir.run_env(
                &[command, "--config", "c.toml"],
                &[("APP__LOAD__TOKEN", token)],
            );
            assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(all.contains("`load.token`"), "{all}");
            assert!(!all.contains("s3cr") && !all.contains("XyZ"), "{all}");
        }
        // From a file: the error names the key and the file.
        let file = dir.write("token.txt", "s3cr\u{1}XyZ\n");
        let out = dir.run_env(
            &[command, "--config", "c.toml"],
            &[("APP__LOAD__TOKEN_FILE", file.to_str().unwrap())],
        );
        assert_eq!(out.status.code(), Some(2), "{command}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("`load.token_file`") && stderr.contains("token.txt"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cr") && !stderr.contains("XyZ"),
            "{stderr}"
        );
    }
    assert_eq!(m.stats().requests, 0, "nothing was sent");
}

#[test]
fn a_numeric_secret_and_credentials_in_the_endpoint_are_refused_without_echoing_them() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    for key in [
        "load.token",
        "mock.token",
        "extract.snmp.community",
        "extract.http.token",
    ] {
        let config = fast_config("http://127.0.0.1:9/load", "").set(key, 98765432109_i64);
        let (code, err) = dir.validate(&config, &[]);
        assert_eq!(code, Some(2), "{key}: {err}");
        assert!(err.contains("must be a quoted string"), "{key}: {err}");
        assert!(!err.contains("98765432109"), "{key}: {err}");
    }
    let config = fast_config("https://etl:p4ssw0rd@127.0.0.1:8443/load", "");
    let (code, err) = dir.validate(&config, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("load.endpoint")
            && err.contains("holds credentials")
            && err.contains("load.token_file"),
        "{err}"
    );
    assert!(!err.contains("p4ssw0rd"), "{err}");
    let (code, err) = dir.validate(
        &fast_config("http://127.0.0.1:9/load", ""),
        &[("APP__LOAD__ENDPOINT", "http://a:p4ssw0rd@127.0.0.1:9/load")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("p4ssw0rd"), "{err}");
}

#[test]
fn a_precision_in_the_line_protocol_endpoint_is_refused_naming_the_key() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    let config = fast_config("http://127.0.0.1:9/write?db=x&precision=ns", "")
        .set("load.sink", "influx-line");
    let (code, err) = dir.validate(&config, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("load.endpoint") && err.contains("precision="),
        "{err}"
    );
    // The same URL without it is fine.
    let config = fast_config("http://127.0.0.1:9/write?db=x", "").set("load.sink", "influx-line");
    let (code, err) = dir.validate(&config, &[]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_secret_given_inline_and_by_a_file_is_refused_naming_the_file_key() {
    let dir = TestDir::new();
    dir.inventory("inventory.csv", 3);
    dir.write("secret.txt", "from-a-file\n");
    for key in [
        "load.token",
        "load.password",
        "mock.token",
        "extract.http.token",
        "extract.snmp.auth_password",
        "extract.snmp.priv_password",
    ] {
        let mut config = fast_config("http://127.0.0.1:9/load", "")
            .set(key, "inline")
            .set(&format!("{key}_file"), "secret.txt");
        if key == "load.password" {
            config = config.set("load.username", "u");
        }
        if key.starts_with("extract.snmp.") {
            // Checked for the source in use: SNMPv3 with a user that authenticates and encrypts.
            config = config
                .set("extract.source", "snmp")
                .set("extract.snmp.version", "3")
                .set("extract.snmp.user", "u")
                .set("extract.snmp.security_level", "authPriv");
        }
        let (code, err) = dir.validate(&config, &[]);
        assert_eq!(code, Some(2), "{key}: {err}");
        assert!(
            err.contains(&format!("{key}_file")) && err.contains("not both"),
            "{key}: {err}"
        );
        assert!(
            !err.contains("from-a-file") && !err.contains("inline\""),
            "{key}: {err}"
        );
    }
}
