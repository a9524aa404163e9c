//! The web dashboard: login and sessions, the Docker API nested behind
//! them for the browser code, live streams (server-sent events), a console
//! websocket onto a tty exec, registry browsing, and the embedded
//! single-page app.
//!
//! It reaches the engine only through the Docker API router (in-process) and
//! the engine's public functions, never its files.

mod accounts;
mod apps;
mod assets;
pub mod auth;
pub mod compose;
mod console;
mod docker;
pub mod error;
mod guard;
mod host;
mod inproc;
mod live;
mod login;
mod registry;
mod serve;
mod stacks;
mod state;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, delete, get, post};

pub use error::UiError;
pub use serve::serve;
use state::Ui;

/// What the daemon's flags say about the dashboard.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// The daemon's data root; accounts live in `<data-root>/ui/`.
    pub data_root: PathBuf,
    /// `--ui-admin-password-file`'s content: the admin account gets it at start.
    pub admin_password: Option<String>,
    /// Served over TLS: cookies get `Secure`.
    pub tls: bool,
}

/// The dashboard's routes, ready to serve.
pub fn router(
    engine: Arc<engine::Engine>,
    swarm: Arc<swarm::node::Swarm>,
    berth: api::routes::Berth,
    opts: UiOptions,
) -> Result<Router, UiError> {
    let ui = Arc::new(Ui::open(engine, swarm, berth, &opts)?);
    let protected = Router::new()
        .route("/api/docker/{*path}", any(docker::proxy))
        .route("/api/events", get(live::events))
        .route("/api/stats", get(live::all_stats))
        .route("/api/containers/{id}/stats", get(live::container_stats))
        .route("/api/containers/{id}/console", get(console::open))
        .route("/api/host", get(host::snapshot))
        .route("/api/registry/repositories", get(registry::repositories))
        .route("/api/registry/tags", get(registry::tags))
        .route("/api/registry/manifests", delete(registry::delete))
        .route("/api/apps/{name}/restart", post(apps::restart))
        .route("/api/apps/{name}/rollback", post(apps::rollback))
        .route("/api/stacks/{name}", post(stacks::deploy))
        .route("/api/users", get(accounts::list).post(accounts::add))
        .route("/api/users/{name}", delete(accounts::remove))
        .route(guard::OWN_PASSWORD, post(accounts::change_password))
        .route_layer(axum::middleware::from_fn_with_state(
            ui.clone(),
            guard::require_session,
        ));
    Ok(Router::new()
        .route("/auth/state", get(login::state))
        .route("/auth/setup", post(login::setup))
        .route("/auth/login", post(login::login))
        .route("/auth/logout", post(login::logout))
        .merge(protected)
        .merge(assets::routes())
        .layer(axum::middleware::from_fn(assets::security_headers))
        .with_state(ui))
}
