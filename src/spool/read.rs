//! Reading a spool file back as batches: gunzip within a bound, the JSON array checked record by record, large
//! files split into parts.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::codec::{count_records, gunzip_limited};
use crate::model::{stable_hash_bytes, Batch, BatchId, Origin, SpoolFile};

/// Why a spool file could not be turned back into a batch.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: not a spool file name", .0.display())]
    Name(PathBuf),
    #[error("{}: {err}", .0.display(), err = .1)]
    Io(PathBuf, io::Error),
    #[error("{}: {err}", .0.display(), err = .1)]
    Content(PathBuf, String),
}

/// Reads a spool file back as batches: one, or — for a file larger than `max_records` records or `max_bytes`
/// bytes (the original's, or one written with a larger batch size) — parts with ids `{id}-p{k}`, the same on every
/// replay with the same limits. The body is the JSON array, checked record by record.
pub fn read(path: &Path, max_records: usize, max_bytes: usize) -> Result<Vec<Batch>, ReadError> {
    let mut raw = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| ReadError::Io(path.into(), e))?;
    decode(path, &raw, max_records, max_bytes)
}

/// The pure part of `read`: the batches in `raw`, the content of the spool file at `path` (whose name gives the
/// worker and the batch id). Never panics, and never holds more than `MAX_FILE_BYTES` of decompressed body.
pub fn decode(
    path: &Path,
    raw: &[u8],
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Batch>, ReadError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (worker, id) = parse_file_name(name).ok_or_else(|| ReadError::Name(path.into()))?;
    let body = gunzip_limited(raw, MAX_FILE_BYTES)
        .map_err(|e| ReadError::Content(path.into(), e.to_string()))?;
    let records =
        count_records(&body).map_err(|e| ReadError::Content(path.into(), e.to_string()))? as usize;
    // The original's files have no id: derive a stable one from the content, the same on every replay.
    let id = id.unwrap_or_else(|| {
        BatchId(format!(
            "legacy-w{worker}-{:016x}",
            stable_hash_bytes(&body)
        ))
    });
    if records <= max_records && body.len() <= max_bytes {
        let origin = SpoolFile::new(path.to_path_buf(), 1);
        return Ok(vec![Batch {
            id,
            worker,
            records,
            body: Bytes::from(body),
            origin: Origin::Replayed(origin),
        }]);
    }
    let parts = split_array(&body, max_records, max_bytes)
        .map_err(|e| ReadError::Content(path.into(), e))?;
    let origin = SpoolFile::new(path.to_path_buf(), parts.len());
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(k, (body, records))| Batch {
            id: BatchId(format!("{id}-p{}", k + 1)),
            worker,
            records,
            body,
            origin: Origin::Replayed(origin.clone()),
        })
        .collect())
}

/// Splits a JSON array into arrays of at most `max_records` elements and about `max_bytes` bytes.
pub fn split_array(
    body: &[u8],
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<(Bytes, usize)>, String> {
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    let mut current = Vec::with_capacity(max_bytes.min(1 << 20));
    let mut n = 0;
    for element in elements {
        let text = element.get().as_bytes();
        if n > 0 && (n >= max_records || current.len() + text.len() + 2 > max_bytes) {
            current.push(b']');
            parts.push((Bytes::from(std::mem::take(&mut current)), n));
            n = 0;
        }
        current.push(if n == 0 { b'[' } else { b',' });
        current.extend_from_slice(text);
        n += 1;
    }
    if n > 0 {
        current.push(b']');
        parts.push((Bytes::from(current), n));
    }
    Ok(parts)
}
