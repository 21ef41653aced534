//! The actor topology of a run, and its shutdown order.
//!
//! ```text
//! FailedBufferActor (SyncArbiter, 1 thread)   ◄── PersistBatch / RejectBatch / AckSpoolFile ──┐
//!        │ ScanSpool, ReadSpoolFile                                                           │
//!        ▼                                                                                    │
//! replay step ── DeliverBatch ──► LoaderActor × load.workers (on one arbiter per core) ── POST /load ─┘
//!                                       ▲
//! ExtractSupervisor ── LoadRecords ─────┘  (device tasks, ≤ extract.concurrency in flight)
//! ```
//!
//! With `spool.durable` (or a WAL left by an earlier run) the write-ahead log, the WAL (`spool::wal`, one writer
//! thread), is opened and recovered first; loaders append each batch to it and send it once it is on disk, and record
//! each resolution in it (`wal.rs`).
//!
//! Order: open the WAL; start the spool (`FailedBufferActor`) and the loaders; replay the spool files, then the WAL's
//! un-acknowledged batches (before any new data); run the supervisor until
//! the inventory is done or shutdown stops it; `Drain` every loader (flush, wait for in-flight batches); stop the
//! loaders' arbiters; close the WAL. On a signal, `Shutdown::stop` ends extraction at once and `Shutdown::abort` after
//! `shutdown.grace_ms` cuts what is still in flight, which then goes to the spool.

pub mod delivery;
pub mod failed_buffer;
pub mod feed;
pub mod loader;
pub mod outcome;
pub mod shutdown;
pub mod stage;
pub mod supervisor;
pub mod wal_queue;
pub mod wal;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::delivery::Delivery;
use crate::config::Settings;
use crate::load::client::LoadClient;
use crate::model::new_run_id;
use crate::observe::metrics::RunMetrics;
pub use crate::observe::outcome::{Mode, RunOutcome};
use crate::resolve::Resolved;
use failed_buffer::{FailedBufferActor, ReadSpoolFile, ScanSpool};
use loader::{DeliverBatch, Drain, LoaderActor};
pub use shutdown::Shutdown;
use supervisor::{ExtractInventory, ExtractSupervisor, StopExtraction};

/// Errors that stop a run before or while it runs.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("spool directory {}: {source}", path.display())]
    Spool {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("write-ahead log: {0}")]
    Wal(#[from] crate::spool::wal::WalError),
}

/// Runs the pipeline to its end (or until `shutdown`), then drains. Call inside an actix `System`.
/// `metrics` is counted into as the run goes (the caller may serve it); `checked` is what the full check of the
/// inventory found: rows whose name repeats are skipped as invalid, and the rows it kept are read instead of the
/// CSV.
pub async fn run(
    resolved: Resolved,
    mode: Mode,
    shutdown: Arc<Shutdown>,
    metrics: Arc<RunMetrics>,
    checked: supervisor::Checked,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let Resolved {
        settings,
        token,
        password,
        load_tls,
        http_source_tls,
        snmp: snmp_secrets,
    } = resolved;
    let mut settings = settings;
    // The directory is checked before anything in it is trusted; a link to it is resolved once, here.
    settings.spool.dir = crate::spool::check_dir(&settings.spool.dir, settings.spool.shared_dir)
        .map_err(|source| PipelineError::Spool {
            path: settings.spool.dir.clone(),
            source,
        })?;
    let settings = Arc::new(settings);
    let run_id: Arc<str> = new_run_id().into();
    let dir = settings.spool.dir.clone();
    let spool_error = |source| PipelineError::Spool {
        path: dir.clone(),
        source,
    };
    let _spool_lock = crate::spool::lock_dir(&dir).map_err(spool_error)?;
    crate::spool::ensure_dir(&dir).map_err(spool_error)?;
    let tag = mode.tag();
    log::info!(
        "{tag} run {run_id}: {} loaders, batch {} records, {} in flight per loader, spool {}",
        settings.load.workers,
        settings.load.batch_size,
        settings.load.max_in_flight,
        dir.display()
    );

    warn_about_tls(&settings, mode);
    for warning in settings.warnings() {
        log::warn!("{tag} {warning}");
    }
    let (wal, recovered) = match wal::open(&settings.spool, &metrics)? {
        Some(open) => (Some(open.wal), open.batches),
        None => (None, Vec::new()),
    };

    let failed_buffer = {
        let (dir, metrics, load) = (dir.clone(), metrics.clone(), settings.load.clone());
        SyncArbiter::start(1, move || {
            FailedBufferActor::new(
                dir.clone(),
                load.batch_size,
                load.batch_bytes,
                metrics.clone(),
                mode == Mode::ReplayRejected,
            )
        })
    };
    // The loaders share one thread per core (not one each): a thread woken by a response or a chunk then serves
    // every loader it hosts, and ten threads on two cores only added wake-ups and context switches.
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, settings.load.workers);
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let mut loaders = Vec::with_capacity(settings.load.workers);
    for worker in 0..settings.load.workers {
        let arbiter = &arbiters[worker % threads];
        let durable = settings.spool.durable;
        let wal = wal.clone();
        let (load, token, password, tls, run_id, metrics, fb, dir, sd) = (
            settings.load.clone(),
            token.clone(),
            password.clone(),
            load_tls.clone(),
            run_id.clone(),
            metrics.clone(),
            failed_buffer.clone(),
            dir.clone(),
            shutdown.clone(),
        );
        loaders.push(LoaderActor::start_in_arbiter(
            &arbiter.handle(),
            move |_| {
                let client = LoadClient::new(&load, &token, &password, &tls);
                let delivery =
                    Delivery::new(worker, &load, client, metrics, fb, dir, sd).with_wal(wal);
                LoaderActor::new(worker, run_id, load, durable, delivery)
            },
        ));
    }
    let loaders = Arc::new(loaders);

    if mode != Mode::Etl || settings.spool.replay_on_start {
        let limits = (settings.load.batch_size, settings.load.batch_bytes);
        let in_wal = recovered.iter().map(|b| b.id.clone()).collect();
        replay(&failed_buffer, &loaders, &dir, &shutdown, limits, in_wal).await;
        wal::replay(recovered, &loaders, &shutdown, &metrics).await;
    }

    let mut inventory_error = None;
    if mode == Mode::Etl && !shutdown.is_stopping() {
        let supervisor = ExtractSupervisor::new(
            settings.clone(),
            http_source_tls,
            snmp_secrets,
            loaders.clone(),
            metrics.clone(),
            checked,
        )
        .start();
        // Shutdown, as the supervisor hears it: a message.
        let (stopper, sd) = (supervisor.clone(), shutdown.clone());
        actix_rt::spawn(async move {
            sd.stopped().await;
            stopper.do_send(StopExtraction);
        });
        match supervisor.send(ExtractInventory).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::error!("[Extract] {e}; no further devices are extracted");
                inventory_error = Some(e);
            }
            Err(e) => log::error!("[Extract] the supervisor is gone: {e}"),
        }
    }

    let done = if mode == Mode::Etl {
        "extraction done"
    } else {
        "spool handed to the loaders"
    };
    log::info!("{tag} {done}; draining {} loaders", loaders.len());
    futures_util::future::join_all(loaders.iter().map(|l| l.send(Drain))).await;
    for arbiter in arbiters {
        arbiter.stop();
    }
    if let Some(wal) = wal {
        wal::close(wal, &dir).await;
    }
    Ok(RunOutcome {
        run_id: run_id.to_string(),
        metrics,
        duration: started.elapsed(),
        signal: shutdown.signal(),
        inventory_error,
        sharded: settings.shard().is_some(),
    })
}

/// Hands every spool file to its loader (worker N of the file name, modulo the loader count), oldest first.
async fn replay(
    failed_buffer: &Addr<FailedBufferActor>,
    loaders: &[Addr<LoaderActor>],
    dir: &std::path::Path,
    shutdown: &Shutdown,
    (max_records, max_bytes): (usize, usize),
    in_wal: std::collections::HashSet<String>,
) {
    let files = match failed_buffer.send(ScanSpool { in_wal }).await {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => {
            log::error!(
                "[Spool] cannot list the spool {}: {e}; nothing replayed",
                dir.display()
            );
            return;
        }
        Err(e) => {
            log::error!("[Spool] the spool stopped answering: {e}");
            return;
        }
    };
    if !files.is_empty() {
        log::info!(
            "[Spool] replaying {} spool files before new data",
            files.len()
        );
    }
    for path in files {
        if shutdown.is_stopping() {
            break;
        }
        let Ok(plan) = failed_buffer.send(ReadSpoolFile(path)).await else {
            break;
        };
        match plan {
            // An empty batch (`[]`): nothing to send; the file is deleted without a request, and counted replayed.
            Some(plan) if plan.records == 0 => {
                let path = plan.path.clone();
                match failed_buffer
                    .send(failed_buffer::AckSpoolFile {
                        path: path.clone(),
                        replayed: true,
                    })
                    .await
                {
                    Ok(Ok(())) => log::info!(
                        "[Spool] {} holds no record (`[]`): deleted without a request",
                        path.display()
                    ),
                    Ok(Err(e)) => log::error!(
                        "[Spool] {} holds no record (`[]`) but could not be deleted: {e}",
                        path.display()
                    ),
                    Err(e) => log::error!("[Spool] the spool stopped answering: {e}"),
                }
            }
            Some(plan) => replay_file(plan, loaders, max_records, max_bytes).await,
            None => {}
        }
    }
}

/// The second pass over a checked spool file: its parts are read on a blocking thread, one at a time (a channel
/// of one), and handed to the file's loader as it takes them, so memory holds a part or two, not the file.
async fn replay_file(
    plan: crate::spool::SpoolPlan,
    loaders: &[Addr<LoaderActor>],
    max_records: usize,
    max_bytes: usize,
) {
    let loader = loaders[plan.worker % loaders.len()].clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let reader = tokio::task::spawn_blocking(move || {
        crate::spool::emit(&plan, max_records, max_bytes, |batch| {
            tx.blocking_send(batch).is_ok()
        })
    });
    while let Some(batch) = rx.recv().await {
        let _ = loader.send(DeliverBatch(batch)).await;
    }
    match reader.await {
        Ok(Ok(())) => {}
        // The file passed its check a moment ago and the spool is locked: only a change behind our back gets
        // here. The parts sent are valid; the file stays (not every part was resolved) for the next replay.
        Ok(Err(e)) => log::error!("[Spool] replay of {e}; left in place for the next replay"),
        Err(e) => log::error!("[Spool] the spool reader thread failed: {e}"),
    }
}

/// Stops the run on SIGINT/SIGTERM: no new extraction at once, in-flight work cut after `grace`; a second signal
/// cuts at once. The handlers are installed before this returns (also over a SIGINT ignored by the parent, as
/// `app etl &` in a script leaves it), so a signal that comes while the caller is still busy is not lost. Call
/// inside an actix `System`.
pub fn watch_signals(shutdown: Arc<Shutdown>, grace: Duration, mode: Mode) {
    let tag = mode.tag();
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        log::error!("cannot install signal handlers");
        return;
    };
    actix_rt::spawn(async move {
        let mut first = true;
        loop {
            let (sig, name) = tokio::select! {
                _ = int.recv() => (2, "SIGINT"),
                _ = term.recv() => (15, "SIGTERM"),
            };
            if first {
                first = false;
                log::warn!(
                    "{tag} {name}: no new extraction; draining for up to {} ms, then spooling what is left",
                    grace.as_millis()
                );
                shutdown.stop(Some(sig));
                let sd = shutdown.clone();
                actix_rt::spawn(async move {
                    actix_rt::time::sleep(grace).await;
                    if !sd.is_aborted() {
                        log::warn!("{tag} grace period over: cutting in-flight requests, spooling the rest");
                    }
                    sd.abort();
                });
            } else {
                log::warn!(
                    "{tag} second {name}: cutting in-flight requests now, spooling the rest"
                );
                shutdown.abort();
            }
        }
    });
}

/// Says loudly when a certificate is not verified (the API's, or the devices' with the http source), and when
/// load TLS keys are set for an `http://` endpoint (where they do nothing).
fn warn_about_tls(settings: &Settings, mode: Mode) {
    let tag = mode.tag();
    let load = &settings.load;
    let http = &settings.extract.http;
    let insecure = [
        (
            "load.insecure_skip_verify",
            load.insecure_skip_verify && load.endpoint.starts_with("https://"),
            format!("the certificate of {} is", load.endpoint),
            "the records and the token",
            "load.ca_file",
        ),
        (
            "extract.http.insecure_skip_verify",
            http.insecure_skip_verify
                && mode == Mode::Etl
                && settings.extract.source == crate::config::SourceKind::Http
                && http.url_template.starts_with("https://"),
            "device certificates are".to_string(),
            "the statistics",
            "extract.http.ca_file",
        ),
    ];
    for (key, on, what, exposed, instead) in insecure {
        if on {
            log::warn!(
                "{tag} {key} = true: {what} NOT verified; anyone on the path can read and change {exposed}. \
                 Use {instead} instead"
            );
        }
    }
    if !load.endpoint.starts_with("https://") {
        let set = [
            ("load.ca_file", !load.ca_file.as_os_str().is_empty()),
            (
                "load.client_cert_file",
                !load.client_cert_file.as_os_str().is_empty(),
            ),
            ("load.insecure_skip_verify", load.insecure_skip_verify),
        ];
        for (key, _) in set.iter().filter(|(_, set)| *set) {
            log::warn!(
                "{tag} {key} is set but load.endpoint {} is not https://: it has no effect",
                load.endpoint
            );
        }
    }
}
