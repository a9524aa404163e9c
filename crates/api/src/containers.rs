//! /containers/* endpoints.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use engine::WaitCondition;
use engine::model::{CreateRequest, Status};
use serde_json::json;

use crate::query::{Params, parse_json};
use crate::streams::channel_body;
use crate::{ApiError, ApiResult, AppState, format};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/{alias}", delete(remove_link))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(crate::attach::attach))
        .route("/containers/{id}/attach/ws", get(crate::attach::attach_ws))
        .route("/containers/{id}/resize", post(resize))
}

async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<serde_json::Value>> {
    let params = Params::parse(uri.query());
    let all = params.bool("all", false);
    let limit = params.int("limit")?.filter(|l| *l > 0);
    let filters = params.filters()?;
    filters.check_keys(&[
        "status", "name", "label", "id", "exited", "ancestor", "before", "since", "network",
        "health",
    ])?;
    for h in filters.values("health") {
        if !matches!(h.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
            return Err(ApiError::bad_request(format!(
                "Unrecognised filter value for health: {h}"
            )));
        }
    }
    // before/since name a container; the list is in creation order.
    let created_of = |key: &str| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        match filters.values(key).first() {
            None => Ok(None),
            Some(name) => Ok(Some(engine.container(name)?.view().record.created)),
        }
    };
    let (before, since) = (created_of("before")?, created_of("since")?);
    let with_size = params.bool("size", false);
    for s in filters.values("status") {
        if !matches!(
            s.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'status={s}'"
            )));
        }
    }
    let explicit_status = !filters.values("status").is_empty();
    let mut out = Vec::new();
    for v in engine.containers() {
        let status = v.state.status;
        if !all && !explicit_status && status != Status::Running && status != Status::Paused {
            continue;
        }
        let labels = v.record.config.labels.clone().unwrap_or_default();
        let keep = filters.any("status", |s| s == status.as_str())
            && filters.any("name", |n| {
                v.record.name.contains(n.trim_start_matches('/'))
            })
            && filters.any("id", |id| v.record.id.starts_with(id))
            && filters.any("exited", |code| {
                status == Status::Exited && code == v.state.exit_code.to_string()
            })
            && filters.any("ancestor", |a| {
                v.record.image_name == a
                    || v.record.image_id == a
                    || v.record
                        .image_id
                        .trim_start_matches("sha256:")
                        .starts_with(a)
            })
            && filters.labels_match("label", &labels)
            && filters.any("health", |h| {
                let state = v.state.health.as_ref().map(|x| x.status.as_str());
                state.unwrap_or("none") == h
            })
            && filters.any("network", |n| {
                v.record
                    .networks
                    .iter()
                    .any(|(name, ep)| name == n || ep.network_id.starts_with(n))
            })
            && before.is_none_or(|t| v.record.created < t)
            && since.is_none_or(|t| v.record.created > t);
        if keep {
            let mut summary = format::summary(&v);
            if with_size {
                let (rw, root) = sizes(&engine, &v.record.id, &v.record.image_id);
                summary["SizeRw"] = json!(rw);
                summary["SizeRootFs"] = json!(root);
            }
            out.push(summary);
        }
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    Ok(Json(serde_json::Value::Array(out)))
}

/// `docker rm --link PARENT/ALIAS`.
async fn remove_link(
    State(engine): State<AppState>,
    Path((id, alias)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    if !Params::parse(uri.query()).bool("link", false) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "page not found"));
    }
    engine.remove_link(&id, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create(State(engine): State<AppState>, uri: Uri, body: Bytes) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let req: CreateRequest = parse_json(&body)?;
    let created = engine.create_container(params.get("name"), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": created.id, "Warnings": created.warnings })),
    )
        .into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<serde_json::Value>> {
    let c = engine.container(&id)?;
    let v = c.view();
    let upper = engine.upper_dir(&c.id);
    let mut out = format::inspect(&v, &upper.to_string_lossy());
    if Params::parse(uri.query()).bool("size", false) {
        let (rw, root) = sizes(&engine, &c.id, &v.record.image_id);
        out["SizeRw"] = json!(rw);
        out["SizeRootFs"] = json!(root);
    }
    Ok(Json(out))
}

/// `SizeRw` (the writable layer) and `SizeRootFs` (with the image's layers).
fn sizes(engine: &AppState, id: &str, image_id: &str) -> (u64, u64) {
    let rw = engine::dir_size(&engine.upper_dir(id));
    let image = engine.image(image_id).map(|i| i.size).unwrap_or(0);
    (rw, rw + image)
}

async fn start(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    engine
        .stop(&id, params.int("t")?, params.get("signal"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    engine.restart(&id, params.int("t")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn kill(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    engine.kill(&id, params.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Headers go out at once (the docker CLI registers the wait before starting the
/// container and blocks on them); the body follows at exit.
async fn wait(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    let condition = WaitCondition::parse(params.get("condition").unwrap_or(""))?;
    let c = engine.container(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let body = match engine.wait(&c.id, condition).await {
            Ok(code) => json!({ "StatusCode": code }),
            Err(err) => json!({ "StatusCode": -1, "Error": { "Message": err.to_string() } }),
        };
        let _ = tx.send(Bytes::from(format!("{body}\n"))).await;
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error))
}

async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    if params.bool("link", false) {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not implemented: links",
        ));
    }
    engine
        .remove(&id, params.bool("force", false), params.bool("v", false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    let opts = crate::logs::options(&params)?;
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(crate::logs::NO_STREAM));
    }
    let timestamps = params.bool("timestamps", false);
    let tty = engine.container(&id)?.view().record.config.tty;
    let lines = engine.logs(&id, opts)?;
    Ok(crate::logs::respond(tty, lines, move |line| {
        crate::logs::line_chunk(tty, &line, timestamps, None)
    }))
}

/// `h`/`w` of the resize endpoints.
pub fn terminal_size(params: &Params) -> ApiResult<(u16, u16)> {
    let dim = |k: &str| -> ApiResult<u16> {
        params.get(k).and_then(|v| v.parse().ok()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid resize parameter {k}: must be a number 0-65535"
            ))
        })
    };
    Ok((dim("h")?, dim("w")?))
}

async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let (h, w) = terminal_size(&Params::parse(uri.query()))?;
    engine.resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}
