//! The proxy against real backends on loopback: forwarded headers, 404 and
//! 503, retries and ejection, body limits, timeouts, streaming and upgrades.
//! (The e2e tests in crates/berth route to containers.)

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use router::Router;
use router::table::Entry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>
        + Send
        + Sync,
>;

/// A backend answering with `handler`; its address.
async fn backend(handler: Handler) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

fn full(s: String) -> http_body_util::combinators::BoxBody<Bytes, Infallible> {
    Full::new(Bytes::from(s)).boxed()
}

/// Answers with its name and the request's forwarding headers.
async fn named(name: &'static str) -> SocketAddr {
    backend(Arc::new(move |req: Request<Incoming>| {
        let h = req.headers();
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        Response::new(full(format!(
            "{name}\nhost={}\nxff={}\nproto={}\nxhost={}\nforwarded={}\n",
            get("host"),
            get("x-forwarded-for"),
            get("x-forwarded-proto"),
            get("x-forwarded-host"),
            get("forwarded")
        )))
    }))
    .await
}

/// A port nothing listens on.
async fn dead() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn entry(id: &str, addr: SocketAddr, labels: &[(&str, &str)]) -> Entry {
    let mut l: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("berth.http.port".into(), addr.port().to_string());
    Entry {
        kind: router::table::Kind::Container,
        id: id.into(),
        name: id.into(),
        created: 0,
        labels: l,
        exposed: vec![],
        addr: Some(addr.ip()),
        ready: true,
        refused: None,
    }
}

async fn start(entries: &[Entry]) -> (Arc<Router>, SocketAddr) {
    let r = Router::new(None);
    assert!(r.update(entries).is_empty());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(r.clone().serve(l));
    (r, addr)
}

/// One HTTP/1.1 request on its own connection; status and body.
async fn send(
    router: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let s = TcpStream::connect(router).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn forwards_with_headers_and_answers_404_and_503() {
    let a = named("a").await;
    let mut gone = entry("gone", dead().await, &[("berth.http.host", "down.test")]);
    gone.ready = false;
    let (_r, addr) = start(&[entry("a", a, &[("berth.http.host", "a.test")]), gone]).await;
    let (status, body) = send(addr, "GET", "a.test:8080", "/x?y=1", b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("a\n"), "{body}");
    assert!(body.contains("host=a.test:8080\n"), "{body}");
    assert!(body.contains("xff=127.0.0.1\n"), "{body}");
    assert!(body.contains("proto=http\n"), "{body}");
    assert!(body.contains("xhost=a.test:8080\n"), "{body}");
    assert!(
        body.contains("forwarded=for=127.0.0.1;proto=http;host=\"a.test:8080\"\n"),
        "{body}"
    );
    let (status, body) = send(addr, "GET", "nobody.test", "/", b"").await;
    assert_eq!(status, 404);
    assert!(body.contains("no route for host \"nobody.test\""), "{body}");
    let (status, body) = send(addr, "GET", "down.test", "/", b"").await;
    assert_eq!(status, 503);
    assert!(body.contains("no healthy backend"), "{body}");
}

#[tokio::test]
async fn idempotent_requests_retry_past_a_dead_backend_which_is_ejected() {
    let live = named("live").await;
    let down = dead().await;
    let labels = [("berth.http.host", "r.test"), ("berth.http.max_fails", "2")];
    let (r, addr) = start(&[entry("live", live, &labels), entry("down", down, &labels)]).await;
    for _ in 0..10 {
        let (status, body) = send(addr, "GET", "r.test", "/", b"").await;
        assert_eq!(status, 200, "{body}");
    }
    let report = r.report();
    let down_report = report.routes[0]
        .backends
        .iter()
        .find(|b| b.addr == down)
        .unwrap();
    assert!(down_report.ejected, "{report:?}");
    assert!(
        down_report.requests <= 2,
        "skipped once ejected: {report:?}"
    );
    // A body may have been consumed: a POST is not retried, and while the
    // dead one is ejected it is not chosen either.
    for _ in 0..4 {
        let (status, _) = send(addr, "POST", "r.test", "/", b"data").await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let a = named("a").await;
    let (_r, addr) = start(&[entry(
        "a",
        a,
        &[("berth.http.host", "l.test"), ("berth.http.max_body", "16")],
    )])
    .await;
    let (status, _) = send(addr, "POST", "l.test", "/", &[b'x'; 10]).await;
    assert_eq!(status, 200);
    let (status, body) = send(addr, "POST", "l.test", "/", &[b'x'; 100]).await;
    assert_eq!(status, 413, "{body}");
    // Chunked: no length up front, the limit trips mid-stream.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: l.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n40\r\n")
        .await
        .unwrap();
    s.write_all(&[b'y'; 64]).await.unwrap();
    s.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

#[tokio::test]
async fn a_slow_backend_times_out_with_504() {
    let fast = named("fast").await;
    // A backend that accepts and never answers.
    let mute_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute = mute_l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = mute_l.accept().await {
            held.push(s);
        }
    });
    let (_r, addr) = start(&[
        entry(
            "mute",
            mute,
            &[
                ("berth.http.host", "t.test"),
                ("berth.http.timeout", "300ms"),
            ],
        ),
        entry("fast", fast, &[("berth.http.host", "ok.test")]),
    ])
    .await;
    let begun = std::time::Instant::now();
    let (status, body) = send(addr, "GET", "t.test", "/", b"").await;
    assert_eq!(status, 504, "{body}");
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(send(addr, "GET", "ok.test", "/", b"").await.0, 200);
}

/// A response body fed chunk by chunk from the test.
struct ChanBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test]
async fn responses_stream_before_they_end() {
    let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let chunks_rx = Arc::new(parking_lot::Mutex::new(Some(chunks_rx)));
    let streaming = backend(Arc::new(move |_req| {
        let rx = chunks_rx.lock().take().unwrap();
        Response::new(ChanBody(rx).boxed())
    }))
    .await;
    let (_r, addr) = start(&[entry("s", streaming, &[("berth.http.host", "s.test")])]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: s.test\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    // "second" is only produced once "first" came through the router.
    for chunk in ["first", "second"] {
        chunks_tx
            .send(Bytes::from(format!("{chunk}\n")))
            .await
            .unwrap();
        while !String::from_utf8_lossy(&seen).contains(chunk) {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{chunk} did not arrive while the response went on"))
                .unwrap();
            assert!(n > 0, "closed before {chunk}");
            seen.extend_from_slice(&buf[..n]);
        }
    }
}

#[tokio::test]
async fn upgraded_connections_are_tunnelled_both_ways() {
    // A backend that switches protocols and then echoes every byte.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(
            head.contains("upgrade: websocket") && head.contains("connection: upgrade"),
            "{head}"
        );
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await
            .unwrap();
        let (mut rd, mut wr) = s.split();
        let _ = tokio::io::copy(&mut rd, &mut wr).await;
    });
    let (_r, addr) = start(&[entry("ws", echo, &[("berth.http.host", "ws.test")])]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    for msg in [&b"ping"[..], b"a longer second message"] {
        s.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, msg);
    }
}

#[tokio::test]
async fn a_backend_dying_with_the_request_in_flight_is_retried_for_idempotent_requests_only() {
    // Reads the request, then closes without answering.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rude = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
        }
    });
    let live = named("live").await;
    let labels = [
        ("berth.http.host", "m.test"),
        ("berth.http.max_fails", "1000"),
    ];
    let (_r, addr) = start(&[entry("rude", rude, &labels), entry("live", live, &labels)]).await;
    for _ in 0..6 {
        assert_eq!(send(addr, "GET", "m.test", "/", b"").await.0, 200);
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(addr, "POST", "m.test", "/", b"data").await.0);
    }
    assert!(
        statuses.contains(&502),
        "a POST is never replayed: {statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[tokio::test]
async fn h2c_clients_are_served_and_their_authority_becomes_the_host() {
    let a = named("a").await;
    let (_r, addr) = start(&[entry("a", a, &[("berth.http.host", "h2.test")])]).await;
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(s),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("http://h2.test/over-h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("host=h2.test\n"), "{body}");
    assert!(
        body.contains("forwarded=for=127.0.0.1;proto=http;host=h2.test\n"),
        "{body}"
    );
}
