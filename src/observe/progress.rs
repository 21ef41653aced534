//! Progress of a run: a bar on stderr when stderr is a terminal (indicatif), else a plain `[Progress]` log line
//! every `log.progress_interval_ms`; `--quiet` turns both off.

use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::observe::metrics::{RunMetrics, COUNTERS};

/// The bar being drawn, if any: log lines are written with it suspended so that they do not tear it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` with the progress bar (if one is drawn) cleared for the moment.
pub fn suspended(write: impl FnOnce()) {
    let bar = BAR.lock().map(|b| b.clone()).unwrap_or(None);
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A snapshot of how far a run is.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub done: u64,
    pub total: Option<u64>,
    pub records_per_s: f64,
    pub in_flight: i64,
    pub spooled: u64,
    pub retries: u64,
    pub eta: Option<Duration>,
    /// Records extracted (what a dry run shows: it sends nothing).
    pub extracted: u64,
}

/// Inventory rows dealt with so far (whatever became of them).
fn rows_done(m: &RunMetrics) -> u64 {
    COUNTERS
        .iter()
        .filter(|c| c.row_done)
        .map(|c| (c.get)(m).load(Relaxed))
        .sum()
}

/// Where the run stands after `elapsed`.
pub fn snapshot(m: &RunMetrics, total: Option<u64>, elapsed: Duration) -> Snapshot {
    let done = rows_done(m);
    let delivered = m.records_loaded.load(Relaxed) + m.records_replayed.load(Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-3);
    let eta = total.filter(|_| done > 0).map(|t| {
        let left = t.saturating_sub(done) as f64;
        Duration::from_secs_f64(left * secs / done as f64)
    });
    Snapshot {
        done,
        total,
        records_per_s: delivered as f64 / secs,
        in_flight: m.in_flight_requests.load(Relaxed),
        spooled: m.records_spooled.load(Relaxed),
        retries: m.retries.load(Relaxed),
        eta,
        extracted: m.records_extracted.load(Relaxed),
    }
}

impl Snapshot {
    /// The plain line.
    pub fn line(&self) -> String {
        let total = self.total.map_or(String::new(), |t| format!(" of {t}"));
        format!(
            "[Progress] devices {}{total}, {}",
            self.done,
            self.message(false)
        )
    }

    /// What follows the device count, in the line and beside the bar: a run's delivery, or a dry run's records.
    fn message(&self, dry_run: bool) -> String {
        let eta = self
            .eta
            .map_or(String::new(), |e| format!(", ETA {:.1}s", e.as_secs_f64()));
        if dry_run {
            return format!("{} records extracted{eta}", self.extracted);
        }
        format!(
            "{:.0} records/s, {} requests in flight, {} spooled, {} retries{eta}",
            self.records_per_s, self.in_flight, self.spooled, self.retries
        )
    }
}

/// A running progress display; `finish` ends it.
pub struct Progress {
    stop: Arc<tokio::sync::Notify>,
}

impl Progress {
    /// Starts the display on the current actix system (nothing when `quiet`).
    pub fn start(
        metrics: Arc<RunMetrics>,
        total: Option<u64>,
        interval: Duration,
        quiet: bool,
    ) -> Option<Progress> {
        Self::start_as(metrics, total, interval, quiet, false)
    }

    /// [`Progress::start`] for `etl --dry-run`: the devices and the records extracted (nothing is sent).
    pub fn start_dry_run(
        metrics: Arc<RunMetrics>,
        total: Option<u64>,
        interval: Duration,
        quiet: bool,
    ) -> Option<Progress> {
        Self::start_as(metrics, total, interval, quiet, true)
    }

    fn start_as(
        metrics: Arc<RunMetrics>,
        total: Option<u64>,
        interval: Duration,
        quiet: bool,
        dry_run: bool,
    ) -> Option<Progress> {
        if quiet {
            return None;
        }
        let stop = Arc::new(tokio::sync::Notify::new());
        let terminal = std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} devices {msg}")
                    .expect("the template is valid"),
            );
            *BAR.lock().expect("the bar lock is never poisoned") = Some(bar.clone());
            bar
        });
        let tick = if terminal {
            Duration::from_millis(200)
        } else {
            interval
        };
        let started = Instant::now();
        let stopped = stop.clone();
        actix_rt::spawn(async move {
            loop {
                tokio::select! {
                    _ = actix_rt::time::sleep(tick) => {}
                    _ = stopped.notified() => break,
                }
                let s = snapshot(&metrics, total, started.elapsed());
                match &bar {
                    Some(bar) => {
                        bar.set_position(s.done);
                        bar.set_message(s.message(dry_run));
                    }
                    None if dry_run => {
                        let total = s.total.map_or(String::new(), |t| format!(" of {t}"));
                        log::info!("[Progress] devices {}{total}, {}", s.done, s.message(true));
                    }
                    None => log::info!("{}", s.line()),
                }
            }
            if let Some(bar) = bar {
                bar.finish_and_clear();
                *BAR.lock().expect("the bar lock is never poisoned") = None;
            }
        });
        Some(Progress { stop })
    }

    pub fn finish(self) {
        self.stop.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_counts_rows_and_estimates_time_left() {
        let m = RunMetrics::default();
        RunMetrics::add(&m.devices_ok, 20);
        RunMetrics::add(&m.devices_failed, 5);
        RunMetrics::add(&m.records_loaded, 40);
        let s = snapshot(&m, Some(100), Duration::from_secs(10));
        assert_eq!(s.done, 25);
        assert_eq!(s.records_per_s, 4.0);
        assert_eq!(s.eta, Some(Duration::from_secs(30)));
        assert!(s.line().contains("devices 25 of 100"), "{}", s.line());
        assert_eq!(snapshot(&m, None, Duration::from_secs(1)).eta, None);
    }
}
