//! Counters of the mock SNMP fleet, shared by the socket thread (which counts) and the HTTP mock's `/stats` and
//! `/metrics` (which read them).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// Live counters (atomics; the socket thread is the only writer).
#[derive(Debug, Default)]
pub struct SnmpCounters {
    pub requests: AtomicU64,
    pub replies: AtomicU64,
    pub dropped: AtomicU64,
    pub delayed: AtomicU64,
    pub duplicated: AtomicU64,
    pub not_loopback: AtomicU64,
    pub bad_community: AtomicU64,
    pub malformed: AtomicU64,
    pub unsupported: AtomicU64,
    pub send_errors: AtomicU64,
    pub kernel_drops: AtomicU64,
}

/// A point-in-time copy of [`SnmpCounters`] (the `snmp` object of `GET /stats`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnmpStats {
    /// Datagrams received for a loopback destination (everything but `not_loopback`).
    pub requests: u64,
    /// Responses sent (a duplicate counts once more in `duplicated`, not here).
    pub replies: u64,
    /// Requests left unanswered by `mock.snmp_drop_rate`.
    pub dropped: u64,
    /// Replies that waited in the timer queue (`mock.snmp_delay_ms`, `mock.snmp_jitter_ms`).
    pub delayed: u64,
    /// Replies sent a second time (`mock.snmp_duplicate_rate`).
    pub duplicated: u64,
    /// Datagrams whose destination was not in 127.0.0.0/8: dropped unread.
    pub not_loopback: u64,
    /// Requests with a community the device does not have: silence, as a v2c agent answers.
    pub bad_community: u64,
    /// Datagrams that are not an SNMP message.
    pub malformed: u64,
    /// Messages of another version or PDU type (v1, v3, SET, …): no answer.
    pub unsupported: u64,
    /// `sendmsg` failures.
    pub send_errors: u64,
    /// Datagrams the kernel dropped because the socket's receive buffer was full (`SO_RXQ_OVFL`).
    pub kernel_drops: u64,
}

impl SnmpStats {
    /// `(name, help, value)` of each counter, for the HTTP mock's `/metrics` (`app_mock_snmp_*_total`).
    pub fn metrics(&self) -> [(&'static str, &'static str, u64); 11] {
        [
            (
                "app_mock_snmp_requests",
                "SNMP datagrams received for a 127.x.y.z device",
                self.requests,
            ),
            (
                "app_mock_snmp_replies",
                "SNMP responses sent (first copies)",
                self.replies,
            ),
            (
                "app_mock_snmp_dropped",
                "SNMP requests left unanswered by mock.snmp_drop_rate",
                self.dropped,
            ),
            (
                "app_mock_snmp_delayed",
                "SNMP replies held in the timer queue",
                self.delayed,
            ),
            (
                "app_mock_snmp_duplicated",
                "SNMP replies sent a second time",
                self.duplicated,
            ),
            (
                "app_mock_snmp_not_loopback",
                "SNMP datagrams for a destination outside 127.0.0.0/8, dropped",
                self.not_loopback,
            ),
            (
                "app_mock_snmp_bad_community",
                "SNMP requests with a community the device does not have (silence)",
                self.bad_community,
            ),
            (
                "app_mock_snmp_malformed",
                "Datagrams that are not SNMP",
                self.malformed,
            ),
            (
                "app_mock_snmp_unsupported",
                "SNMP messages of another version or PDU type (silence)",
                self.unsupported,
            ),
            (
                "app_mock_snmp_send_errors",
                "sendmsg failures",
                self.send_errors,
            ),
            (
                "app_mock_snmp_kernel_drops",
                "Datagrams the kernel dropped for a full receive buffer",
                self.kernel_drops,
            ),
        ]
    }
}

impl SnmpCounters {
    pub fn snapshot(&self) -> SnmpStats {
        SnmpStats {
            requests: self.requests.load(Relaxed),
            replies: self.replies.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            delayed: self.delayed.load(Relaxed),
            duplicated: self.duplicated.load(Relaxed),
            not_loopback: self.not_loopback.load(Relaxed),
            bad_community: self.bad_community.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            unsupported: self.unsupported.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            kernel_drops: self.kernel_drops.load(Relaxed),
        }
    }

    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}
