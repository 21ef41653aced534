//! `ExtractSupervisor`: runs the extraction of the inventory. It starts the inventory feed (the reader thread of
//! `feed.rs` fills a bounded channel) and the run's `DeviceExtractor`s (`supervisor/extractor.rs`), one per
//! extraction thread, each on an arbiter of its own with its own source and stage and a share of
//! `extract.concurrency`; they take chunks of devices from the one feed and hand each device's transformed records
//! to the loaders. The snmp source runs one extractor per core (one thread capped its devices per second); the
//! others run one.
//!
//! Messages, both from the topology (`actors/mod.rs`):
//! - `ExtractInventory`: run the extraction; the answer is how it ended (the inventory read to its end or
//!   stopped, or the inventory error that cut it short);
//! - `StopExtraction`: on shutdown, start no new extraction and cancel those under way (every extractor watches
//!   the same stop).

mod extractor;

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use self::extractor::{DeviceExtractor, ExtractShare, SharedFeed};
pub use self::extractor::{MAX_CPUS_PER_DEVICE, MAX_CPU_NUMBER_BYTES};
pub use super::feed::{Checked, Repeated};
use super::loader::LoaderActor;
use crate::config::Settings;
use crate::extract::{Kept, Source};
use crate::inventory::InventoryError;
use crate::observe::metrics::RunMetrics;
use crate::resolve::tls::ClientTls;
use crate::resolve::SnmpSecrets;

/// Chunks the reader may run ahead of extraction.
const CHANNEL_CHUNKS: usize = 4;

pub struct ExtractSupervisor {
    settings: Arc<Settings>,
    /// The http source's TLS and the snmp source's secrets, resolved at start.
    source_tls: ClientTls,
    snmp_secrets: SnmpSecrets,
    loaders: Arc<Vec<Addr<LoaderActor>>>,
    metrics: Arc<RunMetrics>,
    /// Set by `StopExtraction`; the extractors and their device tasks watch it.
    stop: watch::Sender<bool>,
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
            settings,
            source_tls,
            snmp_secrets,
            loaders,
            metrics,
            stop: watch::Sender::new(false),
        }
    }

    /// Step 1: the inventory feed's thread, reading the rows the check kept (or the CSV) into a bounded channel.
    fn start_feed(&mut self) -> super::feed::Feed {
        let settings = &self.settings;
        super::feed::start(
            settings.inventory.path.clone(),
            settings.shard(),
            settings.extract.snmp.credential_names(),
            &mut self.checked,
            self.metrics.clone(),
            CHANNEL_CHUNKS,
        )
    }

    /// Step 2: the extractors, each on an arbiter of its own with its own source (sharing what the run keeps
    /// between runs, `kept`) and its share of `extract.concurrency`.
    fn start_extractors(&self, kept: &Kept) -> Vec<(Arbiter, Addr<DeviceExtractor>)> {
        let extract = &self.settings.extract;
        let threads = Source::threads(extract);
        (0..threads)
            .map(|i| {
                let arbiter = Arbiter::new();
                // The share of the slots: the first ones take the remainder.
                let slots =
                    extract.concurrency / threads + usize::from(i < extract.concurrency % threads);
                let (settings, tls, secrets, kept) = (
                    self.settings.clone(),
                    self.source_tls.clone(),
                    self.snmp_secrets.clone(),
                    kept.clone(),
                );
                let (loaders, metrics, stop) = (
                    self.loaders.clone(),
                    self.metrics.clone(),
                    self.stop.subscribe(),
                );
                let addr = DeviceExtractor::start_in_arbiter(&arbiter.handle(), move |_| {
                    let mut source = Source::new(&settings.extract, &tls, &secrets);
                    source.keep(&kept);
                    DeviceExtractor::new(source, loaders, &settings.load, slots, metrics, stop)
                });
                (arbiter, addr)
            })
            .collect()
    }
}

impl Actor for ExtractSupervisor {
    type Context = Context<Self>;
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

/// Step 3: every extractor takes devices from the one feed until it ends or the run stops; done when each has
/// handed over its records. The feed is let go by then (its reader stops at its next row).
async fn extract_all(extractors: &[(Arbiter, Addr<DeviceExtractor>)], feed: SharedFeed) {
    let shares = extractors
        .iter()
        .map(|(_, e)| e.send(ExtractShare(feed.clone())))
        .collect::<Vec<_>>();
    drop(feed);
    for answer in futures_util::future::join_all(shares).await {
        if let Err(e) = answer {
            log::error!("[Extract] an extractor is gone: {e}");
        }
    }
}

/// Step 4: the extractors' threads end (their sources with them, so their sockets close).
fn stop_extractors(extractors: Vec<(Arbiter, Addr<DeviceExtractor>)>) {
    for (arbiter, _) in extractors {
        arbiter.stop();
    }
}

impl Handler<ExtractInventory> for ExtractSupervisor {
    type Result = ResponseActFuture<Self, Result<(), InventoryError>>;

    fn handle(&mut self, _: ExtractInventory, _: &mut Self::Context) -> Self::Result {
        let feed = self.start_feed();
        let kept = Kept::load(&self.settings.extract, &self.settings.spool.dir);
        // Before the devices' tasks: the pages freed by the check and the load go back to the OS, not kept through
        // the run's peak.
        crate::observe::resources::return_freed_pages();
        let extractors = self.start_extractors(&kept);
        let run = async move {
            let chunks = Arc::new(tokio::sync::Mutex::new(feed.chunks));
            extract_all(&extractors, chunks).await;
            stop_extractors(extractors);
            // Step 5: what the run keeps for the next one (the detection file).
            kept.finish();
            // Step 6: how the reading of the inventory ended.
            feed.done.await.unwrap_or(Ok(()))
        };
        Box::pin(actix::fut::wrap_future(run))
    }
}
