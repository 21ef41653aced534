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
    crate::observe::logging::init(&log).map_err(CommandError::Setup)?;
    settings.mock.token = crate::resolve::mock_token(&settings.mock)?;
    let listener = bind(&settings.mock.bind)?;
    actix_rt::System::new().block_on(async move {
        let server = mock::start(settings.mock.clone(), listener)
            .map_err(|e| CommandError::Setup(format!("mock server: {e}")))?;
        say!("listening on {}", server.url());
        log::info!(target: "mock", "mock API listening on {}", server.url());
        if let Some(fleet) = &server.snmp {
            say!("snmp listening on {}", fleet.url());
            log::info!(target: "mock", "mock SNMP fleet listening on {} (every 127.x.y.z)", fleet.url());
        }
        mock::traffic::log_traffic(server.state.clone(), MOCK_TRAFFIC_INTERVAL);
        server
            .server
            .await
            .map_err(|e| CommandError::Setup(format!("mock server: {e}")))?;
        log::info!(target: "mock", "mock API stopped; final counters {}", serde_json::to_string(&server.state.snapshot()).unwrap_or_default());
        Ok(ExitCode::Ok)
    })
}
