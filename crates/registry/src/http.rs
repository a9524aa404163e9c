//! Request routing: repository names contain slashes, so the path is matched
//! from its end (`.../blobs/<digest>`, `.../manifests/<ref>`, ...) by hand
//! rather than with route patterns.

use crate::auth::Htpasswd;
use crate::error::{ApiError, Code};
use crate::store::Store;
use crate::token::{Refusal, Scope, TokenAuth};
use crate::{blobs, listing, manifests, names, uploads};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;

pub const API_VERSION: &str = "registry/2.0";

pub struct AppState {
    pub store: Store,
    pub uploads: uploads::Progresses,
    pub auth: Option<Htpasswd>,
    pub token: Option<TokenAuth>,
    pub read_only: bool,
    pub max_manifest_size: u64,
    pub upload_idle_timeout: std::time::Duration,
    /// `--scan`: pushed manifests are scanned; scanner endpoints served.
    pub scanning: Option<Arc<crate::scanning::Scanning>>,
}

pub type Shared = Arc<AppState>;

pub fn router(state: Shared) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(state)
}

#[derive(Debug, PartialEq)]
enum Route {
    Ping,
    Catalog,
    Tags(String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Manifest(String, String),
    Referrers(String, String),
    NotFound,
}

fn parse_route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/v2") else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return Route::Ping;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Route::NotFound;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..k].join("/");
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        return if segs[n - 1].is_empty() {
            Route::UploadStart(name(n - 3))
        } else {
            Route::Upload(name(n - 3), segs[n - 1].to_string())
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Route::UploadStart(name(n - 2));
    }
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Route::Tags(name(n - 2));
    }
    if n >= 3 {
        let last = segs[n - 1].to_string();
        match segs[n - 2] {
            "blobs" => return Route::Blob(name(n - 2), last),
            "manifests" => return Route::Manifest(name(n - 2), last),
            "referrers" => return Route::Referrers(name(n - 2), last),
            _ => {}
        }
    }
    Route::NotFound
}

async fn dispatch(State(state): State<Shared>, req: Request) -> Response {
    let mut resp = match handle(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static(API_VERSION),
    );
    resp
}

fn is_write(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

pub type Query = HashMap<String, String>;

/// What a token must grant for `method` on `route` (Docker's registry asks
/// for the same): `None` for the ping, which any valid token passes.
fn required_scope(route: &Route, method: &Method) -> Option<Scope> {
    let repo = match route {
        Route::Ping | Route::NotFound => return None,
        Route::Catalog => {
            return Some(Scope {
                kind: "registry",
                name: "catalog".into(),
                actions: vec!["*"],
            });
        }
        Route::Tags(n)
        | Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Manifest(n, _)
        | Route::Referrers(n, _) => n,
    };
    let actions: &[&'static str] = match (route, method) {
        (Route::UploadStart(_) | Route::Upload(..), _) => &["pull", "push"],
        (_, &Method::GET | &Method::HEAD) => &["pull"],
        (_, &Method::DELETE) => &["delete"],
        _ => &["pull", "push"],
    };
    Some(Scope::repository(repo, actions))
}

fn unauthorized(message: &str, challenge: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
        .header(header::WWW_AUTHENTICATE, &challenge)
}

fn authorize(state: &AppState, route: &Route, req: &Request) -> Result<(), ApiError> {
    let given = header_str(req.headers(), header::AUTHORIZATION);
    if let Some(auth) = &state.auth
        && !auth.check(given)
    {
        return Err(unauthorized(
            "authentication required",
            "Basic realm=\"berth\"".into(),
        ));
    }
    if let Some(token) = &state.token {
        let scope = required_scope(route, req.method());
        if let Err(refusal) = token.check(given, scope.as_ref()) {
            let message = match refusal {
                Refusal::InvalidToken => "authentication required",
                Refusal::InsufficientScope => "insufficient scope",
            };
            return Err(unauthorized(
                message,
                token.challenge(scope.as_ref(), refusal),
            ));
        }
    }
    Ok(())
}

/// A cross-repository mount also reads the source repository: without a
/// token granting that, the mount is dropped and a plain upload starts.
fn may_mount(state: &AppState, req: &Request, query: &Query) -> bool {
    match (&state.token, query.get("from")) {
        (Some(token), Some(from)) => token
            .check(
                header_str(req.headers(), header::AUTHORIZATION),
                Some(&Scope::repository(from, &["pull"])),
            )
            .is_ok(),
        _ => true,
    }
}

async fn handle(state: Shared, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path();
    if path.starts_with("/api/v1/") || path.starts_with("/berth/v1/scans/") {
        let Some(scanning) = state.scanning.clone() else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Code::Unsupported,
                "no such endpoint (scanning is off: serve with --scan)",
            ));
        };
        // Scan results describe every repository: the catalog's scope.
        authorize(&state, &Route::Catalog, &req)?;
        return scanning.handle(state, req).await;
    }
    let route = parse_route(req.uri().path());
    authorize(&state, &route, &req)?;
    if state.read_only && is_write(req.method()) && route != Route::NotFound {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::Unsupported,
            "the registry is read-only",
        ));
    }
    let mut query: Query = axum::extract::Query::<Query>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    if !may_mount(&state, &req, &query) {
        query.remove("mount");
    }
    let method = req.method().clone();
    let check = |name: &str| -> Result<(), ApiError> {
        if names::valid_name(name) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::NameInvalid,
                "invalid repository name",
            )
            .detail(serde_json::json!({ "name": name })))
        }
    };
    match route {
        Route::Ping => match method {
            Method::GET | Method::HEAD => Ok((
                [(header::CONTENT_TYPE, "application/json")],
                if method == Method::GET { "{}" } else { "" },
            )
                .into_response()),
            _ => Err(unsupported_method()),
        },
        Route::Catalog => match method {
            Method::GET => listing::catalog(&state, &query),
            _ => Err(unsupported_method()),
        },
        Route::Tags(name) => {
            check(&name)?;
            match method {
                Method::GET => listing::tags(&state, &name, &query),
                _ => Err(unsupported_method()),
            }
        }
        Route::Referrers(name, digest) => {
            check(&name)?;
            let digest = valid_digest(&digest)?;
            match method {
                Method::GET => listing::referrers(&state, &name, &digest, &query),
                _ => Err(unsupported_method()),
            }
        }
        Route::Blob(name, digest) => {
            check(&name)?;
            let digest = valid_digest(&digest)?;
            match method {
                Method::GET => blobs::get(&state, &name, &digest, req.headers(), true).await,
                Method::HEAD => blobs::get(&state, &name, &digest, req.headers(), false).await,
                Method::DELETE => blobs::delete(&state, &name, &digest),
                _ => Err(unsupported_method()),
            }
        }
        Route::UploadStart(name) => {
            check(&name)?;
            match method {
                Method::POST => uploads::start(&state, &name, &query, req).await,
                _ => Err(unsupported_method()),
            }
        }
        Route::Upload(name, id) => {
            check(&name)?;
            uploads::require_session(&state, &name, &id)?;
            match method {
                Method::GET => uploads::status(&state, &name, &id).await,
                Method::PATCH => uploads::patch(&state, &name, &id, req).await,
                Method::PUT => uploads::put(&state, &name, &id, &query, req).await,
                Method::DELETE => uploads::cancel(&state, &id).await,
                _ => Err(unsupported_method()),
            }
        }
        Route::Manifest(name, reference) => {
            check(&name)?;
            match method {
                Method::GET => manifests::get(&state, &name, &reference, true).await,
                Method::HEAD => manifests::get(&state, &name, &reference, false).await,
                Method::PUT => {
                    let ctype = header_str(req.headers(), header::CONTENT_TYPE)
                        .unwrap_or_default()
                        .to_string();
                    let resp = manifests::put(&state, &name, &reference, req).await?;
                    if let Some(scanning) = &state.scanning
                        && let Some(digest) = resp
                            .headers()
                            .get("Docker-Content-Digest")
                            .and_then(|v| v.to_str().ok())
                    {
                        scanning.queue(state.clone(), &name, digest, &ctype);
                    }
                    Ok(resp)
                }
                Method::DELETE => manifests::delete(&state, &name, &reference),
                _ => Err(unsupported_method()),
            }
        }
        Route::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::Unsupported,
            "no such endpoint",
        )),
    }
}

fn unsupported_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::Unsupported,
        "method not supported on this endpoint",
    )
}

pub fn valid_digest(d: &str) -> Result<String, ApiError> {
    if names::digest_hex(d).is_some() {
        Ok(d.to_string())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            "invalid or unsupported digest (only sha256 is stored)",
        )
        .detail(serde_json::json!({ "digest": d })))
    }
}

/// A response with no body and the given headers.
pub fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    put_headers(resp.headers_mut(), headers);
    resp
}

pub fn put_headers(map: &mut HeaderMap, headers: &[(&str, String)]) {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.insert(k, v);
        }
    }
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v2/"), Route::Ping);
        assert_eq!(parse_route("/v2"), Route::Ping);
        assert_eq!(parse_route("/v2/_catalog"), Route::Catalog);
        assert_eq!(parse_route("/v2/a/b/tags/list"), Route::Tags("a/b".into()));
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/"),
            Route::UploadStart("a".into())
        );
        assert_eq!(
            parse_route("/v2/a/blobs/uploads/x"),
            Route::Upload("a".into(), "x".into())
        );
        assert_eq!(
            parse_route("/v2/a/blobs/blobs/sha256:1"),
            Route::Blob("a/blobs".into(), "sha256:1".into())
        );
        assert_eq!(
            parse_route("/v2/x/manifests/latest"),
            Route::Manifest("x".into(), "latest".into())
        );
        assert_eq!(parse_route("/v1/x"), Route::NotFound);
        assert_eq!(parse_route("/v2/manifests/x"), Route::NotFound);
    }
}
