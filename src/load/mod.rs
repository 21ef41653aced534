//! Loading into the ingestion API or another store, the parts that need no actor: the record encoder and batch
//! assembly, the retry rules, the circuit (the loader's shared backoff as a state machine), the sinks (each
//! store's wire format, headers and answers: `sinks/<name>/`) and the HTTP client of one attempt. The
//! delivery task that drives them and routes outcomes to the spool is the loader's (`actors::delivery`).
//!
//! May use: `model`, `codec`, `config`, `net`, `observe` (counters), `transform` and `extract` (the record shape).

pub mod batch;
pub mod circuit;
pub mod client;
pub mod encoder;
pub mod retry;
pub mod sinks;
