//! The shim socket protocol: frames of `kind: u8, len: u32 BE, payload`.
//!
//! Every connection starts with one `Request` frame from the client and one
//! `Response` frame from the shim. An attach connection then carries output
//! frames shim->client (ended by `End`) and stdin frames client->shim.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exit::ExitStatus;
use crate::error::RuntimeError;
use crate::limits::{Limits, Stats};

pub const REQUEST: u8 = 1;
pub const RESPONSE: u8 = 2;
pub const STDOUT: u8 = 3;
pub const STDERR: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDIN_CLOSE: u8 = 6;
pub const END: u8 = 7;

/// Larger frames are a protocol error, not an allocation.
const MAX_FRAME: u32 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Attach {
        stdin: bool,
    },
    Start,
    Kill {
        signal: i32,
    },
    Wait,
    Pid,
    /// Window size of the container's terminal.
    Resize {
        height: u16,
        width: u16,
    },
    /// Freeze every process of the container (cgroup freezer).
    Pause,
    Resume,
    /// New values for the set fields of the limits.
    Update {
        limits: Limits,
    },
    Stats,
    /// The processes in the container's cgroup.
    Pids,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok,
    Pid(u32),
    Exited(ExitStatus),
    NotRunning,
    Error(String),
    /// An OCI runtime CLI failed; the text is dockerd's wording of it.
    RuntimeFailed(String),
    /// A request Docker would refuse; the text is Docker's.
    Invalid(String),
    Stats(Stats),
    Pids(Vec<u32>),
}

pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(kind);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf).await?;
    w.flush().await
}

/// `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut header = [0u8; 5];
    match r.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut header[1..]).await?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!("frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    Ok(Some(Frame {
        kind: header[0],
        payload,
    }))
}

pub async fn write_json<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    kind: u8,
    value: &T,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_frame(w, kind, &body).await
}

pub async fn read_json<R: AsyncReadExt + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    kind: u8,
) -> Result<T, RuntimeError> {
    let frame = read_frame(r)
        .await
        .map_err(|e| RuntimeError::Protocol(e.to_string()))?
        .ok_or_else(|| RuntimeError::Protocol("connection closed".into()))?;
    if frame.kind != kind {
        return Err(RuntimeError::Protocol(format!(
            "expected frame kind {kind}, got {}",
            frame.kind
        )));
    }
    serde_json::from_slice(&frame.payload).map_err(|e| RuntimeError::Protocol(e.to_string()))
}
