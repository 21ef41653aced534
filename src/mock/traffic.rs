//! The mock server's periodic traffic line while it is busy (`app mock-server`).

use std::sync::Arc;
use std::time::Duration;

use crate::mock::MockState;

/// The mock server's periodic line while busy: requests/s and records/s over the last `interval`.
pub fn log_traffic(state: Arc<MockState>, interval: Duration) {
    actix_rt::spawn(async move {
        let mut last = state.snapshot();
        loop {
            actix_rt::time::sleep(interval).await;
            let now = state.snapshot();
            let requests = now.requests - last.requests;
            if requests > 0 {
                let secs = interval.as_secs_f64();
                log::info!(
                    target: "mock",
                    "[Mock] {:.0} requests/s, {:.0} records/s ({} requests, {} records acknowledged so far)",
                    requests as f64 / secs,
                    (now.records_accepted - last.records_accepted) as f64 / secs,
                    now.requests,
                    now.records_accepted
                );
            }
            last = now;
        }
    });
}
