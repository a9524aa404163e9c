//! One proxied request: route lookup, body limit, backend choice, retries
//! on connect failure, timeout, upgrade tunnelling, access log and metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::backend::InFlight;
use crate::forwarded;
use crate::table::{Lookup, Route};
use crate::{Router, metrics::Outcome};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
pub type BackendClient = Client<HttpConnector, Body>;

/// Backends are containers on a local bridge, so a connect normally takes
/// microseconds; but a busy server whose accept queue is full drops the SYN
/// and the kernel sends it again after 1 s, then 2 s more. Giving up at 1 s
/// turned a loaded backend's short stall into errors (and ejections) where
/// nginx waits; this covers two retransmissions and still gives up on an
/// address nobody holds any more.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn client() -> BackendClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
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
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
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

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
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
struct Seen {
    peer: Peer,
    host: String,
    method: Method,
    path: String,
    begun: Instant,
}

/// The request as it goes to backends: headers rewritten once, the body
/// (limited) sent with the first attempt.
struct Outgoing {
    method: Method,
    path_and_query: String,
    headers: hyper::HeaderMap,
    body: Option<Body>,
    /// Nothing to send: the request can go to another backend after a
    /// failed connect (when its method is idempotent).
    no_body: bool,
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
        forwarded::strip_hop_by_hop(&mut parts.headers, upgrade);
        forwarded::add(
            &mut parts.headers,
            seen.peer.addr.ip(),
            if seen.peer.tls { "https" } else { "http" },
            &host_header,
        );
        // HTTP/2 clients name the host in :authority only; backends speak HTTP/1.1.
        if let Ok(v) = HeaderValue::from_str(&host_header) {
            parts.headers.insert(header::HOST, v);
        }
        let no_body = hyper::body::Body::is_end_stream(&body);
        let body = match route.options.max_body {
            Some(max) => Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).boxed(),
            None => body.map_err(BoxError::from).boxed(),
        };
        Outgoing {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            headers: parts.headers,
            body: Some(body),
            no_body,
            client_side,
        }
    }

    fn retryable(&self) -> bool {
        idempotent(&self.method) && self.no_body
    }

    fn to(&mut self, backend: SocketAddr) -> Result<Request<Body>, hyper::http::Error> {
        let mut out = Request::builder()
            .method(self.method.clone())
            .uri(format!("http://{backend}{}", self.path_and_query))
            .version(Version::HTTP_11);
        if let Some(h) = out.headers_mut() {
            *h = self.headers.clone();
        }
        let body = if self.no_body {
            empty()
        } else {
            self.body.take().unwrap_or_else(empty)
        };
        out.body(body)
    }
}

impl Router {
    pub(crate) async fn handle(
        self: Arc<Self>,
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
        let out = Outgoing::new(req, &seen, &route);
        let (backend, answer) = self.forward(&route, &seen, out).await;
        self.finish(&seen, Some(&route), backend, answer)
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
    /// retries are spent; the backend that answered and the answer.
    async fn forward(
        &self,
        route: &Route,
        seen: &Seen,
        mut out: Outgoing,
    ) -> (Option<SocketAddr>, Response<Body>) {
        let mut tried = Vec::new();
        loop {
            let Some(backend) = route.pick(&tried, Instant::now()) else {
                let answer = text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "berth router: no healthy backend for {}{}\n",
                        seen.host, route.path
                    ),
                );
                return (None, answer);
            };
            tried.push(backend.addr);
            let request = match out.to(backend.addr) {
                Ok(r) => r,
                Err(e) => {
                    return (
                        None,
                        text(StatusCode::BAD_REQUEST, format!("berth router: {e}\n")),
                    );
                }
            };
            let guard = backend.begin();
            let outcome =
                tokio::time::timeout(route.options.timeout, self.client.request(request)).await;
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
            let gateway = |status, e: &dyn std::fmt::Display| {
                text(
                    status,
                    format!("berth router: backend {}: {e}\n", backend.addr),
                )
            };
            let answer = match outcome {
                Ok(Ok(resp)) => {
                    backend.succeeded();
                    self.relay(resp, out.client_side.take(), guard)
                }
                Ok(Err(e)) if is_length_limit(&e) => too_large(route.options.max_body.unwrap_or(0)),
                // No response head: nothing reached the client, so an
                // idempotent request without a body may go elsewhere (as
                // nginx's proxy_next_upstream error): the connection was
                // refused, or the backend died with the request in flight.
                Ok(Err(e)) => {
                    fail(if e.is_connect() { "connect" } else { "request" });
                    if out.retryable() && tried.len() <= route.options.retries as usize {
                        tracing::debug!(
                            "router: {}{}: {}: {e}; retrying",
                            seen.host,
                            seen.path,
                            backend.addr
                        );
                        continue;
                    }
                    gateway(StatusCode::BAD_GATEWAY, &e)
                }
                Err(_) => {
                    fail("timeout");
                    let why = format!("no answer within {:?}", route.options.timeout);
                    gateway(StatusCode::GATEWAY_TIMEOUT, &why)
                }
            };
            return (Some(backend.addr), answer);
        }
    }

    /// The backend's response, its body holding the in-flight count until
    /// it ends; a 101 also joins the two upgraded connections.
    fn relay(
        &self,
        mut resp: Response<Incoming>,
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
        resp.map(|b| {
            Tracked {
                inner: b.map_err(BoxError::from).boxed(),
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
        let status = answer.status().as_u16();
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
            m.observe(Outcome {
                route: &format!("{}{}", route.host, route.path),
                code: status,
                seconds: elapsed.as_secs_f64(),
            });
        }
        answer
    }
}

fn too_large(max: u64) -> Response<Body> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("berth router: request body over this route's limit of {max} bytes\n"),
    )
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
