//! Blob upload sessions: start (plain, monolithic, cross-repo mount), chunks,
//! status, finish with digest verification, cancel.
//!
//! The sha256 state of each session is kept in memory next to the byte
//! offset it covers, so the digest is computed while the bytes stream in;
//! after a restart (no state) the data file is re-read once to rebuild it.

use crate::error::{ApiError, Code};
use crate::http::{AppState, Query, empty, header_str, valid_digest};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

pub struct Progress {
    hasher: Sha256,
    offset: u64,
}

#[derive(Default)]
pub struct Progresses(Mutex<HashMap<String, Arc<tokio::sync::Mutex<Progress>>>>);

impl Progresses {
    fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<Progress>> {
        self.0
            .lock()
            .entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Progress {
                    hasher: Sha256::new(),
                    offset: 0,
                }))
            })
            .clone()
    }

    fn forget(&self, id: &str) {
        self.0.lock().remove(id);
    }
}

fn location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn range_value(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Location", location(name, id)),
        ("Docker-Upload-UUID", id.to_string()),
        ("Range", range_value(size)),
        ("Content-Length", "0".to_string()),
    ]
}

fn upload_unknown(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::BlobUploadUnknown,
        "blob upload unknown to registry",
    )
    .detail(serde_json::json!({ "uuid": id }))
}

fn upload_invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::BlobUploadInvalid, msg)
}

/// The session must exist and belong to the repository in the path.
pub fn require_session(state: &AppState, name: &str, id: &str) -> Result<(), ApiError> {
    match state.store.upload_repo(id)? {
        Some(repo) if repo == name => Ok(()),
        _ => Err(upload_unknown(id)),
    }
}

pub async fn start(
    state: &AppState,
    name: &str,
    query: &Query,
    req: Request,
) -> Result<Response, ApiError> {
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        // A mount that cannot be satisfied falls back to a normal upload
        // session, as the spec asks.
        if crate::names::digest_hex(mount).is_some()
            && crate::names::valid_name(from)
            && state.store.has_layer(from, mount)
        {
            state.store.link_layer(name, mount)?;
            return Ok(empty(
                StatusCode::CREATED,
                &[
                    ("Location", format!("/v2/{name}/blobs/{mount}")),
                    ("Docker-Content-Digest", mount.clone()),
                    ("Content-Length", "0".to_string()),
                ],
            ));
        }
    }
    if let Some(digest) = query.get("digest") {
        let digest = valid_digest(digest)?;
        let id = state.store.create_upload(name)?;
        let result = async {
            append(state, &id, req, None).await?;
            finish(state, name, &id, &digest).await
        }
        .await;
        if result.is_err() {
            state.uploads.forget(&id);
            state.store.remove_upload(&id)?;
        }
        return result;
    }
    let id = state.store.create_upload(name)?;
    Ok(empty(StatusCode::ACCEPTED, &session_headers(name, &id, 0)))
}

pub async fn status(state: &AppState, name: &str, id: &str) -> Result<Response, ApiError> {
    let size = data_size(state, id).await?;
    Ok(empty(
        StatusCode::NO_CONTENT,
        &session_headers(name, id, size),
    ))
}

pub async fn patch(
    state: &AppState,
    name: &str,
    id: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let content_range = match header_str(req.headers(), header::CONTENT_RANGE) {
        None => None,
        Some(v) => Some(
            parse_content_range(v)
                .ok_or_else(|| upload_invalid(format!("malformed Content-Range {v:?}")))?,
        ),
    };
    let size = append(state, id, req, content_range).await?;
    Ok(empty(
        StatusCode::ACCEPTED,
        &session_headers(name, id, size),
    ))
}

pub async fn put(
    state: &AppState,
    name: &str,
    id: &str,
    query: &Query,
    req: Request,
) -> Result<Response, ApiError> {
    let digest = valid_digest(query.get("digest").map(String::as_str).unwrap_or(""))?;
    let content_range = match header_str(req.headers(), header::CONTENT_RANGE) {
        None => None,
        Some(v) => Some(
            parse_content_range(v)
                .ok_or_else(|| upload_invalid(format!("malformed Content-Range {v:?}")))?,
        ),
    };
    append(state, id, req, content_range).await?;
    finish(state, name, id, &digest).await
}

pub async fn cancel(state: &AppState, id: &str) -> Result<Response, ApiError> {
    state.uploads.forget(id);
    state.store.remove_upload(id)?;
    Ok(empty(
        StatusCode::NO_CONTENT,
        &[("Content-Length", "0".into())],
    ))
}

/// `<start>-<end>` (inclusive), also accepting the `bytes ` prefix and a
/// `/total` suffix some clients send.
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

async fn data_size(state: &AppState, id: &str) -> Result<u64, ApiError> {
    let path = state.store.upload_data_path(id);
    match tokio::fs::metadata(&path).await {
        Ok(m) => Ok(m.len()),
        Err(_) => Err(upload_unknown(id)),
    }
}

/// Brings the in-memory hash in line with the data file (after a restart,
/// or after a failed chunk left them apart).
async fn resync(state: &AppState, id: &str, p: &mut Progress, size: u64) -> Result<(), ApiError> {
    if p.offset == size {
        return Ok(());
    }
    let mut f = tokio::fs::File::open(state.store.upload_data_path(id)).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    p.hasher = hasher;
    p.offset = total;
    Ok(())
}

/// Streams the request body onto the end of the session's data. On any
/// failure the data and hash are rolled back to where they were, so a
/// truncated or rejected chunk leaves no trace. Returns the new size.
async fn append(
    state: &AppState,
    id: &str,
    req: Request,
    content_range: Option<(u64, u64)>,
) -> Result<u64, ApiError> {
    let progress = state.uploads.get(id);
    let mut p = progress.lock().await;
    let size = data_size(state, id).await?;
    resync(state, id, &mut p, size).await?;
    let declared_len = header_str(req.headers(), header::CONTENT_LENGTH)
        .map(|v| v.trim().parse::<u64>())
        .transpose()
        .map_err(|_| upload_invalid("malformed Content-Length"))?;
    let expected = match content_range {
        Some((a, b)) => {
            if a != size {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    Code::BlobUploadInvalid,
                    format!("chunk starts at {a} but the upload has {size} bytes"),
                )
                .header(header::RANGE, &range_value(size))
                .header(header::LOCATION, &location(&state_repo(state, id), id)));
            }
            let len = b - a + 1;
            if declared_len.is_some_and(|l| l != len) {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    Code::BlobUploadInvalid,
                    "Content-Range and Content-Length disagree",
                )
                .header(header::RANGE, &range_value(size)));
            }
            Some(len)
        }
        None => declared_len,
    };

    let path = state.store.upload_data_path(id);
    // Written synchronously (chunks land in the page cache): tokio's File
    // finishes a write on a blocking thread after `write_all` returns, so a
    // rollback could run first and the late write would re-extend the data.
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(|_| upload_unknown(id))?
        .into_std()
        .await;
    // Armed until the chunk is complete: truncates the data back even when the
    // handler is dropped mid-body (hyper drops it when a client goes away), where
    // the error branch below would never run.
    let mut rollback = Rollback {
        path: path.clone(),
        size,
        armed: true,
    };
    let mut hasher = p.hasher.clone();
    let mut written = 0u64;
    let mut stream = req.into_body().into_data_stream();
    let outcome: Result<(), ApiError> = async {
        // A client that goes quiet mid-body (or whose half-close the
        // connection never reports) must not hold the session forever: the
        // chunk is given up and rolled back after the idle timeout.
        let idle = state.upload_idle_timeout;
        loop {
            let Some(chunk) = tokio::time::timeout(idle, stream.next())
                .await
                .map_err(|_| upload_invalid(format!("no body data for {}s", idle.as_secs_f32())))?
            else {
                break;
            };
            let chunk = chunk.map_err(|e| upload_invalid(format!("reading body: {e}")))?;
            written += chunk.len() as u64;
            if expected.is_some_and(|e| written > e) {
                return Err(upload_invalid("body longer than declared"));
            }
            hasher.update(&chunk);
            std::io::Write::write_all(&mut file, &chunk)?;
        }
        if expected.is_some_and(|e| written != e) {
            return Err(upload_invalid(format!(
                "body has {written} bytes, {} declared",
                expected.unwrap_or(0)
            )));
        }
        Ok(())
    }
    .await;
    drop(file);
    match outcome {
        Ok(()) => {
            rollback.armed = false;
            p.hasher = hasher;
            p.offset = size + written;
            Ok(p.offset)
        }
        Err(e) => Err(e),
    }
}

struct Rollback {
    path: std::path::PathBuf,
    size: u64,
    armed: bool,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if self.armed
            && let Ok(f) = std::fs::OpenOptions::new().write(true).open(&self.path)
        {
            let _ = f.set_len(self.size);
        }
    }
}

fn state_repo(state: &AppState, id: &str) -> String {
    state
        .store
        .upload_repo(id)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Verifies the digest of the complete upload and moves it into the store;
/// a mismatch discards the session so nothing of it is kept.
async fn finish(
    state: &AppState,
    name: &str,
    id: &str,
    digest: &str,
) -> Result<Response, ApiError> {
    let progress = state.uploads.get(id);
    let mut p = progress.lock().await;
    let size = data_size(state, id).await?;
    resync(state, id, &mut p, size).await?;
    let actual = format!("sha256:{}", hex::encode(p.hasher.clone().finalize()));
    drop(p);
    state.uploads.forget(id);
    if actual != digest {
        state.store.remove_upload(id)?;
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            "provided digest did not match uploaded content",
        )
        .detail(serde_json::json!({ "expected": digest, "actual": actual })));
    }
    state.store.commit_upload(id, digest)?;
    state.store.link_layer(name, digest)?;
    Ok(empty(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{name}/blobs/{digest}")),
            ("Docker-Content-Digest", digest.to_string()),
            ("Content-Length", "0".to_string()),
        ],
    ))
}
