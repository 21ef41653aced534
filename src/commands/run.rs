//! The run sequence, written once for `etl`, `replay` and `demo`, inside the actix system: signals (first, so that
//! none is lost), the inventory check, resources, profilers, `/metrics`, progress, the pipeline (`actors::run`), and
//! the same steps undone in reverse order; then the summary.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use super::output::write_summary;
use super::CommandError;
use crate::actors::supervisor::Checked;
use crate::actors::{self, Shutdown};
use crate::config::{OnInvalid, Settings};
use crate::inventory;
use crate::observe::exit::ExitCode;
use crate::observe::metrics::RunMetrics;
use crate::observe::outcome::Mode;
use crate::observe::profile::{CpuProfiler, HeapProfiler};
use crate::observe::progress::Progress;
use crate::observe::resources::{self, Resources};
use crate::observe::summary::Summary;
use crate::resolve::Resolved;

/// Reads the whole inventory before a run (not for a replay; a shard checks only its own rows and counts the
/// others): the progress total, the repeated names (found in
/// bounded memory) and, when every row parsed, the rows themselves for the run (see `inventory::kept`).
/// With `inventory.on_invalid = "fail"` any bad row stops here (exit 2, the first problems printed in line order on
/// stderr, then how many more; nothing sent); with
/// `"skip"` the run skips them (the streaming pass reports the other bad rows itself).
pub fn check_inventory(settings: &Settings, mode: Mode) -> Result<Checked, CommandError> {
    if mode != Mode::Etl {
        return Ok(Checked::default());
    }
    let path = &settings.inventory.path;
    let fail = settings.inventory.on_invalid == OnInvalid::Fail;
    let mut report = inventory::ProblemReport::new(inventory::REPORTED_PROBLEMS);
    let sets = settings.extract.snmp.credential_names();
    let (check, kept) = inventory::check_and_keep(path, settings.shard(), &sets, |p| {
        if fail {
            report.add(p);
        }
    })?;
    for line in report.lines() {
        eprintln!("{line}");
    }
    if fail && check.problems > 0 {
        return Err(CommandError::InvalidRows {
            path: path.clone(),
            count: check.problems,
        });
    }
    if check.devices + check.problems + check.other_shard == 0 {
        if settings.shard().is_some() {
            log::warn!(
                "[Inventory] {} holds no device (an empty file, or a header or comments only); a shard may be empty",
                path.display()
            );
        } else {
            log::warn!(
                "[Inventory] {} holds no device (an empty file, or a header or comments only): nothing to extract, the run ends with exit 3",
                path.display()
            );
        }
    }
    Ok(Checked {
        total: Some(check.devices + check.problems + check.other_shard),
        repeated: check.duplicates.into_iter().collect(),
        kept,
        other_shard: check.other_shard,
    })
}

/// `etl` and `replay`: the whole sequence, then the summary (and `--summary-json`), then the end-of-run report
/// (`metrics.push_url`, `metrics.textfile`: `observe::push`) whatever the outcome: also after a signal, and after an
/// error that stopped the run (with its exit code and the counters as far as it got).
pub fn etl(
    settings: Settings,
    mode: Mode,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode, CommandError> {
    let started = std::time::Instant::now();
    let metrics = Arc::new(RunMetrics::default());
    let report = crate::observe::push::RunReport {
        metrics: metrics.clone(),
        spool_dir: settings.spool.dir.clone(),
        job: match mode {
            Mode::Etl => "app_etl",
            Mode::Replay | Mode::ReplayRejected => "app_replay",
        },
        shard: settings.shard(),
        exit_code: 0,
        duration: std::time::Duration::ZERO,
        finished: std::time::SystemTime::UNIX_EPOCH,
    };
    let metrics_settings = settings.metrics.clone();
    let result = etl_with(settings, mode, summary_json, quiet, metrics);
    let exit_code = match &result {
        Ok(code) => code.code(),
        Err(e) => e.exit_code().code(),
    };
    crate::observe::push::report(
        &metrics_settings,
        &crate::observe::push::RunReport {
            exit_code,
            duration: started.elapsed(),
            finished: std::time::SystemTime::now(),
            ..report
        },
    );
    result
}

fn etl_with(
    settings: Settings,
    mode: Mode,
    summary_json: Option<&Path>,
    quiet: bool,
    metrics: Arc<RunMetrics>,
) -> Result<ExitCode, CommandError> {
    if let Some(path) = summary_json {
        super::summary_file::check(path)?;
    }
    crate::observe::logging::init(&settings.log)?;
    let resolved = Resolved::build(settings)?;
    if mode == Mode::Etl {
        super::snmp::check_profiles(&resolved.settings, false)?;
    }
    let spool_dir = resolved.settings.spool.dir.clone();
    let summary = actix_rt::System::new().block_on(async move {
        let started = std::time::Instant::now();
        let shutdown = watch_signals(&resolved.settings, mode);
        let checked =
            match check_inventory_unless_stopped(&resolved.settings, mode, &shutdown).await {
                Ok(p) => p,
                Err(e @ (CommandError::Inventory(_) | CommandError::InvalidRows { .. })) => {
                    // The run ends here (exit 2, or 4 when the system failed: nothing sent), and still with its
                    // summary: `inventory_error` says why, `exit_code` is the process's.
                    let summary = inventory_error_summary(&e, mode, &spool_dir, started, &shutdown);
                    write_summary(&summary, summary_json);
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
        execute_with(resolved, mode, checked, shutdown, quiet, metrics).await
    })?;
    write_summary(&summary, summary_json);
    Ok(summary.exit_code())
}

/// The summary of a run the inventory check stopped before anything was sent.
fn inventory_error_summary(
    error: &CommandError,
    mode: Mode,
    spool_dir: &Path,
    started: std::time::Instant,
    shutdown: &Shutdown,
) -> Summary {
    let outcome = crate::observe::outcome::RunOutcome {
        run_id: crate::model::new_run_id(),
        metrics: Arc::new(RunMetrics::default()),
        duration: started.elapsed(),
        signal: shutdown.signal(),
        inventory_error: None,
        sharded: false,
    };
    let mut summary = Summary::new(&outcome, mode, spool_dir);
    summary.inventory_error = Some(error.to_string());
    summary.exit_code = error.exit_code().code();
    summary.result = "the inventory check failed; nothing was sent".into();
    summary
}

/// The run's shutdown state, with SIGINT/SIGTERM handled from here on (before the inventory check, so that a signal
/// during it stops the run and still ends with the summary). Call first inside the actix `System`.
pub fn watch_signals(settings: &Settings, mode: Mode) -> Arc<Shutdown> {
    let shutdown = Shutdown::new();
    actors::watch_signals(shutdown.clone(), settings.shutdown.grace(), mode);
    shutdown
}

/// [`check_inventory`] on a thread of its own, given up when a signal stops the run first: then nothing is extracted (the
/// check's thread ends with the process).
pub async fn check_inventory_unless_stopped(
    settings: &Settings,
    mode: Mode,
    shutdown: &Shutdown,
) -> Result<Checked, CommandError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s = settings.clone();
    std::thread::Builder::new()
        .name("inventory-check".into())
        .spawn(move || {
            let _ = tx.send(check_inventory(&s, mode));
        })
        .map_err(|source| CommandError::Thread {
            name: "inventory check",
            source,
        })?;
    tokio::select! {
        biased;
        _ = shutdown.stopped() => {
            log::warn!("[Inventory] the check before the run was stopped by a signal; no device is extracted");
            Ok(Checked::default())
        }
        checked = rx => checked.unwrap_or(Err(CommandError::CheckLost)),
    }
}

/// Binds `metrics.addr` when set.
fn metrics_listener(settings: &Settings) -> Result<Option<TcpListener>, CommandError> {
    match settings.metrics.addr.as_str() {
        "" => Ok(None),
        addr => TcpListener::bind(addr)
            .map(Some)
            .map_err(|source| CommandError::Bind {
                key: "metrics.addr",
                addr: addr.to_string(),
                source,
            }),
    }
}

/// The run inside an actix `System`: everything it needs is set up in order, the pipeline runs, and each piece is
/// stopped in reverse order; the summary of the run.
pub async fn execute(
    resolved: Resolved,
    mode: Mode,
    checked: Checked,
    shutdown: Arc<Shutdown>,
    quiet: bool,
) -> Result<Summary, CommandError> {
    let metrics = Arc::new(RunMetrics::default());
    execute_with(resolved, mode, checked, shutdown, quiet, metrics).await
}

/// [`execute`], counting into `metrics` (which the caller reads after the run).
async fn execute_with(
    resolved: Resolved,
    mode: Mode,
    checked: Checked,
    shutdown: Arc<Shutdown>,
    quiet: bool,
    metrics: Arc<RunMetrics>,
) -> Result<Summary, CommandError> {
    let settings = &resolved.settings;
    let spool_dir = settings.spool.dir.clone();
    let before = resources::read(&spool_dir);
    let what = if mode == Mode::Etl { "ETL" } else { "replay" };
    before.log("Before", what);
    let metrics_listener = metrics_listener(settings)?;
    let profiler = CpuProfiler::start(&settings.profile)?;
    let heap = match HeapProfiler::start(&settings.profile).await {
        Ok(h) => h.map(std::rc::Rc::new),
        Err(e) => {
            log::warn!("[Profile] {e}; no heap profile");
            None
        }
    };
    crate::observe::profile::dump_heap_on_sigusr1(heap.clone());
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let bind_error = |addr: String| {
                move |source| CommandError::Bind {
                    key: "metrics.addr",
                    addr,
                    source,
                }
            };
            let addr = listener
                .local_addr()
                .map_err(bind_error(settings.metrics.addr.clone()))?;
            let registry = crate::observe::prom::run_registry(metrics.clone(), spool_dir.clone());
            let server = crate::observe::prom::serve(registry, listener)
                .map_err(bind_error(addr.to_string()))?;
            log::info!("[Metrics] serving http://{addr}/metrics while the run lasts");
            let handle = server.handle();
            actix_rt::spawn(server);
            Some(handle)
        }
        None => None,
    };
    let total = checked.total;
    let progress = Progress::start(
        metrics.clone(),
        total,
        settings.log.progress_interval(),
        quiet,
    );
    let outcome = actors::run(resolved, mode, shutdown, metrics, checked).await;
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(handle) = metrics_server {
        handle.stop(true).await;
    }
    if let Some(h) = heap {
        if let Err(e) = h.dump().await {
            log::error!("[Profile] {e}");
        }
    }
    if let Some(p) = profiler {
        if let Err(e) = p.finish() {
            log::error!("[Profile] {e}");
        }
    }
    let outcome = outcome?;
    if let Some(total) = total {
        // Rows no extraction started for (a signal stopped the run first) are counted, so that every row of the
        // inventory is somewhere in the summary.
        let m = &outcome.metrics;
        let dealt: u64 = m
            .values()
            .iter()
            .filter(|(c, _)| c.row_done)
            .map(|(_, v)| v)
            .sum();
        RunMetrics::add(&m.devices_total, total);
        RunMetrics::add(&m.devices_not_started, total.saturating_sub(dealt));
    }
    let after = resources::read(&spool_dir);
    after.log("After", what);
    let mut summary = Summary::new(&outcome, mode, &spool_dir);
    summary.resources = Some(Resources { before, after });
    Ok(summary)
}
