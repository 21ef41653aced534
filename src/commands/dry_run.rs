//! `etl --dry-run`: extract and transform the inventory's devices as configured and print the records as JSON
//! lines on stdout (the first N with `--limit N`); nothing is sent, no spool is touched (no lock, no directory).
//! It is the way to check a source configuration against the fleet, not a run, yet it checks what a run checks:
//! the same inventory check first (repeated names, bad rows and `inventory.on_invalid`: `run::check_inventory`), the
//! same feed (`actors::feed`: the rows the check kept, read on their own thread), the same signal handling (SIGINT
//! or SIGTERM stops it with 130 or 143 and its status line, also when the parent ignored SIGINT).
//!
//! At most `extract.concurrency` devices are extracted at once; the records are printed in inventory order. The
//! progress and the status line go to stderr.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use super::output::say;
use super::CommandError;
use crate::actors::supervisor::Checked;
use crate::actors::Shutdown;
use crate::config::Settings;
use crate::extract::{ExtractError, Source};
use crate::inventory::Device;
use crate::model::{CpuStats, DeviceRecord};
use crate::observe::exit::ExitCode;
use crate::observe::metrics::RunMetrics;
use crate::observe::outcome::Mode;
use crate::observe::progress::Progress;
use crate::resolve::Resolved;
use crate::transform::transform_all;

/// Chunks of devices the feed may read ahead of the extractions.
const AHEAD_CHUNKS: usize = 2;

/// Runs the dry run; exit 0 when every device gave records, 3 when one failed or a row was skipped (or the
/// inventory held no device), 2 when the inventory check refused it, 130 or 143 after a signal.
pub fn dry_run(
    settings: Settings,
    limit: Option<u64>,
    quiet: bool,
) -> Result<ExitCode, CommandError> {
    crate::observe::logging::init(&settings.log)?;
    let resolved = Resolved::build(settings)?;
    super::snmp::check_profiles(&resolved.settings, false)?;
    let settings = resolved.settings;
    for warning in settings.warnings() {
        log::warn!("[DryRun] {warning}");
    }
    let (tls, snmp) = (resolved.http_source_tls, resolved.snmp);
    actix_rt::System::new().block_on(async move {
        let shutdown = Shutdown::new();
        watch_signals(shutdown.clone());
        let mut checked =
            super::run::check_inventory_unless_stopped(&settings, Mode::Etl, &shutdown).await?;
        let metrics = Arc::new(RunMetrics::default());
        let source = Rc::new(Source::new(&settings.extract, &tls, &snmp));
        let progress = Progress::start_dry_run(
            metrics.clone(),
            checked.total,
            settings.log.progress_interval(),
            quiet,
        );
        let (printed, read_to_end) = if shutdown.is_stopping() {
            (0, false) // stopped during the check: nothing is read again
        } else {
            print_records(&settings, &mut checked, &source, &metrics, &shutdown, limit).await?
        };
        if let Some(p) = progress {
            p.finish();
        }
        let failed = RunMetrics::get(&metrics.devices_failed);
        let ok = RunMetrics::get(&metrics.devices_ok);
        let invalid = RunMetrics::get(&metrics.devices_invalid);
        let stopped = shutdown.signal().map(|sig| {
            let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
            format!(" stopped by {name}")
        });
        eprintln!(
            "dry run{}: {} devices extracted, {printed} records printed, {failed} failed, {invalid} invalid rows; \
             nothing sent, no spool touched",
            stopped.as_deref().unwrap_or(""),
            ok + failed,
        );
        let empty = read_to_end && ok + failed + invalid == 0 && settings.shard().is_none();
        if empty {
            eprintln!("dry run: {}", crate::observe::summary::EMPTY_INVENTORY);
        }
        Ok(match shutdown.signal() {
            Some(sig) => ExitCode::for_signal(sig),
            None if failed + invalid > 0 || empty => ExitCode::Incomplete,
            None => ExitCode::Ok,
        })
    })
}

/// Stops the dry run on the first SIGINT or SIGTERM (the handlers are installed before this returns,
/// `actors::shutdown::on_signals`, as for a run): extractions under way are dropped, nothing more is printed.
fn watch_signals(shutdown: Arc<Shutdown>) {
    let mut first = true;
    crate::actors::shutdown::on_signals(move |sig, name| {
        if std::mem::replace(&mut first, false) {
            log::warn!("[DryRun] {name}: stopping; no new extraction");
            shutdown.stop(Some(sig));
        }
    });
}

/// One device's extraction, transformed.
type Extracted = (Device, Result<Vec<DeviceRecord>, String>);

/// Extracts the devices of the feed, at most `extract.concurrency` at once, and prints their records in inventory
/// order until the limit or a signal; the records printed, and whether the inventory was read to its end.
async fn print_records(
    settings: &Settings,
    checked: &mut Checked,
    source: &Rc<Source>,
    metrics: &Arc<RunMetrics>,
    shutdown: &Shutdown,
    limit: Option<u64>,
) -> Result<(u64, bool), CommandError> {
    let feed = crate::actors::feed::start(
        settings.inventory.path.clone(),
        settings.shard(),
        settings.extract.snmp.credential_names(),
        checked,
        metrics.clone(),
        AHEAD_CHUNKS,
    );
    let (mut chunks, done) = (feed.chunks, feed.done);
    let concurrency = settings.extract.concurrency.max(1);
    // Extractions under way, in inventory order (each polled by the set below, answered in its slot).
    let mut order: VecDeque<tokio::sync::oneshot::Receiver<Extracted>> = VecDeque::new();
    let mut printed = 0u64;
    let full = |printed: u64| limit.is_some_and(|n| printed >= n);
    let mut pending: VecDeque<Device> = VecDeque::new();
    let mut feed_open = true;
    loop {
        // Start extractions up to the bound, taking devices from the feed as needed.
        while order.len() < concurrency && !full(printed) {
            if pending.is_empty() && feed_open {
                // Wait for the feed only when nothing is under way; else take what it has ready.
                let chunk = if order.is_empty() {
                    tokio::select! {
                        biased;
                        _ = shutdown.stopped() => return Ok((printed, false)),
                        c = chunks.recv() => c,
                    }
                } else {
                    match chunks.try_recv() {
                        Ok(c) => Some(c),
                        Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                        Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    }
                };
                match chunk {
                    Some(c) => pending.extend(c.devices().map(|d| d.to_device())),
                    None => feed_open = false,
                }
            }
            let Some(device) = pending.pop_front() else {
                break;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (source, metrics) = (source.clone(), metrics.clone());
            actix_rt::spawn(async move {
                let result = extract(&source, &device, &metrics).await;
                let _ = tx.send((device, result));
            });
            order.push_back(rx);
        }
        let Some(next) = order.pop_front() else {
            break; // nothing under way, and nothing left (or the limit reached)
        };
        let (device, result) = tokio::select! {
            biased;
            _ = shutdown.stopped() => return Ok((printed, false)),
            r = next => r.expect("an extraction task always answers"),
        };
        match result {
            Ok(records) => {
                for record in records {
                    if full(printed) {
                        break;
                    }
                    let line =
                        serde_json::to_string(&record).expect("a DeviceRecord always serialises");
                    say!("{line}");
                    printed += 1;
                }
            }
            Err(e) => log::warn!("[DryRun] {} ({}): {e}", device.name, device.ip),
        }
        if full(printed) {
            return Ok((printed, false)); // the tasks under way are dropped with the runtime
        }
    }
    drop(chunks);
    match done.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Ok((printed, !full(printed))),
    }
}

/// Extracts and transforms one device, counting it as a run does.
async fn extract(
    source: &Source,
    device: &Device,
    metrics: &RunMetrics,
) -> Result<Vec<DeviceRecord>, String> {
    let stats: Result<Vec<CpuStats>, ExtractError> = source.extract(device).await;
    match stats {
        Ok(stats) => match transform_all(stats) {
            Ok(records) => {
                RunMetrics::add(&metrics.devices_ok, 1);
                RunMetrics::add(&metrics.records_extracted, records.len() as u64);
                Ok(records)
            }
            Err(e) => {
                metrics.device_failed(crate::extract::FailureReason::Transform);
                Err(e.to_string())
            }
        },
        Err(e) => {
            metrics.device_failed(e.reason());
            Err(e.to_string())
        }
    }
}
