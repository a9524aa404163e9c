//! The single-page app, embedded in the binary: no CDN, works offline.
//! Every path that is not an asset or an API route gets the app's shell,
//! which shows the login (or setup) form until there is a session.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::Ui;

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        (
            $name,
            $mime,
            include_bytes!(concat!("../assets/", $name)).as_slice(),
        )
    };
}

const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("app.js", "text/javascript"),
    asset!("boot.js", "text/javascript"),
    asset!("api.js", "text/javascript"),
    asset!("dom.js", "text/javascript"),
    asset!("chart.js", "text/javascript"),
    asset!("term.js", "text/javascript"),
    asset!("login.js", "text/javascript"),
    asset!("overview.js", "text/javascript"),
    asset!("containers.js", "text/javascript"),
    asset!("container.js", "text/javascript"),
    asset!("images.js", "text/javascript"),
    asset!("resources.js", "text/javascript"),
    asset!("cluster.js", "text/javascript"),
    asset!("service.js", "text/javascript"),
    asset!("stacks.js", "text/javascript"),
    asset!("routes.js", "text/javascript"),
    asset!("apps.js", "text/javascript"),
    asset!("registry.js", "text/javascript"),
    asset!("recreate.js", "text/javascript"),
    asset!("users.js", "text/javascript"),
    asset!("style.css", "text/css"),
    asset!("icon.svg", "image/svg+xml"),
];

const SHELL: &str = include_str!("../assets/index.html");

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/assets/{name}", get(asset))
        .fallback(get(shell))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [(CONTENT_TYPE, *mime), (CACHE_CONTROL, "no-cache")],
            Body::from(*body),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

async fn shell() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        SHELL,
    )
        .into_response()
}

/// Headers that keep the pages from being framed, sniffed or fed scripts
/// from anywhere but the daemon itself.
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}
