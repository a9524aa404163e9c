//! HTTP/1.1 to backends: each router thread keeps idle connections of its
//! own per backend address, as each nginx worker keeps its upstream
//! keep-alive connections. hyper-util's pooled client cost every request a
//! shared pool's lock and hash lookup, a checkout raced against a lazy
//! connect, and a task spawned to put the connection back once the response
//! had been read; here the response body puts its connection back when it
//! is dropped having ended, on the thread that uses it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

use crate::proxy::{Body, BoxError, Failure, connect_tcp};

/// An idle connection is closed after this long (nginx's upstream
/// `keepalive_timeout` is 60 s too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per backend and thread; more are closed.
const MAX_IDLE: usize = 256;

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

/// One router thread's idle backend connections.
#[derive(Default)]
pub struct H1Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
}

impl H1Pool {
    /// Sends `req` (origin-form URI, `Host` set) to `addr` on an idle
    /// connection, or a new one.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, Failure> {
        loop {
            let (mut sender, kept) = match self.take(addr) {
                Some(s) => (s, true),
                None => (connect(addr).await.map_err(Failure::Unsent)?, false),
            };
            // A kept connection may still be finishing the last response's
            // end, or have been closed by the backend meanwhile.
            if kept && sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.returning(addr, sender, resp)),
                Err(mut e) => {
                    let back = e.take_message();
                    let e = e.into_error();
                    match back {
                        // The backend closed a kept connection before the
                        // request went out (hyper gives it back): on another.
                        Some(r) if kept => req = r,
                        Some(_) => return Err(Failure::Unsent(e.into())),
                        None => return Err(Failure::InFlight(e.into())),
                    }
                }
            }
        }
    }

    fn take(&self, addr: SocketAddr) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(&addr)?;
        while let Some(i) = list.pop() {
            if !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT {
                return Some(i.sender);
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Closes connections idle too long or closed by their backend, and
    /// forgets backends left with none (they may have left the table).
    pub fn sweep(&self) {
        let mut idle = self.idle.lock();
        for list in idle.values_mut() {
            list.retain(|i| !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT);
        }
        idle.retain(|_, list| !list.is_empty());
    }

    /// The response, whose body brings the connection back once read to
    /// its end; a 101's connection belongs to the upgrade.
    fn returning(
        self: &Arc<Self>,
        addr: SocketAddr,
        sender: SendRequest<Body>,
        resp: Response<Incoming>,
    ) -> Response<Body> {
        use http_body_util::BodyExt;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return resp.map(|b| b.map_err(BoxError::from).boxed());
        }
        let pool = Arc::downgrade(self);
        resp.map(|inner| {
            Returning {
                inner,
                ended: false,
                home: Some((pool, addr, sender)),
            }
            .boxed()
        })
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Body>, BoxError> {
    let tcp = connect_tcp(addr).await?;
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("router: HTTP/1.1 connection to {addr}: {e}");
        }
    });
    Ok(sender)
}

/// A backend's response body; dropped after its end, it puts the
/// connection back in its thread's pool (dropped before, as when the client
/// went away mid-body, the connection closes: it cannot carry another).
struct Returning {
    inner: Incoming,
    ended: bool,
    home: Option<(Weak<H1Pool>, SocketAddr, SendRequest<Body>)>,
}

impl hyper::body::Body for Returning {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None => self.ended = true,
            Some(Err(_)) => self.home = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if !(self.ended || hyper::body::Body::is_end_stream(&self.inner)) {
            return;
        }
        if let Some((pool, addr, sender)) = self.home.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.put(addr, sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn get(path: &str) -> Request<Body> {
        Request::builder()
            .uri(path)
            .header("host", "t.test")
            .body(Empty::new().map_err(|e| match e {}).boxed())
            .unwrap()
    }

    /// A backend that answers every request on a connection with `body`
    /// (Content-Length, or chunked) and counts its connections.
    async fn backend(chunked: bool) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = conns.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut have = Vec::new();
                    loop {
                        let n = match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        have.extend_from_slice(&buf[..n]);
                        while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                            have.drain(..end + 4);
                            let answer: &[u8] = if chunked {
                                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                            } else {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                            };
                            if s.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, conns)
    }

    #[tokio::test]
    async fn a_connection_read_to_its_end_is_used_again() {
        for chunked in [false, true] {
            let (addr, conns) = backend(chunked).await;
            let pool = Arc::new(H1Pool::default());
            for _ in 0..5 {
                let resp = pool.send(addr, get("/")).await.ok().unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"hello");
            }
            assert_eq!(
                conns.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "chunked {chunked}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_closes_its_connection() {
        let (addr, conns) = backend(false).await;
        let pool = Arc::new(H1Pool::default());
        drop(pool.send(addr, get("/")).await.ok().unwrap());
        let resp = pool.send(addr, get("/")).await.ok().unwrap();
        assert_eq!(
            &resp.into_body().collect().await.unwrap().to_bytes()[..],
            b"hello"
        );
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_kept_connection_the_backend_closed_is_replaced() {
        // Answers one request per connection, then closes it.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                drop(s);
            }
        });
        let pool = Arc::new(H1Pool::default());
        for _ in 0..3 {
            let resp = pool.send(addr, get("/")).await.ok().unwrap();
            assert_eq!(
                &resp.into_body().collect().await.unwrap().to_bytes()[..],
                b"ok"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pool.sweep();
        assert!(
            pool.idle.lock().is_empty(),
            "closed connections are forgotten"
        );
    }

    #[tokio::test]
    async fn nobody_listening_is_a_request_never_sent() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let pool = Arc::new(H1Pool::default());
        assert!(matches!(
            pool.send(addr, get("/")).await,
            Err(Failure::Unsent(_))
        ));
    }
}
