//! The Users page's endpoints: list, add and remove accounts (admins only;
//! viewers are stopped earlier, at any change), and anyone's own password.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::session::Session;
use crate::auth::users::Role;
use crate::error::{UiError, blocking};
use crate::state::Ui;

fn admin(s: &Session) -> Result<(), UiError> {
    match s.role {
        Role::Admin => Ok(()),
        Role::Viewer => Err(UiError::Forbidden(crate::guard::VIEWER_REFUSED.into())),
    }
}

pub async fn list(
    State(ui): State<Arc<Ui>>,
    Extension(s): Extension<Session>,
) -> Result<Json<Value>, UiError> {
    admin(&s)?;
    let users: Vec<Value> = ui
        .users
        .list()
        .into_iter()
        .map(|(name, role)| json!({ "name": name, "role": role, "me": name == s.user }))
        .collect();
    Ok(Json(json!(users)))
}

#[derive(Deserialize)]
pub struct NewUser {
    username: String,
    password: String,
    role: String,
}

pub async fn add(
    State(ui): State<Arc<Ui>>,
    Extension(s): Extension<Session>,
    Json(u): Json<NewUser>,
) -> Result<Json<Value>, UiError> {
    admin(&s)?;
    let role = Role::parse(&u.role)?;
    let name = u.username.clone();
    blocking(move || ui.users.add(&u.username, &u.password, role)).await?;
    Ok(Json(json!({ "name": name })))
}

pub async fn remove(
    State(ui): State<Arc<Ui>>,
    Extension(s): Extension<Session>,
    Path(name): Path<String>,
) -> Result<Json<Value>, UiError> {
    admin(&s)?;
    ui.users.remove(&name)?;
    ui.sessions.remove_user(&name);
    Ok(Json(json!({ "removed": name })))
}

#[derive(Deserialize)]
pub struct NewPassword {
    current: String,
    new: String,
}

/// One's own password: the one change a viewer may make.
pub async fn change_password(
    State(ui): State<Arc<Ui>>,
    Extension(s): Extension<Session>,
    Json(p): Json<NewPassword>,
) -> Result<Json<Value>, UiError> {
    blocking(move || ui.users.change_password(&s.user, &p.current, &p.new)).await?;
    Ok(Json(json!({})))
}
