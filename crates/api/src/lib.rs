//! Docker Engine API server: version negotiation, routing, Docker's error shape.
//! Handlers translate HTTP to engine calls and nothing more.

// serde_json::json! of inspect's large documents needs the deeper limit.
#![recursion_limit = "256"]

pub mod apps_cluster;
mod apps_git;
mod archive;
mod attach;
mod body_reader;
mod build;
mod containers;
mod control;
mod detach;
mod distribution;
mod error;
mod exec;
mod format;
mod housekeeping;
mod images;
mod inproc;
pub mod listen;
mod logs;
pub mod metrics;
mod networks;
mod pending;
mod query;
mod remote;
pub mod routes;
mod scan;
mod streams;
mod swarm;
mod system;
mod volumes;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri};
use engine::Engine;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

pub use error::{ApiError, ApiResult};
pub use inproc::{InProcess, roll_out};

/// The newest API version served, and the oldest accepted.
pub const API_VERSION: (u32, u32) = (1, 47);
pub const MIN_API_VERSION: (u32, u32) = (1, 24);

pub type AppState = Arc<Engine>;

/// The API version a request was made with (its path prefix, else the
/// newest), for the endpoints whose meaning changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestVersion(pub (u32, u32));

/// The whole API with what its handlers need: every server of it (the
/// listeners, the dashboard in-process) builds it here, so none lacks an
/// extension the others have.
pub fn router(
    engine: Arc<Engine>,
    swarm: Arc<::swarm::node::Swarm>,
    berth: routes::Berth,
) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(archive::routes())
        .merge(build::routes())
        .merge(distribution::routes())
        .merge(control::routes())
        .merge(housekeeping::routes())
        .merge(pending::routes())
        .merge(swarm::routes())
        .merge(scan::routes())
        .merge(routes::routes())
        .merge(apps_git::routes())
        .merge(remote::routes())
        .fallback(page_not_found)
        .layer(axum::Extension(swarm))
        .layer(axum::Extension(berth))
        .with_state(engine)
}

async fn page_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "page not found")
}

fn version_string(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// A `/vX.Y` prefix that is not two numbers (dockerd answers 400).
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("invalid API version: {0}")]
struct InvalidApiVersion(String);

/// A version prefix as found in a path: parsed, or the text that failed to parse.
type PathVersion = Option<Result<(u32, u32), InvalidApiVersion>>;

/// Splits "/v1.41/containers/json" into (Some((1,41)), "/containers/json").
fn split_version(path: &str) -> (PathVersion, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if ver.is_empty() || !ver.starts_with(|c: char| c.is_ascii_digit()) {
        return (None, path);
    }
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| InvalidApiVersion(ver.to_string()));
    (Some(parsed), if tail.is_empty() { "/" } else { tail })
}

/// Version check and prefix stripping, then the router: one request as the
/// API's listeners serve it (the dashboard serves the API in-process this way).
pub async fn handle(router: Router, mut req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (version, tail) = split_version(&path);
    let mut response = match version {
        Some(Err(bad)) => ApiError::bad_request(bad.to_string()).into_response_body(),
        Some(Ok(v)) if v < MIN_API_VERSION => ApiError::bad_request(format!(
            "client version {} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            version_string(v),
            version_string(MIN_API_VERSION)
        ))
        .into_response_body(),
        Some(Ok(v)) if v > API_VERSION => ApiError::bad_request(format!(
            "client version {} is too new. Maximum supported API version is {}",
            version_string(v),
            version_string(API_VERSION)
        ))
        .into_response_body(),
        _ => {
            let mut parts = req.uri().clone().into_parts();
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
            let v = match version {
                Some(Ok(v)) => v,
                _ => API_VERSION,
            };
            req.extensions_mut().insert(RequestVersion(v));
            tracing::debug!("{} {}", req.method(), req.uri());
            match router.oneshot(req).await {
                Ok(r) => json_error_shape(r).await,
                Err(never) => match never {},
            }
        }
    };
    let headers = response.headers_mut();
    let v = version_string(API_VERSION);
    if let Ok(v) = HeaderValue::from_str(&v) {
        headers.insert("Api-Version", v);
    }
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert(
        "Server",
        HeaderValue::from_str(&format!("berth/{} (linux)", env!("CARGO_PKG_VERSION")))
            .expect("the version is a valid header value"),
    );
    response
}

impl ApiError {
    fn into_response_body(self) -> Response<Body> {
        axum::response::IntoResponse::into_response(self)
    }
}

/// Errors that axum answers itself (a body over the limit, a wrong method,
/// a bad content type) come as plain text; clients expect Docker's shape.
async fn json_error_shape(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 << 10).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    ApiError::new(status, text).into_response_body()
}

/// Serves the API on every listener until the process ends.
pub async fn serve(
    engine: Arc<Engine>,
    swarm: Arc<::swarm::node::Swarm>,
    berth: routes::Berth,
    listeners: Vec<Box<dyn listen::Listener>>,
) {
    let warnings = listen::Warnings(listeners.iter().filter_map(|l| l.warning()).collect());
    let router = router(engine, swarm, berth).layer(axum::Extension(warnings));
    let mut tasks = Vec::new();
    for mut listener in listeners {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let name = listener.describe();
            loop {
                let connecting = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!("accept on {name}: {err}");
                        // Out of descriptors and the like: do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let router = router.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    let conn = match connecting.await {
                        Ok(conn) => conn,
                        Err(err) if err.notable() => {
                            // A refused client is worth the operator's notice:
                            // it may be an attack, or a client missing its certificate.
                            tracing::warn!("{name}: refused: {err}");
                            return;
                        }
                        Err(err) => {
                            tracing::debug!("{name}: {err}");
                            return;
                        }
                    };
                    serve_connection(router, conn).await;
                });
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// One HTTP/1.1 connection, with upgrades for hijacked attach and exec streams.
async fn serve_connection(router: Router, conn: listen::Accepted) {
    let peer = conn.unix_fd.map(streams::UnixPeer);
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let mut req = req.map(Body::new);
        if let Some(peer) = peer {
            req.extensions_mut().insert(peer);
        }
        async move { Ok::<_, Infallible>(handle(router, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(conn.io), service)
        .with_upgrades();
    if let Err(err) = conn.await {
        tracing::debug!("connection: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix() {
        let (v, tail) = split_version("/v1.41/containers/json");
        assert_eq!(v, Some(Ok((1, 41))));
        assert_eq!(tail, "/containers/json");
        let (v, tail) = split_version("/containers/json");
        assert_eq!(v, None);
        assert_eq!(tail, "/containers/json");
        let (v, tail) = split_version("/volumes");
        assert_eq!(v, None);
        assert_eq!(tail, "/volumes");
        let (v, _) = split_version("/v1.x/_ping");
        assert_eq!(v, Some(Err(InvalidApiVersion("1.x".into()))));
        assert!((1, 9) < (1, 24) && (1, 100) > API_VERSION);
    }
}
