//! /volumes endpoints (local driver).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::volumes::Volume;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::{Params, parse_json};
use crate::{ApiResult, AppState, format};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

pub fn volume_json(v: &Volume) -> Value {
    json!({
        "CreatedAt": format::time(Some(v.created_at)),
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["dangling", "name", "label", "driver"])?;
    let dangling_filter = filters.bool("dangling")?;
    let out: Vec<Value> = engine
        .list_volumes()
        .iter()
        .filter(|v| {
            let dangling = engine.volume_users(&v.name).is_empty();
            dangling_filter.is_none_or(|d| d == dangling)
                && filters.any("name", |n| v.name.contains(n))
                && filters.any("driver", |d| d == v.driver)
                && filters.labels_match("label", &v.labels)
        })
        .map(volume_json)
        .collect();
    Ok(Json(json!({ "Volumes": out, "Warnings": [] })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateRequest = if body.is_empty() {
        CreateRequest::default()
    } else {
        parse_json(&body)?
    };
    let v = engine.create_volume(
        req.name.as_deref(),
        req.driver.as_deref(),
        req.labels.unwrap_or_default(),
        req.driver_opts.unwrap_or_default(),
    )?;
    Ok((StatusCode::CREATED, Json(volume_json(&v))).into_response())
}

async fn inspect(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(volume_json(&engine.volume(&name)?)))
}

async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    engine.remove_volume(&name, params.bool("force", false))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes unused volumes: anonymous ones only, unless `all=true` (API ≥ 1.42).
async fn prune(
    State(engine): State<AppState>,
    axum::Extension(version): axum::Extension<crate::RequestVersion>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["label", "all"])?;
    // Before API 1.42 prune took every unused volume; since, only anonymous
    // ones unless all=true.
    let all = version.0 < (1, 42)
        || filters
            .values("all")
            .iter()
            .any(|v| v == "true" || v == "1");
    let mut deleted = Vec::new();
    let mut reclaimed: u64 = 0;
    for v in engine.list_volumes() {
        if (!all && !v.anonymous()) || !filters.labels_match("label", &v.labels) {
            continue;
        }
        if !engine.volume_users(&v.name).is_empty() {
            continue;
        }
        let size = dir_size(&v.mountpoint);
        if engine.remove_volume(&v.name, false).is_ok() {
            reclaimed += size;
            deleted.push(v.name);
        }
    }
    Ok(Json(
        json!({ "VolumesDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
