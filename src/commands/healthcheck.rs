//! `app healthcheck`: 0 when a URL answers 2xx within the timeout, 1 otherwise (Docker's HEALTHCHECK convention);
//! a URL that cannot be used is bad usage (2), not "unhealthy".

use super::output::say;
use super::CommandError;
use crate::observe::exit::ExitCode;

pub fn healthcheck(url: &str, timeout_ms: u64) -> Result<ExitCode, CommandError> {
    if let Some(message) = crate::config::wire::url_problem(url) {
        return Err(CommandError::BadFlag {
            flag: "--url",
            message,
        });
    }
    let result = actix_rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(std::time::Duration::from_millis(timeout_ms))
            .finish();
        client.get(url).send().await.map(|r| r.status())
    });
    Ok(match result {
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
    })
}
