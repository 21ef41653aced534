//! Extraction sources: where a device's CPU statistics come from (`extract.source`).
//!
//! `simulated` computes deterministic stats after a configurable latency; `http` GETs them from the device (the
//! mock server's `/device/{name}/cpu` in tests and demos); `snmp` polls the device's SNMP agent. All return the
//! original's `CpuStats` shape.

pub mod http;
pub mod reason;
pub mod simulated;
pub mod snmp;

pub use reason::FailureReason;

use crate::config::{ExtractSettings, SourceKind};
use crate::inventory::Device;
use crate::model::CpuStats;
use crate::resolve::tls::ClientTls;
use crate::resolve::SnmpSecrets;

/// Why a device gave no statistics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Failed(String),
    /// No connection to the device (refused, unreachable, TLS handshake, or the request could not be sent).
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    /// An answer that is not the statistics (a body that does not parse, or a broken HTTP answer).
    #[error("unparsable statistics: {0}")]
    Parse(String),
    /// An SNMP request got no answer after every attempt (no agent, a wrong port, or, with v2c, a wrong community:
    /// an agent is silent for a community it does not know).
    #[error("timeout after {attempts} attempts{hint}")]
    SnmpTimeout { attempts: u32, hint: &'static str },
    /// An SNMPv3 agent answered with a Report (usmStats…): which one, kept as its kind up to where it is counted
    /// (`reason`) and logged (the counter's name and what it means for the user).
    #[error("SNMPv3 report {} ({oid}): {}", kind.name(), kind.meaning())]
    SnmpReport {
        kind: snmp::session::ReportKind,
        oid: crate::snmp::oid::Oid,
    },
    #[error("noSuchObject for {oid} (extract.snmp.mib = \"{mib}\")")]
    NoSuchObject { oid: String, mib: &'static str },
    #[error("the agent answered {status} (error index {index})")]
    AgentError { status: &'static str, index: i32 },
    #[error("unexpected SNMP answer: {0}")]
    BadAnswer(String),
    #[error("the CPU counters did not advance within extract.timeout_ms ({0} ms)")]
    NoProgress(u64),
    /// A UDP socket that could not be opened or used (its `io::ErrorKind` kept).
    #[error("UDP socket: {0}")]
    Socket(snmp::socket_error::SocketError),
    /// No profile's CPU object answered (`extract.snmp.mib = "auto"`).
    #[error("{0}")]
    NoProfile(String),
    /// A CPU value that is not a percentage after its scale (or not a number): never loaded.
    #[error("{oid} = {value} {what}")]
    NotPercent {
        oid: String,
        value: String,
        what: &'static str,
    },
}

impl ExtractError {
    /// Why the device failed, as the summary and Prometheus count it (an exhaustive match: a new variant needs
    /// its reason, and a new reason its place in [`FailureReason::ALL`]).
    pub fn reason(&self) -> FailureReason {
        match self {
            ExtractError::Timeout(_) | ExtractError::SnmpTimeout { .. } => FailureReason::Timeout,
            ExtractError::Failed(_) => FailureReason::Failed,
            ExtractError::Connect(_) => FailureReason::Connect,
            ExtractError::Status(_) => FailureReason::HttpStatus,
            ExtractError::Parse(_) => FailureReason::BadBody,
            ExtractError::SnmpReport { kind, .. } => kind.reason(),
            ExtractError::NoSuchObject { .. } => FailureReason::NoSuchObject,
            ExtractError::AgentError { .. } => FailureReason::AgentError,
            ExtractError::BadAnswer(_) => FailureReason::BadAnswer,
            ExtractError::NoProgress(_) => FailureReason::NoProgress,
            ExtractError::Socket(_) => FailureReason::Socket,
            ExtractError::NoProfile(_) => FailureReason::NoProfile,
            ExtractError::NotPercent { .. } => FailureReason::NotAPercentage,
        }
    }
}

/// A configured source. Not `Send`: each extraction thread (a `DeviceExtractor`'s arbiter) has its own.
pub enum Source {
    Simulated(simulated::SimulatedSource),
    Http(http::HttpSource),
    /// Boxed: it is much larger than the others.
    Snmp(Box<snmp::SnmpSource>),
}

impl Source {
    /// `http_tls` and `snmp_secrets` are the http source's TLS and the snmp source's community and passwords,
    /// resolved from `extract.http` and `extract.snmp` at start.
    pub fn new(
        settings: &ExtractSettings,
        http_tls: &ClientTls,
        snmp_secrets: &SnmpSecrets,
    ) -> Source {
        match settings.source {
            SourceKind::Simulated => Source::Simulated(simulated::SimulatedSource::new(settings)),
            SourceKind::Http => Source::Http(http::HttpSource::new(settings, http_tls)),
            SourceKind::Snmp => {
                Source::Snmp(Box::new(snmp::SnmpSource::new(settings, snmp_secrets)))
            }
        }
    }

    /// The statistics of one device when they need no waiting (the simulated source at zero latency), so the
    /// caller can skip a task; `None` means: call [`Source::extract`].
    /// `hash` is the name's `stable_hash`.
    pub fn ready(&self, name: &str, hash: u64) -> Option<Result<Vec<CpuStats>, ExtractError>> {
        match self {
            Source::Simulated(s) => s.ready(name, hash),
            Source::Http(_) | Source::Snmp(_) => None,
        }
    }

    /// Reads and keeps what the run keeps between runs (`kept`, shared by the sources of the run's extraction
    /// threads).
    pub fn keep(&mut self, kept: &Kept) {
        if let (Source::Snmp(s), Some((detections, _))) = (self, &kept.detections) {
            s.share_detections(detections.clone());
        }
    }

    /// Extraction threads worth running for this source: one per core for the snmp source (its device tasks
    /// spend their CPU in sockets and BER, which one thread caps), one for the others (the simulated source
    /// works inline on the thread that reads the inventory; the http source waits on the network).
    pub fn threads(settings: &ExtractSettings) -> usize {
        match settings.source {
            SourceKind::Snmp => crate::model::cores().clamp(1, settings.concurrency.max(1)),
            SourceKind::Simulated | SourceKind::Http => 1,
        }
    }

    /// The caller waited (for a loader's mailbox) since the last `ready`: a timestamp read before is stale.
    pub fn waited(&self) {
        if let Source::Simulated(s) = self {
            s.waited();
        }
    }

    /// Whether a device task holds this source's extraction inline ([`Source::extract_inline`]) rather than
    /// boxed ([`Source::extract`]): the snmp source's, whose tasks all wait on the network.
    pub fn inline(&self) -> bool {
        matches!(self, Source::Snmp(_))
    }

    /// The statistics of one device, unboxed: for a device task of its own when the source is
    /// [`inline`](Source::inline), so that a device in flight is one allocation (its task) instead of two (the task
    /// and the boxed extraction: 256 bytes and a malloc per device more). As large as the snmp source's future
    /// whatever the source.
    pub async fn extract_inline(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        match self {
            Source::Snmp(s) => s.extract(device).await,
            other => other.extract(device).await,
        }
    }

    /// The statistics of one device, one entry per CPU.
    pub async fn extract(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        match self {
            Source::Simulated(s) => s.extract(device).await,
            // Boxed: the HTTP client's future is large, and it would otherwise size (and be copied into) every
            // device task, simulated ones included.
            Source::Http(s) => Box::pin(s.extract(device)).await,
            // Boxed for the same reason.
            Source::Snmp(s) => Box::pin(s.extract(device)).await,
        }
    }
}

/// What the sources of a run keep for the next run: each SNMP device's detected profile (the snmp source with
/// `mib = "auto"`), read at start from the detection file, shared by the sources of the run's extraction threads
/// (`Source::keep`), written once by `finish`.
#[derive(Clone, Default)]
pub struct Kept {
    detections: Option<(
        std::sync::Arc<snmp::detection::Detections>,
        std::sync::Arc<snmp::profiles::Catalog>,
    )>,
}

impl Kept {
    /// The detections of `extract.snmp.detection_file` (under `spool_dir`) when the run's source keeps them;
    /// nothing otherwise.
    pub fn load(settings: &ExtractSettings, spool_dir: &std::path::Path) -> Kept {
        Kept {
            detections: (settings.source == SourceKind::Snmp)
                .then(|| snmp::kept_detections(&settings.snmp, spool_dir))
                .flatten(),
        }
    }

    /// The end of a run: what the sources kept for the next one is written (a failure is logged; the next run
    /// detects the devices again).
    pub fn finish(&self) {
        if let Some((detections, catalog)) = &self.detections {
            snmp::save_detections(detections, catalog);
        }
    }
}

/// Seconds since the Unix epoch, the records' timestamp.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
