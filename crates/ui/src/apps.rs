//! `/api/apps/{name}/restart` and `/api/apps/{name}/rollback`: an app's
//! release rolled out again (after a config or scale change, or an older
//! one), by the same rollout the `berth app` commands run
//! (`router::rollout`), over the Docker API in-process. The app's records
//! themselves (create, domains, config, scale, remove) are the API's
//! `/berth/v1/apps…`, which the page reaches under `/api/docker`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use router::rollout::{self, DockerApi, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::inproc::{InProcess, q};
use crate::state::Ui;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackTo {
    /// `v3` or `3`; none: the release before the current.
    #[serde(default)]
    release: Option<String>,
}

/// New containers of the current release, with the app's config and scale
/// as they are now.
pub async fn restart(State(ui): State<Arc<Ui>>, Path(name): Path<String>) -> Response {
    run(&ui, &name, |app| {
        let current = rollout::current_version(app);
        rollout::release(app, current)
            .ok_or_else(|| format!("{name} has no release yet: push to deploy it first"))
    })
    .await
}

pub async fn rollback(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    body: Option<Json<RollbackTo>>,
) -> Response {
    let to = body.map(|Json(b)| b).unwrap_or_default().release;
    run(&ui, &name, |app| {
        rollout::rollback_target(app, to.as_deref())
    })
    .await
}

/// Rolls out the release `pick` chooses; the progress lines either way.
async fn run(ui: &Ui, name: &str, pick: impl FnOnce(&Value) -> Result<Value, String>) -> Response {
    let api = InProcess(ui);
    let path = format!("/berth/v1/apps/{}", q(name));
    let info = match api.call("GET", &path, None).await {
        Ok(v) => v,
        Err(e) => return answer(StatusCode::NOT_FOUND, Some(e), Vec::new()),
    };
    let app = &info["App"];
    let plan = match pick(app).and_then(|r| Plan::of(&r)) {
        Ok(p) => p,
        Err(e) => return answer(StatusCode::BAD_REQUEST, Some(e), Vec::new()),
    };
    let log = Mutex::new(Vec::new());
    let say = |line: &str| log.lock().push(line.to_string());
    let result = rollout::roll_out(&api, &say, name, app, &plan).await;
    let log = log.into_inner();
    match result {
        Ok(()) => answer(StatusCode::OK, None, log),
        // A failed check is the app's fault, not the daemon's: the running
        // release is unchanged.
        Err(e) => answer(StatusCode::CONFLICT, Some(e), log),
    }
}

/// Docker's error shape (`message`) with the rollout's lines beside it.
fn answer(status: StatusCode, message: Option<String>, log: Vec<String>) -> Response {
    let mut body = json!({ "Log": log });
    if let Some(m) = message {
        body["message"] = json!(m);
    }
    (status, Json(body)).into_response()
}
