//! The HTTP client of one loader: one `POST` of a batch body, as its sink encoded it (`load::sinks`), to
//! `load.endpoint` with its headers (the sink's `Content-Type`, `Content-Encoding` and others, `Idempotency-Key`,
//! `Authorization`), and what that attempt came to.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::config::{LoadSettings, Secret};
use crate::load::retry::{parse_retry_after, RetryReason};
use crate::load::sinks::{auth, EncodeError, Encoded, Sink};
use crate::model::{Batch, BatchId};
use crate::observe::metrics::RunMetrics;
use crate::resolve::tls::ClientTls;

/// Largest response body kept (for the dead-letter sidecar and logs).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

/// What one attempt came to.
pub enum Attempt {
    Answer {
        status: u16,
        retry_after: Option<std::time::Duration>,
        body: Bytes,
    },
    Failed(RetryReason, String),
    /// Cut by the end of the shutdown grace period.
    Aborted,
}

/// A loader's client. Not `Send`: build it on the loader's arbiter.
pub struct LoadClient {
    client: awc::Client,
    /// One permit per connection the client may hold: an attempt takes one before its request starts (and its
    /// `load.request_timeout_ms` with it), so a request waiting for a connection never times out for the wait.
    connections: Rc<Semaphore>,
    endpoint: String,
    authorization: Option<Secret>,
    sink: Sink,
}

impl LoadClient {
    /// A client whose connections are `pool`'s: shared by the loaders of this thread (see [`Pool`]). `token`,
    /// `password` and `tls` come resolved from the configuration (`load.token` or `load.token_file`,
    /// `load.password` or `load.password_file`, `load.ca_file`…).
    pub fn shared(
        settings: &LoadSettings,
        token: &Secret,
        password: &Secret,
        tls: &ClientTls,
        pool: &Pool,
    ) -> Self {
        let (client, gate) = POOL.with(|slot| {
            let mut slot = slot.borrow_mut();
            match &*slot {
                Some((id, client, gate)) if *id == pool.id => (client.clone(), gate.clone()),
                _ => {
                    let client = http_client(settings, tls, pool.connections);
                    let gate = Rc::new(Semaphore::new(pool.connections));
                    *slot = Some((pool.id, client.clone(), gate.clone()));
                    (client, gate)
                }
            }
        });
        Self::with_client(settings, token, password, (client, gate))
    }

    fn with_client(
        settings: &LoadSettings,
        token: &Secret,
        password: &Secret,
        (client, connections): (awc::Client, Rc<Semaphore>),
    ) -> Self {
        let sink = Sink::new(settings);
        LoadClient {
            client,
            connections,
            endpoint: sink.endpoint(&settings.endpoint),
            authorization: auth::authorization(settings.sink, token, &settings.username, password),
            sink,
        }
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The request of a batch, in the sink's format (`Sink::request`).
    pub fn request(&self, batch: &Batch) -> Result<Encoded, EncodeError> {
        self.sink.request(batch)
    }

    /// A connection to the API, once one of this client's is free (`load.max_connections`); `None` when `abort`
    /// resolves first. Counted in `app_requests_waiting_for_connection` meanwhile.
    pub async fn connection(
        &self,
        metrics: &RunMetrics,
        abort: impl Future<Output = ()>,
    ) -> Option<Connection<'_>> {
        let _waiting = Gauged::up(&metrics.waiting_for_connection);
        tokio::select! {
            biased;
            _ = abort => None,
            permit = self.connections.acquire() => {
                Some(Connection {
                    _permit: permit.expect("the connection permits are never closed"),
                })
            }
        }
    }

    /// One `POST` of `request` (as [`request`](Self::request) made it) over `connection`, cut short when `abort`
    /// resolves. Its `load.request_timeout_ms` starts here, not while it waited for the connection. Counts the
    /// request, its latency and the requests in flight.
    pub async fn attempt(
        &self,
        _connection: Connection<'_>,
        id: &BatchId,
        request: &Encoded,
        metrics: &Arc<RunMetrics>,
        abort: impl Future<Output = ()>,
    ) -> Attempt {
        let body = &request.body;
        let mut req = self
            .client
            .post(&self.endpoint)
            .insert_header(("Content-Type", request.content_type))
            .insert_header(("Idempotency-Key", id.0.as_str()));
        for header in request.extra {
            req = req.insert_header(*header);
        }
        if let Some(auth) = &self.authorization {
            req = req.insert_header(("Authorization", auth.expose()));
        }
        if let Some(encoding) = request.content_encoding {
            req = req.insert_header(("Content-Encoding", encoding));
        }
        RunMetrics::add(&metrics.requests, 1);
        RunMetrics::add(&metrics.bytes_attempted, body.len() as u64);
        let started = Instant::now();
        let _in_flight = Gauged::up(&metrics.in_flight_requests);
        let send = async {
            let mut resp = match req.send_body(body.clone()).await {
                Ok(r) => r,
                Err(awc::error::SendRequestError::Timeout) => {
                    return Attempt::Failed(RetryReason::Timeout, "timeout".into())
                }
                Err(e) => return Attempt::Failed(RetryReason::Connect, connect_error(&e)),
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let body = resp
                .body()
                .limit(MAX_RESPONSE_BYTES)
                .await
                .unwrap_or_default();
            Attempt::Answer {
                status,
                retry_after,
                body,
            }
        };
        let result = tokio::select! {
            biased;
            _ = abort => Attempt::Aborted,
            r = send => r,
        };
        if !matches!(result, Attempt::Aborted) {
            metrics
                .request_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        result
    }
}

/// One of a client's connections to the API, held while a request is under way (a permit of its pool: awc's own
/// limit is the same number, so awc never makes the request wait for one).
pub struct Connection<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
}

/// One more in a gauge for as long as it lives, so an attempt dropped while it waits or sends is not left counted.
struct Gauged<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> Gauged<'a> {
    fn up(gauge: &'a std::sync::atomic::AtomicI64) -> Self {
        gauge.fetch_add(1, Relaxed);
        Gauged(gauge)
    }
}

impl Drop for Gauged<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// An awc client (its connector: TLS, at most `limit` connections, kept alive between requests). Its limit is the
/// client's permits, so awc itself never makes a request wait (inside its timeout) for a connection.
fn http_client(settings: &LoadSettings, tls: &ClientTls, limit: usize) -> awc::Client {
    let mut connector = awc::Connector::new().limit(limit);
    if let Some(tls) = tls.config() {
        connector = connector.rustls_0_23(tls);
    }
    awc::Client::builder()
        .connector(connector)
        .timeout(settings.request_timeout())
        .disable_redirects()
        .finish()
}

/// The connections of the loaders of one thread: one client (one connector, one pool of kept-alive connections)
/// shared by them, so a connection one loader left idle serves the next request of any of them. With a pool each,
/// a loader opened one connection per request it had in flight at once (the four batches of a chunk, eight when
/// chunks came from two extraction threads together), and the run's open descriptors varied with how the chunks
/// happened to meet (64 to 123 in the snmp case); shared, a thread's loaders open as many as they have requests in
/// flight together. The pool's limit is the thread's share of `load.max_connections`; by default (0) the sum of its
/// loaders' `load.max_in_flight`, so it never holds a request back and each loader's own slots bound its
/// deliveries. Below that, a request waits for a connection before its timeout starts
/// (`LoadSettings::connection_shares`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Distinct for every set of loaders (a run's): a thread's pool is never another run's.
    pub id: u64,
    /// Connections its loaders may hold at once.
    pub connections: usize,
}

impl Pool {
    /// A new pool id.
    pub fn next_id() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, Relaxed)
    }
}

thread_local! {
    /// This thread's shared pool, by id.
    static POOL: std::cell::RefCell<Option<(u64, awc::Client, Rc<Semaphore>)>> =
        const { std::cell::RefCell::new(None) };
}

/// A failed request's text; a refused certificate says which keys decide trust.
fn connect_error(e: &awc::error::SendRequestError) -> String {
    let text = e.to_string();
    if text.contains("CertificateRequired") {
        format!("{text} (TLS: the API wants a client certificate: load.client_cert_file and load.client_key_file)")
    } else if text.contains("certificate") {
        format!("{text} (TLS: the API's certificate is checked against load.ca_file, or the system roots if unset)")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::sinks::Encoded;

    /// What a test server answers to a request (its body is read first: a connection whose request body was left
    /// unread is not kept alive).
    type Handler = Arc<
        dyn Fn(
                actix_web::HttpRequest,
            )
                -> futures_util::future::LocalBoxFuture<'static, actix_web::HttpResponse>
            + Send
            + Sync,
    >;

    /// A server of one worker on a free loopback port, run on this system: its address and handle.
    fn serve(handler: Handler) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
        let server = actix_web::HttpServer::new(move || {
            let handler = handler.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, _body: Bytes| handler(req),
            ))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        (addr, handle)
    }

    /// A batch of no records, as a request.
    fn empty_request() -> Encoded {
        Encoded {
            body: Bytes::from_static(b"[]"),
            content_type: "application/json",
            content_encoding: None,
            extra: &[],
        }
    }

    /// `n` clients sharing one new pool of this thread, with the connections `settings` give `n` loaders on it.
    fn pooled(settings: &LoadSettings, n: usize) -> Vec<LoadClient> {
        let (none, tls) = (Secret::default(), ClientTls::default());
        let pool = Pool {
            id: Pool::next_id(),
            connections: settings.connection_shares(&[n])[0],
        };
        (0..n)
            .map(|_| LoadClient::shared(settings, &none, &none, &tls, &pool))
            .collect()
    }

    /// The peer ports the server saw (one per connection), after `requests` POSTs alternated between two loaders'
    /// clients, one after another.
    fn ports_seen(shared: bool) -> std::collections::HashSet<u16> {
        let ports = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let seen = ports.clone();
        actix_rt::System::new().block_on(async move {
            let (addr, handle) = serve(Arc::new(move |req: actix_web::HttpRequest| {
                if let Some(peer) = req.peer_addr() {
                    seen.lock().unwrap().insert(peer.port());
                }
                Box::pin(async { actix_web::HttpResponse::Ok().finish() })
            }));
            let settings = LoadSettings {
                endpoint: format!("http://{addr}/load"),
                ..LoadSettings::default()
            };
            let clients = match shared {
                true => pooled(&settings, 2),
                false => pooled(&settings, 1)
                    .into_iter()
                    .chain(pooled(&settings, 1))
                    .collect(),
            };
            let metrics = Arc::new(RunMetrics::default());
            let request = empty_request();
            for i in 0..6 {
                let id = BatchId(format!("b-{i}"));
                let attempt = clients[i % 2].send(&id, &request, &metrics).await;
                assert!(matches!(attempt, Attempt::Answer { status: 200, .. }));
            }
            handle.stop(false).await;
        });
        let ports = ports.lock().unwrap().clone();
        ports
    }

    #[test]
    fn the_loaders_of_a_thread_share_their_connections() {
        // One request at a time, alternating between two loaders: with a shared pool they reuse one kept-alive
        // connection; with a pool each, each loader opens its own.
        assert_eq!(ports_seen(true).len(), 1);
        assert_eq!(ports_seen(false).len(), 2);
    }

    #[test]
    fn the_shared_pool_holds_no_request_back() {
        // Two loaders of one request in flight each, sharing a pool: the server answers only once both requests
        // are open at once, which a pool limited to one loader's load.max_in_flight would never let happen.
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let open = Arc::new(AtomicUsize::new(0));
        actix_rt::System::new().block_on(async move {
            let (addr, handle) = serve(Arc::new(move |_| {
                let open = open.clone();
                open.fetch_add(1, SeqCst);
                Box::pin(async move {
                    for _ in 0..500 {
                        if open.load(SeqCst) >= 2 {
                            return actix_web::HttpResponse::Ok().finish();
                        }
                        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    actix_web::HttpResponse::ServiceUnavailable().finish()
                })
            }));
            let settings = LoadSettings {
                endpoint: format!("http://{addr}/load"),
                max_in_flight: 1,
                ..LoadSettings::default()
            };
            let clients = pooled(&settings, 2);
            let metrics = Arc::new(RunMetrics::default());
            let request = empty_request();
            let (ida, idb) = (BatchId("a".into()), BatchId("b".into()));
            let (ra, rb) = futures_util::future::join(
                clients[0].send(&ida, &request, &metrics),
                clients[1].send(&idb, &request, &metrics),
            )
            .await;
            for r in [ra, rb] {
                assert!(matches!(r, Attempt::Answer { status: 200, .. }));
            }
            handle.stop(false).await;
        });
    }

    #[test]
    fn a_connection_cap_makes_requests_wait_for_a_connection_before_their_timeout_starts() {
        // load.max_connections = 1 for two loaders of 8 slots each: twelve requests at once go over one connection,
        // one at a time. Each takes the server 150 ms, so the last waits about 1.6 s for the connection: past its
        // 1 s timeout, which it would hit if the wait counted.
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let (open, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let ports = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let (seen_peak, seen_ports) = (peak.clone(), ports.clone());
        actix_rt::System::new().block_on(async move {
            let (addr, handle) = serve(Arc::new(move |req: actix_web::HttpRequest| {
                if let Some(peer) = req.peer_addr() {
                    seen_ports.lock().unwrap().insert(peer.port());
                }
                let (open, peak) = (open.clone(), seen_peak.clone());
                peak.fetch_max(open.fetch_add(1, SeqCst) + 1, SeqCst);
                Box::pin(async move {
                    actix_rt::time::sleep(std::time::Duration::from_millis(150)).await;
                    open.fetch_sub(1, SeqCst);
                    actix_web::HttpResponse::Ok().finish()
                })
            }));
            let settings = LoadSettings {
                endpoint: format!("http://{addr}/load"),
                max_in_flight: 8,
                max_connections: 1,
                request_timeout_ms: 1000,
                ..LoadSettings::default()
            };
            assert_eq!(settings.connection_shares(&[2]), [1]);
            let clients = pooled(&settings, 2);
            let metrics = Arc::new(RunMetrics::default());
            let request = empty_request();
            let ids: Vec<BatchId> = (0..12).map(|i| BatchId(format!("b-{i}"))).collect();
            let attempts = ids
                .iter()
                .enumerate()
                .map(|(i, id)| clients[i % 2].send(id, &request, &metrics));
            let started = Instant::now();
            let results = futures_util::future::join_all(attempts).await;
            assert!(
                started.elapsed() > settings.request_timeout(),
                "the requests waited past one timeout in all"
            );
            for r in results {
                assert!(matches!(r, Attempt::Answer { status: 200, .. }));
            }
            assert_eq!(metrics.waiting_for_connection.load(Relaxed), 0);
            assert_eq!(metrics.in_flight_requests.load(Relaxed), 0);
            handle.stop(false).await;
        });
        assert_eq!(peak.load(SeqCst), 1, "one request at a time");
        assert_eq!(ports.lock().unwrap().len(), 1, "over one connection");
    }

    #[test]
    fn a_wait_for_a_connection_is_cut_by_its_abort_and_counted_while_it_lasts() {
        // The only connection is held by a request the server never answers; a second wait for one is counted
        // as waiting until its abort cuts it. With the cap not kept, the second would get a connection at once.
        actix_rt::System::new().block_on(async move {
            let (arrived, first_arrived) = tokio::sync::oneshot::channel::<()>();
            let arrived = std::sync::Mutex::new(Some(arrived));
            let (addr, handle) = serve(Arc::new(move |_| {
                if let Some(arrived) = arrived.lock().unwrap().take() {
                    let _ = arrived.send(());
                }
                Box::pin(std::future::pending())
            }));
            let settings = LoadSettings {
                endpoint: format!("http://{addr}/load"),
                max_connections: 1,
                ..LoadSettings::default()
            };
            let client = pooled(&settings, 1).pop().unwrap();
            let metrics = Arc::new(RunMetrics::default());
            let request = empty_request();
            let (stop_first, first_stopped) = tokio::sync::oneshot::channel::<()>();
            let first = async {
                let connection = client.connection(&metrics, std::future::pending()).await;
                let id = BatchId("a".into());
                let stopped = async {
                    let _ = first_stopped.await;
                };
                let connection = connection.expect("the first gets the connection");
                client
                    .attempt(connection, &id, &request, &metrics, stopped)
                    .await
            };
            let second = async {
                first_arrived
                    .await
                    .expect("the first request reached the server");
                let (cut, cut_here) = tokio::sync::oneshot::channel::<()>();
                let wait = client.connection(&metrics, async {
                    let _ = cut_here.await;
                });
                let watch = async {
                    for _ in 0..1000 {
                        if metrics.waiting_for_connection.load(Relaxed) > 0 {
                            break;
                        }
                        actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    assert_eq!(
                        metrics.waiting_for_connection.load(Relaxed),
                        1,
                        "the second waits"
                    );
                    assert_eq!(metrics.in_flight_requests.load(Relaxed), 1);
                    let _ = cut.send(());
                };
                let (got, ()) = futures_util::future::join(wait, watch).await;
                assert!(got.is_none(), "the wait was cut, no connection taken");
                assert_eq!(metrics.waiting_for_connection.load(Relaxed), 0);
                let _ = stop_first.send(());
            };
            let (first, ()) = futures_util::future::join(first, second).await;
            assert!(matches!(first, Attempt::Aborted));
            assert_eq!(metrics.in_flight_requests.load(Relaxed), 0);
            handle.stop(false).await;
        });
    }

    impl LoadClient {
        /// An attempt once a connection is free, never cut.
        async fn send(
            &self,
            id: &BatchId,
            request: &Encoded,
            metrics: &Arc<RunMetrics>,
        ) -> Attempt {
            let connection = self.connection(metrics, std::future::pending()).await;
            let connection = connection.expect("never cut");
            self.attempt(connection, id, request, metrics, std::future::pending())
                .await
        }
    }
}
