//! HTTPS to the API: certificates made at test time (rcgen) for a private CA, the real mock binary serving TLS,
//! an unknown CA refused with a clear error and the batches spooled, mutual TLS, the insecure mode, bad files.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::helpers::*;

/// A CA that signs server and client certificates, written as PEM files into a test dir.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes `{name}.pem` and `{name}.key` for a leaf certificate for 127.0.0.1 and localhost.
    fn leaf(&self, dir: &TestDir, name: &str, usage: ExtendedKeyUsagePurpose) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        dir.write(&format!("{name}.pem"), &cert.pem());
        dir.write(&format!("{name}.key"), &key.serialize_pem());
    }
}

/// A test dir with a CA (`ca.pem`), a server certificate (`server.pem`/`.key`), a client certificate
/// (`client.pem`/`.key`), and an inventory of `n` devices.
fn tls_dir(n: usize) -> TestDir {
    let dir = TestDir::new();
    let ca = Ca::new("app test CA");
    dir.write("ca.pem", &ca.pem);
    ca.leaf(&dir, "server", ExtendedKeyUsagePurpose::ServerAuth);
    ca.leaf(&dir, "client", ExtendedKeyUsagePurpose::ClientAuth);
    dir.inventory("inventory.csv", n);
    dir
}

/// How long the TLS mock lets a client take over its handshake and request head (`mock.header_timeout_ms`):
/// these tests are not about slow clients, and on a loaded machine handshakes queued behind 50 others took longer
/// than the 5 s default.
const HANDSHAKE_TIMEOUT_MS: &str = "60000";

/// `app mock-server` serving HTTPS with `server.pem`, plus `extra` lines in its `[mock]` section.
fn tls_mock(dir: &TestDir, extra: &str) -> MockProcess {
    dir.write(
        "mock.toml",
        &format!(
            "[mock]\ndelay_ms = 0\njitter_ms = 0\nlog_body_preview = 0\nworkers = 2\n\
             header_timeout_ms = {HANDSHAKE_TIMEOUT_MS}\n\
             tls_cert_file = \"server.pem\"\ntls_key_file = \"server.key\"\n{extra}\n[log]\nlevel = \"info\"\n"
        ),
    );
    MockProcess::start(dir, &["--config", "mock.toml"])
}

/// Runs `etl` against `mock` over HTTPS with `env` (the TLS keys) and answers its output.
fn etl(dir: &TestDir, mock: &MockProcess, env: &[(&str, &str)]) -> std::process::Output {
    dir.write(
        "etl.toml",
        &fast_config(&format!("https://127.0.0.1:{}/load", mock.addr.port()), ""),
    );
    dir.run_env(
        &[
            "etl",
            "--config",
            "etl.toml",
            "--summary-json",
            "summary.json",
        ],
        env,
    )
}

/// The mock's counters, read over HTTPS by curl trusting `ca.pem` (an independent TLS client).
fn accepted(dir: &TestDir, mock: &MockProcess) -> u64 {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("ca.pem"))
        .arg(format!("https://127.0.0.1:{}/stats", mock.addr.port()))
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["records_accepted"].as_u64().unwrap()
        }
        _ => panic!("curl could not read /stats over HTTPS"),
    }
}

#[test]
fn https_with_a_private_ca_delivers_every_record() {
    let dir = tls_dir(500);
    let mock = tls_mock(&dir, "");
    let out = etl(&dir, &mock, &[("APP__LOAD__CA_FILE", "ca.pem")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("summary.json")["records"]["loaded"], 500);
    assert_eq!(accepted(&dir, &mock), 500);
}

#[test]
fn an_unknown_ca_is_refused_with_a_clear_error_and_every_batch_is_spooled_then_replayed() {
    let dir = tls_dir(300);
    let other = Ca::new("some other CA");
    dir.write("other-ca.pem", &other.pem);
    let mock = tls_mock(&dir, "");
    let out = etl(&dir, &mock, &[("APP__LOAD__CA_FILE", "other-ca.pem")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid peer certificate")
            && stderr.contains("UnknownIssuer")
            && stderr.contains("load.ca_file"),
        "the refusal says why: {}",
        tail(&stderr, 20)
    );
    assert_eq!(dir.summary("summary.json")["records"]["spooled"], 300);
    assert_eq!(spool_records(&dir.join("spool")), 300, "nothing lost");
    assert_eq!(accepted(&dir, &mock), 0);

    let out = etl(&dir, &mock, &[("APP__LOAD__CA_FILE", "ca.pem")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("summary.json")["records"]["replayed"], 300);
    assert_eq!(accepted(&dir, &mock), 600, "300 replayed + 300 new");
    assert!(spool_files(&dir.join("spool")).is_empty());
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = tls_dir(200);
    let mock = tls_mock(&dir, "tls_client_ca_file = \"ca.pem\"");
    let out = etl(&dir, &mock, &[("APP__LOAD__CA_FILE", "ca.pem")]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(spool_records(&dir.join("spool")), 200, "refused, spooled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CertificateRequired") && stderr.contains("load.client_cert_file"),
        "the refusal is the missing client certificate: {}",
        tail(&stderr, 10)
    );

    let out = etl(
        &dir,
        &mock,
        &[
            ("APP__LOAD__CA_FILE", "ca.pem"),
            ("APP__LOAD__CLIENT_CERT_FILE", "client.pem"),
            ("APP__LOAD__CLIENT_KEY_FILE", "client.key"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("summary.json")["records"]["loaded"], 200);
    assert_eq!(dir.summary("summary.json")["records"]["replayed"], 200);
}

#[test]
fn insecure_skip_verify_connects_and_warns_loudly() {
    let dir = tls_dir(100);
    let mock = tls_mock(&dir, "");
    let out = etl(&dir, &mock, &[("APP__LOAD__INSECURE_SKIP_VERIFY", "true")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("is NOT verified"),
        "{}",
        tail(&stderr, 20)
    );
}

#[test]
fn a_replays_tls_warning_is_tagged_replay() {
    let dir = tls_dir(10);
    let mock = tls_mock(&dir, "");
    let out = etl(&dir, &mock, &[("APP__LOAD__INSECURE_SKIP_VERIFY", "true")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = dir.run_env(
        &["replay", "--config", "etl.toml"],
        &[
            ("APP__LOAD__INSECURE_SKIP_VERIFY", "true"),
            ("APP__EXTRACT__HTTP__INSECURE_SKIP_VERIFY", "true"),
            ("APP__EXTRACT__SOURCE", "http"),
            (
                "APP__EXTRACT__HTTP__URL_TEMPLATE",
                "https://127.0.0.1:9/device/{name}/cpu",
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("NOT verified"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "only the API's certificate: a replay extracts nothing: {stderr}"
    );
    assert!(
        warnings[0].contains("[Replay] load.insecure_skip_verify"),
        "{stderr}"
    );
    assert!(!stderr.contains("[ETL]"), "{stderr}");
}

/// Environment variables of one case.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn bad_tls_files_are_named_at_start() {
    let dir = tls_dir(10);
    dir.write("garbage.pem", "not a certificate\n");
    dir.write("etl.toml", &fast_config("https://127.0.0.1:9/load", ""));
    let cases: &[(Env, &[&str])] = &[
        (
            &[("APP__LOAD__CA_FILE", "missing.pem")],
            &["load.ca_file", "missing.pem"],
        ),
        (
            &[("APP__LOAD__CA_FILE", "garbage.pem")],
            &["load.ca_file", "garbage.pem", "no PEM certificate"],
        ),
        (
            &[("APP__LOAD__CLIENT_CERT_FILE", "client.pem")],
            &[
                "load.client_key_file",
                "must be set when load.client_cert_file is",
            ],
        ),
        (
            &[
                ("APP__LOAD__CA_FILE", "ca.pem"),
                ("APP__LOAD__CLIENT_CERT_FILE", "client.pem"),
                ("APP__LOAD__CLIENT_KEY_FILE", "server.key"),
            ],
            &[
                "load.client_key_file",
                "does not go with load.client_cert_file",
            ],
        ),
    ];
    for (env, expected) in cases {
        let out = dir.run_env(&["validate", "--config", "etl.toml"], env);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for part in *expected {
            assert!(stderr.contains(part), "{env:?}: {part:?} in {stderr}");
        }
    }
    dir.write(
        "mock.toml",
        "[mock]\ntls_cert_file = \"server.pem\"\ntls_key_file = \"garbage.pem\"\n",
    );
    let out = dir.run(&[
        "mock-server",
        "--config",
        "mock.toml",
        "--bind",
        "127.0.0.1:0",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mock.tls_key_file") && stderr.contains("garbage.pem"),
        "{stderr}"
    );
}

#[test]
fn https_devices_are_read_with_their_own_ca_and_an_unknown_one_fails_each_device() {
    let dir = tls_dir(50);
    let other = Ca::new("some other CA");
    dir.write("other-ca.pem", &other.pem);
    let mock = tls_mock(&dir, "");
    let template = format!(
        "https://127.0.0.1:{}/device/{{name}}/cpu?cpus=2",
        mock.addr.port()
    );
    let env = |device_ca: &'static str| {
        vec![
            ("APP__LOAD__CA_FILE", "ca.pem"),
            ("APP__EXTRACT__SOURCE", "http"),
            ("APP__EXTRACT__HTTP__URL_TEMPLATE", template.as_str()),
            ("APP__EXTRACT__HTTP__CA_FILE", device_ca),
        ]
    };
    let out = etl(&dir, &mock, &env("ca.pem"));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("summary.json")["records"]["loaded"], 100);

    let out = etl(&dir, &mock, &env("other-ca.pem"));
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let s = dir.summary("summary.json");
    assert_eq!(s["devices"]["failed"], 50, "{s}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid peer certificate"),
        "{}",
        tail(&stderr, 10)
    );

    // Self-signed appliances: no device CA, verification off, said loudly.
    let mut insecure = env("");
    insecure.push(("APP__EXTRACT__HTTP__INSECURE_SKIP_VERIFY", "true"));
    let out = etl(&dir, &mock, &insecure);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(dir.summary("summary.json")["devices"]["failed"], 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "extract.http.insecure_skip_verify = true: device certificates are NOT verified"
        ),
        "{}",
        tail(&stderr, 10)
    );
}

#[test]
fn demo_against_a_tls_mock_builds_tls_for_its_own_url() {
    let dir = tls_dir(300);
    let out = dir.run_env(
        &["demo", "--inventory", "inventory.csv", "--quiet"],
        &[
            ("APP__MOCK__HEADER_TIMEOUT_MS", HANDSHAKE_TIMEOUT_MS),
            ("APP__MOCK__TLS_CERT_FILE", "server.pem"),
            ("APP__MOCK__TLS_KEY_FILE", "server.key"),
            ("APP__LOAD__CA_FILE", "ca.pem"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("listening on https://") && stdout.contains("\"records_accepted\": 300"),
        "{stdout}"
    );
}

/// The TLS handshake gets `mock.header_timeout_ms` (here 60 s), not actix-web's fixed 3 s: a client silent for 4 s
/// is still connected. With the fixed limit, handshakes queued behind others on a loaded machine were cut at 3 s
/// and the client wrote into a closed socket ("Broken pipe").
#[test]
fn the_tls_handshake_gets_the_header_timeout_not_a_fixed_three_seconds() {
    use std::io::Read;
    let dir = tls_dir(1);
    let mock = tls_mock(&dir, "");
    let mut silent = std::net::TcpStream::connect(mock.addr).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(4)))
        .unwrap();
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the mock closed a silent TLS connection before 4 s: {other:?}"),
    }
}
