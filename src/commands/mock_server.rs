//! `app mock-server`: the mock ingestion API until SIGINT/SIGTERM.

use std::net::TcpListener;

use super::output::say;
use super::CommandError;
use crate::config::{LogSettings, Settings};
use crate::mock;
use crate::observe::exit::ExitCode;

/// How often `mock-server` logs its traffic while busy.
const MOCK_TRAFFIC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Binds `addr` for the mock (`mock.bind`, or a free loopback port for `demo`).
pub fn bind(addr: &str) -> Result<TcpListener, CommandError> {
    TcpListener::bind(addr).map_err(|source| CommandError::Bind {
        key: "mock.bind",
        addr: addr.to_string(),
        source,
    })
}

/// Serves until SIGINT/SIGTERM.
pub fn mock_server(mut settings: Settings) -> Result<ExitCode, CommandError> {
    let log = LogSettings {
        file: settings.mock.log_file.clone(),
        ..settings.log.clone()
    };
    crate::observe::logging::init(&log)?;
    settings.mock.token = crate::resolve::mock_token(&settings.mock)?;
    let listener = bind(&settings.mock.bind)?;
    actix_rt::System::new().block_on(async move {
        let server = mock::start(settings.mock.clone(), listener)?;
        say!("listening on {}", server.url());
        log::info!(target: "mock", "mock API listening on {}", server.url());
        if let Some(fleet) = &server.snmp {
            say!("snmp listening on {}", fleet.url());
            log::info!(target: "mock", "mock SNMP fleet listening on {} (every 127.x.y.z)", fleet.url());
        }
        mock::traffic::log_traffic(server.state.clone(), MOCK_TRAFFIC_INTERVAL);
        log_draining(server.state.clone());
        server
            .server
            .await
            .map_err(|e| CommandError::MockServer(e.into()))?;
        log::info!(target: "mock", "mock API stopped; final counters {}", serde_json::to_string(&server.state.snapshot()).unwrap_or_default());
        Ok(ExitCode::Ok)
    })
}

/// On SIGINT/SIGTERM (which actix-web also hears, and stops on, gracefully), says how many requests are still
/// being answered: the server drains them (up to its shutdown timeout) before it stops.
fn log_draining(state: std::sync::Arc<mock::MockState>) {
    crate::actors::shutdown::on_signals(move |_, name| {
        let n = state
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0);
        log::info!(
            target: "mock",
            "mock API {name}: draining {}, then stopping",
            crate::observe::summary::plural(n as u64, "request", "requests")
        );
    });
}
