//! Everything under /api needs a live session; every request that can
//! change something also needs the session's CSRF token in a header, which a
//! page of another origin cannot read and so cannot send.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::session;
use crate::auth::users::Role;
use crate::error::UiError;
use crate::login::current;
use crate::state::Ui;

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_REFUSED: &str = "missing or wrong CSRF token: reload the page";
/// Where anyone changes their own password (a viewer too).
pub const OWN_PASSWORD: &str = "/api/password";
pub const VIEWER_REFUSED: &str = "this account is read-only (viewer): ask an admin";

pub async fn require_session(
    State(ui): State<Arc<Ui>>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    let Some((_, s)) = current(&ui, req.headers()) else {
        return UiError::Unauthenticated.into_response();
    };
    // A websocket opens with a GET the page cannot add headers to: it
    // carries the token in its query instead (and must come from our origin).
    let is_upgrade = req.headers().contains_key(axum::http::header::UPGRADE);
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD) || is_upgrade;
    if changes {
        let sent = if is_upgrade {
            query_token(req.uri().query())
        } else {
            req.headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if !session::csrf_ok(&s, sent.as_deref()) {
            return UiError::Forbidden(CSRF_REFUSED.into()).into_response();
        }
        // A viewer looks: no change, and no console (a shell changes anything).
        if s.role == Role::Viewer && req.uri().path() != OWN_PASSWORD {
            return UiError::Forbidden(VIEWER_REFUSED.into()).into_response();
        }
    }
    req.extensions_mut().insert(s);
    next.run(req).await
}

fn query_token(q: Option<&str>) -> Option<String> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "csrf")
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_token_comes_from_the_query() {
        assert_eq!(
            query_token(Some("rows=3&csrf=abc&cols=9")).as_deref(),
            Some("abc")
        );
        assert_eq!(query_token(Some("csrfx=abc")), None);
        assert_eq!(query_token(None), None);
    }
}
