//! Run counters shared by the actors (atomics, so any thread may count), declared once in [`COUNTERS`] with
//! where each is shown: the summary (text and JSON), Prometheus and the progress line read that list.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::extract::FailureReason;

/// Buckets of the request latency histogram: 1 ms doubling to about 33 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

/// A part of the summary (and of its JSON) that counters belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Devices,
    Records,
    Batches,
    /// The summary's `bytes` line (`bytes_sent` at the JSON's top level).
    Bytes,
    Spool,
}

/// One run counter, and everything that shows it: the summary's JSON key and text, and its Prometheus family and
/// label. [`COUNTERS`] is the one list of them.
#[derive(Debug)]
pub struct Counter {
    /// The `RunMetrics` field.
    pub field: &'static str,
    pub section: Section,
    /// Its key in the summary's JSON section.
    pub key: &'static str,
    /// Prometheus family (see `observe::prom::FAMILIES`; empty: not exported), and the label value within it
    /// (`None`: unlabelled).
    pub family: &'static str,
    pub label: Option<&'static str>,
    /// Its piece of the summary line, `{}` standing for the value (with the punctuation before it), `{s}` for the
    /// plural ending ("1 file", "2 files").
    pub text: &'static str,
    /// Shown in the summary's text only when not zero.
    pub only_if_nonzero: bool,
    /// Counted in the progress line's "devices done" (whatever became of the row).
    pub row_done: bool,
    pub get: fn(&RunMetrics) -> &AtomicU64,
}

/// Declares `RunMetrics` and [`COUNTERS`] from one list: adding a counter here puts it in the summary (text and
/// JSON), in Prometheus and, for devices, in the progress line.
macro_rules! run_counters {
    ($( $(#[$doc:meta])* $field:ident: $section:ident . $key:literal, $family:literal $([$label:literal])?,
        $text:literal $(, $flag:ident)*; )*) => {
        /// Everything a run counts. Records leave memory only as `loaded`, `replayed`, `spooled` or `rejected`
        /// (or, if even the spool cannot be written, `lost`, which is reported loudly).
        #[derive(Debug)]
        pub struct RunMetrics {
            $( $(#[$doc])* pub $field: AtomicU64, )*
            /// `devices_failed` by reason, in the order of `FailureReason::ALL`.
            pub devices_failed_by_reason: [AtomicU64; FailureReason::ALL.len()],
            pub in_flight_requests: AtomicI64,
            /// Attempts waiting for a connection to the API (`load.max_connections`).
            pub waiting_for_connection: AtomicI64,
            /// Times a loader's circuit opened (a batch used up its attempts, not on 429: the API is considered
            /// down). Exported to Prometheus only (not a summary line).
            pub circuit_openings: AtomicU64,
            /// Loaders whose circuit is open now.
            pub circuit_open_loaders: AtomicI64,
            /// The write-ahead log's counters (`spool.durable`).
            pub wal: std::sync::Arc<crate::spool::wal::WalStats>,
            /// Seconds per `/load` attempt that got an answer or failed (not the ones cut by shutdown).
            pub request_seconds: Histogram,
        }

        impl Default for RunMetrics {
            fn default() -> Self {
                RunMetrics {
                    $( $field: AtomicU64::new(0), )*
                    devices_failed_by_reason: Default::default(),
                    in_flight_requests: AtomicI64::new(0),
                    waiting_for_connection: AtomicI64::new(0),
                    circuit_openings: AtomicU64::new(0),
                    circuit_open_loaders: AtomicI64::new(0),
                    wal: Default::default(),
                    request_seconds: Histogram::new(latency_buckets()),
                }
            }
        }

        /// The run's counters, in the order the summary shows them.
        pub static COUNTERS: &[Counter] = &[ $( Counter {
            field: stringify!($field),
            section: Section::$section,
            key: $key,
            family: $family,
            label: run_counters!(@label $($label)?),
            text: $text,
            only_if_nonzero: run_counters!(@flag only_if_nonzero $($flag)*),
            row_done: run_counters!(@flag row_done $($flag)*),
            get: |m: &RunMetrics| &m.$field,
        }, )* ];
    };
    (@label) => { None };
    (@label $l:literal) => { Some($l) };
    (@flag $want:ident) => { false };
    (@flag only_if_nonzero only_if_nonzero $($rest:ident)*) => { true };
    (@flag row_done row_done $($rest:ident)*) => { true };
    (@flag $want:ident $other:ident $($rest:ident)*) => { run_counters!(@flag $want $($rest)*) };
}

run_counters! {
    devices_ok: Devices."ok", "app_devices"["ok"], "{} ok", row_done;
    devices_failed: Devices."failed", "app_devices"["failed"], ", {} failed", row_done;
    /// Extractions under way when a signal stopped the run (nothing of theirs was extracted).
    devices_cancelled: Devices."cancelled", "app_devices"["cancelled"], ", {} cancelled", row_done;
    devices_invalid: Devices."invalid", "app_devices"["invalid"], ", {} invalid", row_done;
    devices_skipped_shard: Devices."skipped_shard", "app_devices"["skipped_shard"], ", {} skipped by shard", row_done;
    /// Inventory rows no extraction was started for (a signal stopped the run first): the total less the above.
    devices_not_started: Devices."not_started", "app_devices"["not_started"], ", {} not started", only_if_nonzero;
    /// Devices that answered under another name (their records sent under the inventory's name).
    devices_renamed: Devices."renamed", "", ", {} answered under another name", only_if_nonzero;
    /// Rows in the inventory (0 for a replay, which reads none).
    devices_total: Devices."total", "", "; {} in the inventory", only_if_nonzero;
    records_extracted: Records."extracted", "app_records"["extracted"], "{} extracted";
    records_loaded: Records."loaded", "app_records"["loaded"], ", {} loaded";
    records_replayed: Records."replayed", "app_records"["replayed"], ", {} replayed";
    records_spooled: Records."spooled", "app_records"["spooled"], ", {} spooled";
    records_rejected: Records."rejected", "app_records"["rejected"], ", {} rejected";
    /// Rejected records by the store's reason (`load::sinks::RejectReason`; the rest are other refusals).
    records_rejected_out_of_order: Records."rejected_out_of_order", "app_rejected_records"["out_of_order"], " ({} out of order)", only_if_nonzero;
    records_rejected_duplicate: Records."rejected_duplicate", "app_rejected_records"["duplicate"], " ({} duplicate)", only_if_nonzero;
    records_rejected_too_old: Records."rejected_too_old", "app_rejected_records"["too_old"], " ({} too old)", only_if_nonzero;
    records_lost: Records."lost", "app_records"["lost"], ", {} LOST", only_if_nonzero;
    batches_sent: Batches."sent", "app_batches"["sent"], "{} sent";
    batches_spooled: Batches."spooled", "app_batches"["spooled"], ", {} spooled";
    batches_rejected: Batches."rejected", "app_batches"["rejected"], ", {} rejected";
    requests: Batches."requests", "app_requests", "; {} requests";
    /// Failed attempts that are retried (the sum of the three reasons below; Prometheus has the three).
    retries: Batches."retries", "", ", {} retries";
    retries_connect: Batches."retries_connect", "app_retries"["connect"], " ({} connect";
    retries_timeout: Batches."retries_timeout", "app_retries"["timeout"], ", {} timeout";
    retries_status: Batches."retries_status", "app_retries"["status"], ", {} status)";
    bytes_sent: Bytes."bytes_sent", "app_sent_bytes", "{} sent";
    /// Request body bytes that went out, acknowledged or not (every attempt).
    bytes_attempted: Bytes."bytes_attempted", "app_attempted_bytes", ", {} in requests";
    spool_files_written: Spool."files_written", "app_spool_file_events"["written"], "{} file{s} written";
    spool_files_replayed: Spool."files_replayed", "app_spool_file_events"["replayed"], ", {} replayed";
    spool_files_quarantined: Spool."files_quarantined", "app_spool_file_events"["quarantined"], ", {} quarantined";
    /// Spool files that could not be opened or quarantined; left in place.
    spool_files_unreadable: Spool."files_unreadable", "app_spool_file_events"["unreadable"], ", {} unreadable";
}

impl RunMetrics {
    /// Every counter's value, in the list's order.
    pub fn values(&self) -> Vec<(&'static Counter, u64)> {
        COUNTERS
            .iter()
            .map(|c| (c, (c.get)(self).load(Relaxed)))
            .collect()
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    /// Counts `n` rejected records under the store's reason (`out_of_order`, `duplicate`, `too_old`; any other
    /// label has no counter of its own).
    pub fn rejected(&self, reason: &str, n: u64) {
        let counter = match reason {
            "out_of_order" => &self.records_rejected_out_of_order,
            "duplicate" => &self.records_rejected_duplicate,
            "too_old" => &self.records_rejected_too_old,
            _ => return,
        };
        Self::add(counter, n);
    }

    /// Counts a failed device with its reason.
    pub fn device_failed(&self, reason: FailureReason) {
        Self::add(&self.devices_failed, 1);
        Self::add(&self.devices_failed_by_reason[reason as usize], 1);
    }

    /// Every failure reason's label with its count (zeros included), in the order of `FailureReason::ALL`.
    pub fn failures_by_reason(&self) -> Vec<(&'static str, u64)> {
        FailureReason::ALL
            .iter()
            .zip(&self.devices_failed_by_reason)
            .map(|(r, c)| (r.label(), Self::get(c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_listed_once_and_reads_its_own_field() {
        let m = RunMetrics::default();
        for (i, c) in COUNTERS.iter().enumerate() {
            RunMetrics::add((c.get)(&m), i as u64 + 1);
        }
        for (i, (c, v)) in m.values().into_iter().enumerate() {
            assert_eq!(v, i as u64 + 1, "{} reads another field", c.field);
        }
        let mut keys: Vec<_> = COUNTERS
            .iter()
            .filter(|c| !c.family.is_empty())
            .map(|c| (c.family, c.label))
            .collect();
        let exported = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(
            keys.len(),
            exported,
            "two counters share a Prometheus series"
        );
    }

    #[test]
    fn every_failure_is_counted_under_its_own_reason_and_messages_name_what_to_check() {
        use crate::extract::snmp::session::ReportKind;
        use crate::extract::ExtractError;
        let mut errors = vec![
            ExtractError::Timeout(15_000),
            ExtractError::Failed("x".into()),
            ExtractError::Connect("x".into()),
            ExtractError::Status(500),
            ExtractError::Parse("x".into()),
            ExtractError::SnmpTimeout {
                attempts: 3,
                hint: " (no answer: no agent, wrong port, or wrong community)",
            },
            ExtractError::NoSuchObject {
                oid: "1.3.6.1.4.1.2021.11.50.0".into(),
                mib: "ucd",
            },
            ExtractError::AgentError {
                status: "genErr",
                index: 1,
            },
            ExtractError::BadAnswer("x".into()),
            ExtractError::NoProgress(15_000),
            ExtractError::Socket(std::io::Error::other("x").into()),
            ExtractError::NoProfile("x".into()),
            ExtractError::NotPercent {
                oid: "1.3.6.1.4.1.9.2.1.58.0".into(),
                value: "101".into(),
                what: "is not a percentage",
            },
        ];
        for kind in [
            ReportKind::UnsupportedSecLevels,
            ReportKind::NotInTimeWindows,
            ReportKind::UnknownUserNames,
            ReportKind::UnknownEngineIds,
            ReportKind::WrongDigests,
            ReportKind::DecryptionErrors,
            ReportKind::Other,
        ] {
            errors.push(ExtractError::SnmpReport {
                kind,
                oid: crate::snmp::oid::Oid::parse("1.3.6.1.6.3.15.1.1.5.0").unwrap(),
            });
        }
        for e in &errors {
            let m = RunMetrics::default();
            m.device_failed(e.reason());
            let counted: Vec<_> = m
                .failures_by_reason()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect();
            assert_eq!(counted, [(e.reason().label(), 1)], "{e:?}");
        }
        assert_eq!(
            errors[5].to_string(),
            "timeout after 3 attempts (no answer: no agent, wrong port, or wrong community)"
        );
        assert_eq!(
            errors[6].to_string(),
            "noSuchObject for 1.3.6.1.4.1.2021.11.50.0 (extract.snmp.mib = \"ucd\")"
        );
        assert!(errors
            .last()
            .unwrap()
            .to_string()
            .starts_with("SNMPv3 report of an unknown counter (1.3.6.1.6.3.15.1.1.5.0)"));
    }
}
