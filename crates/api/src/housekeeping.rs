//! rename, prune, diff and disk-usage endpoints.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::query::{Filters, Params};
use crate::{ApiError, ApiResult, AppState, format};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/prune", post(prune_containers))
        .route("/images/prune", post(prune_images))
        .route("/system/df", get(disk_usage))
}

async fn rename(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    let name = params
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    engine.rename(&id, name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn changes(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(engine.changes(&id)?)))
}

/// `until` of the prune filters: a unix timestamp, RFC 3339, or a Go-style
/// duration before now ("24h", "30m", "10s").
fn parse_until(v: &str) -> ApiResult<DateTime<Utc>> {
    if let Some(t) = engine::parse_timestamp(v) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = v.split_at(v.len().saturating_sub(1));
    let secs = num.parse::<i64>().ok().and_then(|n| match unit {
        "s" => Some(n),
        "m" => Some(n * 60),
        "h" => Some(n * 3600),
        _ => None,
    });
    secs.map(|s| Utc::now() - chrono::Duration::seconds(s))
        .ok_or_else(|| ApiError::bad_request(format!("invalid value for until: {v}")))
}

fn created_before(filters: &Filters, created: DateTime<Utc>) -> ApiResult<bool> {
    for u in filters.values("until") {
        if created >= parse_until(u)? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn prune_containers(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<Value>> {
    let filters = Params::parse(uri.query()).filters()?;
    filters.check_keys(&["until", "label"])?;
    for u in filters.values("until") {
        parse_until(u)?;
    }
    let (deleted, reclaimed) = engine
        .prune_containers(|v| {
            let labels = v.record.config.labels.clone().unwrap_or_default();
            filters.labels_match("label", &labels)
                && created_before(&filters, v.record.created).unwrap_or(false)
        })
        .await?;
    Ok(Json(
        json!({ "ContainersDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

/// Dangling images by default; with `dangling=false`, every image no container uses.
async fn prune_images(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<Value>> {
    let filters = Params::parse(uri.query()).filters()?;
    filters.check_keys(&["dangling", "until", "label"])?;
    let dangling_only = filters.bool("dangling")?.unwrap_or(true);
    for u in filters.values("until") {
        parse_until(u)?;
    }
    let (items, reclaimed) = engine
        .prune_images(dangling_only, |img| {
            let created = DateTime::from_timestamp(img.created, 0).unwrap_or_else(Utc::now);
            filters.labels_match("label", &img.labels)
                && created_before(&filters, created).unwrap_or(false)
        })
        .await?;
    let deleted = format::delete_items(items);
    Ok(Json(
        json!({ "ImagesDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}

async fn disk_usage(State(engine): State<AppState>) -> ApiResult<Json<Value>> {
    let containers = engine.containers();
    let images = engine.list_images()?;
    let layers_size: u64 = images.iter().map(|i| i.size).sum();
    let image_list: Vec<Value> = images
        .iter()
        .map(|i| {
            let users = containers
                .iter()
                .filter(|c| c.record.image_id == i.id)
                .count();
            json!({
                "Id": i.id, "ParentId": "", "RepoTags": i.repo_tags, "RepoDigests": i.repo_digests,
                "Created": i.created, "Size": i.size, "SharedSize": 0, "VirtualSize": i.size,
                "Labels": i.labels, "Containers": users,
            })
        })
        .collect();
    let container_list: Vec<Value> = containers
        .iter()
        .map(|c| {
            let mut v = format::summary(c);
            let rw = engine::dir_size(&engine.upper_dir(&c.record.id));
            let image_size = images
                .iter()
                .find(|i| i.id == c.record.image_id)
                .map(|i| i.size)
                .unwrap_or(0);
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rw + image_size);
            v
        })
        .collect();
    let volume_list: Vec<Value> = engine
        .list_volumes()
        .iter()
        .map(|vol| {
            let mut v = crate::volumes::volume_json(vol);
            v["UsageData"] = json!({
                "Size": engine::dir_size(&vol.mountpoint),
                "RefCount": engine.volume_users(&vol.name).len(),
            });
            v
        })
        .collect();
    Ok(Json(json!({
        "LayersSize": layers_size,
        "Images": image_list,
        "Containers": container_list,
        "Volumes": volume_list,
        "BuildCache": [],
    })))
}
