//! /containers/{id}/archive: what `docker cp` speaks.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::routing::head;

use crate::query::Params;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/containers/{id}/archive",
        head(stat).get(get_archive).put(put_archive),
    )
}

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

fn stat_header(stat: &engine::PathStat) -> HeaderValue {
    use base64::Engine as _;
    let json = serde_json::to_vec(stat).unwrap_or_default();
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .expect("base64 text is a valid header value")
}

async fn stat(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let path = path_param(&Params::parse(req.uri().query()))?;
    let (_, stat) = engine.stat_container_path(&id, &path)?;
    Ok(Response::builder()
        .header(STAT_HEADER, stat_header(&stat))
        .body(Body::empty())
        .unwrap_or_else(crate::error::response_error))
}

async fn get_archive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> ApiResult<Response<Body>> {
    let path = path_param(&Params::parse(req.uri().query()))?;
    let (resolved, stat) = engine.stat_container_path(&id, &path)?;
    let (reader, writer) = tokio::io::duplex(64 * 1024);
    tokio::task::spawn_blocking(move || {
        let out = tokio_util::io::SyncIoBridge::new(writer);
        if let Err(err) = engine.archive_container_path(&resolved, out) {
            tracing::warn!("archive of {path}: {err}");
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(STAT_HEADER, stat_header(&stat))
        // 4 KiB chunks (ReaderStream's default) cost a write, and over TLS a
        // record, each: a large copy went 25% slower over TLS than the socket.
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024),
        ))
        .unwrap_or_else(crate::error::response_error))
}

async fn put_archive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> ApiResult<StatusCode> {
    let params = Params::parse(req.uri().query());
    let path = path_param(&params)?;
    let copy_uid_gid = params.bool("copyUIDGID", false);
    let no_overwrite_dir_non_dir = params.bool("noOverwriteDirNonDir", false);
    engine.container(&id)?;
    let reader = crate::body_reader::body_reader(req.into_body());
    tokio::task::spawn_blocking(move || {
        engine.extract_into_container(&id, &path, reader, copy_uid_gid, no_overwrite_dir_non_dir)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(StatusCode::OK)
}
