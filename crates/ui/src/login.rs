//! The pages' entry: who am I (and the CSRF token), first-visit setup,
//! login and logout.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::session::{self, Session};
use crate::auth::users::Role;
use crate::error::{UiError, blocking};
use crate::serve::ClientAddr;
use crate::state::Ui;

pub const COOKIE_NAME: &str = "berth_session";

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// The session the request's cookie names, if live.
pub fn current(ui: &Ui, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, COOKIE_NAME))?;
    let s = ui.sessions.get(id, Instant::now())?;
    Some((id.to_string(), s))
}

/// What the page shows first: the app (with the CSRF token), the login
/// form, or the setup form.
pub async fn state(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Json<serde_json::Value> {
    Json(match current(&ui, &headers) {
        Some((_, s)) => json!({ "user": s.user, "role": s.role, "csrf": s.csrf }),
        None => json!({ "user": null, "setup": ui.users.needs_setup() }),
    })
}

pub async fn setup(
    State(ui): State<Arc<Ui>>,
    Extension(client): Extension<ClientAddr>,
    Json(c): Json<Credentials>,
) -> Result<Response, UiError> {
    throttle(&ui, &client)?;
    let (users, name) = (ui.clone(), c.username.clone());
    blocking(move || users.users.create_admin(&name, &c.password)).await?;
    Ok(logged_in(&ui, c.username.trim(), Role::Admin))
}

pub async fn login(
    State(ui): State<Arc<Ui>>,
    Extension(client): Extension<ClientAddr>,
    Json(c): Json<Credentials>,
) -> Result<Response, UiError> {
    throttle(&ui, &client)?;
    let users = ui.clone();
    match blocking(move || Ok(users.users.check(&c.username, &c.password))).await? {
        Some((user, role)) => Ok(logged_in(&ui, &user, role)),
        None => Err(UiError::Forbidden("wrong user name or password".into())),
    }
}

/// Logout changes state: it sits behind the session and CSRF check.
pub async fn logout(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Result<Response, UiError> {
    let (id, s) = current(&ui, &headers).ok_or(UiError::Unauthenticated)?;
    let sent = headers
        .get(crate::guard::CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    if !session::csrf_ok(&s, sent) {
        return Err(UiError::Forbidden(crate::guard::CSRF_REFUSED.into()));
    }
    ui.sessions.remove(&id);
    let mut r = Json(json!({})).into_response();
    r.headers_mut().insert(SET_COOKIE, cookie(&ui, "", 0));
    Ok(r)
}

fn throttle(ui: &Ui, client: &ClientAddr) -> Result<(), UiError> {
    ui.logins
        .take(client.0.ip(), Instant::now())
        .map_err(|wait| {
            UiError::TooManyRequests(format!(
                "too many login attempts: try again in {} s",
                wait.as_secs() + 1
            ))
        })
}

fn logged_in(ui: &Ui, user: &str, role: Role) -> Response {
    let id = ui.sessions.create(user, role, Instant::now());
    let csrf = ui
        .sessions
        .get(&id, Instant::now())
        .map(|s| s.csrf)
        .unwrap_or_default();
    let mut r = Json(json!({ "user": user, "role": role, "csrf": csrf })).into_response();
    r.headers_mut()
        .insert(SET_COOKIE, cookie(ui, &id, session::IDLE.as_secs()));
    r
}

fn cookie(ui: &Ui, value: &str, max_age: u64) -> HeaderValue {
    let secure = if ui.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("berth_session=; Path=/; Max-Age=0"))
}
