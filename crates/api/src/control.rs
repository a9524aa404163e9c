//! pause, unpause, update, stats and top.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::control::UpdateRequest;
use serde_json::{Value, json};

use crate::query::{Params, parse_json};
use crate::streams::channel_body;
use crate::{ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/top", get(top))
}

async fn pause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: UpdateRequest = if body.is_empty() {
        UpdateRequest::default()
    } else {
        parse_json(&body)?
    };
    let warnings = engine.update(&id, &req).await?;
    Ok(Json(json!({ "Warnings": warnings })))
}

fn cpu_json(s: &runtime::Stats) -> Value {
    json!({
        "cpu_usage": {
            "total_usage": s.cpu_usage_ns,
            "percpu_usage": s.percpu_usage_ns,
            "usage_in_kernelmode": s.cpu_kernel_ns,
            "usage_in_usermode": s.cpu_user_ns,
        },
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": s.cpu_periods,
            "throttled_periods": s.cpu_throttled_periods,
            "throttled_time": s.cpu_throttled_ns,
        },
    })
}

/// Docker's stats document from two samples (`precpu_stats` is the earlier one).
fn stats_json(
    name: &str,
    id: &str,
    networks: Value,
    prev: Option<&(chrono::DateTime<chrono::Utc>, runtime::Stats)>,
    now: &(chrono::DateTime<chrono::Utc>, runtime::Stats),
) -> Value {
    let (read, s) = now;
    let zero = runtime::Stats::default();
    let (preread, p) = prev
        .map(|(t, p)| (crate::format::time(Some(*t)), p))
        .unwrap_or(("0001-01-01T00:00:00Z".into(), &zero));
    json!({
        "read": crate::format::time(Some(*read)),
        "preread": preread,
        "pids_stats": { "current": s.pids_current, "limit": s.pids_limit },
        "blkio_stats": { "io_service_bytes_recursive": [
            { "major": 0, "minor": 0, "op": "read", "value": s.blkio_read_bytes },
            { "major": 0, "minor": 0, "op": "write", "value": s.blkio_write_bytes },
        ] },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(s),
        "precpu_stats": cpu_json(p),
        "memory_stats": {
            "usage": s.memory_usage,
            "max_usage": s.memory_max_usage,
            "stats": s.memory_stat,
            "limit": s.memory_limit,
        },
        "networks": networks,
        "name": format!("/{name}"),
        "id": id,
    })
}

async fn stats(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    let stream = params.bool("stream", true);
    let one_shot = params.bool("one-shot", false);
    let (c, first) = engine.stats(&id).await?;
    let (name, cid) = (c.name(), c.id.clone());
    let mut prev = (chrono::Utc::now(), first);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    if !stream && one_shot {
        let nets = serde_json::to_value(engine.network_stats(&c)).unwrap_or_default();
        let doc = stats_json(&name, &cid, nets, None, &prev);
        let _ = tx.send(Bytes::from(format!("{doc}\n"))).await;
    } else {
        tokio::spawn(async move {
            loop {
                // Without a stream the CLI still wants a CPU delta: one more sample.
                tokio::time::sleep(if stream {
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis(500)
                })
                .await;
                let Ok((c, s)) = engine.stats(&cid).await else {
                    return;
                };
                let nets = serde_json::to_value(engine.network_stats(&c)).unwrap_or_default();
                let now = (chrono::Utc::now(), s);
                let doc = stats_json(&name, &cid, nets, Some(&prev), &now);
                if tx.send(Bytes::from(format!("{doc}\n"))).await.is_err() || !stream {
                    return;
                }
                prev = now;
            }
        });
    }
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error))
}

/// `docker top`: the engine runs `ps` and keeps the container's rows.
async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<engine::top::TopOutput>> {
    let params = Params::parse(uri.query());
    let ps_args = params.get("ps_args").unwrap_or_default().to_string();
    Ok(Json(engine.top(&id, &ps_args).await?))
}
