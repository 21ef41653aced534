//! Why a device gave no statistics, as one closed list: each reason's label is what the summary
//! (`devices.failed_by_reason`) and Prometheus (`app_device_failures_total{reason=…}`) show.

/// Declares [`FailureReason`], its [`FailureReason::ALL`] and its labels from one list, so that a reason cannot
/// exist without its place in the breakdown (there is no catch-all "other").
macro_rules! failure_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $label:literal, )*) => {
        /// Why a device failed. Every `ExtractError` maps to one (`ExtractError::reason`, an exhaustive match),
        /// and so does every SNMPv3 report kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FailureReason {
            $( $(#[$doc])* $variant, )*
        }

        impl FailureReason {
            /// Every reason, in the order the summary and `/metrics` show them (`reason as usize` is its index).
            pub const ALL: &'static [FailureReason] = &[ $( FailureReason::$variant, )* ];

            /// The label of the summary's JSON and of Prometheus.
            pub const fn label(self) -> &'static str {
                match self {
                    $( FailureReason::$variant => $label, )*
                }
            }
        }
    };
}

failure_reasons! {
    /// No answer within the time allowed (the device's `extract.timeout_ms`, or every SNMP attempt).
    Timeout => "timeout",
    /// The request could not be made or failed without an answer (http source).
    Failed => "failed",
    /// The connection could not be made (http source: refused, unreachable, TLS).
    Connect => "connect",
    /// The device answered an HTTP status other than 2xx.
    HttpStatus => "http_status",
    /// The answer was not statistics (http source: a body that is not the device's CpuStats).
    BadBody => "bad_body",
    /// The statistics were not percentages (counted by the supervisor, after extraction).
    Transform => "transform",
    /// SNMPv3 report usmStatsUnknownUserNames.
    UnknownUser => "unknown_user",
    /// SNMPv3 report usmStatsWrongDigests.
    WrongDigest => "wrong_digest",
    /// SNMPv3 report usmStatsDecryptionErrors.
    DecryptionError => "decryption_error",
    /// SNMPv3 report usmStatsNotInTimeWindows (after the one resynchronization).
    NotInTimeWindow => "not_in_time_window",
    /// SNMPv3 report usmStatsUnknownEngineIDs (after the one rediscovery).
    UnknownEngineId => "unknown_engine_id",
    /// SNMPv3 report usmStatsUnsupportedSecLevels.
    UnsupportedSecurityLevel => "unsupported_security_level",
    /// An SNMPv3 report of a counter outside usmStats 1-6.
    Report => "report",
    /// The agent has none of the OIDs the configured MIB needs.
    NoSuchObject => "no_such_object",
    /// The agent answered an error-status.
    AgentError => "agent_error",
    /// An answer that is not what was asked.
    BadAnswer => "bad_answer",
    /// No profile fits the device (its sysObjectID and sysDescr are named; `app snmp probe` explains).
    NoProfile => "no_profile",
    /// A CPU value that is not a percentage after its scale (negative, or over 100): never loaded.
    NotAPercentage => "not_a_percentage",
    /// The CPU counters never moved within `extract.timeout_ms`.
    NoProgress => "no_progress",
    /// A UDP socket could not be opened or used.
    Socket => "socket",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_index_and_a_distinct_snake_case_label() {
        for (i, r) in FailureReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
            let label = r.label();
            assert!(
                !label.is_empty() && label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
            assert_eq!(
                FailureReason::ALL
                    .iter()
                    .filter(|o| o.label() == label)
                    .count(),
                1,
                "{label} is used twice"
            );
        }
    }
}
