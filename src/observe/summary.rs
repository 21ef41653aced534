//! The run summary: what happened to every device and record, printed as text and written as JSON, and the exit
//! code it implies.

use serde::Serialize;

use crate::observe::exit::ExitCode;
use crate::observe::metrics::RunMetrics;
use crate::observe::outcome::{Mode, RunOutcome};

#[derive(Debug, Serialize)]
pub struct DeviceCounts {
    pub ok: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub invalid: u64,
    pub skipped_shard: u64,
}

#[derive(Debug, Serialize)]
pub struct RecordCounts {
    pub extracted: u64,
    pub loaded: u64,
    pub replayed: u64,
    pub spooled: u64,
    pub rejected: u64,
    pub lost: u64,
}

#[derive(Debug, Serialize)]
pub struct BatchCounts {
    pub sent: u64,
    pub spooled: u64,
    pub rejected: u64,
    pub requests: u64,
    pub retries: u64,
    pub retries_connect: u64,
    pub retries_timeout: u64,
    pub retries_status: u64,
}

#[derive(Debug, Serialize)]
pub struct SpoolCounts {
    pub dir: String,
    pub files_written: u64,
    pub files_replayed: u64,
    pub files_quarantined: u64,
    pub files_unreadable: u64,
}

/// The write-ahead log of `spool.durable` (all zero without it).
#[derive(Debug, Serialize)]
pub struct LogCounts {
    /// Batches appended and fsynced before their first send.
    pub batches_written_ahead: u64,
    pub fsyncs: u64,
    /// Un-acknowledged batches found at start (sent again before new data).
    pub batches_recovered: u64,
    /// Bytes of segments held at the end, and the most held at once.
    pub bytes_held: u64,
    pub bytes_held_peak: u64,
    /// Seconds new batches waited because the log held `spool.max_bytes`.
    pub backpressure_s: f64,
    /// Torn or bad tails cut at start.
    pub tails_cut: u64,
}

/// The summary of one run (`--summary-json` writes exactly this).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub mode: &'static str,
    pub exit_code: i32,
    pub result: String,
    pub signal: Option<i32>,
    pub inventory_error: Option<String>,
    pub devices: DeviceCounts,
    pub records: RecordCounts,
    pub batches: BatchCounts,
    pub bytes_sent: u64,
    pub spool: SpoolCounts,
    pub log: LogCounts,
    pub duration_s: f64,
    pub records_per_s: f64,
    /// Process resources before and after the run (set by the command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::observe::resources::Resources>,
}

impl Summary {
    /// The exit code this summary reports.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::ALL
            .into_iter()
            .find(|c| c.code() == self.exit_code)
            .expect("a summary holds one of the defined exit codes")
    }

    pub fn new(outcome: &RunOutcome, mode: Mode, spool_dir: &std::path::Path) -> Summary {
        let m: &RunMetrics = &outcome.metrics;
        let g = RunMetrics::get;
        let devices = DeviceCounts {
            ok: g(&m.devices_ok),
            failed: g(&m.devices_failed),
            cancelled: g(&m.devices_cancelled),
            invalid: g(&m.devices_invalid),
            skipped_shard: g(&m.devices_skipped_shard),
        };
        let records = RecordCounts {
            extracted: g(&m.records_extracted),
            loaded: g(&m.records_loaded),
            replayed: g(&m.records_replayed),
            spooled: g(&m.records_spooled),
            rejected: g(&m.records_rejected),
            lost: g(&m.records_lost),
        };
        let spool = SpoolCounts {
            dir: spool_dir.display().to_string(),
            files_written: g(&m.spool_files_written),
            files_replayed: g(&m.spool_files_replayed),
            files_quarantined: g(&m.spool_files_quarantined),
            files_unreadable: g(&m.spool_files_unreadable),
        };
        let (exit_code, result) = exit_code(outcome, &devices, &records, &spool);
        let secs = outcome.duration.as_secs_f64();
        Summary {
            run_id: outcome.run_id.clone(),
            mode: match mode {
                Mode::Etl => "etl",
                Mode::Replay => "replay",
            },
            exit_code: exit_code.code(),
            result,
            signal: outcome.signal,
            inventory_error: outcome.inventory_error.as_ref().map(|e| e.to_string()),
            batches: BatchCounts {
                sent: g(&m.batches_sent),
                spooled: g(&m.batches_spooled),
                rejected: g(&m.batches_rejected),
                requests: g(&m.requests),
                retries: g(&m.retries),
                retries_connect: g(&m.retries_connect),
                retries_timeout: g(&m.retries_timeout),
                retries_status: g(&m.retries_status),
            },
            bytes_sent: g(&m.bytes_sent),
            duration_s: (secs * 1000.0).round() / 1000.0,
            records_per_s: if secs > 0.0 {
                ((records.loaded + records.replayed) as f64 / secs).round()
            } else {
                0.0
            },
            devices,
            records,
            spool,
            log: {
                let w = &m.wal;
                let g = crate::spool::wal::WalStats::get;
                LogCounts {
                    batches_written_ahead: g(&w.appends),
                    fsyncs: g(&w.fsyncs),
                    batches_recovered: g(&w.recovered),
                    bytes_held: g(&w.bytes_held),
                    bytes_held_peak: g(&w.bytes_held_peak),
                    backpressure_s: (g(&w.backpressure_ns) as f64 / 1e6).round() / 1e3,
                    tails_cut: g(&w.tails_cut),
                }
            },
            resources: None,
        }
    }

    /// The write-ahead log's line of the text block; empty when the run had no log.
    fn log_line(&self) -> String {
        let l = &self.log;
        if l.batches_written_ahead + l.fsyncs + l.batches_recovered + l.tails_cut == 0 {
            return String::new();
        }
        format!(
            "  log       {} batches written ahead, {} fsyncs, {} recovered, {} tails cut; {} bytes held (peak {}), {:.3} s waiting for spool.max_bytes\n",
            l.batches_written_ahead,
            l.fsyncs,
            l.batches_recovered,
            l.tails_cut,
            l.bytes_held,
            l.bytes_held_peak,
            l.backpressure_s
        )
    }

    /// The human-readable block printed at the end of a run.
    pub fn text(&self) -> String {
        let d = &self.devices;
        let r = &self.records;
        let b = &self.batches;
        let s = &self.spool;
        format!(
            "{mode} summary (run {id})\n\
             \x20 devices   {} ok, {} failed, {} cancelled, {} invalid, {} skipped by shard\n\
             \x20 records   {} extracted, {} loaded, {} replayed, {} spooled, {} rejected{}\n\
             \x20 batches   {} sent, {} spooled, {} rejected; {} requests, {} retries ({} connect, {} timeout, {} status)\n\
             \x20 bytes     {} sent\n\
             \x20 spool     {}: {} files written, {} replayed, {} quarantined, {} unreadable\n\
             {}\
             \x20 duration  {:.3} s, {} records/s\n\
             \x20 result    exit {}: {}\n",
            d.ok,
            d.failed,
            d.cancelled,
            d.invalid,
            d.skipped_shard,
            r.extracted,
            r.loaded,
            r.replayed,
            r.spooled,
            r.rejected,
            if r.lost > 0 { format!(", {} LOST", r.lost) } else { String::new() },
            b.sent,
            b.spooled,
            b.rejected,
            b.requests,
            b.retries,
            b.retries_connect,
            b.retries_timeout,
            b.retries_status,
            self.bytes_sent,
            s.dir,
            s.files_written,
            s.files_replayed,
            s.files_quarantined,
            s.files_unreadable,
            self.log_line(),
            self.duration_s,
            self.records_per_s,
            self.exit_code,
            self.result,
            mode = if self.mode == "etl" { "ETL" } else { "Replay" },
            id = self.run_id,
        )
    }
}

fn exit_code(
    outcome: &RunOutcome,
    devices: &DeviceCounts,
    records: &RecordCounts,
    spool: &SpoolCounts,
) -> (ExitCode, String) {
    if records.lost > 0 {
        return (
            ExitCode::Lost,
            format!(
                "{} records could not be delivered nor spooled (see the log)",
                records.lost
            ),
        );
    }
    if let Some(sig) = outcome.signal {
        let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
        return (
            ExitCode::for_signal(sig),
            format!(
                "stopped by {name}; {} records are in the spool",
                records.spooled
            ),
        );
    }
    if outcome.inventory_error.is_some() {
        return (
            ExitCode::Usage,
            "the inventory could not be read to its end".into(),
        );
    }
    let mut problems = Vec::new();
    if records.spooled > 0 {
        problems.push(format!("{} records spooled", records.spooled));
    }
    if records.rejected > 0 {
        problems.push(format!("{} records rejected", records.rejected));
    }
    if devices.failed > 0 {
        problems.push(format!("{} devices failed", devices.failed));
    }
    if devices.invalid > 0 {
        problems.push(format!(
            "{} invalid inventory rows skipped",
            devices.invalid
        ));
    }
    if spool.files_quarantined > 0 {
        problems.push(format!(
            "{} spool files quarantined",
            spool.files_quarantined
        ));
    }
    if problems.is_empty() {
        (ExitCode::Ok, "every record delivered".into())
    } else {
        (ExitCode::Incomplete, problems.join(", "))
    }
}
