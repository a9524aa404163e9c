//! The proxy against real backends on loopback: forwarded headers, 404 and
//! 503, retries and ejection (bodies kept for a retry), body limits,
//! timeouts, streaming, upgrades and HTTP/2 (h2c) to backends.
//! (The e2e tests in crates/berth route to containers.)

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
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

/// A backend that accepts connections and never answers.
async fn mute() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
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
    // A POST whose connect is refused goes to the next backend too (nothing
    // of it was sent), and while the dead one is ejected it is not chosen.
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
    let mute = mute().await;
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

/// A body fed chunk by chunk from the test.
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

/// A backend that takes one WebSocket upgrade, switches protocols and
/// then echoes every byte.
async fn upgrade_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = String::from_utf8_lossy(&read_head(&mut s).await).to_ascii_lowercase();
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
    addr
}

/// Reads up to the end of a head, byte by byte (nothing after it).
async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    head
}

#[tokio::test]
async fn upgraded_connections_are_tunnelled_both_ways() {
    let echo = upgrade_echo().await;
    let (_r, addr) = start(&[entry("ws", echo, &[("berth.http.host", "ws.test")])]).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut s).await;
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
    let rude = rude().await;
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;
type AsyncHandler = Arc<
    dyn Fn(Request<Incoming>) -> std::pin::Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>
        + Send
        + Sync,
>;

/// A backend that reads requests with `handler`, over HTTP/2 with prior
/// knowledge when `h2`: its connections counted and abortable, and each
/// closed with a graceful GOAWAY after its first request when `goaway`.
struct Served {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    conns: Arc<parking_lot::Mutex<Vec<tokio::task::AbortHandle>>>,
}

async fn serve(h2: bool, goaway: bool, handler: AsyncHandler) -> Served {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = Served {
        addr: l.local_addr().unwrap(),
        accepted: Arc::default(),
        conns: Arc::default(),
    };
    let (accepted, conns) = (served.accepted.clone(), served.conns.clone());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            accepted.fetch_add(1, Ordering::SeqCst);
            let h = handler.clone();
            let (first_tx, mut first_rx) = tokio::sync::mpsc::channel::<()>(1);
            let svc = hyper::service::service_fn(move |req| {
                let (h, first_tx) = (h.clone(), first_tx.clone());
                async move {
                    let resp = h(req).await;
                    let _ = first_tx.try_send(());
                    Ok::<_, Infallible>(resp)
                }
            });
            let task = tokio::spawn(async move {
                if !h2 {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                    return;
                }
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc);
                tokio::pin!(conn);
                if goaway {
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = first_rx.recv() => conn.as_mut().graceful_shutdown(),
                    }
                }
                let _ = conn.await;
            });
            conns.lock().push(task.abort_handle());
        }
    });
    served
}

fn handler<F, Fut>(f: F) -> AsyncHandler
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

/// Answers what it saw: version, :authority, Host, TE, the body; with
/// trailers (`grpc-status: 0`, and the client's `x-client-trailer` back).
fn describing() -> AsyncHandler {
    handler(|req: Request<Incoming>| async move {
        let get = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let seen = format!(
            "version={:?}\nauthority={}\nhost={}\nte={}\n",
            req.version(),
            req.uri().authority().map_or("", |a| a.as_str()),
            get("host"),
            get("te")
        );
        let collected = req.into_body().collect().await.unwrap();
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        if let Some(v) = collected.trailers().and_then(|t| t.get("x-client-trailer")) {
            trailers.insert("x-echoed-trailer", v.clone());
        }
        let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        Response::new(
            Full::new(Bytes::from(format!("{seen}body={body}\n")))
                .with_trailers(std::future::ready(Some(Ok(trailers))))
                .map_err(|e| match e {})
                .boxed(),
        )
    })
}

/// Answers with the request's body, whole.
fn echo() -> AsyncHandler {
    handler(|req: Request<Incoming>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Response::new(Full::new(body).map_err(|e| match e {}).boxed())
    })
}

/// An HTTP/2 client connection to the router.
async fn h2_client(router: SocketAddr) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let s = TcpStream::connect(router).await.unwrap();
    let (tx, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    tx
}

#[tokio::test]
async fn h2c_backends_get_http2_on_one_connection_with_trailers_both_ways() {
    let b = serve(true, false, describing()).await;
    let (_r, addr) = start(&[entry(
        "g",
        b.addr,
        &[("berth.http.host", "g.test"), ("berth.http.scheme", "h2c")],
    )])
    .await;
    // From an HTTP/1.1 client.
    let (status, body) = send(addr, "POST", "g.test", "/pkg.Svc/Call", b"hello").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("version=HTTP/2.0\n"), "{body}");
    assert!(body.contains("authority=g.test\n"), "{body}");
    assert!(
        body.contains("host=\n"),
        "no Host beside :authority: {body}"
    );
    assert!(
        body.contains("te=\n"),
        "the client did not ask for trailers: {body}"
    );
    assert!(body.contains("body=hello\n"), "{body}");
    // From an HTTP/2 client, gRPC style: TE: trailers, trailers each way.
    let mut tx = h2_client(addr).await;
    let mut client_trailers = hyper::HeaderMap::new();
    client_trailers.insert("x-client-trailer", "abc".parse().unwrap());
    let req = Request::builder()
        .method("POST")
        .uri("http://g.test/pkg.Svc/Call")
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(
            Full::new(Bytes::from_static(b"ping"))
                .with_trailers(std::future::ready(Some(Ok(client_trailers))))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("response trailers");
    let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    assert!(body.contains("version=HTTP/2.0\n"), "{body}");
    assert!(body.contains("te=trailers\n"), "{body}");
    assert!(body.contains("body=ping\n"), "{body}");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-echoed-trailer"], "abc", "{trailers:?}");
    // Concurrent requests share the one connection.
    let all = (0..16).map(|i| {
        tokio::spawn(
            async move { send(addr, "PUT", "g.test", "/", format!("n{i}").as_bytes()).await },
        )
    });
    for (i, t) in all.enumerate() {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.contains(&format!("body=n{i}\n")), "{body}");
    }
    assert_eq!(
        b.accepted.load(Ordering::SeqCst),
        1,
        "one multiplexed connection"
    );
}

#[tokio::test]
async fn h2c_streams_pass_each_way_as_they_come() {
    // Echoes each request chunk as it arrives: the client sends the next
    // only once the previous one came back through the router, so neither
    // body may be held back (as a gRPC bidirectional stream).
    let b = serve(
        true,
        false,
        handler(|req: Request<Incoming>| async move {
            Response::new(req.into_body().map_err(BoxError::from).boxed())
        }),
    )
    .await;
    let (r, addr) = start(&[entry(
        "s",
        b.addr,
        &[("berth.http.host", "s.test"), ("berth.http.scheme", "h2c")],
    )])
    .await;
    let mut tx = h2_client(addr).await;
    let (chunks, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let req = Request::builder()
        .method("POST")
        .uri("http://s.test/stream")
        .body(ChanBody(rx).map_err(|e| match e {}).boxed())
        .unwrap();
    chunks.send(Bytes::from_static(b"first")).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), tx.send_request(req))
        .await
        .expect("a response head while the request body goes on")
        .unwrap();
    let mut body = resp.into_body();
    for chunk in ["first", "second", "third"] {
        if chunk != "first" {
            chunks.send(Bytes::from(chunk)).await.unwrap();
        }
        let mut got = Vec::new();
        while got.len() < chunk.len() {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .unwrap_or_else(|_| panic!("{chunk} did not come back while the streams went on"))
                .unwrap()
                .unwrap();
            if let Some(d) = frame.data_ref() {
                got.extend_from_slice(d);
            }
        }
        assert_eq!(got, chunk.as_bytes());
    }
    // In flight for least_requests while the stream lasts, and no longer.
    let in_flight = || r.report().routes[0].backends[0].in_flight;
    assert_eq!(in_flight(), 1);
    drop(chunks);
    assert!(body.collect().await.unwrap().to_bytes().is_empty());
    // The router drops the body just after its end went out.
    for _ in 0..100 {
        if in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(in_flight(), 0);
}

#[tokio::test]
async fn h2c_connections_are_made_again_after_goaway_or_death_and_dead_ones_ejected() {
    let g = serve(true, true, describing()).await;
    let k = serve(true, false, describing()).await;
    let labels = |host| [("berth.http.host", host), ("berth.http.scheme", "h2c")];
    let down = dead().await;
    let live = serve(true, false, describing()).await;
    let ejecting = [
        ("berth.http.host", "e.test"),
        ("berth.http.scheme", "h2c"),
        ("berth.http.max_fails", "2"),
    ];
    let (r, addr) = start(&[
        entry("g", g.addr, &labels("goaway.test")),
        entry("k", k.addr, &labels("killed.test")),
        entry("down", down, &ejecting),
        entry("live", live.addr, &ejecting),
    ])
    .await;
    // Each connection ends with a GOAWAY after one request (hyper's is
    // two-step: a stream that races the first still gets served): every
    // request gets its answer, on new connections.
    for _ in 0..6 {
        let (status, body) = send(addr, "GET", "goaway.test", "/", b"").await;
        assert_eq!(status, 200, "{body}");
    }
    let made = g.accepted.load(Ordering::SeqCst);
    assert!(made >= 3, "{made} connections for 6 requests");
    // A connection the backend dropped is made again.
    assert_eq!(send(addr, "GET", "killed.test", "/", b"").await.0, 200);
    for c in k.conns.lock().drain(..) {
        c.abort();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = send(addr, "GET", "killed.test", "/", b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(k.accepted.load(Ordering::SeqCst), 2);
    // A dead h2c backend: retried past (a POST too: its connect was
    // refused), then ejected, as an HTTP/1.1 one.
    for method in ["GET", "POST", "GET", "POST", "GET", "GET"] {
        let (status, body) = send(addr, method, "e.test", "/", b"x").await;
        assert_eq!(status, 200, "{method}: {body}");
    }
    let report = r.report();
    let route = report.routes.iter().find(|r| r.host == "e.test").unwrap();
    let down_report = route.backends.iter().find(|b| b.addr == down).unwrap();
    assert!(down_report.ejected, "{report:?}");
    assert!(down_report.requests <= 2, "{report:?}");
}

#[tokio::test]
async fn a_bad_scheme_label_is_refused_naming_it() {
    let r = Router::new(None);
    let errors = r.update(&[entry(
        "bad",
        dead().await,
        &[("berth.http.host", "b.test"), ("berth.http.scheme", "h2")],
    )]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].error.label, "berth.http.scheme");
    let message = errors[0].error.to_string();
    assert!(message.contains("berth.http.scheme=\"h2\""), "{message}");
    assert!(message.contains("h2c"), "says what is accepted: {message}");
    assert_eq!(r.report().errors, errors);
    assert!(r.report().routes.is_empty());
}

/// Reads the request head and about 1 KiB of it, then closes without answering.
async fn rude() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
        }
    });
    addr
}

#[tokio::test]
async fn requests_with_a_body_are_retried_whole_when_that_is_safe() {
    let no_eject = ("berth.http.max_fails", "1000");
    let body: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let e1 = serve(false, false, echo()).await;
    let e2 = serve(true, false, echo()).await;
    let (r1, d1, d2, r2) = (rude().await, dead().await, dead().await, rude().await);
    let h1 = [("berth.http.host", "put.test"), no_eject];
    let h2 = [
        ("berth.http.host", "put2.test"),
        ("berth.http.scheme", "h2c"),
        no_eject,
    ];
    let post = [("berth.http.host", "post.test"), no_eject];
    let (_r, addr) = start(&[
        entry("d1", d1, &h1),
        entry("r1", r1, &h1),
        entry("e1", e1.addr, &h1),
        entry("d2", d2, &h2),
        entry("e2", e2.addr, &h2),
        entry("r2", r2, &post),
        entry("e3", serve(false, false, echo()).await.addr, &post),
    ])
    .await;
    // A PUT (idempotent) past a refused connect and a backend that read
    // part of it and died: the backend that answers gets all of it.
    for _ in 0..6 {
        let (status, got) = send(addr, "PUT", "put.test", "/", &body).await;
        assert_eq!(status, 200, "{got}");
        assert!(
            got.as_bytes() == body,
            "the whole body, {} bytes",
            got.len()
        );
    }
    for method in ["PUT", "POST"] {
        let (status, got) = send(addr, method, "put2.test", "/", &body).await;
        assert_eq!(status, 200, "{method}: {got}");
        assert!(got.as_bytes() == body, "{method}: {} bytes", got.len());
    }
    // A POST whose connect was refused went to the next backend (above); a
    // POST that reached a backend which then died is not sent again.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, got) = send(addr, "POST", "post.test", "/", &body).await;
        assert!(status != 200 || got.as_bytes() == body);
        statuses.push(status);
    }
    assert!(statuses.contains(&502), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
}

#[tokio::test]
async fn a_request_with_a_body_is_never_sent_again_after_a_timeout() {
    let mute = mute().await;
    let echoing = serve(false, false, echo()).await;
    let labels = [
        ("berth.http.host", "slow.test"),
        ("berth.http.timeout", "300ms"),
        ("berth.http.max_fails", "1000"),
    ];
    let (_r, addr) = start(&[
        entry("mute", mute, &labels),
        entry("echo", echoing.addr, &labels),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(addr, "PUT", "slow.test", "/", b"kept").await.0);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 200, 504, 504],
        "the mute one's PUTs not retried"
    );
}

#[tokio::test]
async fn bodies_over_the_retry_limit_are_not_sent_again() {
    let labels = [
        ("berth.http.host", "lim.test"),
        ("berth.http.max_fails", "1000"),
        ("berth.http.retry_body_limit", "1k"),
    ];
    let (_r, addr) = start(&[
        entry("rude", rude().await, &labels),
        entry("echo", serve(false, false, echo()).await.addr, &labels),
    ])
    .await;
    for _ in 0..4 {
        let (status, got) = send(addr, "PUT", "lim.test", "/", &[b's'; 512]).await;
        assert_eq!((status, got.len()), (200, 512), "under the limit: retried");
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, got) = send(addr, "PUT", "lim.test", "/", &[b'b'; 8192]).await;
        assert!(status != 200 || got.len() == 8192);
        statuses.push(status);
    }
    assert!(
        statuses.contains(&502),
        "over the limit: not retried: {statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
}

/// A backend speaking HTTP/1.1 by hand: each request head (bodies are not
/// read) is answered with `answer(head)`, written in pieces split at `|`
/// with a pause between them; the connection closes after an HTTP/1.0
/// answer, and `close_after` any answer when set. Its address and count of accepted connections.
async fn raw_backend(
    answer: fn(&str) -> String,
    close_after: Option<Duration>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut have = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&have[..end + 4]).into_owned();
                        have.drain(..end + 4);
                        let answer = answer(&head);
                        for (i, piece) in answer.split('|').enumerate() {
                            if i > 0 {
                                tokio::time::sleep(Duration::from_millis(30)).await;
                            }
                            if s.write_all(piece.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        if let Some(after) = close_after {
                            tokio::time::sleep(after).await;
                            return;
                        }
                        if answer.starts_with("HTTP/1.0") {
                            return;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// The request line's target.
fn target(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}

/// Everything the router sends on one connection after `requests`, until it closes.
async fn exchange(router: SocketAddr, requests: &str) -> String {
    let mut s = TcpStream::connect(router).await.unwrap();
    s.write_all(requests.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the router closes the connection after `connection: close`")
        .unwrap();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn pipelined_keep_alive_requests_share_one_backend_connection() {
    let (b, accepted) = raw_backend(
        |head| {
            let t = target(head);
            let body = if head.starts_with("HEAD") { "" } else { t };
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                t.len()
            )
        },
        None,
    )
    .await;
    let (_r, addr) = start(&[entry("k", b, &[("berth.http.host", "k.test")])]).await;
    let got = exchange(
        addr,
        "GET /1 HTTP/1.1\r\nHost: k.test\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: k.test\r\n\r\n\
         GET /3 HTTP/1.1\r\nHost: k.test\r\n\r\nGET /4 HTTP/1.1\r\nHost: k.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        got,
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/1\
         HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n\
         HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/3\
         HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n/4"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies_pass_through_as_they_come() {
    let (b, _) = raw_backend(
        |head| match target(head) {
            "/chunked" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n\
                           5\r\nhello\r\n|6;ext=1\r\n world\r\n|0\r\nx-sum: 11\r\n\r\n"
                .to_string(),
            _ => "HTTP/1.0 200 OK\r\n\r\nuntil |the end".to_string(),
        },
        None,
    )
    .await;
    let (_r, addr) = start(&[entry("c", b, &[("berth.http.host", "c.test")])]).await;
    let got = exchange(
        addr,
        "GET /chunked HTTP/1.1\r\nHost: c.test\r\n\r\nGET /close HTTP/1.1\r\nHost: c.test\r\n\r\n",
    )
    .await;
    assert_eq!(
        got,
        "HTTP/1.1 200 OK\r\nTrailer: x-sum\r\ntransfer-encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 11\r\n\r\n\
         HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"
    );
}

#[tokio::test]
async fn a_kept_connection_its_backend_closed_is_not_used_even_for_a_post() {
    let (b, accepted) = raw_backend(
        |_| "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string(),
        Some(Duration::from_millis(50)),
    )
    .await;
    let (_r, addr) = start(&[entry("p", b, &[("berth.http.host", "p.test")])]).await;
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "p.test")
            .body(Full::new(Bytes::from_static(b"data")))
            .unwrap();
        let resp = tx.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "one per POST");
}

#[tokio::test]
async fn large_bodies_pass_whole_both_ways() {
    let big = backend(Arc::new(|_req| {
        let body: String = (0..(1u32 << 20))
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        Response::new(full(body))
    }))
    .await;
    let echoing = serve(false, false, echo()).await;
    let (_r, addr) = start(&[
        entry("big", big, &[("berth.http.host", "big.test")]),
        entry("echo", echoing.addr, &[("berth.http.host", "echo.test")]),
    ])
    .await;
    let (status, body) = send(addr, "GET", "big.test", "/", b"").await;
    assert_eq!((status, body.len()), (200, 1 << 20));
    assert!(
        body.bytes()
            .enumerate()
            .all(|(i, b)| b == b'a' + (i % 26) as u8)
    );
    // Up to 64 KiB, read whole before it goes (the fast path); above, streamed.
    for len in [60_000, 200_000] {
        let sent: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
        let (status, got) = send(addr, "PUT", "echo.test", "/", &sent).await;
        assert_eq!(status, 200);
        assert!(got.as_bytes() == sent, "{len} bytes echoed whole");
    }
}

#[tokio::test]
async fn a_connection_goes_on_through_hyper_after_an_upgrade() {
    let (plain, _) = raw_backend(
        |_| "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain".to_string(),
        None,
    )
    .await;
    let ws = upgrade_echo().await;
    let (_r, addr) = start(&[
        entry("plain", plain, &[("berth.http.host", "plain.test")]),
        entry("ws", ws, &[("berth.http.host", "ws.test")]),
    ])
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n")
        .await
        .unwrap();
    let want = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await;
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    s.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"ping");
}
