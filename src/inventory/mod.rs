//! Inventory: a streaming reader of `ip,name` rows with line-numbered errors.
//!
//! Accepted: an optional `ip,name` header, blank lines and `#` comments, surrounding whitespace, CRLF, a UTF-8 BOM
//! and extra columns (ignored, unless the header names them `credentials` or `port`: then each row's cells choose
//! its SNMP credential set and port, a [`Via`]; `row.rs`). Each bad row is reported with its line and the reader goes on, so `validate` can
//! list every problem. Duplicate names are a property of the whole file: `check` finds them in bounded memory
//! (`dedupe.rs`); the streaming reader does not.
//!
//! Files: `chunk` (devices handed to the run), `error`, `lines` (block line splitter), `row` (one line as a row,
//! with its fast path), `reader` (the streaming reader), `check` (the whole-file check), `dedupe` (repeated names),
//! `kept` (the checked rows kept for the run), `report` (the first problems in line order, then how many more),
//! `split` (one file per shard).

mod check;
mod chunk;
pub mod dedupe;
mod error;
pub mod generate;
pub mod kept;
mod lines;
mod reader;
mod report;
mod row;
pub mod split;
#[cfg(test)]
mod tests;

pub use check::*;
pub use chunk::*;
pub use error::*;
pub use lines::MAX_LINE_BYTES;
use lines::*;
pub use reader::*;
pub use report::*;
pub use row::Row;
use row::*;
