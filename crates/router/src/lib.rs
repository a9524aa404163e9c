//! berth's L7 HTTP router: an HTTP/1.1 and HTTP/2 reverse proxy that routes
//! by host name and path prefix to containers, configured from their
//! `berth.http.*` labels (see [`labels`]) and from apps' current releases
//! (see [`apps`]), kept live from the engine (see [`source`]); TLS by SNI
//! (see [`tls`]).

pub mod apps;
pub mod backend;
pub mod checks;
pub mod forwarded;
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

/// The router: its live table and its pool of backend connections.
pub struct Router {
    table: RwLock<Arc<RouteTable>>,
    client: proxy::BackendClient,
    metrics: Option<ProxyMetrics>,
}

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
            client: proxy::client(),
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

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) {
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
            let router = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let peer = Peer {
                    addr,
                    tls: tls.is_some(),
                };
                match tls {
                    None => router.connection(stream, peer).await,
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            std::time::Duration::from_secs(10),
                            acceptor.accept(stream),
                        );
                        match handshake.await {
                            Ok(Ok(s)) => router.connection(s, peer).await,
                            Ok(Err(e)) => tracing::debug!("router: TLS from {addr}: {e}"),
                            Err(_) => {
                                tracing::debug!("router: TLS from {addr}: handshake timed out")
                            }
                        }
                    }
                }
            });
        }
    }

    async fn connection<S>(self: Arc<Self>, io: S, peer: Peer)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = self.clone();
            async move { Ok::<_, Infallible>(router.handle(req, peer).await) }
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
