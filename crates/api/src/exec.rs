//! /containers/{id}/exec and /exec/* endpoints.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::model::ExecCreateRequest;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::query::parse_json;
use crate::streams::{hijack, send_frames};
use crate::{ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: ExecCreateRequest = parse_json(&body)?;
    let exec_id = engine.exec_create(&id, req)?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct StartRequest {
    #[serde(default)]
    detach: bool,
    /// As dockerd: the stream is raw when the *start* request says Tty,
    /// framed otherwise, whatever the exec was created with (docker-py
    /// starts tty execs without it and demultiplexes).
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default)]
    console_size: Option<Vec<u16>>,
}

async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| crate::ApiError::bad_request(e.to_string()))?;
    let start: StartRequest = if bytes.is_empty() {
        StartRequest::default()
    } else {
        parse_json(&bytes)?
    };
    let console = match start.console_size.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => Some((*h, *w)),
        _ => None,
    };
    let tty = start.tty.unwrap_or(false);
    let exec = engine.exec_inspect(&id)?;
    let keys = exec.config.detach_keys.clone().filter(|k| !k.is_empty());
    // As dockerd: detach keys apply to exec processes with a terminal
    // (however the stream is framed).
    let detach_keys = if exec.config.tty {
        crate::detach::parse(keys.as_deref().unwrap_or(crate::detach::DEFAULT))?
    } else {
        Vec::new()
    };
    let mut streams = engine.exec_start(&id, console).await?;
    if start.detach {
        return Ok(StatusCode::OK.into_response());
    }
    let mut req = Request::from_parts(parts, Body::empty());
    hijack(&mut req, tty, move |io| async move {
        let (mut rd, mut wr) = tokio::io::split(io);
        let (detach_tx, mut detached) = tokio::sync::oneshot::channel();
        if let Some(mut stdin) = streams.stdin.take() {
            tokio::spawn(async move {
                let mut reader = crate::detach::StdinReader::new(&mut rd, detach_keys);
                while let Some(data) = reader.next().await {
                    if !data.is_empty() && stdin.write_all(&data).await.is_err() {
                        break;
                    }
                }
                if reader.detached() {
                    // The process keeps running, and its input open; only
                    // this client leaves.
                    let _ = detach_tx.send(stdin);
                }
                // Otherwise dropping stdin closes the process's input.
            });
        }
        let stdin = tokio::select! {
            _ = send_frames(&mut wr, &mut streams.output, tty) => return,
            Ok(stdin) = &mut detached => stdin,
        };
        let _ = wr.shutdown().await;
        // Nobody reads the output any more; hold the input until the end.
        while streams.output.recv().await.is_some() {}
        drop(stdin);
    })
}

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let v = engine.exec_inspect(&id)?;
    let cmd = v.config.cmd.clone().unwrap_or_default();
    Ok(Json(json!({
        "ID": v.id,
        "Running": v.running,
        "ExitCode": v.exit_code,
        "ProcessConfig": {
            "tty": v.config.tty,
            "entrypoint": cmd.first().cloned().unwrap_or_default(),
            "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
            "privileged": v.config.privileged,
            "user": v.config.user,
        },
        "OpenStdin": v.config.attach_stdin,
        "OpenStderr": v.config.attach_stderr,
        "OpenStdout": v.config.attach_stdout,
        "CanRemove": false,
        "ContainerID": v.container_id,
        "DetachKeys": "",
        "Pid": v.pid,
    })))
}

async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let (h, w) = crate::containers::terminal_size(&crate::query::Params::parse(uri.query()))?;
    engine.exec_resize(&id, h, w)?;
    Ok(StatusCode::OK)
}
