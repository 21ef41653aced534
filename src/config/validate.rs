//! `Settings::validate`: every value checked, each error naming its key.

use std::path::Path;

use super::*;

/// Two file keys that go together: both set or neither.
pub(super) fn check_pair(a: (&str, &Path), b: (&str, &Path)) -> Result<(), SettingsError> {
    match (a.1.as_os_str().is_empty(), b.1.as_os_str().is_empty()) {
        (false, true) => Err(SettingsError::invalid(
            b.0,
            format!("must be set when {} is", a.0),
        )),
        (true, false) => Err(SettingsError::invalid(
            a.0,
            format!("must be set when {} is", b.0),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_rate(key: &str, value: f64) -> Result<(), SettingsError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(SettingsError::invalid(
            key,
            format!("{value} must be between 0.0 and 1.0"),
        ));
    }
    Ok(())
}

pub(super) fn check_positive(key: &str, value: u64) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(SettingsError::invalid(key, "must be at least 1"));
    }
    Ok(())
}

pub(super) fn check_at_most(key: &str, value: u64, max: u64) -> Result<(), SettingsError> {
    if value > max {
        return Err(SettingsError::invalid(
            key,
            format!("must be at most {max}"),
        ));
    }
    Ok(())
}

impl Settings {
    /// What the values allow but is likely a mistake, each naming its keys: `validate` prints them, a run logs them.
    pub fn warnings(&self) -> Vec<String> {
        let e = &self.extract;
        e.snmp.warnings(e.source == SourceKind::Snmp, e.timeout_ms)
    }

    /// Checks every value; the error names the key and says what is allowed.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let e = &self.extract;
        check_positive("extract.concurrency", e.concurrency as u64)?;
        if e.concurrency > 1_000_000 {
            return Err(SettingsError::invalid(
                "extract.concurrency",
                "must be at most 1000000",
            ));
        }
        check_positive("extract.timeout_ms", e.timeout_ms)?;
        if !e.shard.trim().is_empty() {
            Shard::parse(&e.shard).map_err(|m| SettingsError::invalid("extract.shard", m))?;
        }
        check_positive(
            "extract.simulated.cpus_per_device",
            e.simulated.cpus_per_device as u64,
        )?;
        check_rate("extract.simulated.failure_rate", e.simulated.failure_rate)?;
        wire::check_url_template("extract.http.url_template", &e.http.url_template)?;
        wire::check_token("extract.http.token", e.http.token.expose())?;
        if !e.http.token.is_empty() && !e.http.token_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "extract.http.token_file",
                "set either extract.http.token or extract.http.token_file, not both",
            ));
        }
        e.snmp
            .validate(e.source == SourceKind::Snmp, e.timeout_ms)?;
        let l = &self.load;
        wire::check_url("load.endpoint", &l.endpoint)?;
        wire::check_token("load.token", l.token.expose())?;
        wire::check_token("mock.token", self.mock.token.expose())?;
        if !self.mock.token.is_empty() && !self.mock.token_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "mock.token_file",
                "set either mock.token or mock.token_file, not both",
            ));
        }
        if !l.token.is_empty() && !l.token_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "load.token_file",
                "set either load.token or load.token_file, not both",
            ));
        }
        if l.sink == SinkKind::InfluxLine && l.endpoint.contains("precision=") {
            return Err(SettingsError::invalid(
                "load.endpoint",
                "the influx-line sink adds precision=s itself (its timestamps are seconds); remove precision= from the URL",
            ));
        }
        if !l.password.is_empty() && !l.password_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "load.password_file",
                "set either load.password or load.password_file, not both",
            ));
        }
        let has_password = !l.password.is_empty() || !l.password_file.as_os_str().is_empty();
        if has_password == l.username.is_empty() {
            return Err(SettingsError::invalid(
                if l.username.is_empty() { "load.username" } else { "load.password" },
                "basic authentication needs both load.username and load.password (or load.password_file)",
            ));
        }
        if l.username.contains(':') || l.username.chars().any(char::is_control) {
            return Err(SettingsError::invalid(
                "load.username",
                "must not contain ':' or control characters (HTTP basic authentication)",
            ));
        }
        if !l.username.is_empty() && (!l.token.is_empty() || !l.token_file.as_os_str().is_empty()) {
            return Err(SettingsError::invalid(
                "load.username",
                "set either a token (load.token, load.token_file) or basic authentication (load.username), not both",
            ));
        }
        check_pair(
            ("load.client_cert_file", &l.client_cert_file),
            ("load.client_key_file", &l.client_key_file),
        )?;
        let m = &self.mock;
        check_pair(
            ("mock.tls_cert_file", &m.tls_cert_file),
            ("mock.tls_key_file", &m.tls_key_file),
        )?;
        if !m.tls_client_ca_file.as_os_str().is_empty() && m.tls_cert_file.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "mock.tls_client_ca_file",
                "needs mock.tls_cert_file and mock.tls_key_file (client certificates are a TLS feature)",
            ));
        }
        if m.header_timeout_ms < 1000 {
            // actix-web checks this deadline against a clock that ticks about every 500 ms: shorter values
            // refuse prompt clients.
            return Err(SettingsError::invalid(
                "mock.header_timeout_ms",
                "must be at least 1000 (the server's clock for it ticks about every 500 ms)",
            ));
        }
        check_positive("mock.body_timeout_ms", m.body_timeout_ms)?;
        check_positive("load.workers", l.workers as u64)?;
        check_at_most("load.workers", l.workers as u64, 1024)?;
        check_positive("load.batch_size", l.batch_size as u64)?;
        if l.batch_bytes < 1024 {
            return Err(SettingsError::invalid(
                "load.batch_bytes",
                "must be at least 1024",
            ));
        }
        check_positive("load.flush_interval_ms", l.flush_interval_ms)?;
        check_positive("load.max_in_flight", l.max_in_flight as u64)?;
        check_at_most("load.max_in_flight", l.max_in_flight as u64, 1024)?;
        check_positive("load.request_timeout_ms", l.request_timeout_ms)?;
        check_positive("load.retry.max_attempts", l.retry.max_attempts as u64)?;
        check_positive("load.retry.initial_backoff_ms", l.retry.initial_backoff_ms)?;
        if l.retry.max_backoff_ms < l.retry.initial_backoff_ms {
            return Err(SettingsError::invalid(
                "load.retry.max_backoff_ms",
                "must be at least load.retry.initial_backoff_ms",
            ));
        }
        if self.spool.max_bytes < 1 << 20 {
            return Err(SettingsError::invalid(
                "spool.max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        if self.spool.dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid("spool.dir", "must not be empty"));
        }
        let metrics = &self.metrics;
        if !metrics.push_url.is_empty() {
            wire::check_url("metrics.push_url", &metrics.push_url)?;
            check_positive("metrics.push_timeout_ms", metrics.push_timeout_ms)?;
        }
        let textfile = &metrics.textfile;
        if !textfile.as_os_str().is_empty()
            && textfile.extension().and_then(|e| e.to_str()) != Some("prom")
        {
            return Err(SettingsError::invalid(
                "metrics.textfile",
                format!(
                    "`{}` must end in .prom (node_exporter's textfile collector reads only those)",
                    textfile.display()
                ),
            ));
        }
        if self.log.level.parse::<log::LevelFilter>().is_err() {
            return Err(SettingsError::invalid(
                "log.level",
                format!(
                    "`{}` is not one of off, error, warn, info, debug, trace",
                    self.log.level
                ),
            ));
        }
        check_positive("log.progress_interval_ms", self.log.progress_interval_ms)?;
        if !(1..=10_000).contains(&self.profile.frequency_hz) {
            return Err(SettingsError::invalid(
                "profile.frequency_hz",
                "must be between 1 and 10000",
            ));
        }
        if !self.metrics.addr.is_empty() {
            wire::check_listen_addr("metrics.addr", &self.metrics.addr, "127.0.0.1:9898")?;
        }
        let m = &self.mock;
        wire::check_listen_addr("mock.bind", &m.bind, "127.0.0.1:8080")?;
        check_rate("mock.fail_rate", m.fail_rate)?;
        check_rate("mock.device_fail_rate", m.device_fail_rate)?;
        if !(400..=599).contains(&m.fail_status) {
            return Err(SettingsError::invalid(
                "mock.fail_status",
                format!("{} must be an HTTP error status (400-599)", m.fail_status),
            ));
        }
        check_positive("mock.max_body_bytes", m.max_body_bytes as u64)?;
        check_positive("mock.max_idempotency_keys", m.max_idempotency_keys as u64)?;
        check_mock_snmp(m)
    }
}

/// The `mock.snmp_*` keys (the mock SNMP fleet).
fn check_mock_snmp(m: &MockSettings) -> Result<(), SettingsError> {
    check_rate("mock.snmp_drop_rate", m.snmp_drop_rate)?;
    check_rate("mock.snmp_duplicate_rate", m.snmp_duplicate_rate)?;
    check_rate(
        "mock.snmp_wrong_community_share",
        m.snmp_wrong_community_share,
    )?;
    check_rate(
        "mock.snmp_host_resources_share",
        m.snmp_host_resources_share,
    )?;
    check_rate("mock.snmp_vendor_share", m.snmp_vendor_share)?;
    if m.snmp_community.is_empty() {
        return Err(SettingsError::invalid(
            "mock.snmp_community",
            "must not be empty",
        ));
    }
    if m.snmp_delay_ms > MOCK_SNMP_MAX_DELAY_MS {
        return Err(SettingsError::invalid(
            "mock.snmp_delay_ms",
            format!(
                "{} must be at most {MOCK_SNMP_MAX_DELAY_MS}",
                m.snmp_delay_ms
            ),
        ));
    }
    if m.snmp_jitter_ms > m.snmp_delay_ms {
        return Err(SettingsError::invalid(
            "mock.snmp_jitter_ms",
            format!(
                "{} must be at most mock.snmp_delay_ms ({})",
                m.snmp_jitter_ms, m.snmp_delay_ms
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_mock_snmp_keys_are_named() {
        let bad = |m: MockSettings| check_mock_snmp(&m).unwrap_err().to_string();
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
        check_mock_snmp(&MockSettings::default()).unwrap();
    }
}
