//! The run summary: what happened to every device and record, printed as text and written as JSON, and the exit
//! code it implies.

use serde::Serialize;

use crate::observe::exit::ExitCode;
use crate::observe::metrics::{Counter, Section};
use crate::observe::outcome::{Mode, RunOutcome};

/// The counters of one section of the summary, in the order of `observe::metrics::COUNTERS`; JSON: an object of
/// their keys.
#[derive(Debug, Default)]
pub struct Counts(Vec<(&'static Counter, u64)>, Breakdown);

/// A breakdown of one counter by reason (the failed devices), shown after it when not empty:
/// `{key}_by_reason` in the JSON, ` (timeout 2, wrong_digest 1)` in the text.
#[derive(Debug, Default)]
pub struct Breakdown {
    key: &'static str,
    parts: Vec<(&'static str, u64)>,
}

impl Counts {
    fn of(values: &[(&'static Counter, u64)], section: Section) -> Counts {
        Counts(
            values
                .iter()
                .filter(|(c, _)| c.section == section)
                .copied()
                .collect(),
            Breakdown::default(),
        )
    }

    /// With `breakdown` of the counter `key` (the reasons that occurred).
    fn with_breakdown(mut self, key: &'static str, parts: Vec<(&'static str, u64)>) -> Counts {
        let parts = parts.into_iter().filter(|(_, n)| *n > 0).collect();
        self.1 = Breakdown { key, parts };
        self
    }

    /// The value of the counter with this JSON key (0 for a key not in this section).
    pub fn get(&self, key: &str) -> u64 {
        self.0
            .iter()
            .find(|(c, _)| c.key == key)
            .map_or(0, |(_, v)| *v)
    }

    /// The section's piece of the text summary: each counter's text with its value.
    fn text(&self) -> String {
        let mut out = String::new();
        for (c, v) in &self.0 {
            if !(c.only_if_nonzero && *v == 0) {
                let s = if *v == 1 { "" } else { "s" };
                out.push_str(&c.text.replace("{}", &v.to_string()).replace("{s}", s));
            }
            if c.key == self.1.key && !self.1.parts.is_empty() {
                let parts: Vec<String> = self
                    .1
                    .parts
                    .iter()
                    .map(|(r, n)| format!("{r} {n}"))
                    .collect();
                out.push_str(&format!(" ({})", parts.join(", ")));
            }
        }
        out
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (c, v) in &self.0 {
            map.serialize_entry(c.key, v)?;
            if c.key == self.1.key && !self.1.parts.is_empty() {
                let parts: std::collections::BTreeMap<_, _> =
                    self.1.parts.iter().copied().collect();
                map.serialize_entry(&format!("{}_by_reason", c.key), &parts)?;
            }
        }
        map.end()
    }
}

/// The spool section: its directory, then its counters.
#[derive(Debug, Serialize)]
pub struct SpoolCounts {
    pub dir: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The write-ahead log of `spool.durable` (all zero without it).
#[derive(Debug, Serialize)]
pub struct WalCounts {
    /// Batches appended and fsynced before their first send.
    pub batches_written_ahead: u64,
    pub fsyncs: u64,
    /// Un-acknowledged batches found at start (sent again before new data).
    pub batches_recovered: u64,
    /// Bytes of segments held at the end, and the most held at once.
    pub bytes_held: u64,
    pub bytes_held_peak: u64,
    /// Seconds new batches waited because the WAL held `spool.max_bytes`.
    pub backpressure_s: f64,
    /// Torn or bad tails cut at start.
    pub tails_cut: u64,
}

impl WalCounts {
    fn of(w: &crate::spool::wal::WalStats) -> Self {
        let g = crate::spool::wal::WalStats::get;
        WalCounts {
            batches_written_ahead: g(&w.appends),
            fsyncs: g(&w.fsyncs),
            batches_recovered: g(&w.recovered),
            bytes_held: g(&w.bytes_held),
            bytes_held_peak: g(&w.bytes_held_peak),
            backpressure_s: (g(&w.backpressure_ns) as f64 / 1e6).round() / 1e3,
            tails_cut: g(&w.tails_cut),
        }
    }

    /// The summary's `log` line; empty when the run had no WAL.
    fn line(&self) -> String {
        if self.batches_written_ahead + self.fsyncs + self.batches_recovered + self.tails_cut == 0 {
            return String::new();
        }
        format!(
            "  log       {} batches written ahead, {} fsyncs, {} recovered, {} tails cut; {} bytes held (peak {}), {:.3} s waiting for spool.max_bytes\n",
            self.batches_written_ahead,
            self.fsyncs,
            self.batches_recovered,
            self.tails_cut,
            self.bytes_held,
            self.bytes_held_peak,
            self.backpressure_s
        )
    }
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
    pub devices: Counts,
    pub records: Counts,
    pub batches: Counts,
    pub bytes_sent: u64,
    /// Request body bytes that went out, acknowledged or not.
    pub bytes_attempted: u64,
    pub spool: SpoolCounts,
    /// The WAL's counters; the JSON key stays `log` (read by scripts and dashboards).
    #[serde(rename = "log")]
    pub wal: WalCounts,
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
        let values = outcome.metrics.values();
        let devices = Counts::of(&values, Section::Devices)
            .with_breakdown("failed", outcome.metrics.failures_by_reason());
        let records = Counts::of(&values, Section::Records);
        let spool = SpoolCounts {
            dir: spool_dir.display().to_string(),
            counts: Counts::of(&values, Section::Spool),
        };
        let (exit_code, result) = exit_code(outcome, mode, &devices, &records, &spool);
        let secs = outcome.duration.as_secs_f64();
        Summary {
            run_id: outcome.run_id.clone(),
            mode: match mode {
                Mode::Etl => "etl",
                Mode::Replay | Mode::ReplayRejected => "replay",
            },
            exit_code: exit_code.code(),
            result,
            signal: outcome.signal,
            inventory_error: outcome.inventory_error.as_ref().map(|e| e.to_string()),
            batches: Counts::of(&values, Section::Batches),
            bytes_sent: Counts::of(&values, Section::Bytes).get("bytes_sent"),
            bytes_attempted: Counts::of(&values, Section::Bytes).get("bytes_attempted"),
            duration_s: (secs * 1000.0).round() / 1000.0,
            records_per_s: if secs > 0.0 {
                ((records.get("loaded") + records.get("replayed")) as f64 / secs).round()
            } else {
                0.0
            },
            devices,
            records,
            spool,
            wal: WalCounts::of(&outcome.metrics.wal),
            resources: None,
        }
    }

    /// The human-readable block printed at the end of a run.
    pub fn text(&self) -> String {
        // A replay reads no inventory: no devices line.
        let devices = if self.mode == "etl" {
            format!("  devices   {}\n", self.devices.text())
        } else {
            String::new()
        };
        format!(
            "{mode} summary (run {id})\n\
             {devices}\
             \x20 records   {}\n\
             \x20 batches   {}\n\
             \x20 bytes     {} sent, {} in requests\n\
             \x20 spool     {}: {}\n\
             {}\
             \x20 duration  {:.3} s, {} records/s\n\
             \x20 result    exit {}: {}\n",
            self.records.text(),
            self.batches.text(),
            self.bytes_sent,
            self.bytes_attempted,
            self.spool.dir,
            self.spool.counts.text(),
            self.wal.line(),
            self.duration_s,
            self.records_per_s,
            self.exit_code,
            self.result,
            mode = if self.mode == "etl" { "ETL" } else { "Replay" },
            id = self.run_id,
        )
    }
}

/// What the inventory of an `etl` run said when it held no device (an empty file, or a header or comments only).
pub const EMPTY_INVENTORY: &str = "the inventory holds no device (an empty file or a header only)";
/// `n` and the word for it: "1 record", "2 records".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn exit_code(
    outcome: &RunOutcome,
    mode: Mode,
    devices: &Counts,
    records: &Counts,
    spool: &SpoolCounts,
) -> (ExitCode, String) {
    let (lost, spooled, rejected) = (
        records.get("lost"),
        records.get("spooled"),
        records.get("rejected"),
    );
    let (failed, invalid) = (devices.get("failed"), devices.get("invalid"));
    let quarantined = spool.counts.get("files_quarantined");
    if lost > 0 {
        return (
            ExitCode::Lost,
            format!(
                "{} not be delivered nor spooled (see the log)",
                plural(lost, "record could", "records could")
            ),
        );
    }
    if let Some(sig) = outcome.signal {
        let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
        return (
            ExitCode::for_signal(sig),
            format!(
                "stopped by {name}; {} in the spool",
                plural(spooled, "record is", "records are")
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
    let rows: u64 = devices.0.iter().map(|(_, v)| v).sum();
    if mode == Mode::Etl && rows == 0 && !outcome.sharded {
        problems.push(EMPTY_INVENTORY.to_string());
    }
    // Each count that makes the run incomplete, with how the result line says it.
    let unreadable = spool.counts.get("files_unreadable");
    let incomplete = [
        (spooled, "record", "records", "spooled"),
        (rejected, "record", "records", "rejected"),
        (failed, "device", "devices", "failed"),
        // Without a signal, every row should have been dealt with: one that was not is never a success.
        (
            devices.get("not_started") + devices.get("cancelled"),
            "device",
            "devices",
            "not extracted (never started)",
        ),
        (
            invalid,
            "invalid inventory row",
            "invalid inventory rows",
            "skipped",
        ),
        (quarantined, "spool file", "spool files", "quarantined"),
        (
            unreadable,
            "spool file could",
            "spool files could",
            "not be read (left in place)",
        ),
    ];
    for (n, one, many, what) in incomplete {
        if n > 0 {
            problems.push(format!("{} {what}", plural(n, one, many)));
        }
    }
    if problems.is_empty() {
        return (ExitCode::Ok, "every record delivered".into());
    }
    // Where what was not delivered is, and how to send it.
    let mut result = problems.join(", ");
    let dir = std::path::Path::new(&spool.dir);
    if spooled > 0 {
        let files = crate::spool::list(dir).map_or(0, |f| f.len() as u64);
        result.push_str(&format!(
            "; {} holds {} (`app replay` sends them)",
            spool.dir,
            plural(files, "spool file", "spool files")
        ));
    }
    if rejected > 0 {
        result.push_str(&format!(
            "; the dead letters are in {} (`app replay --rejected` sends them again once the cause is fixed)",
            dir.join(crate::spool::REJECTED_DIR).display()
        ));
    }
    (ExitCode::Incomplete, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::metrics::RunMetrics;
    use std::sync::Arc;

    fn outcome(signal: Option<i32>, set: impl Fn(&RunMetrics)) -> RunOutcome {
        let metrics = Arc::new(RunMetrics::default());
        RunMetrics::add(&metrics.devices_ok, 2);
        RunMetrics::add(&metrics.devices_total, 3);
        set(&metrics);
        RunOutcome {
            run_id: "r".into(),
            metrics,
            duration: std::time::Duration::from_secs(1),
            signal,
            inventory_error: None,
            sharded: false,
        }
    }

    #[test]
    fn devices_not_started_without_a_signal_are_never_exit_0() {
        let dir = std::path::Path::new("/nonexistent-spool");
        let s = Summary::new(
            &outcome(None, |m| RunMetrics::add(&m.devices_not_started, 1)),
            Mode::Etl,
            dir,
        );
        assert_eq!(s.exit_code(), ExitCode::Incomplete);
        assert!(
            s.result.contains("1 device not extracted (never started)"),
            "{}",
            s.result
        );
        let s = Summary::new(
            &outcome(Some(15), |m| RunMetrics::add(&m.devices_not_started, 1)),
            Mode::Etl,
            dir,
        );
        assert_eq!(s.exit_code(), ExitCode::Sigterm);
        let s = Summary::new(&outcome(None, |_| {}), Mode::Etl, dir);
        assert_eq!(s.exit_code(), ExitCode::Ok, "{}", s.result);
    }
}
