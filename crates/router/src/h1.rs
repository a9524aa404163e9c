//! The HTTP/1.1 fast path: the common request (HTTP/1.1, origin-form, no
//! body or a small one with a `Content-Length`, to a route of HTTP/1.1
//! backends) proxied by hand, as nginx and haproxy do: the client's head is
//! parsed in place (httparse) and the backend's head written from it in
//! one buffer; the backend's head is parsed the same way and its body
//! copied through as it comes, `Content-Length` and chunked framing
//! tracked, not decoded. No header map, no request or body objects, no
//! task per backend connection: each request costs a read and a write on
//! each side and little else, where hyper's general machinery cost more CPU
//! per request than all of nginx.
//!
//! Everything else goes to hyper, connection and all, with the bytes read
//! so far: HTTP/2 (h2c's preface), upgrades, `Expect`, chunked or large
//! request bodies, HTTP/1.0, absolute-form targets, routes to h2c backends,
//! unknown hosts and paths, and anything malformed (hyper answers those as
//! it always did). Retries, timeouts, ejection, the access log and metrics
//! are the same for both: [`Router::forward`] and [`Router::log`].

use std::collections::HashMap;
use std::io::Write as _;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hyper::{Method, StatusCode};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::backend::Backend;
use crate::forwarded;
use crate::labels::Scheme;
use crate::proxy::{self, Failure, Forwarded, Peer, Seen, Transport};
use crate::table::Lookup;
use crate::{Router, Worker};

/// A request head longer than this goes to hyper (whose limit is larger).
const MAX_HEAD: usize = 64 << 10;
/// Header lines parsed in place; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;
/// Request bodies up to this size are read whole before the request goes
/// out (so any retry can send them again); longer ones stream through hyper.
const MAX_BODY: usize = 64 << 10;
/// A backend connection's read size: a small response in one read.
const READ_SIZE: usize = 16 << 10;
/// Reads of a long body are larger.
const BODY_READ_SIZE: usize = 64 << 10;
/// An idle backend connection is closed after this long (nginx's upstream
/// `keepalive_timeout` is 60 s too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per backend and thread; more are closed.
const MAX_IDLE: usize = 256;

/// Serves `io`'s requests on the fast path until one needs hyper, then
/// hands the connection over.
pub(crate) async fn serve<S>(worker: Arc<Worker>, mut io: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = BytesMut::with_capacity(8 << 10);
    let mut scratch = Scratch {
        request: Vec::with_capacity(4 << 10),
        response: Vec::with_capacity(READ_SIZE + 1024),
    };
    loop {
        let head = loop {
            if !buf.is_empty() {
                match parse_request(&buf, peer, &mut scratch.request) {
                    Parsed::Fast(head) => break head,
                    Parsed::Partial if buf.len() < MAX_HEAD => {}
                    Parsed::Partial | Parsed::Slow => {
                        return hand_over(worker, io, buf, peer).await;
                    }
                }
            }
            buf.reserve(4 << 10);
            match io.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let next = worker
            .router
            .fast(&worker.conns, &mut io, &mut buf, head, peer, &mut scratch)
            .await;
        match next {
            Next::KeepAlive => {}
            Next::Close => {
                let _ = io.shutdown().await;
                return;
            }
            Next::HandOver => return hand_over(worker, io, buf, peer).await,
        }
    }
}

/// Gives the connection to hyper, `read` (what was read of it and not
/// answered) first.
async fn hand_over<S>(worker: Arc<Worker>, io: S, read: BytesMut, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    worker.connection(Rewound { read, io }, peer).await
}

/// A request head the fast path takes.
struct Head {
    method: Method,
    /// The route's host name (see [`proxy::host_name`]) and path.
    host: String,
    path: String,
    head_len: usize,
    body_len: usize,
    /// The client asked to close after this response.
    close: bool,
}

enum Parsed {
    /// More of the head is to come.
    Partial,
    /// For hyper.
    Slow,
    Fast(Head),
}

/// Whether a target byte may stay as it is: RFC 3986's unreserved and
/// reserved characters and `%`. Anything else (hyper refuses some, accepts
/// others) goes to hyper.
fn target_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1, as [`forwarded::strip_hop_by_hop`]);
/// a response's `transfer-encoding` is written again when its body stays
/// chunked.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the backend does not get from the client besides: those
/// this hop writes itself, and `trailer` (no trailers follow a body with a
/// length).
const NOT_FORWARDED: [&str; 6] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "trailer",
];

fn one_of(list: &[&str], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// `Connection`'s tokens: whether `close` is among them, and the other
/// headers it names (hop-by-hop too); None when it names too many to keep.
fn connection_tokens<'a>(value: &'a str, named: &mut Vec<&'a str>) -> Option<bool> {
    let mut close = false;
    for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t.eq_ignore_ascii_case("close") {
            close = true;
        } else if !t.eq_ignore_ascii_case("keep-alive") {
            if named.len() == 8 {
                return None;
            }
            named.push(t);
        }
    }
    Some(close)
}

/// Parses the request head at the start of `buf` and, when the fast path
/// takes it, writes the backend's head into `out`.
fn parse_request(buf: &[u8], peer: Peer, out: &mut Vec<u8>) -> Parsed {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Slow,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Slow;
    };
    if !target.starts_with('/') || !target.bytes().all(target_byte) {
        return Parsed::Slow;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Slow;
    };
    if method == Method::CONNECT {
        return Parsed::Slow;
    }
    let mut host = None;
    let mut length = None;
    let mut close = false;
    let (mut xff, mut fwd) = (None, None);
    let mut named = Vec::new();
    for h in req.headers.iter() {
        let n = h.name;
        if n.eq_ignore_ascii_case("transfer-encoding")
            || n.eq_ignore_ascii_case("upgrade")
            || n.eq_ignore_ascii_case("expect")
        {
            return Parsed::Slow;
        }
        let Ok(v) = std::str::from_utf8(h.value) else {
            if n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("connection") {
                return Parsed::Slow;
            }
            continue;
        };
        if n.eq_ignore_ascii_case("host") {
            if host.replace(v).is_some() {
                return Parsed::Slow;
            }
        } else if n.eq_ignore_ascii_case("content-length") {
            let digits = !v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit());
            if !digits || length.is_some() {
                return Parsed::Slow;
            }
            length = v.parse::<usize>().ok();
        } else if n.eq_ignore_ascii_case("connection") {
            match connection_tokens(v, &mut named) {
                Some(c) => close |= c,
                None => return Parsed::Slow,
            }
        } else if n.eq_ignore_ascii_case("x-forwarded-for") {
            xff = xff.or(Some(v));
        } else if n.eq_ignore_ascii_case("forwarded") {
            fwd = fwd.or(Some(v));
        }
    }
    let Some(host_header) = host.filter(|h| !h.is_empty()) else {
        return Parsed::Slow;
    };
    if named.iter().any(|n| n.eq_ignore_ascii_case("upgrade")) {
        return Parsed::Slow;
    }
    let body_len = length.unwrap_or(0);
    if body_len > MAX_BODY {
        return Parsed::Slow;
    }

    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.headers.iter() {
        if one_of(&HOP_BY_HOP, h.name) || one_of(&NOT_FORWARDED, h.name) || one_of(&named, h.name) {
            continue;
        }
        header(out, h.name, h.value);
    }
    let proto = if peer.tls { "https" } else { "http" };
    let (xff, fwd) = forwarded::values(xff, fwd, peer.addr.ip(), proto, host_header);
    header(out, "host", host_header.as_bytes());
    header(out, "x-forwarded-for", xff.as_bytes());
    header(out, "forwarded", fwd.as_bytes());
    header(out, "x-forwarded-proto", proto.as_bytes());
    header(out, "x-forwarded-host", host_header.as_bytes());
    out.extend_from_slice(b"\r\n");
    Parsed::Fast(Head {
        method,
        host: proxy::host_name(host_header),
        path: target.split('?').next().unwrap_or(target).to_string(),
        head_len,
        body_len,
        close,
    })
}

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A connection's buffers, kept from one request to the next.
struct Scratch {
    /// The backend's request: its head, then its body.
    request: Vec<u8>,
    /// The client's response head, and the body's first piece.
    response: Vec<u8>,
}

/// What follows a request on the client's connection.
enum Next {
    KeepAlive,
    Close,
    HandOver,
}

impl Router {
    /// Proxies the request whose head starts `buf`; its head and body
    /// leave `buf` unless the request goes to hyper.
    async fn fast<S>(
        &self,
        conns: &Conns,
        io: &mut S,
        buf: &mut BytesMut,
        head: Head,
        peer: Peer,
        scratch: &mut Scratch,
    ) -> Next
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let route = match self.table().lookup(&head.host, &head.path) {
            Lookup::Found(r) => r.clone(),
            // hyper answers (404), as for anything not routed here.
            Lookup::UnknownHost | Lookup::NoPath => return Next::HandOver,
        };
        let over_limit = route
            .options
            .max_body
            .is_some_and(|max| head.body_len as u64 > max);
        if route.options.scheme != Scheme::Http || over_limit {
            return Next::HandOver;
        }
        let whole = head.head_len + head.body_len;
        while buf.len() < whole {
            buf.reserve(whole - buf.len());
            match io.read_buf(buf).await {
                Ok(0) | Err(_) => return Next::Close,
                Ok(_) => {}
            }
        }
        let Scratch { request, response } = scratch;
        request.extend_from_slice(&buf[head.head_len..whole]);
        buf.advance(whole);
        let seen = Seen {
            peer,
            host: head.host,
            method: head.method,
            path: head.path,
            begun: Instant::now(),
        };
        let mut send = FastSend {
            conns,
            request: &request[..],
            head_request: seen.method == Method::HEAD,
            body_whole: head.body_len as u64 <= route.options.retry_body_limit,
            method: &seen.method,
            client_close: head.close,
            response,
        };
        let forwarded = self.forward(&route, &seen, &mut send).await;
        match forwarded {
            Forwarded::Answered {
                backend,
                guard,
                answer: (mut conn, answer),
            } => {
                self.log(&seen, Some(&route), Some(backend.addr), answer.status);
                let relayed = relay(io, &mut conn, &answer, response).await;
                drop(guard);
                match relayed {
                    Relayed::Whole { reusable } => {
                        if reusable && answer.backend_keeps {
                            conns.put(backend.addr, conn);
                        }
                        if answer.client_close || io.flush().await.is_err() {
                            Next::Close
                        } else {
                            Next::KeepAlive
                        }
                    }
                    // The client has a head and part of a body: only the
                    // connection's end tells it the body is cut short.
                    Relayed::Cut | Relayed::ClientGone => Next::Close,
                }
            }
            Forwarded::Failed {
                backend,
                status,
                message,
            } => {
                self.log(&seen, Some(&route), backend, status.as_u16());
                text(response, status, &message, head.close);
                if io.write_all(response).await.is_err() || io.flush().await.is_err() {
                    return Next::Close;
                }
                if head.close {
                    Next::Close
                } else {
                    Next::KeepAlive
                }
            }
        }
    }
}

/// A plain-text answer of the router's own.
fn text(out: &mut Vec<u8>, status: StatusCode, body: &str, close: bool) {
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        if close { "connection: close\r\n" } else { "" },
    );
    out.extend_from_slice(body.as_bytes());
}

/// The fast path's [`Transport`]: the request as bytes, to a pooled
/// connection of this thread.
struct FastSend<'a> {
    conns: &'a Conns,
    /// The backend's head and the body.
    request: &'a [u8],
    head_request: bool,
    body_whole: bool,
    method: &'a Method,
    client_close: bool,
    /// Where the client's response head is written.
    response: &'a mut Vec<u8>,
}

impl Transport for FastSend<'_> {
    type Answer = (Conn, Answer);

    async fn send(&mut self, backend: &Arc<Backend>) -> Result<(Conn, Answer), Failure> {
        let addr = backend.addr;
        loop {
            let (mut conn, kept) = match self.conns.take(addr) {
                Some(c) => (c, true),
                None => (Conn::open(addr).await.map_err(Failure::Unsent)?, false),
            };
            if let Err(e) = conn.tcp.write_all(self.request).await {
                // A kept connection the backend has closed: it got none of
                // this request.
                if kept {
                    continue;
                }
                return Err(Failure::InFlight(
                    format!("sending the request: {e}").into(),
                ));
            }
            match read_head(
                &mut conn,
                self.head_request,
                self.client_close,
                self.response,
            )
            .await
            {
                Ok(answer) => return Ok((conn, answer)),
                // A kept connection closed as the request went out (the
                // backend's keep-alive timeout): most likely it was never
                // read, but only an idempotent request may be sent again
                // on that guess, on a new connection.
                Err(HeadError::Closed) if kept && proxy::idempotent(self.method) => continue,
                Err(e) => return Err(Failure::InFlight(e.to_string().into())),
            }
        }
    }

    fn may_retry(&self, failure: &Failure) -> bool {
        proxy::may_retry(self.method, self.body_whole, failure)
    }
}

/// A response head as the fast path passes it on.
struct Answer {
    status: u16,
    framing: Framing,
    /// The backend may take another request on this connection.
    backend_keeps: bool,
    /// The client's connection ends with this response.
    client_close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the backend closes.
    UntilClose,
}

#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("connection closed before a response")]
    Closed,
    #[error("reading the response: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response head")]
    Malformed,
    #[error("response head over {MAX_HEAD} bytes")]
    TooLong,
    #[error("switching protocols unasked")]
    Upgrade,
}

/// Reads the backend's response head into `conn.buf` (1xx interim
/// responses skipped) and writes the client's head into `out`; the head
/// leaves `conn.buf`, what was read of the body stays.
async fn read_head(
    conn: &mut Conn,
    head_request: bool,
    client_close: bool,
    out: &mut Vec<u8>,
) -> Result<Answer, HeadError> {
    conn.buf.clear();
    let mut any = false;
    loop {
        if !conn.buf.is_empty() {
            match parse_response(&conn.buf, head_request, client_close, out)? {
                Some((len, None)) => conn.buf.advance(len),
                Some((len, Some(answer))) => {
                    conn.buf.advance(len);
                    return Ok(answer);
                }
                None if conn.buf.len() >= MAX_HEAD => return Err(HeadError::TooLong),
                None => {}
            }
        }
        conn.buf.reserve(READ_SIZE);
        match conn.tcp.read_buf(&mut conn.buf).await {
            Ok(0) if !any => return Err(HeadError::Closed),
            Err(e) if !any && e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(HeadError::Closed);
            }
            Ok(0) => return Err(HeadError::Malformed),
            Ok(_) => any = true,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a response head at the start of `buf`: None while incomplete;
/// its length, and for a final response its [`Answer`], with the client's
/// head written into `out`.
fn parse_response(
    buf: &[u8],
    head_request: bool,
    client_close: bool,
    out: &mut Vec<u8>,
) -> Result<Option<(usize, Option<Answer>)>, HeadError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(false)
        .parse_response_with_uninit_headers(&mut resp, buf, &mut headers)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Malformed),
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return Err(HeadError::Malformed);
    };
    match status {
        101 => return Err(HeadError::Upgrade),
        100..=199 => return Ok(Some((len, None))),
        _ => {}
    }
    let mut named = Vec::new();
    let mut backend_close = version == 0;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in resp.headers.iter() {
        let n = h.name;
        if n.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| HeadError::Malformed)?;
            let v: u64 = v.trim().parse().map_err(|_| HeadError::Malformed)?;
            if length.is_some_and(|l| l != v) {
                return Err(HeadError::Malformed);
            }
            length = Some(v);
        } else if n.eq_ignore_ascii_case("transfer-encoding") {
            let v = std::str::from_utf8(h.value).map_err(|_| HeadError::Malformed)?;
            let last = v.rsplit(',').next().unwrap_or_default().trim();
            chunked = Some((last.eq_ignore_ascii_case("chunked"), v));
        } else if n.eq_ignore_ascii_case("connection") {
            let v = std::str::from_utf8(h.value).map_err(|_| HeadError::Malformed)?;
            backend_close |= connection_tokens(v, &mut named).ok_or(HeadError::Malformed)?;
        }
    }
    let framing = if head_request || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some((true, _)), _) => Framing::Chunked,
            (Some((false, _)), _) | (None, None) => Framing::UntilClose,
            (None, Some(l)) => Framing::Length(l),
        }
    };
    let client_close = client_close || framing == Framing::UntilClose;

    out.clear();
    let _ = write!(out, "HTTP/1.1 {status} ");
    out.extend_from_slice(resp.reason.unwrap_or_default().as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let framing_header = chunked.is_some() && h.name.eq_ignore_ascii_case("content-length");
        if framing_header || one_of(&HOP_BY_HOP, h.name) || one_of(&named, h.name) {
            continue;
        }
        header(out, h.name, h.value);
    }
    // The body passes through as it came, so its transfer codings stay said.
    if let Some((_, codings)) = chunked {
        header(out, "transfer-encoding", codings.as_bytes());
    }
    if client_close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some((
        len,
        Some(Answer {
            status,
            framing,
            backend_keeps: !backend_close && framing != Framing::UntilClose,
            client_close,
        }),
    )))
}

enum Relayed {
    /// The body went through whole; `reusable`: nothing came after it.
    Whole {
        reusable: bool,
    },
    /// The backend's body broke off (closed, or malformed).
    Cut,
    ClientGone,
}

/// Passes the response on: the head in `out`, then the body from
/// `conn.buf` and the backend's connection.
async fn relay<S>(io: &mut S, conn: &mut Conn, answer: &Answer, out: &mut Vec<u8>) -> Relayed
where
    S: AsyncWrite + Unpin,
{
    let mut chunks = Chunks::default();
    let mut left = match answer.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    // The first piece goes out with the head, in one write.
    let mut first = true;
    loop {
        let (take, done) = match answer.framing {
            Framing::Empty => (0, true),
            Framing::Length(_) => {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(conn.buf.len());
                left -= take as u64;
                (take, left == 0)
            }
            Framing::Chunked => match chunks.feed(&conn.buf) {
                Ok(Some(end)) => (end, true),
                Ok(None) => (conn.buf.len(), false),
                Err(()) => return Relayed::Cut,
            },
            Framing::UntilClose => (conn.buf.len(), false),
        };
        let sent = if first {
            first = false;
            out.extend_from_slice(&conn.buf[..take]);
            io.write_all(out).await
        } else {
            io.write_all(&conn.buf[..take]).await
        };
        // Each piece goes out as it came (a TLS stream may hold it until
        // flushed; for TCP this is nothing).
        if sent.is_err() || (!done && io.flush().await.is_err()) {
            return Relayed::ClientGone;
        }
        if done {
            return Relayed::Whole {
                reusable: take == conn.buf.len(),
            };
        }
        conn.buf.clear();
        conn.buf.reserve(BODY_READ_SIZE);
        match conn.tcp.read_buf(&mut conn.buf).await {
            Ok(0) if answer.framing == Framing::UntilClose => {
                return Relayed::Whole { reusable: false };
            }
            Ok(0) | Err(_) => return Relayed::Cut,
            Ok(_) => {}
        }
    }
}

/// Where a chunked body ends (RFC 9112 §7.1), found as it passes through.
#[derive(Debug, Default)]
enum Chunks {
    /// In a chunk's size, so far.
    #[default]
    Size,
    SizeDigits(u64),
    /// After the size: extensions, up to the line's end.
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    Trailer,
    EndLf,
}

impl Chunks {
    /// Follows `data`; the offset just past the body's end when it is in
    /// `data`.
    fn feed(&mut self, data: &[u8]) -> Result<Option<usize>, ()> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            *self = match *self {
                Chunks::Size | Chunks::SizeDigits(_) => {
                    let so_far = match *self {
                        Chunks::SizeDigits(n) => Some(n),
                        _ => None,
                    };
                    match (char::from(b).to_digit(16), so_far) {
                        (Some(d), n) => {
                            let n = n.unwrap_or(0);
                            if n >> 60 != 0 {
                                return Err(());
                            }
                            Chunks::SizeDigits(n << 4 | u64::from(d))
                        }
                        (None, Some(n)) if matches!(b, b';' | b' ' | b'\t') => Chunks::Extension(n),
                        (None, Some(n)) if b == b'\r' => Chunks::SizeLf(n),
                        _ => return Err(()),
                    }
                }
                Chunks::Extension(n) => match b {
                    b'\r' => Chunks::SizeLf(n),
                    b'\n' => return Err(()),
                    _ => Chunks::Extension(n),
                },
                Chunks::SizeLf(n) => match (b, n) {
                    (b'\n', 0) => Chunks::TrailerStart,
                    (b'\n', n) => Chunks::Data(n),
                    _ => return Err(()),
                },
                Chunks::Data(n) => {
                    let here = u64::try_from(data.len() - i).unwrap_or(u64::MAX).min(n);
                    // usize: `here` is at most what is left of `data`.
                    i += here as usize;
                    *self = if here == n {
                        Chunks::DataCr
                    } else {
                        Chunks::Data(n - here)
                    };
                    continue;
                }
                Chunks::DataCr if b == b'\r' => Chunks::DataLf,
                Chunks::DataLf if b == b'\n' => Chunks::Size,
                Chunks::DataCr | Chunks::DataLf => return Err(()),
                Chunks::TrailerStart => match b {
                    b'\r' => Chunks::EndLf,
                    b'\n' => return Err(()),
                    _ => Chunks::Trailer,
                },
                Chunks::Trailer => match b {
                    b'\n' => Chunks::TrailerStart,
                    _ => Chunks::Trailer,
                },
                Chunks::EndLf if b == b'\n' => return Ok(Some(i + 1)),
                Chunks::EndLf => return Err(()),
            };
            i += 1;
        }
        Ok(None)
    }
}

/// A connection to a backend and its read buffer.
pub(crate) struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, proxy::BoxError> {
        Ok(Conn {
            tcp: proxy::connect_tcp(addr).await?,
            buf: BytesMut::with_capacity(READ_SIZE),
        })
    }

    /// Whether the backend may still take a request on it: it has not
    /// closed it, nor sent anything unasked. Costs no system call unless
    /// the connection became readable.
    fn usable(&self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.tcp.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => matches!(
                self.tcp.try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            ),
        }
    }
}

/// One router thread's idle backend connections of the fast path, as each
/// nginx worker keeps its upstream keep-alive connections.
#[derive(Default)]
pub(crate) struct Conns {
    idle: Mutex<HashMap<SocketAddr, Vec<(Conn, Instant)>>>,
}

impl Conns {
    fn take(&self, addr: SocketAddr) -> Option<Conn> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(&addr)?;
        while let Some((conn, since)) = list.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.usable() {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, conn: Conn) {
        let mut idle = self.idle.lock();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE {
            list.push((conn, Instant::now()));
        }
    }

    /// Closes connections idle too long or closed by their backend, and
    /// forgets backends left with none (they may have left the table).
    pub(crate) fn sweep(&self) {
        let mut idle = self.idle.lock();
        for list in idle.values_mut() {
            list.retain(|(conn, since)| since.elapsed() < IDLE_TIMEOUT && conn.usable());
        }
        idle.retain(|_, list| !list.is_empty());
    }
}

/// A connection whose first bytes were already read: they are read again.
struct Rewound<S> {
    read: BytesMut,
    io: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer {
            addr: "192.0.2.9:40000".parse().unwrap(),
            tls: false,
        }
    }

    fn fast(raw: &str) -> (Head, String) {
        let mut out = Vec::new();
        match parse_request(raw.as_bytes(), peer(), &mut out) {
            Parsed::Fast(h) => (h, String::from_utf8(out).unwrap()),
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::Slow => panic!("slow: {raw:?}"),
        }
    }

    fn slow(raw: &str) -> bool {
        matches!(
            parse_request(raw.as_bytes(), peer(), &mut Vec::new()),
            Parsed::Slow
        )
    }

    #[test]
    fn a_plain_request_is_rewritten_for_the_backend() {
        let (head, out) = fast(
            "GET /a/b?c=1 HTTP/1.1\r\nHost: App.Test:8080\r\nConnection: keep-alive, x-private\r\n\
             X-Private: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nAccept: */*\r\n\
             X-Forwarded-For: 203.0.113.1\r\nX-Forwarded-Proto: https\r\n\r\n",
        );
        assert_eq!(
            (head.host.as_str(), head.path.as_str()),
            ("app.test", "/a/b")
        );
        assert!(!head.close);
        assert_eq!(head.body_len, 0);
        assert_eq!(
            out,
            "GET /a/b?c=1 HTTP/1.1\r\nAccept: */*\r\nhost: App.Test:8080\r\n\
             x-forwarded-for: 203.0.113.1, 192.0.2.9\r\n\
             forwarded: for=192.0.2.9;proto=http;host=\"App.Test:8080\"\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: App.Test:8080\r\n\r\n"
        );
    }

    #[test]
    fn bodies_and_close_are_read_from_the_head() {
        let (head, out) = fast(
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        );
        assert_eq!((head.body_len, head.close), (5, true));
        assert!(out.contains("content-length: 5\r\n"), "{out}");
        assert!(!out.to_ascii_lowercase().contains("connection"), "{out}");
        assert_eq!(head.head_len, 66);
    }

    #[test]
    fn what_the_fast_path_does_not_take_goes_to_hyper() {
        for raw in [
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.0\r\nhost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nhost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 999999\r\n\r\n",
            "PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 1\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\nhost: a\r\n\r\n",
            "GET /a\"b HTTP/1.1\r\nhost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n",
        ] {
            assert!(slow(raw), "{raw:?}");
        }
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nhost: a\r\n", peer(), &mut Vec::new()),
            Parsed::Partial
        ));
    }

    fn response(raw: &str, head_request: bool, close: bool) -> (usize, Answer, String) {
        let mut out = Vec::new();
        let (len, answer) = parse_response(raw.as_bytes(), head_request, close, &mut out)
            .unwrap()
            .unwrap();
        (len, answer.unwrap(), String::from_utf8(out).unwrap())
    }

    #[test]
    fn response_framing_and_hop_by_hop_headers() {
        let (len, a, out) = response(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: x-hop\r\nX-Hop: 1\r\nX-Kept: 2\r\n\r\nhello",
            false,
            false,
        );
        assert_eq!((len, a.status, a.framing), (78, 200, Framing::Length(5)));
        assert!(a.backend_keeps && !a.client_close);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kept: 2\r\n\r\n"
        );

        let (_, a, out) = response(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
            true,
        );
        assert_eq!(a.framing, Framing::Chunked);
        assert!(a.client_close);
        assert_eq!(
            out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            "chunked wins over a length, which goes"
        );

        let (_, a, out) = response("HTTP/1.0 200 OK\r\n\r\n", false, false);
        assert_eq!(a.framing, Framing::UntilClose);
        assert!(!a.backend_keeps && a.client_close);
        assert_eq!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");

        let (_, a, _) = response("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", true, false);
        assert_eq!(a.framing, Framing::Empty, "HEAD");
        let (_, a, _) = response("HTTP/1.1 304 Not Modified\r\n\r\n", false, false);
        assert_eq!(a.framing, Framing::Empty);
        let (_, a, _) = response(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            false,
            false,
        );
        assert!(!a.backend_keeps && !a.client_close);

        let mut out = Vec::new();
        let interim = parse_response(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1",
            false,
            false,
            &mut out,
        );
        assert!(matches!(interim, Ok(Some((25, None)))));
        for bad in [
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(
                parse_response(bad.as_bytes(), false, false, &mut out).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_chunked_body_ends_where_its_last_chunk_and_trailers_do() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\n";
        for split in 0..body.len() {
            let mut c = Chunks::default();
            let (a, b) = body.split_at(split);
            let end = match c.feed(a).unwrap() {
                Some(end) => end,
                None => split + c.feed(b).unwrap().unwrap(),
            };
            assert_eq!(end, body.len(), "split at {split}");
        }
        let mut c = Chunks::default();
        assert_eq!(c.feed(b"0\r\n\r\nnext").unwrap(), Some(5));
        for bad in [&b"x\r\n"[..], b"5\r\nhelloX", b"0\r\n\n", b"\r\n"] {
            assert!(Chunks::default().feed(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_rewound_connection_reads_its_first_bytes_again() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut r = Rewound {
            read: BytesMut::from(&b"GET / "[..]),
            io: a,
        };
        b.write_all(b"HTTP/1.1\r\n").await.unwrap();
        drop(b);
        let mut all = String::new();
        r.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_not_used_again() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Conns::default();
        let conn = Conn::open(addr).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        conns.put(addr, conn);
        assert!(conns.take(addr).is_some_and(|c| c.usable()), "open");
        conns.put(addr, Conn::open(addr).await.unwrap());
        let (server2, _) = l.accept().await.unwrap();
        drop((server, server2));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(conns.take(addr).is_none(), "closed by the backend");
    }
}
