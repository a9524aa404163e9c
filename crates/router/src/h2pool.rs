//! HTTP/2 with prior knowledge to a backend (`berth.http.scheme=h2c`): one
//! multiplexed connection per backend, made on first use and made again
//! once the backend closed it (GOAWAY, a restart, a failed keep-alive ping).
//! hyper-util's pooled client would key connections by the request's
//! authority; a backend's connection must carry the client's host name as
//! `:authority` while going to the backend's address, hence this pool of one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::proxy::{Body, BoxError, Failure, connect_tcp};

/// A request in flight pings the backend this often once its connection
/// is quiet, and gives the connection up when no answer comes in time: a
/// backend whose host vanished fails its requests instead of hanging them
/// until the route's timeout.
const PING_INTERVAL: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct H2Conn {
    sender: tokio::sync::Mutex<Option<SendRequest<Body>>>,
    /// Counts failed connects, so that requests queued behind one fail
    /// with it rather than each waiting out a connect of its own.
    failed_connects: AtomicU64,
}

impl std::fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn")
            .field("failed_connects", &self.failed_connects)
            .finish_non_exhaustive()
    }
}

impl H2Conn {
    /// Sends `req` as a new stream on the backend's connection.
    pub async fn send(
        &self,
        addr: SocketAddr,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, Failure> {
        let mut again = true;
        loop {
            let mut sender = self.sender(addr).await?;
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => {
                    let back = e.take_message();
                    let e = e.into_error();
                    match back {
                        // The connection closed before the request went
                        // out (hyper gives it back): once more on a new one.
                        Some(r) if again => {
                            again = false;
                            req = r;
                        }
                        Some(_) => return Err(Failure::Unsent(e.into())),
                        None => return Err(classify(e)),
                    }
                }
            }
        }
    }

    /// The open connection, or a new one.
    async fn sender(&self, addr: SocketAddr) -> Result<SendRequest<Body>, Failure> {
        let failed_before = self.failed_connects.load(Ordering::Relaxed);
        let mut slot = self.sender.lock().await;
        if let Some(s) = slot.as_ref()
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        if self.failed_connects.load(Ordering::Relaxed) != failed_before {
            return Err(Failure::Unsent(
                format!("connect to {addr} failed for the request ahead of this one").into(),
            ));
        }
        match connect(addr).await {
            Ok(s) => {
                *slot = Some(s.clone());
                Ok(s)
            }
            Err(e) => {
                *slot = None;
                self.failed_connects.fetch_add(1, Ordering::Relaxed);
                Err(Failure::Unsent(e))
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Body>, BoxError> {
    let tcp = connect_tcp(addr).await?;
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(PING_INTERVAL)
        .keep_alive_timeout(PING_TIMEOUT)
        .handshake(TokioIo::new(tcp))
        .await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("router: HTTP/2 connection to {addr}: {e}");
        }
    });
    Ok(sender)
}

/// What a stream's failure says of the backend: RFC 9113 §8.7 makes two
/// of them proof that it did not process the request. A stream refused with
/// REFUSED_STREAM (the backend sheds load: another backend may take it), or
/// one above the last stream id of a graceful GOAWAY (the backend closes the
/// connection: a new one may take it). h2 fails only those with a graceful
/// GOAWAY's NO_ERROR; an error GOAWAY fails every stream, processed or not.
fn classify(e: hyper::Error) -> Failure {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut refused = None;
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<h2::Error>() {
            refused = match h.reason() {
                _ if !h.is_remote() => None,
                Some(h2::Reason::REFUSED_STREAM) if h.is_reset() => Some(false),
                Some(h2::Reason::NO_ERROR) if h.is_go_away() => Some(true),
                _ => None,
            };
            break;
        }
        cur = err.source();
    }
    match refused {
        None => Failure::InFlight(e.into()),
        Some(false) => Failure::Unsent(e.into()),
        Some(true) => Failure::GoingAway(e.into()),
    }
}
