//! Loading into the ingestion API: the record encoder and batch assembly, retry rules, and the delivery of one
//! batch (HTTP client, circuit, retries).

pub mod batch;
pub mod delivery;
pub mod retry;
