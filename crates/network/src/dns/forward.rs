//! Forwarding of queries this network does not know to the host's resolvers.
//!
//! The client's query goes out byte for byte, so its EDNS buffer size, DO
//! bit and ID travel with it and the upstream answer can be relayed as is.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a client waits, at most, before getting SERVFAIL: below glibc's
/// 5 s per-try timeout so the client sees our answer, not its own timeout.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The next upstream is asked when the previous one stayed silent this long,
/// so one dead resolver costs a fraction of the budget, not all of it.
const STAGGER: Duration = Duration::from_millis(400);

const MAX_MESSAGE: usize = 65535;

/// The first useful upstream answer to `query`, or `None` when none came in
/// time (the caller answers SERVFAIL). SERVFAIL/REFUSED from one upstream
/// only count when no other upstream does better.
pub(crate) async fn forward(
    query: &[u8],
    upstreams: &[SocketAddr],
    client_over_tcp: bool,
    timeout: Duration,
) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let id = [query[0], query[1]];
    let mut pending: FuturesUnordered<_> = upstreams
        .iter()
        .zip(0u32..)
        .map(|(upstream, i)| ask(query, id, *upstream, STAGGER * i, client_over_tcp))
        .collect();
    let mut fallback = None;
    let first_good = tokio::time::timeout(timeout, async {
        while let Some((upstream, result)) = pending.next().await {
            match result {
                Ok(resp) if is_failure(&resp) => fallback = Some(resp),
                Ok(resp) => return Some(resp),
                Err(e) => tracing::debug!(%upstream, error = %e, "dns upstream failed"),
            }
        }
        None
    })
    .await;
    match first_good {
        Ok(Some(resp)) => Some(resp),
        _ => fallback,
    }
}

async fn ask(
    query: &[u8],
    id: [u8; 2],
    upstream: SocketAddr,
    delay: Duration,
    client_over_tcp: bool,
) -> (SocketAddr, io::Result<Vec<u8>>) {
    tokio::time::sleep(delay).await;
    let result = async {
        let resp = ask_udp(query, id, upstream).await?;
        // A TCP client has no size limit, so it must get the whole answer
        // that did not fit in the upstream's UDP reply.
        if client_over_tcp && is_truncated(&resp) {
            return ask_tcp(query, id, upstream).await;
        }
        Ok(resp)
    }
    .await;
    (upstream, result)
}

async fn ask_udp(query: &[u8], id: [u8; 2], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A fresh socket per query: a random source port against spoofed
    // answers, and `connect` makes the kernel drop datagrams from others.
    let sock = UdpSocket::bind(local).await?;
    sock.connect(upstream).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = sock.recv(&mut buf).await?;
        if is_response_to(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn ask_tcp(query: &[u8], id: [u8; 2], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(query.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    if !is_response_to(&buf, id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "upstream TCP answer does not match the query",
        ));
    }
    Ok(buf)
}

// Header layout (RFC 1035 4.1.1): ID in bytes 0-1, QR and TC in byte 2,
// RCODE in the low nibble of byte 3.
fn is_response_to(msg: &[u8], id: [u8; 2]) -> bool {
    msg.len() >= 12 && msg[..2] == id && msg[2] & 0x80 != 0
}

fn is_truncated(msg: &[u8]) -> bool {
    msg[2] & 0x02 != 0
}

fn is_failure(msg: &[u8]) -> bool {
    matches!(msg[3] & 0x0f, 2 | 5)
}
