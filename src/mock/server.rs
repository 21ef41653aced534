//! Binding and running the mock API: takes a listener, reports its address, stops gracefully on SIGINT/SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use super::routes;
use super::state::MockState;
use crate::config::MockSettings;

/// A started mock server: its address, its state (counters) and the handle that stops it.
pub struct MockServer {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
    /// Serving HTTPS (`mock.tls_cert_file`).
    pub tls: bool,
}

impl MockServer {
    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Starts the server on `listener` (bind `127.0.0.1:0` for a free port). Must be called within an actix system;
/// the returned `server` future runs it until stopped. Serves HTTPS when `mock.tls_cert_file` is set.
pub fn start(settings: MockSettings, listener: TcpListener) -> std::io::Result<MockServer> {
    let addr = listener.local_addr()?;
    let tls = crate::resolve::tls::server_config(&settings).map_err(std::io::Error::other)?;
    let workers = settings.worker_count();
    let header_timeout_ms = settings.header_timeout_ms;
    let state = Arc::new(MockState::new(settings));
    let data = web::Data::new(state.clone());
    let registry = web::Data::new(crate::mock::metrics::registry(state.clone()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(registry.clone())
            .configure(routes::configure)
    })
    .workers(workers)
    .backlog(4096)
    .client_request_timeout(Duration::from_millis(header_timeout_ms));
    let secure = tls.is_some();
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    }
    .run();
    Ok(MockServer {
        addr,
        handle: server.handle(),
        state,
        server,
        tls: secure,
    })
}
