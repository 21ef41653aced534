//! `app healthcheck`: 0 when a URL answers 2xx within the timeout, 1 otherwise (Docker's HEALTHCHECK convention).

use super::output::say;
use crate::observe::exit::ExitCode;

pub fn healthcheck(url: &str, timeout_ms: u64) -> ExitCode {
    let result = actix_rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(std::time::Duration::from_millis(timeout_ms))
            .finish();
        client.get(url).send().await.map(|r| r.status())
    });
    match result {
        Ok(status) if status.is_success() => {
            say!("healthy: {url} answered {status}");
            ExitCode::Ok
        }
        Ok(status) => {
            say!("unhealthy: {url} answered {status}");
            ExitCode::Lost
        }
        Err(e) => {
            say!("unhealthy: {url}: {e}");
            ExitCode::Lost
        }
    }
}
