//! Git's smart HTTP protocol for apps on the API's own listeners, so a push
//! is authenticated as any API call (TLS client certificates on TCP, the
//! socket's group on unix): `git push https://HOST:2376/berth/v1/apps/NAME/git main`.
//! Requests go to Debian's `git http-backend` as CGI; its answer streams
//! back (the hook's build and deploy output rides git's sideband).

use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::routes::Berth;
use crate::{ApiError, ApiResult, AppState};

const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

pub fn routes() -> Router<AppState> {
    Router::new().route("/berth/v1/apps/{name}/git/{*rest}", any(cgi))
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {e}"))
}

async fn cgi(
    Extension(b): Extension<Berth>,
    Path((name, rest)): Path<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    b.apps.get(&name)?;
    let project_root = b
        .apps
        .repo(&name)
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| internal("app directory", "none"))?;
    let (parts, body) = req.into_parts();
    let header_str = |h: header::HeaderName| {
        parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut cmd = tokio::process::Command::new(HTTP_BACKEND);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        // Whoever reached the API is allowed: the API authenticated them.
        .env("REMOTE_USER", "berth")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", format!("/repo.git/{rest}"))
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header_str(header::CONTENT_TYPE))
        .env(
            "HTTP_CONTENT_ENCODING",
            header_str(header::CONTENT_ENCODING),
        )
        .env("GIT_PROTOCOL", {
            let p = parts
                .headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok());
            p.unwrap_or_default().to_string()
        })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
        cmd.env("CONTENT_LENGTH", len.to_str().unwrap_or_default());
    }
    let mut child = cmd.spawn().map_err(|e| internal(HTTP_BACKEND, e))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(internal(HTTP_BACKEND, "no pipes"));
    };
    // The request body is fed while the answer is read: a large push
    // would otherwise fill both pipes.
    tokio::spawn(async move {
        let mut body = StreamReader::new(
            body.into_data_stream()
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        if let Err(e) = tokio::io::copy(&mut body, &mut stdin).await {
            tracing::debug!("git http-backend: request body: {e}");
        }
        let _ = stdin.shutdown().await;
    });
    let mut out = BufReader::new(stdout);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    loop {
        let mut line = String::new();
        let n = out
            .read_line(&mut line)
            .await
            .map_err(|e| internal("reading git http-backend", e))?;
        let line = line.trim_end();
        if n == 0 || line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            status = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let Ok(value) = HeaderValue::from_str(v) {
            response = response.header(k, value);
        }
    }
    // The child is reaped when its output ends (kill_on_drop covers a
    // client that goes away).
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    response
        .status(status)
        .body(Body::from_stream(ReaderStream::new(out)))
        .map_err(|e| internal("git http-backend answer", e))
}
