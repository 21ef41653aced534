//! `ExtractSupervisor`: streams the inventory (the reader thread of `feed.rs` fills a bounded channel), keeps at most
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
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

pub use super::feed::{Checked, Repeated};
use super::loader::LoaderActor;
use super::stage::Stage;
use crate::config::Settings;
use crate::extract::{FailureReason, Source};
use crate::inventory::{Device, InventoryError};
use crate::model::{loader_index, stable_hash, DeviceRecord};
use crate::observe::metrics::RunMetrics;
use crate::resolve::tls::ClientTls;
use crate::resolve::SnmpSecrets;
use crate::transform::transform_all;

/// Chunks the reader may run ahead of extraction.
const CHANNEL_CHUNKS: usize = 4;

pub struct ExtractSupervisor {
    settings: Arc<Settings>,
    /// The http source's TLS and the snmp source's secrets, resolved at start.
    source_tls: ClientTls,
    snmp_secrets: SnmpSecrets,
    loaders: Arc<Vec<Addr<LoaderActor>>>,
    metrics: Arc<RunMetrics>,
    /// Set by `StopExtraction`; the extraction loop and the device tasks watch it.
    stop: watch::Sender<bool>,
    stage: Rc<Stage>,
    /// What the check before the run found (its rows are taken by the feed).
    checked: Checked,
}

impl ExtractSupervisor {
    pub fn new(
        settings: Arc<Settings>,
        source_tls: ClientTls,
        snmp_secrets: SnmpSecrets,
        loaders: Arc<Vec<Addr<LoaderActor>>>,
        metrics: Arc<RunMetrics>,
        checked: Checked,
    ) -> Self {
        ExtractSupervisor {
            checked,
            stage: Stage::new(
                loaders.clone(),
                settings.load.batch_size,
                crate::load::sinks::Sink::new(&settings.load),
                metrics.clone(),
            ),
            settings,
            source_tls,
            snmp_secrets,
            loaders,
            metrics,
            stop: watch::Sender::new(false),
        }
    }
}

/// Transforms one device's extraction result and counts it; the records to stage, or `None` when the device
/// failed (logged and counted).
fn finish_device(
    name: &str,
    ip: std::net::IpAddr,
    result: Result<Vec<crate::model::CpuStats>, crate::extract::ExtractError>,
    metrics: &RunMetrics,
) -> Option<Vec<DeviceRecord>> {
    let result = result.and_then(|stats| own_name(name, ip, stats, metrics));
    let records = match result.map(transform_all) {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => {
            metrics.device_failed(FailureReason::Transform);
            log::warn!(
                "[Extract] {name} ({ip}): {}",
                crate::model::log_text(&e.to_string(), 300)
            );
            return None;
        }
        Err(e) => {
            metrics.device_failed(e.reason());
            // The error may quote what the device sent (an agent's value, a parse error's excerpt).
            log::warn!(
                "[Extract] {name} ({ip}) failed: {}",
                crate::model::log_text(&e.to_string(), 300)
            );
            return None;
        }
    };
    RunMetrics::add(&metrics.devices_ok, 1);
    RunMetrics::add(&metrics.records_extracted, records.len() as u64);
    log::debug!("[Extract] Completed extraction for {name}");
    Some(records)
}

/// Most CPUs one device's answer may hold, and the longest `cpu_number` (a device cannot flood the batches).
pub const MAX_CPUS_PER_DEVICE: usize = 4096;
pub const MAX_CPU_NUMBER_BYTES: usize = 128;

/// A device speaks only for itself: every row carries the inventory's `name` (a row under another name is renamed,
/// logged and counted in `devices.renamed`), and an answer with more than [`MAX_CPUS_PER_DEVICE`] CPUs or a
/// `cpu_number` longer than [`MAX_CPU_NUMBER_BYTES`] fails the device (`bad_answer`).
fn own_name(
    name: &str,
    ip: std::net::IpAddr,
    mut stats: Vec<crate::model::CpuStats>,
    metrics: &RunMetrics,
) -> Result<Vec<crate::model::CpuStats>, crate::extract::ExtractError> {
    use crate::extract::ExtractError;
    use crate::model::log_text;
    if stats.len() > MAX_CPUS_PER_DEVICE {
        return Err(ExtractError::BadAnswer(format!(
            "{} CPUs in one answer, at most {MAX_CPUS_PER_DEVICE}",
            stats.len()
        )));
    }
    if let Some(s) = stats
        .iter()
        .find(|s| s.cpu_number.len() > MAX_CPU_NUMBER_BYTES)
    {
        return Err(ExtractError::BadAnswer(format!(
            "cpu_number `{}` longer than {MAX_CPU_NUMBER_BYTES} bytes",
            log_text(&s.cpu_number, MAX_CPU_NUMBER_BYTES)
        )));
    }
    if let Some(other) = stats.iter().find(|s| s.name != name) {
        log::warn!(
            "[Extract] {name} ({ip}) answered under the name `{}`: its records are sent under {name} (the inventory's)",
            log_text(&other.name, 64)
        );
        RunMetrics::add(&metrics.devices_renamed, 1);
        for s in stats.iter_mut().filter(|s| s.name != name) {
            s.name = name.to_string();
        }
    }
    Ok(stats)
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
        let feed = super::feed::start(
            settings.inventory.path.clone(),
            settings.shard(),
            settings.extract.snmp.credential_names(),
            &mut self.checked,
            self.metrics.clone(),
            CHANNEL_CHUNKS,
        );
        let (mut rx, reader_done) = (feed.chunks, feed.done);

        let mut source = Source::new(&settings.extract, &self.source_tls, &self.snmp_secrets);
        source.keep_detections(&settings.extract.snmp.detection_path(&settings.spool.dir));
        let source = Rc::new(source);
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
            source.finish();
            // The reader stops at its next row once the channel is closed.
            reader_done.await.unwrap_or(Ok(()))
        };
        Box::pin(actix::fut::wrap_future(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::simulated::device_stats;
    use crate::extract::ExtractError;

    #[test]
    fn a_device_answer_is_bounded_and_named_by_the_inventory() {
        let metrics = RunMetrics::default();
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let own = own_name("d-1", ip, device_stats("d-1", 2, 5), &metrics).unwrap();
        assert!(own.iter().all(|s| s.name == "d-1"));
        let other = own_name("d-1", ip, device_stats("d-2", 3, 5), &metrics).unwrap();
        assert!(other.iter().all(|s| s.name == "d-1"));
        assert_eq!(
            metrics
                .devices_renamed
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let many = device_stats("d-1", MAX_CPUS_PER_DEVICE as u32 + 1, 5);
        assert!(matches!(
            own_name("d-1", ip, many, &metrics),
            Err(ExtractError::BadAnswer(m)) if m.contains("4097 CPUs")
        ));
        let mut long = device_stats("d-1", 1, 5);
        long[0].cpu_number = "9".repeat(MAX_CPU_NUMBER_BYTES + 1).into();
        assert!(matches!(
            own_name("d-1", ip, long, &metrics),
            Err(ExtractError::BadAnswer(m)) if m.contains("longer than 128 bytes")
        ));
    }
}
