//! `[mock]`: the mock ingestion API served by `app mock-server` and `app demo`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::{check_one_of, check_pair, check_positive, check_rate};
use super::*;

/// `[mock]`: the mock ingestion API served by `app mock-server` and `app demo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockSettings {
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub token: Secret,
    /// A file holding the token (one line; a mounted secret), read once at start; replaces `token` and keeps it
    /// off the command line (`mock-server --token-file`).
    pub token_file: PathBuf,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub fail_rate: f64,
    pub fail_status: u16,
    /// The first N `/load` requests fail with `fail_status` (deterministic fault injection).
    pub fail_first: u64,
    /// `Retry-After` seconds sent with injected 429 and 503 answers; 0 sends none.
    pub retry_after_s: u64,
    /// Seed of the fault-injection generator; 0 seeds from entropy.
    pub seed: u64,
    pub max_body_bytes: usize,
    /// A client must send its request head (line and headers) within this long, or gets 408 (at least 1000: the
    /// deadline is checked on a clock that ticks about every 500 ms). Over HTTPS, the TLS handshake must end
    /// within this long too, or the connection is closed.
    pub header_timeout_ms: u64,
    /// A `/load` body must arrive in full within this long, or gets 408 (a slow sender cannot hold a worker).
    pub body_timeout_ms: u64,
    pub max_idempotency_keys: usize,
    pub log_file: PathBuf,
    pub log_body_preview: usize,
    pub device_delay_ms: u64,
    pub device_fail_rate: f64,
    /// Serve HTTPS with this PEM certificate (chain); needs `tls_key_file`.
    pub tls_cert_file: PathBuf,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: PathBuf,
    /// Require client certificates signed by a CA in this PEM file (mutual TLS).
    pub tls_client_ca_file: PathBuf,
    /// UDP port of the mock SNMP fleet (`crate::mock::snmp`) on every 127.x.y.z address; 0 = no fleet.
    pub snmp_port: u16,
    /// Bind the fleet on a free port chosen by the kernel (`--snmp-port auto`; not a configuration key).
    #[serde(skip)]
    pub snmp_port_auto: bool,
    /// The v2c community the fleet's devices answer (except the `snmp_wrong_community_share`).
    pub snmp_community: Secret,
    /// Share of requests never answered (per datagram, seeded by `seed`).
    pub snmp_drop_rate: f64,
    /// Every reply is sent this long after the request (± `snmp_jitter_ms`), from a timer queue.
    pub snmp_delay_ms: u64,
    pub snmp_jitter_ms: u64,
    /// Share of replies sent twice.
    pub snmp_duplicate_rate: f64,
    /// Share of addresses (by address hash) whose community is not `snmp_community`: they stay silent.
    pub snmp_wrong_community_share: f64,
    /// Share of addresses (by address hash) without UCD-SNMP-MIB: HOST-RESOURCES `hrProcessorLoad` only.
    pub snmp_host_resources_share: f64,
    /// Share of addresses (by address hash, decided before `snmp_host_resources_share`) with a vendor personality:
    /// Cisco, Juniper, Huawei or Fortinet, a quarter each (their CPU in the vendor's MIB only).
    pub snmp_vendor_share: f64,
}

/// Longest `mock.snmp_delay_ms`: a minute (the fleet's timer queue is for late replies, not for lost ones).
pub const MOCK_SNMP_MAX_DELAY_MS: u64 = 60_000;

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_string(),
            workers: 0,
            token: Secret::default(),
            token_file: PathBuf::new(),
            delay_ms: 20,
            jitter_ms: 10,
            fail_rate: 0.0,
            fail_status: 503,
            fail_first: 0,
            retry_after_s: 0,
            seed: 0,
            max_body_bytes: 16 << 20,
            header_timeout_ms: 5_000,
            body_timeout_ms: 30_000,
            max_idempotency_keys: 1_000_000,
            log_file: PathBuf::from("mock_server.log"),
            log_body_preview: 500,
            device_delay_ms: 0,
            device_fail_rate: 0.0,
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            tls_client_ca_file: PathBuf::new(),
            snmp_port: 0,
            snmp_port_auto: false,
            snmp_community: Secret::new("public"),
            snmp_drop_rate: 0.0,
            snmp_delay_ms: 0,
            snmp_jitter_ms: 0,
            snmp_duplicate_rate: 0.0,
            snmp_wrong_community_share: 0.0,
            snmp_host_resources_share: 0.1,
            snmp_vendor_share: 0.0,
        }
    }
}

impl MockSettings {
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            crate::model::cores()
        } else {
            self.workers
        }
    }
}

impl MockSettings {
    /// Checks the `mock.*` keys: the mock ingestion API's, then the mock SNMP fleet's.
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        self.validate_api()?;
        self.validate_snmp()
    }

    /// The mock ingestion API's keys: its token, TLS, timeouts, address and the failures it injects.
    fn validate_api(&self) -> Result<(), SettingsError> {
        wire::check_token("mock.token", self.token.expose())?;
        check_one_of("mock.token", &self.token, &self.token_file)?;
        check_pair(
            ("mock.tls_cert_file", &self.tls_cert_file),
            ("mock.tls_key_file", &self.tls_key_file),
        )?;
        if !self.tls_client_ca_file.as_os_str().is_empty()
            && self.tls_cert_file.as_os_str().is_empty()
        {
            return Err(SettingsError::invalid(
                "mock.tls_client_ca_file",
                "needs mock.tls_cert_file and mock.tls_key_file (client certificates are a TLS feature)",
            ));
        }
        if self.header_timeout_ms < 1000 {
            // actix-web checks this deadline against a clock that ticks about every 500 ms: shorter values
            // refuse prompt clients.
            return Err(SettingsError::invalid(
                "mock.header_timeout_ms",
                "must be at least 1000 (the server's clock for it ticks about every 500 ms)",
            ));
        }
        check_positive("mock.body_timeout_ms", self.body_timeout_ms)?;
        wire::check_listen_addr("mock.bind", &self.bind, "127.0.0.1:8080")?;
        check_rate("mock.fail_rate", self.fail_rate)?;
        check_rate("mock.device_fail_rate", self.device_fail_rate)?;
        if !(400..=599).contains(&self.fail_status) {
            return Err(SettingsError::invalid(
                "mock.fail_status",
                format!(
                    "{} must be an HTTP error status (400-599)",
                    self.fail_status
                ),
            ));
        }
        check_positive("mock.max_body_bytes", self.max_body_bytes as u64)?;
        check_positive(
            "mock.max_idempotency_keys",
            self.max_idempotency_keys as u64,
        )
    }

    /// The `mock.snmp_*` keys (the mock SNMP fleet).
    fn validate_snmp(&self) -> Result<(), SettingsError> {
        check_rate("mock.snmp_drop_rate", self.snmp_drop_rate)?;
        check_rate("mock.snmp_duplicate_rate", self.snmp_duplicate_rate)?;
        check_rate(
            "mock.snmp_wrong_community_share",
            self.snmp_wrong_community_share,
        )?;
        check_rate(
            "mock.snmp_host_resources_share",
            self.snmp_host_resources_share,
        )?;
        check_rate("mock.snmp_vendor_share", self.snmp_vendor_share)?;
        if self.snmp_community.is_empty() {
            return Err(SettingsError::invalid(
                "mock.snmp_community",
                "must not be empty",
            ));
        }
        if self.snmp_delay_ms > MOCK_SNMP_MAX_DELAY_MS {
            return Err(SettingsError::invalid(
                "mock.snmp_delay_ms",
                format!(
                    "{} must be at most {MOCK_SNMP_MAX_DELAY_MS}",
                    self.snmp_delay_ms
                ),
            ));
        }
        if self.snmp_jitter_ms > self.snmp_delay_ms {
            return Err(SettingsError::invalid(
                "mock.snmp_jitter_ms",
                format!(
                    "{} must be at most mock.snmp_delay_ms ({})",
                    self.snmp_jitter_ms, self.snmp_delay_ms
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_mock_snmp_keys_are_named() {
        let bad = |m: MockSettings| m.validate_snmp().unwrap_err().to_string();
        assert!(bad(MockSettings {
            snmp_drop_rate: 1.5,
            ..MockSettings::default()
        })
        .contains("mock.snmp_drop_rate"));
        assert!(bad(MockSettings {
            snmp_jitter_ms: 5,
            ..MockSettings::default()
        })
        .contains("mock.snmp_jitter_ms"));
        assert!(bad(MockSettings {
            snmp_community: Secret::new(""),
            ..MockSettings::default()
        })
        .contains("mock.snmp_community"));
        MockSettings::default().validate_snmp().unwrap();
    }
}
