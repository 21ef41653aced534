//! The mock SNMP fleet of `app mock-server` (`mock.snmp_port`, `--snmp-port`) and `app demo --source snmp`: one
//! UDP socket that is a distinct v2c agent at EVERY 127.x.y.z address, answering GET, GETNEXT and GETBULK for
//! sysUpTime, UCD-SNMP-MIB systemStats and HOST-RESOURCES hrProcessorLoad from the address it was asked at, with
//! values an ETL can check exactly, and faults injected as for `/load`.
//!
//! Layout: `fleet` is the device model (address → device → MIB table; the formula is documented there and
//! [`expected_percentages`] gives what an ETL must compute), `agent` answers one datagram, `socket` is the
//! `IP_PKTINFO` socket and the loopback filter, `faults` the drop/delay/duplicate decisions and the timer queue,
//! `server` the loop on its thread, `counters` what `/stats` and `/metrics` show.

pub mod agent;
pub mod counters;
pub mod faults;
pub mod fleet;
pub mod server;
pub mod socket;

pub use counters::{SnmpCounters, SnmpStats};
pub use fleet::{expected_percentages, expected_processor_loads, Percentages};
pub use server::{start, SnmpFleet};

use crate::settings::{check_rate, MockSettings, SettingsError};

/// Longest `mock.snmp_delay_ms`: a minute (the timer queue is for late replies, not for lost ones).
pub const MAX_DELAY_MS: u64 = 60_000;

/// Checks the `mock.snmp_*` keys; errors name the key.
pub fn validate(m: &MockSettings) -> Result<(), SettingsError> {
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
    if m.snmp_community.is_empty() {
        return Err(SettingsError::invalid(
            "mock.snmp_community",
            "must not be empty",
        ));
    }
    if m.snmp_delay_ms > MAX_DELAY_MS {
        return Err(SettingsError::invalid(
            "mock.snmp_delay_ms",
            format!("{} must be at most {MAX_DELAY_MS}", m.snmp_delay_ms),
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
    fn bad_snmp_keys_are_named() {
        let bad = |m: MockSettings| validate(&m).unwrap_err().to_string();
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
            snmp_community: crate::settings::Secret::new(""),
            ..MockSettings::default()
        })
        .contains("mock.snmp_community"));
        validate(&MockSettings::default()).unwrap();
    }
}
