//! `POST /build`: Docker's classic builder API. The context arrives as the
//! request body (a tar); errors found before running (bad Dockerfile, no
//! Dockerfile, bad tag) are a 400, as dockerd answers them; the rest streams
//! as JSON messages (`stream`, `aux`, `errorDetail`).

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use build::{Build, BuildOptions, Progress};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::query::Params;
use crate::streams::channel_body;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build_image))
        .route("/build/prune", post(prune_cache))
}

fn json_map<T: serde::de::DeserializeOwned + Default>(params: &Params, key: &str) -> ApiResult<T> {
    match params.get(key).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} parameter: {e}"))),
    }
}

fn options(params: &Params) -> ApiResult<BuildOptions> {
    let non_empty = |k: &str| params.get(k).filter(|v| !v.is_empty()).map(String::from);
    Ok(BuildOptions {
        dockerfile: non_empty("dockerfile").unwrap_or_else(|| "Dockerfile".into()),
        tags: params
            .all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        build_args: json_map::<BTreeMap<String, Option<String>>>(params, "buildargs")?,
        labels: json_map::<BTreeMap<String, String>>(params, "labels")?,
        target: non_empty("target"),
        no_cache: params.bool("nocache", false),
        rm: params.bool("rm", true),
        force_rm: params.bool("forcerm", false),
        quiet: params.bool("q", false),
        pull: params.bool("pull", false),
        network_mode: non_empty("networkmode"),
        platform: non_empty("platform"),
        cache_from: json_map::<Vec<String>>(params, "cachefrom")?,
        // Repeated, or comma-separated in one value, as clients send them.
        extra_hosts: params
            .all("extrahosts")
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn message(p: &Progress) -> serde_json::Value {
    match p {
        Progress::Stream(s) => json!({ "stream": s }),
        Progress::Aux(id) => json!({ "aux": { "ID": id } }),
    }
}

async fn build_image(State(engine): State<AppState>, req: Request) -> ApiResult<Response> {
    let params = Params::parse(req.uri().query());
    let opts = options(&params)?;
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let mut reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let engine2 = engine.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let prepared = Build::prepare(engine2, opts, &mut reader);
        // The context's tar ends before the body does (tar pads its last
        // record): read the rest, or the answer goes out while the client
        // still writes and it sees a broken pipe instead of the answer.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        prepared
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let build = prepared.map_err(|e| {
        let status = if e.bad_request {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, e.message)
    })?;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let (ptx, mut prx) = mpsc::channel::<Progress>(256);
    let forward = tx.clone();
    let pump = tokio::spawn(async move {
        loop {
            // A client that goes away cancels the build at once (its running
            // step is stopped), as with dockerd, not at the next message.
            let p = tokio::select! {
                p = prx.recv() => p,
                _ = forward.closed() => None,
            };
            let Some(p) = p else { break };
            if forward
                .send(Bytes::from(format!("{}\r\n", message(&p))))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let result = build.run(ptx).await;
        let _ = pump.await;
        if let Err(e) = result {
            let detail = match e.code {
                Some(code) => json!({ "code": code, "message": e.message }),
                None => json!({ "message": e.message }),
            };
            let msg = json!({ "errorDetail": detail, "error": e.message });
            let _ = tx.send(Bytes::from(format!("{msg}\r\n"))).await;
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error))
}

/// `POST /build/prune`. The classic builder keeps one kind of cache, so the
/// filters and storage limits of BuildKit's caches are refused by name.
async fn prune_cache(
    State(engine): State<AppState>,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let params = Params::parse(uri.query());
    if !params.filters()?.0.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not implemented: filters for the build cache prune",
        ));
    }
    if params.get("keep-storage").is_some_and(|v| v != "0") {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not implemented: keep-storage for the build cache prune",
        ));
    }
    let pruned = build::prune_cache(&engine).await?;
    Ok(axum::Json(json!({
        "CachesDeleted": (!pruned.deleted.is_empty()).then_some(pruned.deleted),
        "SpaceReclaimed": pruned.reclaimed,
    })))
}
