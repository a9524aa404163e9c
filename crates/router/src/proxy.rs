//! One proxied request: route lookup, body limit, backend choice (HTTP/1.1
//! or h2c), retries when no response head came, timeout, upgrade
//! tunnelling, access log and metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::http::uri::{self, PathAndQuery};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;

use crate::Router;
use crate::backend::{Backend, InFlight};
use crate::forwarded;
use crate::h1pool::H1Pool;
use crate::labels::Scheme;
use crate::replay::Tape;
use crate::table::{Lookup, Route};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Backends are containers on a local bridge, so a connect normally takes
/// microseconds; but a busy server whose accept queue is full drops the SYN
/// and the kernel sends it again after 1 s, then 2 s more. Giving up at 1 s
/// turned a loaded backend's short stall into errors (and ejections) where
/// nginx waits; this covers two retransmissions and still gives up on an
/// address nobody holds any more.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection to a backend, without Nagle's delay (requests and
/// responses go out whole).
pub async fn connect_tcp(addr: SocketAddr) -> Result<tokio::net::TcpStream, BoxError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect to {addr}: timed out after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Where a request came in.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed()
}

/// The request's host name: HTTP/2's `:authority` or the `Host` header,
/// lowercase, without port or trailing dot.
fn host_of(req: &Request<Incoming>) -> String {
    let raw = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default();
    host_name(raw)
}

/// The host name a `Host` value (`name[:port]`, `[v6][:port]`) routes by:
/// lowercase, without port or trailing dot.
pub(crate) fn host_name(raw: &str) -> String {
    let name = match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => raw.split(':').next().unwrap_or_default(),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

pub(crate) fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Whether a request may go to another backend after `failure`, as nginx's
/// `proxy_next_upstream error` with `non_idempotent` off: any request that
/// provably never reached the backend, an idempotent one even if it did;
/// and only while its body can be sent again whole (`body_whole`).
pub(crate) fn may_retry(method: &Method, body_whole: bool, failure: &Failure) -> bool {
    body_whole
        && match failure {
            Failure::Unsent(_) | Failure::GoingAway(_) => true,
            Failure::InFlight(_) => idempotent(method),
            Failure::Bad(_) => false,
        }
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// What the access log and metrics say of a request.
pub(crate) struct Seen {
    pub peer: Peer,
    pub host: String,
    pub method: Method,
    pub path: String,
    pub begun: Instant,
}

/// Why an attempt got no response head.
pub enum Failure {
    /// Nothing of the request reached the backend: the connection was
    /// refused or timed out, or an HTTP/2 backend refused the stream.
    Unsent(BoxError),
    /// The request went out, in whole or part; the backend died or closed
    /// the connection before answering.
    InFlight(BoxError),
    /// The stream came after the last one an HTTP/2 backend's graceful
    /// GOAWAY takes, so the backend did not process it: it is closing that
    /// connection (a restart, a connection age limit), not failing, and may
    /// take the request on a new connection.
    GoingAway(BoxError),
    /// The request cannot be made for this backend at all: answered 400,
    /// neither retried nor counted against the backend.
    Bad(BoxError),
}

impl Failure {
    fn error(&self) -> &BoxError {
        match self {
            Failure::Unsent(e) | Failure::InFlight(e) | Failure::GoingAway(e) | Failure::Bad(e) => {
                e
            }
        }
    }
}

/// One way of taking a request to a backend, up to its response head:
/// hyper's clients (HTTP/1.1 or h2c, see [`HyperSend`]) or the HTTP/1.1
/// fast path's own (`crate::h1`). Both share [`Router::forward`]: one
/// policy of retries, timeouts and ejection whatever the transport.
pub(crate) trait Transport {
    type Answer;
    /// One attempt on `backend`.
    async fn send(&mut self, backend: &Arc<Backend>) -> Result<Self::Answer, Failure>;
    /// Whether the request may go to another backend after `failure`.
    fn may_retry(&self, failure: &Failure) -> bool;
}

/// How a forwarded request ended.
pub(crate) enum Forwarded<A> {
    /// A backend's response head came: `guard` keeps the request in flight
    /// until its body has been passed on.
    Answered {
        backend: Arc<Backend>,
        guard: InFlight,
        answer: A,
    },
    /// No backend answered; what the client is told.
    Failed {
        backend: Option<SocketAddr>,
        status: StatusCode,
        message: String,
    },
}

/// The request as it goes to backends: headers rewritten once, the body
/// (limited) streamed to the first attempt and kept for the next ones while
/// it fits the route's retry_body_limit.
struct Outgoing {
    method: Method,
    path_and_query: PathAndQuery,
    /// What the client named (`Host`, or HTTP/2's `:authority`).
    authority: String,
    headers: hyper::HeaderMap,
    /// None: the request has no body.
    body: Option<Tape>,
    /// The client accepts trailers (`TE: trailers`): said again to HTTP/2
    /// backends, which gRPC servers require; HTTP/1.1 backends get no `TE`,
    /// a hop-by-hop header.
    te_trailers: bool,
    client_side: Option<hyper::upgrade::OnUpgrade>,
}

impl Outgoing {
    fn new(mut req: Request<Incoming>, seen: &Seen, route: &Route) -> Outgoing {
        let upgrade = is_upgrade(&req);
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let host_header = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let te_trailers = parts
            .headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
        forwarded::strip_hop_by_hop(&mut parts.headers, upgrade);
        forwarded::add(
            &mut parts.headers,
            seen.peer.addr.ip(),
            if seen.peer.tls { "https" } else { "http" },
            &host_header,
        );
        // HTTP/2 clients name the host in :authority only; HTTP/1.1 backends need Host.
        if let Ok(v) = HeaderValue::from_str(&host_header) {
            parts.headers.insert(header::HOST, v);
        }
        let body = (!hyper::body::Body::is_end_stream(&body)).then(|| {
            let body = match route.options.max_body {
                Some(max) => Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).boxed(),
                None => body.map_err(BoxError::from).boxed(),
            };
            Tape::new(body, route.options.retry_body_limit)
        });
        Outgoing {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            authority: host_header,
            headers: parts.headers,
            body,
            te_trailers,
            client_side,
        }
    }

    fn may_retry(&self, failure: &Failure) -> bool {
        let body_whole = self.body.as_ref().is_none_or(Tape::replayable);
        may_retry(&self.method, body_whole, failure)
    }

    /// The request for one attempt on `backend`, over HTTP/2 when `h2`.
    fn to(&mut self, backend: &Backend, h2: bool) -> Result<Request<Body>, hyper::http::Error> {
        let mut headers = self.headers.clone();
        let mut uri = uri::Parts::default();
        uri.path_and_query = Some(self.path_and_query.clone());
        let version = if h2 {
            // :authority carries the client's host name (RFC 9113 §8.3.1:
            // no Host beside it); the connection goes to the backend.
            headers.remove(header::HOST);
            if self.te_trailers {
                headers.insert(header::TE, HeaderValue::from_static("trailers"));
            }
            uri.scheme = Some(uri::Scheme::HTTP);
            uri.authority = Some(
                self.authority
                    .parse::<uri::Authority>()
                    .unwrap_or_else(|_| backend.authority.clone()),
            );
            Version::HTTP_2
        } else {
            // Origin form (`/path?q`): the connection is the backend's.
            Version::HTTP_11
        };
        let uri = Uri::from_parts(uri)?;
        let mut out = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .version(version);
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        out.body(self.body.as_ref().map_or_else(empty, Tape::attempt))
    }
}

impl Router {
    pub(crate) async fn handle(
        &self,
        pool: &Arc<H1Pool>,
        req: Request<Incoming>,
        peer: Peer,
    ) -> Response<Body> {
        let seen = Seen {
            peer,
            host: host_of(&req),
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            begun: Instant::now(),
        };
        let route = match self.route_for(&seen) {
            Ok(r) => r,
            Err(why) => return self.finish(&seen, None, None, text(StatusCode::NOT_FOUND, why)),
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(max), Some(len)) = (route.options.max_body, declared)
            && len > max
        {
            return self.finish(&seen, Some(&route), None, too_large(max));
        }
        // HTTP/2 has no upgrade here (RFC 8441's extended CONNECT is not
        // implemented): a WebSocket goes over HTTP/1.1, which h2c servers
        // (Go's h2c handler, hyper's auto) speak too.
        let h2 = route.options.scheme == Scheme::H2c && !is_upgrade(&req);
        let mut out = Outgoing::new(req, &seen, &route);
        let mut send = HyperSend {
            pool,
            out: &mut out,
            h2,
        };
        match self.forward(&route, &seen, &mut send).await {
            Forwarded::Answered {
                backend,
                guard,
                answer,
            } => {
                let answer = self.relay(answer, out.client_side.take(), guard);
                self.finish(&seen, Some(&route), Some(backend.addr), answer)
            }
            Forwarded::Failed {
                backend,
                status,
                message,
            } => self.finish(&seen, Some(&route), backend, text(status, message)),
        }
    }

    /// The route of the request, or why none (answered 404).
    fn route_for(&self, seen: &Seen) -> Result<Arc<Route>, String> {
        let (host, path) = (&seen.host, &seen.path);
        match self.table().lookup(host, path) {
            Lookup::Found(r) => Ok(r.clone()),
            Lookup::UnknownHost => Err(format!("berth router: no route for host {host:?}\n")),
            Lookup::NoPath => Err(format!("berth router: no route for {host}{path}\n")),
        }
    }

    /// Sends the request to the route's backends until one answers or the
    /// retries are spent.
    pub(crate) async fn forward<T: Transport>(
        &self,
        route: &Route,
        seen: &Seen,
        transport: &mut T,
    ) -> Forwarded<T::Answer> {
        let mut tried = Vec::new();
        let mut attempts = 0u32;
        // The last failure, answered when no other backend is left to try.
        let mut failed: Option<(SocketAddr, String)> = None;
        loop {
            let Some(backend) = route.pick(&tried, Instant::now()) else {
                if let Some((addr, message)) = failed {
                    return Forwarded::Failed {
                        backend: Some(addr),
                        status: StatusCode::BAD_GATEWAY,
                        message,
                    };
                }
                return Forwarded::Failed {
                    backend: None,
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: format!(
                        "berth router: no healthy backend for {}{}\n",
                        seen.host, route.path
                    ),
                };
            };
            tried.push(backend.addr);
            attempts += 1;
            let guard = backend.begin();
            let outcome =
                tokio::time::timeout(route.options.timeout, transport.send(&backend)).await;
            let fail = |what: &str| {
                let (max_fails, window) = (route.options.max_fails, route.options.fail_timeout);
                if backend.failed(Instant::now(), max_fails, window) {
                    tracing::warn!(
                        "router: {} ({}) ejected for {window:?} after {max_fails} failures in a row (last: {what})",
                        backend.container_name,
                        backend.addr,
                    );
                }
            };
            let gateway = |status, e: &dyn std::fmt::Display| Forwarded::Failed {
                backend: Some(backend.addr),
                status,
                message: format!("berth router: backend {}: {e}\n", backend.addr),
            };
            return match outcome {
                Ok(Ok(answer)) => {
                    backend.succeeded();
                    Forwarded::Answered {
                        backend,
                        guard,
                        answer,
                    }
                }
                Ok(Err(Failure::Bad(e))) => Forwarded::Failed {
                    backend: None,
                    status: StatusCode::BAD_REQUEST,
                    message: format!("berth router: {e}\n"),
                },
                Ok(Err(f)) if is_length_limit(f.error().as_ref()) => Forwarded::Failed {
                    backend: Some(backend.addr),
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: too_large_message(route.options.max_body.unwrap_or(0)),
                },
                // No response head: nothing reached the client, so the
                // request may go elsewhere if it can be sent again whole.
                Ok(Err(f)) => {
                    match f {
                        Failure::Unsent(_) => fail("connect"),
                        Failure::InFlight(_) => fail("request"),
                        Failure::GoingAway(_) | Failure::Bad(_) => {}
                    }
                    let answer = gateway(StatusCode::BAD_GATEWAY, f.error());
                    if transport.may_retry(&f) && attempts <= route.options.retries {
                        tracing::debug!(
                            "router: {}{}: {}: {}; retrying",
                            seen.host,
                            seen.path,
                            backend.addr,
                            f.error()
                        );
                        if matches!(f, Failure::GoingAway(_)) {
                            // The same backend may take it, on a new connection.
                            tried.pop();
                        }
                        if let Forwarded::Failed { message, .. } = answer {
                            failed = Some((backend.addr, message));
                        }
                        continue;
                    }
                    answer
                }
                // Never retried: the backend may still be working on it.
                Err(_) => {
                    fail("timeout");
                    let why = format!("no answer within {:?}", route.options.timeout);
                    gateway(StatusCode::GATEWAY_TIMEOUT, &why)
                }
            };
        }
    }

    /// The backend's response, its body holding the in-flight count until
    /// it ends; a 101 also joins the two upgraded connections.
    fn relay(
        &self,
        mut resp: Response<Body>,
        client_side: Option<hyper::upgrade::OnUpgrade>,
        guard: InFlight,
    ) -> Response<Body> {
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching && let Some(client_side) = client_side {
            let backend_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                let _guard = guard;
                match tokio::try_join!(client_side, backend_side) {
                    Ok((c, b)) => {
                        let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
                        if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut b).await {
                            tracing::debug!("router: upgraded connection: {e}");
                        }
                    }
                    Err(e) => tracing::debug!("router: upgrade: {e}"),
                }
            });
            let (parts, _) = resp.into_parts();
            return Response::from_parts(parts, empty());
        }
        forwarded::strip_hop_by_hop(resp.headers_mut(), false);
        resp.map(|inner| {
            Tracked {
                inner,
                _guard: guard,
            }
            .boxed()
        })
    }

    /// Logs the answer (the access log) and counts it for its route.
    fn finish(
        &self,
        seen: &Seen,
        route: Option<&Route>,
        backend: Option<SocketAddr>,
        answer: Response<Body>,
    ) -> Response<Body> {
        self.log(seen, route, backend, answer.status().as_u16());
        answer
    }

    /// The access log's line and the route's metrics for an answer.
    pub(crate) fn log(
        &self,
        seen: &Seen,
        route: Option<&Route>,
        backend: Option<SocketAddr>,
        status: u16,
    ) {
        let elapsed = seen.begun.elapsed();
        tracing::info!(
            target: "router::access",
            "{} \"{} {}{}\" {status} {} {:.1}ms",
            seen.peer.addr.ip(),
            seen.method,
            seen.host,
            seen.path,
            backend.map_or_else(|| "-".to_string(), |b| b.to_string()),
            elapsed.as_secs_f64() * 1000.0
        );
        if let (Some(m), Some(route)) = (&self.metrics, route) {
            let series = route
                .series
                .get_or_init(|| m.route(&format!("{}{}", route.host, route.path)));
            m.observe_in(series, status, elapsed.as_secs_f64());
        }
    }
}

fn too_large_message(max: u64) -> String {
    format!("berth router: request body over this route's limit of {max} bytes\n")
}

fn too_large(max: u64) -> Response<Body> {
    text(StatusCode::PAYLOAD_TOO_LARGE, too_large_message(max))
}

/// hyper's clients as a [`Transport`]: HTTP/1.1 from the thread's pool, or
/// the backend's h2c connection.
struct HyperSend<'a> {
    pool: &'a Arc<H1Pool>,
    out: &'a mut Outgoing,
    h2: bool,
}

impl Transport for HyperSend<'_> {
    type Answer = Response<Body>;

    async fn send(&mut self, backend: &Arc<Backend>) -> Result<Response<Body>, Failure> {
        let request = self
            .out
            .to(backend, self.h2)
            .map_err(|e| Failure::Bad(e.into()))?;
        let resp = if self.h2 {
            let resp = backend.h2.send(backend.addr, request).await?;
            resp.map(|b| b.map_err(BoxError::from).boxed())
        } else {
            self.pool.send(backend.addr, request).await?
        };
        // No other attempt: the body's copy can go.
        if let Some(tape) = &self.out.body {
            tape.settle();
        }
        Ok(resp)
    }

    fn may_retry(&self, failure: &Failure) -> bool {
        self.out.may_retry(failure)
    }
}

/// A response body that keeps its backend's request in flight until it ends.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
