//! Daemon side of the shim socket.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::exit::{ExitStatus, read_exit_status};
use super::protocol::{self, Request, Response};
use super::{Output, SOCKET_FILE, StdStream};
use crate::error::RuntimeError;
use crate::limits::{Limits, Stats};

/// Output chunks buffered per attach before the shim waits for the reader.
const OUTPUT_QUEUE: usize = 64;
const STDIN_QUEUE: usize = 16;

/// A handle on a running shim. Holds no connection: each call opens its own,
/// so a client survives shim-side hiccups and many clients can coexist.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
    socket: PathBuf,
}

/// A live attachment to a container's stdio.
pub struct Attached {
    /// Output in the order the shim read it; `None` once the container exited
    /// and its pipes are drained.
    pub output: mpsc::Receiver<Output>,
    /// Present when stdin was requested; dropping it closes the container's stdin.
    pub stdin: Option<mpsc::Sender<Bytes>>,
}

impl ShimClient {
    /// Checks that a shim listens in `state_dir`.
    pub async fn connect(state_dir: &Path) -> Result<Self, RuntimeError> {
        let socket = state_dir.join(SOCKET_FILE);
        connect(&socket)
            .await
            .map_err(|e| RuntimeError::io(format!("connect {}", socket.display()), e))?;
        Ok(Self {
            state_dir: state_dir.to_path_buf(),
            socket,
        })
    }

    async fn request(&self, req: &Request) -> Result<(UnixStream, Response), RuntimeError> {
        let mut conn = connect(&self.socket)
            .await
            .map_err(|e| RuntimeError::io(format!("connect {}", self.socket.display()), e))?;
        protocol::write_json(&mut conn, protocol::REQUEST, req)
            .await
            .map_err(|e| RuntimeError::io("send shim request", e))?;
        let resp = protocol::read_json(&mut conn, protocol::RESPONSE).await?;
        Ok((conn, resp))
    }

    async fn simple(&self, req: Request) -> Result<Response, RuntimeError> {
        match self.request(&req).await?.1 {
            Response::NotRunning => Err(RuntimeError::NotRunning),
            Response::Invalid(msg) => Err(RuntimeError::InvalidSetting(msg)),
            Response::RuntimeFailed(msg) => Err(RuntimeError::Oci(msg)),
            Response::Error(msg) => {
                Err(crate::exe::classify(&msg).unwrap_or(RuntimeError::Libcontainer(msg)))
            }
            other => Ok(other),
        }
    }

    pub async fn attach(&self, stdin: bool) -> Result<Attached, RuntimeError> {
        let (conn, resp) = self.request(&Request::Attach { stdin }).await?;
        if !matches!(resp, Response::Ok) {
            return Err(RuntimeError::Protocol(format!("attach refused: {resp:?}")));
        }
        let (mut rd, mut wr) = conn.into_split();
        let (out_tx, output) = mpsc::channel(OUTPUT_QUEUE);
        tokio::spawn(async move {
            while let Ok(Some(frame)) = protocol::read_frame(&mut rd).await {
                let stream = match frame.kind {
                    protocol::STDOUT => StdStream::Stdout,
                    protocol::STDERR => StdStream::Stderr,
                    _ => break,
                };
                let out = Output {
                    stream,
                    data: Bytes::from(frame.payload),
                };
                if out_tx.send(out).await.is_err() {
                    break;
                }
            }
        });
        let stdin = if stdin {
            let (tx, mut rx) = mpsc::channel::<Bytes>(STDIN_QUEUE);
            tokio::spawn(async move {
                while let Some(data) = rx.recv().await {
                    if protocol::write_frame(&mut wr, protocol::STDIN, &data)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                let _ = protocol::write_frame(&mut wr, protocol::STDIN_CLOSE, &[]).await;
            });
            Some(tx)
        } else {
            // Half-closes the socket; the shim ignores EOF on output-only attaches.
            drop(wr);
            None
        };
        Ok(Attached { output, stdin })
    }

    pub async fn start(&self) -> Result<(), RuntimeError> {
        self.simple(Request::Start).await.map(|_| ())
    }

    pub async fn kill(&self, signal: i32) -> Result<(), RuntimeError> {
        self.simple(Request::Kill { signal }).await.map(|_| ())
    }

    /// Resolves once the container has exited. If the shim is already gone,
    /// the exit record it left answers instead.
    pub async fn wait(&self) -> Result<ExitStatus, RuntimeError> {
        match self.request(&Request::Wait).await {
            Ok((_, Response::Exited(status))) => Ok(status),
            Ok((_, other)) => Err(RuntimeError::Protocol(format!(
                "unexpected wait answer: {other:?}"
            ))),
            Err(err) => read_exit_status(&self.state_dir).ok_or(err),
        }
    }

    /// Sets the window size of a tty container's terminal (the kernel sends
    /// SIGWINCH to its foreground process group). Also valid between create
    /// and start, which is how a container gets its initial size.
    pub async fn resize(&self, height: u16, width: u16) -> Result<(), RuntimeError> {
        match self.request(&Request::Resize { height, width }).await?.1 {
            Response::Ok => Ok(()),
            Response::NotRunning => Err(RuntimeError::NotRunning),
            Response::Error(msg) => Err(RuntimeError::InvalidConfig(msg)),
            other => Err(RuntimeError::Protocol(format!(
                "unexpected resize answer: {other:?}"
            ))),
        }
    }

    /// Freezes every process of the container; they stay frozen until `resume`.
    pub async fn pause(&self) -> Result<(), RuntimeError> {
        self.simple(Request::Pause).await.map(|_| ())
    }

    pub async fn resume(&self) -> Result<(), RuntimeError> {
        self.simple(Request::Resume).await.map(|_| ())
    }

    /// Applies the set (non-zero) memory, swap, CPU, cpuset, pids and blkio
    /// fields of `limits` to the running container (`docker update`).
    pub async fn update(&self, limits: &Limits) -> Result<(), RuntimeError> {
        self.simple(Request::Update {
            limits: limits.clone(),
        })
        .await
        .map(|_| ())
    }

    /// Usage of the container's cgroup now.
    pub async fn stats(&self) -> Result<Stats, RuntimeError> {
        match self.simple(Request::Stats).await? {
            Response::Stats(s) => Ok(s),
            other => Err(RuntimeError::Protocol(format!(
                "unexpected stats answer: {other:?}"
            ))),
        }
    }

    /// Host pids of every process in the container, ascending (for `docker top`).
    pub async fn pids(&self) -> Result<Vec<u32>, RuntimeError> {
        match self.simple(Request::Pids).await? {
            Response::Pids(p) => Ok(p),
            other => Err(RuntimeError::Protocol(format!(
                "unexpected pids answer: {other:?}"
            ))),
        }
    }

    pub async fn pid(&self) -> Result<u32, RuntimeError> {
        match self.simple(Request::Pid).await? {
            Response::Pid(pid) => Ok(pid),
            other => Err(RuntimeError::Protocol(format!(
                "unexpected pid answer: {other:?}"
            ))),
        }
    }
}

async fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let name = socket
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(SOCKET_FILE);
    let address = super::sockpath::socket_path(dir, name)?;
    UnixStream::connect(&address.path).await
}
