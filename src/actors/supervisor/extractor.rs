//! `DeviceExtractor`: one of the run's extraction threads (an arbiter each, started by the `ExtractSupervisor`).
//! It owns its own source (for SNMP: its own sockets, receive tasks and v3 engine caches) and its own `Stage`,
//! takes chunks of devices from the inventory feed that the extractors of the run share (each takes the next chunk
//! when it has room for it, so a busy thread takes fewer), keeps at most its share of `extract.concurrency` device
//! tasks in flight, and hands each device's transformed records to the loader chosen by the stable hash of its
//! name. A timer hands its partial chunks over every half `load.flush_interval_ms`.
//!
//! Message: `ExtractShare`, from the supervisor: extract devices from the shared feed until it ends or the run
//! stops; the answer comes once every device taken was extracted and its records handed to the loaders.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::actors::loader::LoaderActor;
use crate::actors::stage::Stage;
use crate::config::LoadSettings;
use crate::extract::{ExtractError, FailureReason, Source};
use crate::inventory::{Device, DeviceChunk};
use crate::load::sinks::Sink;
use crate::model::{loader_index, log_text, stable_hash, CpuStats, DeviceRecord};
use crate::observe::metrics::RunMetrics;
use crate::transform::transform_all;

/// The inventory feed, shared by the run's extractors: each takes the next chunk when it is ready for one.
pub type SharedFeed = Arc<tokio::sync::Mutex<mpsc::Receiver<DeviceChunk>>>;

/// Most CPUs one device's answer may hold, and the longest `cpu_number` (a device cannot flood the batches).
pub const MAX_CPUS_PER_DEVICE: usize = 4096;
pub const MAX_CPU_NUMBER_BYTES: usize = 128;

pub struct DeviceExtractor {
    source: Rc<Source>,
    stage: Rc<Stage>,
    workers: usize,
    /// Device tasks this extractor keeps in flight at most.
    slots: usize,
    flush_every: Duration,
    metrics: Arc<RunMetrics>,
    /// The run's stop (`StopExtraction`): start no new extraction and cancel those under way.
    stop: watch::Receiver<bool>,
}

impl DeviceExtractor {
    /// Built on its own arbiter's thread (the source and the stage are not `Send`).
    /// `load` gives the batch size, the sink the stage writes each record for, and the flush interval (the stage
    /// is flushed twice per `load.flush_interval_ms`).
    pub fn new(
        source: Source,
        loaders: Arc<Vec<Addr<LoaderActor>>>,
        load: &LoadSettings,
        slots: usize,
        metrics: Arc<RunMetrics>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        DeviceExtractor {
            source: Rc::new(source),
            stage: Stage::new(
                loaders.clone(),
                load.batch_size,
                Sink::new(load),
                metrics.clone(),
            ),
            workers: loaders.len(),
            slots: slots.max(1),
            flush_every: load.flush_interval() / 2,
            metrics,
            stop,
        }
    }
}

impl Actor for DeviceExtractor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.flush_every, |act, _| act.stage.flush_partial());
    }
}

/// Extract devices from the shared feed until it ends (or the run stops); answers when every device taken was
/// extracted and its records handed to the loaders.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExtractShare(pub SharedFeed);

impl Handler<ExtractShare> for DeviceExtractor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, ExtractShare(feed): ExtractShare, _: &mut Self::Context) -> Self::Result {
        let share = Share {
            source: self.source.clone(),
            stage: self.stage.clone(),
            workers: self.workers,
            metrics: self.metrics.clone(),
            stop: self.stop.clone(),
            slots: Arc::new(Semaphore::new(self.slots)),
        };
        let slots = self.slots;
        Box::pin(actix::fut::wrap_future(async move {
            share.take_devices(feed).await;
            share.wait_for_tasks(slots).await;
            share.stage.flush_all().await;
        }))
    }
}

/// One extractor's work on the shared feed.
struct Share {
    source: Rc<Source>,
    stage: Rc<Stage>,
    workers: usize,
    metrics: Arc<RunMetrics>,
    stop: watch::Receiver<bool>,
    slots: Arc<Semaphore>,
}

impl Share {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the run stops.
    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
    }

    /// The next chunk of the shared feed; `None` at its end, or once the run stops.
    async fn next_chunk(&self, feed: &SharedFeed) -> Option<DeviceChunk> {
        tokio::select! {
            biased;
            _ = self.stopped() => None,
            c = async { feed.lock().await.recv().await } => c,
        }
    }

    /// Takes chunks until the feed ends or the run stops, starting each device's extraction (or doing it inline
    /// when the source needs no waiting). The feed is let go when this returns.
    async fn take_devices(&self, feed: SharedFeed) {
        while let Some(chunk) = self.next_chunk(&feed).await {
            for device in chunk.devices() {
                if self.stopping() {
                    return;
                }
                // An extraction that needs no waiting (the simulated source at zero latency) runs inline: a task
                // per device would cost more than the extraction itself.
                if let Some(result) = self.source.ready(device.name, device.hash) {
                    self.hand_over(device.name, device.ip, device.hash, result)
                        .await;
                    continue;
                }
                let slot = match self.slots.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => tokio::select! {
                        biased;
                        _ = self.stopped() => return,
                        s = self.slots.clone().acquire_owned() => s.expect("the slot semaphore is never closed"),
                    },
                };
                if self.stopping() {
                    return;
                }
                let device = device.to_device();
                let (source, stage, metrics) = (
                    self.source.clone(),
                    self.stage.clone(),
                    self.metrics.clone(),
                );
                let (workers, stop) = (self.workers, self.stop.clone());
                if self.source.inline() {
                    actix_rt::spawn(extract_device::<Inline>(
                        device, source, stage, workers, metrics, stop, slot,
                    ));
                } else {
                    actix_rt::spawn(extract_device::<Boxed>(
                        device, source, stage, workers, metrics, stop, slot,
                    ));
                }
            }
        }
    }

    /// Stages the records of an inline extraction.
    async fn hand_over(
        &self,
        name: &str,
        ip: std::net::IpAddr,
        hash: u64,
        result: Result<Vec<CpuStats>, ExtractError>,
    ) {
        if let Some(records) = finish_device(name, ip, result, &self.metrics) {
            let loader = loader_index(hash, self.workers);
            if self.stage.add(loader, records).await {
                self.source.waited(); // the next stats read the clock again
            }
        }
    }

    /// Waits until every device task started has staged its records (or was cancelled).
    async fn wait_for_tasks(&self, slots: usize) {
        let all = u32::try_from(slots).expect("extract.concurrency is validated to fit");
        let _all = self.slots.acquire_many(all).await;
    }
}

/// Transforms one device's extraction result and counts it; the records to stage, or `None` when the device
/// failed (logged and counted).
fn finish_device(
    name: &str,
    ip: std::net::IpAddr,
    result: Result<Vec<CpuStats>, ExtractError>,
    metrics: &RunMetrics,
) -> Option<Vec<DeviceRecord>> {
    let result = result.and_then(|stats| own_name(name, ip, stats, metrics));
    let records = match result.map(transform_all) {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => {
            metrics.device_failed(FailureReason::Transform);
            log::warn!("[Extract] {name} ({ip}): {}", log_text(&e.to_string(), 300));
            return None;
        }
        Err(e) => {
            metrics.device_failed(e.reason());
            // The error may quote what the device sent (an agent's value, a parse error's excerpt).
            log::warn!(
                "[Extract] {name} ({ip}) failed: {}",
                log_text(&e.to_string(), 300)
            );
            return None;
        }
    };
    RunMetrics::add(&metrics.devices_ok, 1);
    RunMetrics::add(&metrics.records_extracted, records.len() as u64);
    log::debug!("[Extract] Completed extraction for {name}");
    Some(records)
}

/// A device speaks only for itself: every row carries the inventory's `name` (a row under another name is renamed,
/// logged and counted in `devices.renamed`), and an answer with more than [`MAX_CPUS_PER_DEVICE`] CPUs or a
/// `cpu_number` longer than [`MAX_CPU_NUMBER_BYTES`] fails the device (`bad_answer`).
fn own_name(
    name: &str,
    ip: std::net::IpAddr,
    mut stats: Vec<CpuStats>,
    metrics: &RunMetrics,
) -> Result<Vec<CpuStats>, ExtractError> {
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

/// How a device task holds its extraction: boxed (`Source::extract`, a small task whatever the source) or inline
/// (`Source::extract_inline`, one allocation per device for a source whose tasks all wait).
trait Extraction {
    fn extract<'a>(
        source: &'a Source,
        device: &'a Device,
    ) -> impl std::future::Future<Output = Result<Vec<CpuStats>, ExtractError>> + 'a;
}

struct Boxed;
struct Inline;

impl Extraction for Boxed {
    fn extract<'a>(
        source: &'a Source,
        device: &'a Device,
    ) -> impl std::future::Future<Output = Result<Vec<CpuStats>, ExtractError>> + 'a {
        source.extract(device)
    }
}

impl Extraction for Inline {
    fn extract<'a>(
        source: &'a Source,
        device: &'a Device,
    ) -> impl std::future::Future<Output = Result<Vec<CpuStats>, ExtractError>> + 'a {
        source.extract_inline(device)
    }
}

/// Extracts (waiting), transforms and hands over one device, as a task; the slot is held until its records are
/// staged (and, when that fills a chunk, in a loader's mailbox).
async fn extract_device<E: Extraction>(
    device: Device,
    source: Rc<Source>,
    stage: Rc<Stage>,
    workers: usize,
    metrics: Arc<RunMetrics>,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let result = tokio::select! {
        r = E::extract(&source, &device) => r,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::simulated::device_stats;

    /// Every device in flight is a task holding `extract_device`'s future: the stage's hand-over (actix's request,
    /// once per chunk) is boxed, so it does not size every task (592 bytes when written; 1,176 with it).
    /// (`Source::extract_inline`'s future is the snmp source's whatever the source the test builds.)
    #[test]
    fn a_device_task_is_small() {
        actix_rt::System::new().block_on(async {
            let settings = crate::config::Settings::default();
            let source = Rc::new(Source::new(
                &settings.extract,
                &Default::default(),
                &Default::default(),
            ));
            let metrics = Arc::new(RunMetrics::default());
            let stage = Stage::new(
                Arc::new(Vec::new()),
                100,
                Sink::new(&settings.load),
                metrics.clone(),
            );
            let (_stop, stop) = watch::channel(false);
            let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
            let device = Device {
                line: 1,
                ip: "127.0.0.1".parse().unwrap(),
                name: "a".into(),
                via: Default::default(),
            };
            // An snmp device's task holds its extraction inline: 1,584 bytes when written, so that with tokio's
            // header it fits jemalloc's 1,792-byte class (2,048 when each step held the device's name, address
            // and deadline by value).
            let inline_slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
            let inline = extract_device::<Inline>(
                device.clone(),
                source.clone(),
                stage.clone(),
                1,
                metrics.clone(),
                stop.clone(),
                inline_slot,
            );
            let size = std::mem::size_of_val(&inline);
            assert!(size <= 1600, "an snmp device task's future is {size} bytes");
            drop(inline);
            let task = extract_device::<Boxed>(device, source, stage, 1, metrics, stop, slot);
            let size = std::mem::size_of_val(&task);
            assert!(size <= 768, "a device task's future is {size} bytes");
        });
    }

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
