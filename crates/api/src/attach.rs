//! Attaching to a container: the hijacked `POST /containers/{id}/attach`
//! (raw or multiplexed) and `GET /containers/{id}/attach/ws` (a websocket
//! carrying the raw streams, as remote UIs use). One session type serves
//! both over any byte stream.

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Request;
use axum::response::Response;
use engine::{LogOptions, OutputChunk};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::query::Params;
use crate::streams::{encode, hijack, send_frames};
use crate::{ApiResult, AppState};

/// What one attach request asked for, resolved against its container.
struct Session {
    engine: AppState,
    container: std::sync::Arc<engine::Container>,
    output: mpsc::Receiver<OutputChunk>,
    history: Option<mpsc::Receiver<engine::LogLine>>,
    stream: bool,
    want_stdin: bool,
    detach_keys: Vec<u8>,
    open_stdin: bool,
    stdin_once: bool,
    tty: bool,
}

impl Session {
    fn open(engine: AppState, id: &str, params: &Params) -> ApiResult<Session> {
        // logs=1 replays what the container wrote so far; stream=0 stops there.
        let (logs, stream) = (params.bool("logs", false), params.bool("stream", true));
        let want_stdin = params.bool("stdin", false) && stream;
        let detach_keys = crate::detach::parse(
            params
                .get("detachKeys")
                .filter(|k| !k.is_empty())
                .unwrap_or(crate::detach::DEFAULT),
        )?;
        let (stdout, stderr) = (params.bool("stdout", false), params.bool("stderr", false));
        // Live output is subscribed before the history is read, so nothing
        // written in between is lost (it may show twice, as with dockerd).
        let (container, mut output) = engine.attach(id, stdout, stderr)?;
        if !stream {
            output.close();
        }
        let history = if logs && (stdout || stderr) {
            let opts = LogOptions {
                stdout,
                stderr,
                ..Default::default()
            };
            match engine.logs(id, opts) {
                Ok(rx) => Some(rx),
                // The "none" driver keeps no history to replay.
                Err(engine::EngineError::NotSupported(_)) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let (open_stdin, stdin_once, tty) = {
            let v = container.view();
            (
                v.record.config.open_stdin,
                v.record.config.stdin_once,
                v.record.config.tty,
            )
        };
        Ok(Session {
            engine,
            container,
            output,
            history,
            stream,
            want_stdin,
            detach_keys,
            open_stdin,
            stdin_once,
            tty,
        })
    }

    /// Serves the session on a connection: output out (framed unless `raw`),
    /// stdin in, until the output ends or the client detaches.
    async fn run<R, W>(mut self, mut rd: R, mut wr: W, raw: bool)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin,
    {
        if let Some(history) = self.history.as_mut() {
            while let Some(line) = history.recv().await {
                if wr
                    .write_all(&encode(raw, line.stream, &line.data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        if !self.stream {
            let _ = wr.shutdown().await;
            return;
        }
        let (detach_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
        if self.want_stdin && self.open_stdin {
            let engine = self.engine.clone();
            let c = self.container.clone();
            let (tty, stdin_once) = (self.tty, self.stdin_once);
            let detach_keys = std::mem::take(&mut self.detach_keys);
            tokio::spawn(async move {
                // As dockerd: detach keys apply to terminals only.
                let keys = if tty { detach_keys } else { Vec::new() };
                let mut reader = crate::detach::StdinReader::new(&mut rd, keys);
                while let Some(data) = reader.next().await {
                    if !data.is_empty() && engine.write_stdin(&c, Bytes::from(data)).await.is_err()
                    {
                        return;
                    }
                }
                if reader.detached() {
                    // The container keeps running and keeps its stdin.
                    let _ = detach_tx.send(());
                } else if stdin_once {
                    engine.close_stdin(&c).await;
                }
            });
        }
        tokio::select! {
            _ = send_frames(&mut wr, &mut self.output, raw) => {}
            Ok(()) = &mut detached => {
                let _ = wr.shutdown().await;
            }
        }
    }
}

pub async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    mut req: Request<Body>,
) -> ApiResult<Response> {
    let params = Params::parse(req.uri().query());
    let session = Session::open(engine, &id, &params)?;
    let tty = session.tty;
    hijack(&mut req, tty, move |io| async move {
        let (rd, wr) = tokio::io::split(io);
        session.run(rd, wr, tty).await
    })
}

/// moby's websocket attach: the streams travel raw (no multiplexing
/// headers, whatever the terminal setting), output as binary messages,
/// and any message the client sends is stdin.
pub async fn attach_ws(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
    req: Request<Body>,
) -> ApiResult<Response> {
    let params = Params::parse(req.uri().query());
    let session = Session::open(engine, &id, &params)?;
    Ok(ws.on_upgrade(move |socket| bridge(socket, session)))
}

/// Runs the session on one end of an in-memory pipe and moves the other
/// end's bytes to and from websocket messages.
async fn bridge(socket: WebSocket, session: Session) {
    use futures_util::{SinkExt, StreamExt};
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (far_rd, far_wr) = tokio::io::split(far);
    let serving = tokio::spawn(session.run(far_rd, far_wr, true));
    let (mut near_rd, mut near_wr) = tokio::io::split(near);
    let (mut sink, mut messages) = socket.split();
    let outgoing = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match near_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    if sink.send(Message::Binary(chunk)).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    let incoming = async {
        while let Some(Ok(msg)) = messages.next().await {
            let data = match msg {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::copy_from_slice(t.as_str().as_bytes()),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if near_wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = near_wr.shutdown().await;
        // The client went away: keep output flowing until it ends anyway.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = outgoing => {}
        _ = incoming => {}
    }
    serving.abort();
}
