//! What Prometheus-compatible stores answer to remote write: 2xx delivered, 5xx and 429 retried (the shared rules
//! of `load::retry`), and a 400 for samples it will never take, which is dead-lettered with the store's message
//! and counted by the reason read here (Prometheus 2.x's texts: "out of order sample", "duplicate sample for
//! timestamp", "out of bounds", "too old sample").

use crate::load::sinks::RejectReason;

/// The reason of a refusal, from the store's message.
pub fn reason(body: &[u8]) -> RejectReason {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if text.contains("out of order") {
        RejectReason::OutOfOrder
    } else if text.contains("duplicate sample") {
        RejectReason::Duplicate
    } else if text.contains("out of bounds") || text.contains("too old") {
        RejectReason::TooOld
    } else {
        RejectReason::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_messages() {
        for (text, r) in [
            ("out of order sample", RejectReason::OutOfOrder),
            ("duplicate sample for timestamp", RejectReason::Duplicate),
            ("out of bounds", RejectReason::TooOld),
            ("too old sample", RejectReason::TooOld),
            ("snappy: corrupt input", RejectReason::Other),
        ] {
            assert_eq!(reason(text.as_bytes()), r, "{text}");
        }
    }
}
