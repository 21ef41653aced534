//! `ExtractSupervisor`: streams the inventory (a reader thread feeding a bounded channel), keeps at most
//! `extract.concurrency` device extractions in flight, and hands each device's transformed records to the loader
//! chosen by the stable hash of its name, through the per-loader `Stage` (chunks of records; the task that fills a
//! chunk waits for room in the loader's mailbox with `send().await`, holding its extraction slot). A timer hands
//! partial chunks over every half `load.flush_interval_ms`.
//!
//! Messages, both from the topology (`actors/mod.rs`):
//! - `ExtractInventory`: run the extraction on this actor's context; the answer is how it ended (the inventory
//!   read to its end or stopped, or the inventory error that cut it short);
//! - `StopExtraction`: on shutdown, start no new extraction and cancel those under way.

use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::loader::LoaderActor;
use super::stage::Stage;
use crate::config::{Settings, Shard};
use crate::extract::Source;
use crate::inventory::kept::{PreparedReader, PreparedRows};
use crate::inventory::{
    ChunkBuilder, Device, DeviceChunk, InventoryError, InventoryReader, RowError,
};
use crate::model::{loader_index, shard_index, stable_hash, stable_hash_bytes, DeviceRecord};
use crate::observe::metrics::RunMetrics;
use crate::resolve::tls::ClientTls;
use crate::transform::transform_all;

/// Devices per message from the reader thread (large: each message may wake the supervisor's thread).
const CHUNK: usize = 1024;
/// Chunks the reader may run ahead of extraction.
const CHANNEL_CHUNKS: usize = 4;

pub struct ExtractSupervisor {
    settings: Arc<Settings>,
    /// The http source's TLS, resolved from `extract.http` at start.
    source_tls: ClientTls,
    loaders: Arc<Vec<Addr<LoaderActor>>>,
    metrics: Arc<RunMetrics>,
    /// Set by `StopExtraction`; the extraction loop and the device tasks watch it.
    stop: watch::Sender<bool>,
    stage: Rc<Stage>,
    repeated: Arc<Repeated>,
    prepared: Option<PreparedRows>,
}

/// Lines whose device name repeats an earlier line's (found by the full check before the run), with that line.
pub type Repeated = std::collections::HashMap<u64, u64>;

/// What the check before the run hands to it.
#[derive(Debug, Default)]
pub struct Checked {
    /// Rows to skip: their name repeats an earlier row's.
    pub repeated: Repeated,
    /// The valid rows as the check read them (when every row parsed): read instead of the CSV.
    pub prepared: Option<PreparedRows>,
}

/// Where the run's rows come from: the rows the check kept, or the CSV file read again.
enum RowSource {
    Csv(InventoryReader),
    Prepared(PreparedReader),
}

impl RowSource {
    /// The next row, as `InventoryReader::next_with` gives it.
    fn next_with<T>(
        &mut self,
        path: &std::path::Path,
        make: impl FnMut(u64, std::net::IpAddr, &[u8]) -> T,
    ) -> Option<Result<Result<T, RowError>, InventoryError>> {
        match self {
            RowSource::Csv(reader) => reader.next_with(make),
            RowSource::Prepared(reader) => reader.next_with(make).map(|row| {
                row.map(Ok).map_err(|e| InventoryError::Read {
                    path: path.to_path_buf(),
                    line: reader.line(),
                    message: e.to_string(),
                })
            }),
        }
    }
}

impl ExtractSupervisor {
    pub fn new(
        settings: Arc<Settings>,
        source_tls: ClientTls,
        loaders: Arc<Vec<Addr<LoaderActor>>>,
        metrics: Arc<RunMetrics>,
        checked: Checked,
    ) -> Self {
        ExtractSupervisor {
            repeated: Arc::new(checked.repeated),
            prepared: checked.prepared,
            stage: Stage::new(loaders.clone(), settings.load.batch_size, metrics.clone()),
            settings,
            source_tls,
            loaders,
            metrics,
            stop: watch::Sender::new(false),
        }
    }
}

/// Reads the inventory on its own thread: counts invalid rows and rows of other shards, sends the rest in chunks.
fn read_inventory(
    path: &std::path::Path,
    mut reader: RowSource,
    shard: Option<Shard>,
    repeated: &Repeated,
    metrics: &RunMetrics,
    tx: mpsc::Sender<DeviceChunk>,
) -> Result<(), InventoryError> {
    /// What became of a valid row.
    enum Kept {
        Yes,
        Repeated { line: u64, first: u64 },
        OtherShard,
    }
    // A filled chunk, checked, for the supervisor (an error names the line of a name that is not UTF-8).
    let finish = |chunk: ChunkBuilder| {
        chunk.finish().map_err(|line| InventoryError::Read {
            path: path.to_path_buf(),
            line,
            message: "the device name is not UTF-8 (a damaged temporary file?)".into(),
        })
    };
    let mut chunk = ChunkBuilder::with_capacity(CHUNK);
    loop {
        if tx.is_closed() {
            return Ok(()); // extraction stopped
        }
        // The name is copied straight into the chunk's arena: nothing is allocated per row.
        let row = reader.next_with(path, |line, ip, name| {
            if let Some(&first) = repeated.get(&line) {
                return Kept::Repeated { line, first };
            }
            // Hashed here, once, for the shard, the loader and the simulated stats.
            let hash = stable_hash_bytes(name);
            if let Some(s) = shard {
                if shard_index(hash, s.count) != s.index {
                    return Kept::OtherShard;
                }
            }
            chunk.push_parts(line, ip, name, hash);
            Kept::Yes
        });
        let row = match row {
            None => break,
            Some(Ok(row)) => row,
            Some(Err(e)) => {
                // Hand over what was read before the error, then report it.
                let _ = tx.blocking_send(finish(chunk)?);
                return Err(e);
            }
        };
        match row {
            Ok(Kept::Yes) => {
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, ChunkBuilder::with_capacity(CHUNK));
                    if tx.blocking_send(finish(full)?).is_err() {
                        return Ok(()); // extraction stopped
                    }
                }
            }
            Ok(Kept::Repeated { line, first }) => {
                RunMetrics::add(&metrics.devices_invalid, 1);
                log::warn!(
                    "[Inventory] {}:{line}: field `name`: the same name is on line {first}; row skipped",
                    path.display(),
                );
            }
            Ok(Kept::OtherShard) => RunMetrics::add(&metrics.devices_skipped_shard, 1),
            Err(e) => {
                RunMetrics::add(&metrics.devices_invalid, 1);
                log::warn!("[Inventory] {e}; row skipped");
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(finish(chunk)?);
    }
    Ok(())
}

/// Transforms one device's extraction result and counts it; the records to stage, or `None` when the device
/// failed (logged and counted).
fn finish_device(
    name: &str,
    ip: std::net::IpAddr,
    result: Result<Vec<crate::model::CpuStats>, crate::extract::ExtractError>,
    metrics: &RunMetrics,
) -> Option<Vec<DeviceRecord>> {
    let records = match result.map(transform_all) {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => {
            RunMetrics::add(&metrics.devices_failed, 1);
            log::warn!("[Extract] {name} ({ip}): {e}");
            return None;
        }
        Err(e) => {
            RunMetrics::add(&metrics.devices_failed, 1);
            log::warn!("[Extract] {name} ({ip}) failed: {e}");
            return None;
        }
    };
    RunMetrics::add(&metrics.devices_ok, 1);
    RunMetrics::add(&metrics.records_extracted, records.len() as u64);
    log::debug!("[Extract] Completed extraction for {name}");
    Some(records)
}

/// Extracts (waiting), transforms and hands over one device, as a task; the slot is held until its records are
/// staged (and, when that fills a chunk, in a loader's mailbox).
async fn extract_device(
    device: Device,
    source: Rc<Source>,
    stage: Rc<Stage>,
    workers: usize,
    metrics: Arc<RunMetrics>,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let result = tokio::select! {
        r = source.extract(&device) => r,
        // A signal cancels extractions under way: their records were not extracted yet, so nothing is lost,
        // and the grace period is left to delivering what was.
        _ = stop.wait_for(|s| *s) => {
            RunMetrics::add(&metrics.devices_cancelled, 1);
            log::debug!("[Extract] {} ({}): cancelled by shutdown", device.name, device.ip);
            return;
        }
    };
    if let Some(records) = finish_device(&device.name, device.ip, result, &metrics) {
        stage
            .add(loader_index(stable_hash(&device.name), workers), records)
            .await;
    }
}

impl Actor for ExtractSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let interval = self.settings.load.flush_interval() / 2;
        ctx.run_interval(interval, |act, _| act.stage.flush_partial());
    }
}

/// Extract the whole inventory (sent once, by the topology); answers when every device was extracted and its
/// records handed to the loaders, or extraction was stopped, or the inventory could not be read to its end.
#[derive(Message)]
#[rtype(result = "Result<(), InventoryError>")]
pub struct ExtractInventory;

/// Start no new extraction and cancel those under way (from the topology, on shutdown); `ExtractInventory` then
/// answers once the records already extracted are handed over.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopExtraction;

impl Handler<StopExtraction> for ExtractSupervisor {
    type Result = ();
    fn handle(&mut self, _: StopExtraction, _: &mut Self::Context) {
        self.stop.send_replace(true);
    }
}

impl Handler<ExtractInventory> for ExtractSupervisor {
    type Result = ResponseActFuture<Self, Result<(), InventoryError>>;

    fn handle(&mut self, _: ExtractInventory, _: &mut Self::Context) -> Self::Result {
        let settings = self.settings.clone();
        let (tx, mut rx) = mpsc::channel::<DeviceChunk>(CHANNEL_CHUNKS);
        let reader = match self.prepared.take() {
            Some(rows) => Ok(RowSource::Prepared(PreparedReader::new(rows))),
            None => InventoryReader::open(&settings.inventory.path).map(RowSource::Csv),
        };
        let reader = match reader {
            Ok(r) => r,
            Err(e) => return Box::pin(actix::fut::ready(Err(e))),
        };
        let metrics = self.metrics.clone();
        let shard = settings.shard();
        let (path, repeated) = (settings.inventory.path.clone(), self.repeated.clone());
        let (reader_done_tx, reader_done) = oneshot::channel();
        std::thread::Builder::new()
            .name("inventory".into())
            .spawn(move || {
                let _ = reader_done_tx.send(read_inventory(
                    &path, reader, shard, &repeated, &metrics, tx,
                ));
            })
            .expect("spawning the inventory thread only fails when the OS is out of threads");

        let source = Rc::new(Source::new(&settings.extract, &self.source_tls));
        let concurrency = settings.extract.concurrency;
        let (stage, workers, metrics) =
            (self.stage.clone(), self.loaders.len(), self.metrics.clone());
        let stop = self.stop.subscribe();
        let run = async move {
            let stopping = || *stop.borrow();
            let stopped = || {
                let mut stop = stop.clone();
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                }
            };
            let slots = Arc::new(Semaphore::new(concurrency));
            'outer: loop {
                let chunk = tokio::select! {
                    biased;
                    _ = stopped() => None,
                    c = rx.recv() => c,
                };
                let Some(chunk) = chunk else { break };
                for device in chunk.devices() {
                    if stopping() {
                        break 'outer;
                    }
                    // An extraction that needs no waiting (the simulated source at zero latency) runs inline: a
                    // task per device would cost more than the extraction itself.
                    if let Some(result) = source.ready(device.name, device.hash) {
                        if let Some(records) =
                            finish_device(device.name, device.ip, result, &metrics)
                        {
                            let loader = loader_index(device.hash, workers);
                            if stage.add(loader, records).await {
                                source.waited(); // the next stats read the clock again
                            }
                        }
                        continue;
                    }
                    let slot = match slots.clone().try_acquire_owned() {
                        Ok(slot) => slot,
                        Err(_) => tokio::select! {
                            biased;
                            _ = stopped() => break 'outer,
                            s = slots.clone().acquire_owned() => s.expect("the slot semaphore is never closed"),
                        },
                    };
                    if stopping() {
                        break 'outer;
                    }
                    actix_rt::spawn(extract_device(
                        device.to_device(),
                        source.clone(),
                        stage.clone(),
                        workers,
                        metrics.clone(),
                        stop.clone(),
                        slot,
                    ));
                }
            }
            drop(rx);
            let all = u32::try_from(concurrency).expect("extract.concurrency is validated to fit");
            let _all = slots.acquire_many(all).await;
            stage.flush_all().await;
            // The reader stops at its next row once the channel is closed.
            reader_done.await.unwrap_or(Ok(()))
        };
        Box::pin(actix::fut::wrap_future(run))
    }
}
