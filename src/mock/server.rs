//! Binding and running the mock API: takes a listener, reports its address, stops gracefully on SIGINT/SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

use super::routes;

/// One request in flight in `MockState::in_flight`, for as long as it lives.
struct InFlight(web::Data<Arc<MockState>>);

impl InFlight {
    fn new(state: web::Data<Arc<MockState>>) -> Self {
        state
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
use super::state::MockState;
use crate::config::MockSettings;

/// Why the mock did not start or stopped serving: a TLS file of the configuration (its key named), the SNMP port,
/// or the listening socket (each `io::Error` kept for the exit code).
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error(transparent)]
    Tls(#[from] crate::config::SettingsError),
    #[error("mock.snmp_port {port}: {source}")]
    SnmpPort { port: u16, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A started mock server: its address, its state (counters) and the handle that stops it.
pub struct MockServer {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    pub handle: actix_web::dev::ServerHandle,
    pub server: actix_web::dev::Server,
    /// Serving HTTPS (`mock.tls_cert_file`).
    pub tls: bool,
    /// The mock SNMP fleet, when `mock.snmp_port` (or `snmp_port_auto`) asks for it; stops when dropped.
    pub snmp: Option<super::snmp::SnmpFleet>,
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
pub fn start(settings: MockSettings, listener: TcpListener) -> Result<MockServer, MockError> {
    let addr = listener.local_addr()?;
    let tls = crate::resolve::tls::server_config(&settings)?;
    let workers = settings.worker_count();
    let header_timeout_ms = settings.header_timeout_ms;
    let state = Arc::new(MockState::new(settings));
    let s = &state.settings;
    let snmp = match (s.snmp_port, s.snmp_port_auto) {
        (0, false) => None,
        (port, _) => Some(
            super::snmp::start(s, port, state.counters.snmp.clone())
                .map_err(|source| MockError::SnmpPort { port, source })?,
        ),
    };
    let data = web::Data::new(state.clone());
    let registry = web::Data::new(crate::mock::metrics::registry(state.clone()));
    let server = HttpServer::new(move || {
        let counted = data.clone();
        App::new()
            // Requests in flight, counted for the shutdown's "draining N requests" (a guard: a request whose
            // connection is dropped is uncounted too).
            .wrap_fn(move |req, srv| {
                use actix_web::dev::Service;
                let guard = InFlight::new(counted.clone());
                let answer = srv.call(req);
                async move {
                    let answer = answer.await;
                    drop(guard);
                    answer
                }
            })
            .app_data(data.clone())
            .app_data(registry.clone())
            .configure(routes::configure)
    })
    .workers(workers)
    .backlog(4096)
    .client_request_timeout(Duration::from_millis(header_timeout_ms))
    // The TLS handshake comes before the head and has the same limit; actix-web's own default (3 s) cut
    // handshakes queued behind others on a loaded machine, which the client saw as "Broken pipe".
    .tls_handshake_timeout(Duration::from_millis(header_timeout_ms));
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
        snmp,
    })
}
