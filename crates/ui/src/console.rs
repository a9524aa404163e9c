//! The console: a websocket onto a `sh` exec with a tty in the container,
//! through the engine's public exec functions (as `docker exec -it`).
//!
//! Frames: binary ones carry the terminal's bytes both ways; text ones are
//! control messages as JSON: `{"resize":[rows,cols]}` from the page,
//! `{"error":...}` or `{"exit":code}` to it.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use engine::model::ExecCreateRequest;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::state::Ui;

#[derive(Deserialize)]
pub struct ConsoleQuery {
    #[serde(default = "default_rows")]
    rows: u16,
    #[serde(default = "default_cols")]
    cols: u16,
    #[serde(default = "default_cmd")]
    cmd: String,
}

fn default_rows() -> u16 {
    24
}
fn default_cols() -> u16 {
    80
}
fn default_cmd() -> String {
    "sh".into()
}

pub async fn open(
    State(ui): State<Arc<Ui>>,
    Path(id): Path<String>,
    Query(q): Query<ConsoleQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        let mut socket = socket;
        if let Err(e) = bridge(&ui, &id, q, &mut socket).await {
            let _ = socket
                .send(Message::Text(
                    json!({ "error": e.to_string() }).to_string().into(),
                ))
                .await;
        }
        let _ = socket.close().await;
    })
}

async fn bridge(
    ui: &Ui,
    id: &str,
    q: ConsoleQuery,
    socket: &mut WebSocket,
) -> Result<(), engine::EngineError> {
    let exec_id = ui.engine.exec_create(
        id,
        ExecCreateRequest {
            attach_stdin: true,
            attach_stdout: true,
            attach_stderr: true,
            tty: true,
            cmd: Some(vec![q.cmd]),
            ..Default::default()
        },
    )?;
    let size = (q.rows.max(1), q.cols.max(1));
    let mut streams = ui.engine.exec_start(&exec_id, Some(size)).await?;
    let mut stdin = streams.stdin.take();
    let (mut tx, mut rx) = socket.split();
    loop {
        tokio::select! {
            out = streams.output.recv() => match out {
                Some(chunk) => {
                    if tx.send(Message::Binary(chunk.data)).await.is_err() {
                        break;
                    }
                }
                None => {
                    let code = ui.engine.exec_inspect(&exec_id).ok().and_then(|v| v.exit_code);
                    let _ = tx.send(Message::Text(json!({ "exit": code }).to_string().into())).await;
                    break;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(&b).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Some(Ok(Message::Text(t))) => resize(ui, &exec_id, t.as_str()),
                Some(Ok(_)) => {}
                // The page went away: closing stdin ends the shell.
                Some(Err(_)) | None => break,
            },
        }
    }
    Ok(())
}

fn resize(ui: &Ui, exec_id: &str, text: &str) {
    #[derive(Deserialize)]
    struct Resize {
        resize: (u16, u16),
    }
    if let Ok(Resize {
        resize: (rows, cols),
    }) = serde_json::from_str(text)
        && rows > 0
        && cols > 0
        && let Err(e) = ui.engine.exec_resize(exec_id, rows, cols)
    {
        tracing::debug!("console resize: {e}");
    }
}
