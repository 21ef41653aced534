//! The actor topology of a run, and its shutdown order.
//!
//! ```text
//! FailedBufferActor (SyncArbiter, 1 thread)   ◄── PersistBatch / RejectBatch / AckSpoolFile ──┐
//!        │ ScanSpool, ReadSpoolFile                                                           │
//!        ▼                                                                                    │
//! replay step ── DeliverBatch ──► LoaderActor × load.workers (on one arbiter per core) ── POST /load ─┘
//!                                       ▲
//! DeviceExtractor × N ── LoadRecords ───┘  (one per extraction thread; device tasks, their shares of
//!        ▲                                   extract.concurrency in flight; the stage's chunks)
//! ExtractSupervisor: starts them, feeds them chunks of the inventory, stops them, keeps the SNMP detections
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
pub mod replay;
pub mod shutdown;
pub mod stage;
pub mod supervisor;
pub mod wal;
pub mod wal_queue;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::actors::delivery::Delivery;
use crate::config::{LoadSettings, Secret, Settings};
use crate::inventory::InventoryError;
use crate::load::client::{LoadClient, Pool};
use crate::model::new_run_id;
use crate::observe::metrics::RunMetrics;
pub use crate::observe::outcome::{Mode, RunOutcome};
use crate::resolve::tls::ClientTls;
use crate::resolve::Resolved;
use crate::spool::wal::Wal;
use failed_buffer::FailedBufferActor;
use loader::{Drain, LoaderActor};
use replay::Replay;
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
    let settings = Arc::new(with_checked_spool_dir(settings)?);
    let dir = settings.spool.dir.clone();
    let _spool_lock = lock_spool(&dir)?;
    let run_id: Arc<str> = new_run_id().into();
    announce(&settings, &run_id, mode);
    let (wal, recovered) = match wal::open(&settings.spool, &metrics)? {
        Some(open) => (Some(open.wal), open.batches),
        None => (None, Vec::new()),
    };
    let failed_buffer = start_spool(&settings, &metrics, mode);
    let loaders = Loaders::start(LoaderParts {
        load: settings.load.clone(),
        durable: settings.spool.durable,
        token,
        password,
        tls: load_tls,
        run_id: run_id.clone(),
        metrics: metrics.clone(),
        failed_buffer: failed_buffer.clone(),
        dir: dir.clone(),
        shutdown: shutdown.clone(),
        wal: wal.clone(),
    });

    if mode != Mode::Etl || settings.spool.replay_on_start {
        let replay = Replay {
            failed_buffer: &failed_buffer,
            loaders: &loaders.addrs,
            dir: &dir,
            shutdown: &shutdown,
            metrics: &metrics,
            max_records: settings.load.batch_size,
            max_bytes: settings.load.batch_bytes,
        };
        replay.run(recovered).await;
    }
    let inventory_error = if mode == Mode::Etl && !shutdown.is_stopping() {
        let supervisor = ExtractSupervisor::new(
            settings.clone(),
            http_source_tls,
            snmp_secrets,
            loaders.addrs.clone(),
            metrics.clone(),
            checked,
        );
        extract(supervisor, &shutdown).await
    } else {
        None
    };
    let done = if mode == Mode::Etl {
        "extraction done"
    } else {
        "spool handed to the loaders"
    };
    log::info!(
        "{} {done}; draining {} loaders",
        mode.tag(),
        loaders.addrs.len()
    );
    loaders.drain().await;
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

/// `settings` with its spool directory checked before anything in it is trusted; a link to it is resolved once,
/// here.
fn with_checked_spool_dir(mut settings: Settings) -> Result<Settings, PipelineError> {
    settings.spool.dir = crate::spool::check_dir(&settings.spool.dir, settings.spool.shared_dir)
        .map_err(|source| PipelineError::Spool {
            path: settings.spool.dir.clone(),
            source,
        })?;
    Ok(settings)
}

/// Locks the spool directory `dir` for this run (held until the guard drops) and creates what it needs in it.
fn lock_spool(dir: &std::path::Path) -> Result<std::fs::File, PipelineError> {
    let spool_error = |source| PipelineError::Spool {
        path: dir.to_path_buf(),
        source,
    };
    let lock = crate::spool::lock_dir(dir).map_err(spool_error)?;
    crate::spool::ensure_dir(dir).map_err(spool_error)?;
    Ok(lock)
}

/// The run's first lines: what it runs with, and the warnings its settings deserve.
fn announce(settings: &Settings, run_id: &str, mode: Mode) {
    let tag = mode.tag();
    log::info!(
        "{tag} run {run_id}: {} loaders, batch {} records, {} in flight per loader, at most {} connections to the \
         API, spool {}",
        settings.load.workers,
        settings.load.batch_size,
        settings.load.max_in_flight,
        settings.load.connections(),
        settings.spool.dir.display()
    );
    warn_about_tls(settings, mode);
    for warning in settings.warnings() {
        log::warn!("{tag} {warning}");
    }
}

/// Starts the spool (`FailedBufferActor`) on its own thread.
fn start_spool(
    settings: &Settings,
    metrics: &Arc<RunMetrics>,
    mode: Mode,
) -> Addr<FailedBufferActor> {
    let (dir, metrics, load) = (
        settings.spool.dir.clone(),
        metrics.clone(),
        settings.load.clone(),
    );
    SyncArbiter::start(1, move || {
        FailedBufferActor::new(
            dir.clone(),
            load.batch_size,
            load.batch_bytes,
            metrics.clone(),
            mode == Mode::ReplayRejected,
        )
    })
}

/// Runs the supervisor over the inventory until it is done or shutdown stops it (shutdown, as the supervisor
/// hears it: a message). The error that stopped reading the inventory, if one did.
async fn extract(
    supervisor: ExtractSupervisor,
    shutdown: &Arc<Shutdown>,
) -> Option<InventoryError> {
    let supervisor = supervisor.start();
    let (stopper, sd) = (supervisor.clone(), shutdown.clone());
    actix_rt::spawn(async move {
        sd.stopped().await;
        stopper.do_send(StopExtraction);
    });
    match supervisor.send(ExtractInventory).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            log::error!("[Extract] {e}; no further devices are extracted");
            Some(e)
        }
        Err(e) => {
            log::error!("[Extract] the supervisor is gone: {e}");
            None
        }
    }
}

/// What every loader is built from; each loader gets its own clone, moved to its arbiter.
#[derive(Clone)]
struct LoaderParts {
    load: LoadSettings,
    /// `spool.durable`: every batch is written ahead to the WAL before its first send.
    durable: bool,
    token: Secret,
    password: Secret,
    tls: ClientTls,
    run_id: Arc<str>,
    metrics: Arc<RunMetrics>,
    failed_buffer: Addr<FailedBufferActor>,
    dir: PathBuf,
    shutdown: Arc<Shutdown>,
    wal: Option<Arc<Wal>>,
}

impl LoaderParts {
    /// Starts loader `worker` on `arbiter` (its client is built there: it is not `Send`), with the connections of
    /// `pool` (the arbiter's loaders').
    fn start(self, worker: usize, arbiter: &ArbiterHandle, pool: Pool) -> Addr<LoaderActor> {
        LoaderActor::start_in_arbiter(arbiter, move |_| {
            let p = self;
            let client = LoadClient::shared(&p.load, &p.token, &p.password, &p.tls, &pool);
            let delivery = Delivery::new(
                worker,
                &p.load,
                client,
                p.metrics,
                p.failed_buffer,
                p.dir,
                p.shutdown,
            )
            .with_wal(p.wal);
            LoaderActor::new(worker, p.run_id, p.load, p.durable, delivery)
        })
    }
}

/// The loaders of a run and the arbiters they run on.
struct Loaders {
    addrs: Arc<Vec<Addr<LoaderActor>>>,
    arbiters: Vec<Arbiter>,
}

impl Loaders {
    /// Starts `load.workers` loaders. They share one thread per core (not one each): a thread woken by a response or a
    /// chunk then serves every loader it hosts, and ten threads on two cores only added wake-ups and context
    /// switches.
    fn start(parts: LoaderParts) -> Loaders {
        let arbiters: Vec<Arbiter> = (0..parts.load.threads()).map(|_| Arbiter::new()).collect();
        // One connection pool per thread, shared by the loaders on it (`Pool`), with its share of
        // `load.max_connections`.
        let pools: Vec<Pool> = parts
            .load
            .connection_shares(&parts.load.loaders_per_thread())
            .into_iter()
            .map(|connections| Pool {
                id: Pool::next_id(),
                connections,
            })
            .collect();
        let addrs = (0..parts.load.workers)
            .map(|worker| {
                let t = parts.load.thread_of(worker);
                parts.clone().start(worker, &arbiters[t].handle(), pools[t])
            })
            .collect();
        Loaders {
            addrs: Arc::new(addrs),
            arbiters,
        }
    }

    /// `Drain`s every loader (flush, wait for in-flight batches), then stops their arbiters.
    async fn drain(self) {
        futures_util::future::join_all(self.addrs.iter().map(|l| l.send(Drain))).await;
        for arbiter in self.arbiters {
            arbiter.stop();
        }
    }
}

/// Stops the run on SIGINT/SIGTERM: no new extraction at once, in-flight work cut after `grace`; a second signal
/// cuts at once. The handlers are installed before this returns (`shutdown::on_signals`). Call inside an actix
/// `System`.
pub fn watch_signals(shutdown: Arc<Shutdown>, grace: Duration, mode: Mode) {
    let tag = mode.tag();
    let mut first = true;
    shutdown::on_signals(move |sig, name| {
        if !first {
            log::warn!("{tag} second {name}: cutting in-flight requests now, spooling the rest");
            shutdown.abort();
            return;
        }
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
                log::warn!(
                    "{tag} grace period over: cutting in-flight requests, spooling the rest"
                );
            }
            sd.abort();
        });
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
