//! berth's L7 HTTP router: an HTTP/1.1 and HTTP/2 reverse proxy that routes
//! by host name and path prefix to containers, configured from their
//! `berth.http.*` labels (see [`labels`]) and from apps' current releases
//! (see [`apps`]), kept live from the engine (see [`source`]); TLS by SNI
//! (see [`tls`]).

pub mod apps;
pub mod backend;
pub mod checks;
pub mod forwarded;
mod h1;
mod h1pool;
mod h2pool;
pub mod labels;
mod metrics;
mod proxy;
mod replay;
pub mod rollout;
pub mod source;
pub mod table;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::RwLock;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

pub use metrics::ProxyMetrics;
pub use proxy::Peer;

/// What stays itself in a path segment or query value: RFC 3986's
/// unreserved characters. Everything else is %XX.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value of a Docker API call (the
/// apps' rollout, the dashboard and the CLI build their paths with it).
pub fn q(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}
use table::{Entry, RouteError, RouteTable};

/// The router: its live table, shared by its workers.
pub struct Router {
    table: RwLock<Arc<RouteTable>>,
    metrics: Option<ProxyMetrics>,
}

/// One router thread's view: the shared router and the thread's own pool
/// of backend connections.
struct Worker {
    router: Arc<Router>,
    /// This thread's idle HTTP/1.1 connections to backends: hyper's, and
    /// the fast path's.
    pool: Arc<h1pool::H1Pool>,
    conns: h1::Conns,
}

/// An accepted connection on its way to a worker.
type Handoff = (std::net::TcpStream, SocketAddr);

/// `GET /berth/v1/routes`: what `berth router ls` shows.
#[derive(Debug, Serialize)]
pub struct Report {
    pub routes: Vec<RouteReport>,
    pub errors: Vec<RouteError>,
}

#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub host: String,
    pub path: String,
    pub options: labels::RouteOptions,
    pub backends: Vec<BackendReport>,
}

#[derive(Debug, Serialize)]
pub struct BackendReport {
    pub container: String,
    pub addr: SocketAddr,
    pub in_flight: usize,
    pub requests: u64,
    pub ejected: bool,
}

impl Router {
    /// A router with no routes; `metrics`: where its counters are registered.
    pub fn new(metrics: Option<&::metrics::Metrics>) -> Arc<Router> {
        Arc::new(Router {
            table: RwLock::new(Arc::new(RouteTable::default())),
            metrics: metrics.map(ProxyMetrics::register),
        })
    }

    fn table(&self) -> Arc<RouteTable> {
        self.table.read().clone()
    }

    /// Rebuilds the table from `entries`; the containers whose labels were refused.
    pub fn update(&self, entries: &[Entry]) -> Vec<RouteError> {
        let next = RouteTable::build(entries, &self.table());
        let errors = next.errors.clone();
        *self.table.write() = Arc::new(next);
        errors
    }

    pub fn report(&self) -> Report {
        let table = self.table();
        let now = std::time::Instant::now();
        let mut routes: Vec<RouteReport> = table
            .routes()
            .map(|r| RouteReport {
                host: r.host.clone(),
                path: r.path.clone(),
                options: r.options.clone(),
                backends: r
                    .backends
                    .iter()
                    .map(|b| BackendReport {
                        container: b.container_name.clone(),
                        addr: b.addr,
                        in_flight: b.in_flight(),
                        requests: b.requests(),
                        ejected: b.is_ejected(now),
                    })
                    .collect(),
            })
            .collect();
        routes.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
        Report {
            routes,
            errors: table.errors.clone(),
        }
    }

    /// Serves plain HTTP (HTTP/1.1, and h2c with prior knowledge) on `listener`.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        self.accept_loop(listener, None).await
    }

    /// Serves HTTPS on `listener`, HTTP/2 or HTTP/1.1 as ALPN settles.
    pub async fn serve_tls(self: Arc<Self>, listener: TcpListener, tls: tokio_rustls::TlsAcceptor) {
        self.accept_loop(listener, Some(tls)).await
    }

    /// Accepts on the caller's runtime and hands each connection, round
    /// robin, to one of the router's threads, where it stays. Proxying is
    /// nginx's model there: each thread runs a single-threaded runtime with
    /// its own backend pool, so a request, its backend exchange and the
    /// response are driven by one thread, and no wake-up crosses threads
    /// (on the daemon's work-stealing runtime, the hand-offs between the
    /// client's connection, the backend's connection task and the pool
    /// cost a fifth of the small responses' throughput). The threads end
    /// when this future is dropped.
    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            match self.clone().start_worker(i, tls.clone()) {
                Ok(tx) => workers.push(tx),
                Err(e) => tracing::warn!("router: starting thread {i}: {e}"),
            }
        }
        if workers.is_empty() {
            tracing::error!("router: no thread could start; not serving");
            return;
        }
        let mut next = 0usize;
        loop {
            let (stream, addr) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("router: accept: {e}");
                    // Out of descriptors and the like: do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Leaves this runtime's reactor; the worker registers it in its own.
            let stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("router: connection from {addr}: {e}");
                    continue;
                }
            };
            next = (next + 1) % workers.len();
            if workers[next].send((stream, addr)).is_err() {
                tracing::error!("router: thread {next} has stopped; not serving");
                return;
            }
        }
    }

    /// Starts router thread `i`: it serves the connections sent to it
    /// until the sender is dropped.
    fn start_worker(
        self: Arc<Self>,
        i: usize,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<tokio::sync::mpsc::UnboundedSender<Handoff>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
        let name = if tls.is_some() {
            "router-tls"
        } else {
            "router"
        };
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let worker = Arc::new(Worker {
                    router: self,
                    pool: Arc::default(),
                    conns: h1::Conns::default(),
                });
                runtime.block_on(async move {
                    let weak = Arc::downgrade(&worker);
                    tokio::spawn(async move {
                        let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
                        loop {
                            every.tick().await;
                            let Some(worker) = weak.upgrade() else { return };
                            worker.pool.sweep();
                            worker.conns.sweep();
                        }
                    });
                    while let Some((stream, addr)) = rx.recv().await {
                        let stream = match stream
                            .set_nonblocking(true)
                            .and_then(|()| tokio::net::TcpStream::from_std(stream))
                        {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!("router: connection from {addr}: {e}");
                                continue;
                            }
                        };
                        tokio::spawn(worker.clone().accepted(stream, addr, tls.clone()));
                    }
                });
            })?;
        Ok(tx)
    }
}

impl Worker {
    async fn accepted(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        addr: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) {
        let peer = Peer {
            addr,
            tls: tls.is_some(),
        };
        match tls {
            None => h1::serve(self, stream, peer).await,
            Some(acceptor) => {
                let handshake = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    acceptor.accept(stream),
                );
                match handshake.await {
                    Ok(Ok(s)) if s.get_ref().1.alpn_protocol() == Some(b"h2") => {
                        self.connection(s, peer).await
                    }
                    Ok(Ok(s)) => h1::serve(self, s, peer).await,
                    Ok(Err(e)) => tracing::debug!("router: TLS from {addr}: {e}"),
                    Err(_) => tracing::debug!("router: TLS from {addr}: handshake timed out"),
                }
            }
        }
    }

    async fn connection<S>(self: Arc<Self>, io: S, peer: Peer)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let worker = self.clone();
            async move { Ok::<_, Infallible>(worker.router.handle(&worker.pool, req, peer).await) }
        });
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        if let Err(e) = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .await
        {
            tracing::debug!("router: connection from {}: {e}", peer.addr);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn q_encodes_all_but_unreserved() {
        assert_eq!(
            super::q("a b/c?d=é&~_-.Z9"),
            "a%20b%2Fc%3Fd%3D%C3%A9%26~_-.Z9"
        );
    }
}
