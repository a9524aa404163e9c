//! `/api/docker/...`: the Docker Engine API, in-process, for the page's code
//! (behind the session and CSRF check). The dashboard thereby does exactly
//! what the docker CLI could do, with the same validation and error messages.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::COOKIE;
use axum::http::{Request, Response, Uri};

use crate::state::Ui;

const PREFIX: &str = "/api/docker";

pub async fn proxy(State(ui): State<Arc<Ui>>, req: Request<Body>) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let tail = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .strip_prefix(PREFIX)
        .unwrap_or("/")
        .to_string();
    // The session cookie is the dashboard's business, not the engine's.
    parts.headers.remove(COOKIE);
    // A fresh request, not the parts: their extensions hold this router's
    // path captures, which the API's own extractors would take for theirs.
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = tail
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    *req.headers_mut() = parts.headers;
    api::handle(ui.docker.clone(), req).await
}

/// A GET of the Docker API from the dashboard's own code (live streams).
pub async fn get(ui: &Ui, path_and_query: &str) -> Response<Body> {
    let req = Request::get(path_and_query)
        .body(Body::empty())
        .unwrap_or_else(|_| Request::new(Body::empty()));
    api::handle(ui.docker.clone(), req).await
}
