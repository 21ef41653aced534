//! Extraction sources: where a device's CPU statistics come from (`extract.source`).
//!
//! `simulated` computes deterministic stats after a configurable latency; `http` GETs them from the device (the
//! mock server's `/device/{name}/cpu` in tests and demos). Both return the original's `CpuStats` shape.

pub mod http;
pub mod simulated;

use crate::config::{ExtractSettings, SourceKind};
use crate::inventory::Device;
use crate::model::CpuStats;
use crate::resolve::tls::ClientTls;

/// Why a device gave no statistics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Failed(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("unparsable statistics: {0}")]
    Parse(String),
}

/// A configured source. Not `Send`: it lives on the supervisor's arbiter.
pub enum Source {
    Simulated(simulated::SimulatedSource),
    Http(http::HttpSource),
}

impl Source {
    /// `http_tls` is the http source's TLS, resolved from `extract.http` at start.
    pub fn new(settings: &ExtractSettings, http_tls: &ClientTls) -> Source {
        match settings.source {
            SourceKind::Simulated => Source::Simulated(simulated::SimulatedSource::new(settings)),
            SourceKind::Http => Source::Http(http::HttpSource::new(settings, http_tls)),
        }
    }

    /// The statistics of one device when they need no waiting (the simulated source at zero latency), so the
    /// caller can skip a task; `None` means: call [`Source::extract`].
    /// `hash` is the name's `stable_hash`.
    pub fn ready(&self, name: &str, hash: u64) -> Option<Result<Vec<CpuStats>, ExtractError>> {
        match self {
            Source::Simulated(s) => s.ready(name, hash),
            Source::Http(_) => None,
        }
    }

    /// The caller waited (for a loader's mailbox) since the last `ready`: a timestamp read before is stale.
    pub fn waited(&self) {
        if let Source::Simulated(s) = self {
            s.waited();
        }
    }

    /// The statistics of one device, one entry per CPU.
    pub async fn extract(&self, device: &Device) -> Result<Vec<CpuStats>, ExtractError> {
        match self {
            Source::Simulated(s) => s.extract(device).await,
            // Boxed: the HTTP client's future is large, and it would otherwise size (and be copied into) every
            // device task, simulated ones included.
            Source::Http(s) => Box::pin(s.extract(device)).await,
        }
    }
}

/// Seconds since the Unix epoch, the records' timestamp.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
