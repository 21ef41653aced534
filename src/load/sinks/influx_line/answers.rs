//! What InfluxDB and VictoriaMetrics answer to line protocol: 204 written, 5xx and 429 retried (the shared rules
//! of `load::retry`); a 400 ("partial write", "unable to parse", "field type conflict") or 404 (no such
//! database) is dead-lettered with the store's message and counted by the reason read here.

use crate::load::sinks::RejectReason;

/// The reason of a refusal, from the store's message.
pub fn reason(body: &[u8]) -> RejectReason {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if text.contains("beyond retention")
        || text.contains("too old")
        || text.contains("out of bounds")
    {
        RejectReason::TooOld
    } else if text.contains("out of order") {
        RejectReason::OutOfOrder
    } else if text.contains("duplicate") {
        RejectReason::Duplicate
    } else {
        RejectReason::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influx_messages() {
        for (text, r) in [
            (
                r#"{"error":"partial write: points beyond retention policy dropped=1"}"#,
                RejectReason::TooOld,
            ),
            (
                r#"{"error":"unable to parse 'x': missing fields"}"#,
                RejectReason::Other,
            ),
            (
                r#"{"error":"database not found: \"nope\""}"#,
                RejectReason::Other,
            ),
        ] {
            assert_eq!(reason(text.as_bytes()), r, "{text}");
        }
    }
}
