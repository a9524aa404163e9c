//! `/api/apps/{name}/restart` and `/api/apps/{name}/rollback`: an app's
//! release rolled out again (after a config or scale change), or an older
//! one with the config it ran with, by the same rollout the `berth app` commands run
//! (`router::rollout`), over the Docker API in-process. The app's records
//! themselves (create, domains, config, scale, remove) are the API's
//! `/berth/v1/apps…`, which the page reaches under `/api/docker`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use router::rollout::{self, DockerApi, Plan};
use serde::Deserialize;
use serde_json::Value;

use crate::error::UiError;
use crate::inproc::{InProcess, q};
use crate::state::Ui;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackTo {
    /// `v3` or `3`; none: the release before the current.
    #[serde(default)]
    release: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Restart {
    /// After a config or scale change: the processes are replaced where
    /// that change needs it (a swarm service whose replicas alone changed
    /// keeps its tasks), as `berth app config:set` and `ps:scale` do, and
    /// the release says what changed rather than `Restart`.
    #[serde(default)]
    apply: bool,
}

/// New containers of the current release, with the app's config and scale
/// as they are now.
pub async fn restart(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    body: Option<Json<Restart>>,
) -> Response {
    let apply = body.map(|Json(b)| b).unwrap_or_default().apply;
    let missing = format!("{name} has no release yet: push to deploy it first");
    run(ui, name, |app| {
        let current = rollout::current_version(app);
        let release = rollout::release(app, current).ok_or(missing)?;
        Ok(Plan {
            restart: !apply,
            ..Plan::of(&release)?
        })
    })
    .await
}

pub async fn rollback(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    body: Option<Json<RollbackTo>>,
) -> Response {
    let to = body.map(|Json(b)| b).unwrap_or_default().release;
    run(ui, name, |app| {
        Plan::rollback(&rollout::rollback_target(app, to.as_deref())?)
    })
    .await
}

/// Rolls out the plan `pick` makes of the app. A missing app or release is an
/// HTTP error at once; the rollout itself runs in the daemon as the API's
/// (`api::roll_out`) and answers as JSON lines (`{"line": …}` as it goes,
/// then `{"done": true}` or `{"error": …}`), so the page shows its progress,
/// and a page closed midway does not leave a rollout half-made.
async fn run(
    ui: Arc<Ui>,
    name: String,
    pick: impl FnOnce(&Value) -> Result<Plan, String>,
) -> Response {
    let api = InProcess(ui.docker.clone());
    let path = format!("/berth/v1/apps/{}", q(&name));
    let info = match api.call("GET", &path, None).await {
        Ok(v) => v,
        Err(e) => return UiError::NotFound(e).into_response(),
    };
    let plan = match pick(&info["App"]) {
        Ok(p) => p,
        Err(e) => return UiError::BadInput(e).into_response(),
    };
    api::roll_out(api, name, info["App"].clone(), plan).into_response()
}
