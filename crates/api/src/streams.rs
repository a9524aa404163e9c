//! Docker's stream plumbing: hijacked (upgraded) connections for attach/exec and
//! the multiplexed stdout/stderr framing.

use std::future::Future;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use bytes::{BufMut, Bytes, BytesMut};
use engine::{OutputChunk, StdStream};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::{ApiError, ApiResult};

pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
/// TTY streams carry the terminal's bytes as they are.
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// One chunk as the client expects it: framed, or raw for a terminal.
pub fn encode(raw: bool, stream: StdStream, data: &[u8]) -> Bytes {
    if raw {
        Bytes::copy_from_slice(data)
    } else {
        frame(stream, data)
    }
}

/// One frame of the multiplexed stream: [stream, 0, 0, 0, len u32 BE] + payload.
pub fn frame(stream: StdStream, data: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(8 + data.len());
    buf.put_u8(match stream {
        StdStream::Stdout => 1,
        StdStream::Stderr => 2,
    });
    buf.put_slice(&[0, 0, 0]);
    buf.put_u32(data.len() as u32);
    buf.put_slice(data);
    buf.freeze()
}

pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Answers 101 and runs `serve` on the raw connection once the client switched.
pub fn hijack<F, Fut>(req: &mut Request<Body>, raw: bool, serve: F) -> ApiResult<Response<Body>>
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    if !wants_upgrade {
        return Err(ApiError::bad_request(
            "not implemented: attach without 'Upgrade: tcp' (hijack) is not supported",
        ));
    }
    let peer = req.extensions().get::<UnixPeer>().copied();
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                // `upgraded` owns the connection, so the descriptor is valid here.
                if let Some(peer) = peer {
                    peer.read_everything_sent().await;
                }
                serve(TokioIo::new(upgraded)).await
            }
            Err(err) => tracing::debug!("upgrade failed: {err}"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, if raw { RAW } else { MULTIPLEXED })
        .body(Body::empty())
        .unwrap_or_else(crate::error::response_error))
}

/// The socket of a connection on a unix listener, as the request's extension.
#[derive(Clone, Copy, Debug)]
pub struct UnixPeer(pub std::os::fd::RawFd);

/// How long a stream waits for its client to take the 101 head.
const HEAD_READ_BOUND: std::time::Duration = std::time::Duration::from_millis(100);

impl UnixPeer {
    /// Waits, briefly, until the peer has read all we wrote (the 101 head).
    /// Clients that parse the head with a buffered reader and then read the
    /// raw socket (docker-py's `attach(stream=False)`, `exec_start`) lose
    /// whatever arrived with the head: the history of an exited container
    /// is ready at once and would land in that buffer. dockerd is slow
    /// enough to get away with it; we wait for the kernel to say the head
    /// was read. A peer that never reads costs us the bound, no more.
    async fn read_everything_sent(self) {
        let start = std::time::Instant::now();
        let mut spins = 0u32;
        while self.unread().is_some_and(|n| n > 0) && start.elapsed() < HEAD_READ_BOUND {
            // The reader is usually woken already: yield a few times before
            // sleeping a timer tick.
            if spins < 50 {
                spins += 1;
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }

    /// What we wrote that the peer has not read yet (SIOCOUTQ; for unix
    /// stream sockets, the sent buffers the receiver still holds).
    fn unread(self) -> Option<i32> {
        let mut n: libc::c_int = 0;
        // SAFETY: the caller holds the connection that owns the descriptor;
        // TIOCOUTQ (== SIOCOUTQ) writes one c_int through the valid pointer.
        let rc = unsafe { libc::ioctl(self.0, libc::TIOCOUTQ, &mut n) };
        (rc == 0).then_some(n)
    }
}

/// Writes output (framed, or raw for a terminal) until the channel closes, then
/// shuts the write side down so the client sees EOF.
pub async fn send_frames<W: AsyncWrite + Unpin>(
    wr: &mut W,
    rx: &mut mpsc::Receiver<OutputChunk>,
    raw: bool,
) {
    while let Some(chunk) = rx.recv().await {
        if wr
            .write_all(&encode(raw, chunk.stream, &chunk.data))
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// A streaming body fed by a channel of byte chunks.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Body::from_stream(futures_util::StreamExt::map(
        stream,
        Ok::<_, std::io::Error>,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_header() {
        let f = frame(StdStream::Stderr, b"hello");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&f[8..], b"hello");
        assert_eq!(frame(StdStream::Stdout, b"")[0], 1);
    }
}
