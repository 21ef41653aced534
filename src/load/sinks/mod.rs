//! The sinks: what the loaders speak to the store (`load.sink`). A sink is an encoder, its headers, and the
//! reading of its store's answers. The encoder writes the store's wire format straight from the records as a batch
//! is formed (`Sink::write_record` or the lossless form on the stage, `EncodedRecords::join` and `Sink::finish` in the
//! loader's `load::batch`), and from the batch's JSON array (the form batches are spooled and logged in) for a batch read
//! back from the disk (`Sink::encode`). Everything else is shared by every sink and lives beside this folder or in
//! `actors`: batching, retries and backoff, the circuit, the spool, the write-ahead log, dead letters, replay,
//! idempotency keys, shards, TLS, authentication and compression.
//!
//! One folder per sink, as vector's `src/sinks/<name>/`: `ingest_json` (the original's JSON array),
//! `prometheus_remote_write` (protobuf `WriteRequest`, snappy), `influx_line` (line protocol). `fields` is what
//! they read of a record in either form; `records` reads a batch's records back from its JSON array; `auth`
//! builds the `Authorization` header.

pub mod auth;
pub mod fields;
pub mod influx_line;
pub mod ingest_json;
pub mod prometheus_remote_write;
pub mod records;

use bytes::Bytes;

use crate::config::{Compression, LoadSettings, SinkKind};
use crate::model::{Batch, DeviceRecord};

/// Why a store refused samples, as far as its message says (the dead letter keeps the message itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Older than the newest sample of its series.
    OutOfOrder,
    /// Another value at the same timestamp of the series.
    Duplicate,
    /// Outside the store's accepted time range (Prometheus' "out of bounds", InfluxDB's retention policy).
    TooOld,
    /// Anything else (a malformed body, authentication, an unknown database…).
    Other,
}

impl RejectReason {
    /// Every reason, in the order of the run counters.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::OutOfOrder,
        RejectReason::Duplicate,
        RejectReason::TooOld,
        RejectReason::Other,
    ];
    /// The label in logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::Duplicate => "duplicate",
            RejectReason::TooOld => "too_old",
            RejectReason::Other => "other",
        }
    }
}

/// A batch's request body as `EncodedRecords::join` joins it, run by run: the records' own forms one after
/// another (line protocol's lines), or remote write's series written into a snappy block as they are joined.
/// Reused from batch to batch; [`Sink::finish`] takes the body out.
#[derive(Debug, Default)]
pub struct Joined {
    pub text: Vec<u8>,
    pub series: prometheus_remote_write::Writer,
}

impl Joined {
    /// Forgets what was joined (a batch that is not sent with this body).
    pub fn clear(&mut self) {
        self.text.clear();
        self.series.clear();
    }
}

/// A batch that the sink cannot write in its format (a spool file's record with a name or value it cannot hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

/// The sink of a loader: its kind and the request compression (`load.compression`, for the sinks whose
/// protocol leaves it open).
#[derive(Debug, Clone, Copy)]
pub struct Sink {
    kind: SinkKind,
    compression: Compression,
}

/// A request body as sent, with the headers that say what it is.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub body: Bytes,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    /// Further headers of the protocol (remote write's version).
    pub extra: &'static [(&'static str, &'static str)],
}

impl Encoded {
    /// A text body of `content_type`, gzipped with `load.compression = "gzip"` (the JSON and line-protocol sinks;
    /// remote write has its own block compression).
    pub fn text(body: Bytes, content_type: &'static str, compression: Compression) -> Encoded {
        let body = match compression {
            Compression::Gzip => Bytes::from(crate::codec::gzip(&body)),
            Compression::None => body,
        };
        Encoded::compressed(body, content_type, compression)
    }

    /// A text body already compressed per `compression`.
    pub fn compressed(
        body: Bytes,
        content_type: &'static str,
        compression: Compression,
    ) -> Encoded {
        Encoded {
            body,
            content_type,
            content_encoding: (compression == Compression::Gzip).then_some("gzip"),
            extra: &[],
        }
    }
}

impl Sink {
    pub fn new(settings: &LoadSettings) -> Self {
        Sink {
            kind: settings.sink,
            compression: settings.compression,
        }
    }

    pub fn kind(&self) -> SinkKind {
        self.kind
    }

    /// Whether the batches this run forms carry their request body, written record by record as the supervisor's
    /// stage encodes them ([`Sink::write_record`]): every sink but ingest-json, whose request is the batch's JSON
    /// array itself.
    pub fn writes_records(&self) -> bool {
        self.kind != SinkKind::IngestJson
    }

    /// Whether a chunk holds each record in the sink's own form beside the lossless one, written by
    /// [`Sink::write_record`] as the stage encodes it and joined as it is: line protocol's lines. Remote write's
    /// series are written from the lossless form itself when the batch is joined (`EncodedRecords::join`): a
    /// record's five series are ~500 bytes, its lossless form ~80, and a second per-record form would repeat it.
    pub fn holds_own_form(&self) -> bool {
        self.kind == SinkKind::InfluxLine
    }

    /// Appends `record` in the sink's own form (see [`Sink::holds_own_form`]): its line for line protocol.
    pub fn write_record(
        &self,
        out: &mut Vec<u8>,
        record: &DeviceRecord,
    ) -> Result<(), EncodeError> {
        match self.kind {
            SinkKind::InfluxLine => influx_line::write_line(out, record),
            // Never asked (`holds_own_form`). Were it asked, the batch would carry no request and be encoded from
            // its JSON array, as a spool file is.
            SinkKind::PrometheusRemoteWrite | SinkKind::IngestJson => Err(EncodeError(format!(
                "{} does not write records in a form of its own",
                self.kind.name()
            ))),
        }
    }

    /// The body of a request joined by `EncodedRecords::join`, compressed as the sink sends it, leaving `joined`
    /// empty for the next batch.
    pub fn finish(&self, joined: &mut Joined) -> Bytes {
        let body = match (self.kind, self.compression) {
            (SinkKind::PrometheusRemoteWrite, _) => joined.series.finish(),
            (_, Compression::Gzip) => Bytes::from(crate::codec::gzip(&joined.text)),
            (_, Compression::None) => Bytes::copy_from_slice(&joined.text),
        };
        joined.text.clear();
        body
    }

    /// The request of a batch: its body as formed (`Batch::request`, compressed by [`Sink::finish`]) when this
    /// run formed it for this sink, else encoded from its JSON array (a spool file, a logged batch).
    pub fn request(&self, batch: &Batch) -> Result<Encoded, EncodeError> {
        let Some(body) = &batch.request else {
            return self.encode(batch.body.json());
        };
        let body = body.clone();
        Ok(match self.kind {
            SinkKind::PrometheusRemoteWrite => prometheus_remote_write::request(body),
            SinkKind::InfluxLine => {
                Encoded::compressed(body, influx_line::CONTENT_TYPE, self.compression)
            }
            SinkKind::IngestJson => {
                Encoded::compressed(body, ingest_json::CONTENT_TYPE, self.compression)
            }
        })
    }

    /// The request of a batch whose records are the JSON array `json`.
    pub fn encode(&self, json: &Bytes) -> Result<Encoded, EncodeError> {
        match self.kind {
            SinkKind::IngestJson => Ok(ingest_json::encode(json, self.compression)),
            SinkKind::PrometheusRemoteWrite => prometheus_remote_write::encode(json),
            SinkKind::InfluxLine => influx_line::encode(json, self.compression),
        }
    }

    /// The endpoint requests go to: `load.endpoint`, with what the sink adds (line protocol's precision).
    pub fn endpoint(&self, endpoint: &str) -> String {
        match self.kind {
            SinkKind::InfluxLine => influx_line::endpoint(endpoint),
            _ => endpoint.to_string(),
        }
    }

    /// What a refusal (a 4xx other than 408 and 429) was about, from the store's answer.
    pub fn reject_reason(&self, body: &[u8]) -> RejectReason {
        match self.kind {
            SinkKind::IngestJson => RejectReason::Other,
            SinkKind::PrometheusRemoteWrite => prometheus_remote_write::answers::reason(body),
            SinkKind::InfluxLine => influx_line::answers::reason(body),
        }
    }
}
