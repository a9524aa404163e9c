//! The embedded DNS server over real loopback sockets: a client built from
//! hickory-proto messages, and fake upstream resolvers on other loopback
//! ports standing in for the host's.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use network::dns::{DnsRecords, DnsServer, TTL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const LOOPBACK: &str = "127.0.0.1:0";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const FAKE_ANSWER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
const ID: &str = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn build_query(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg
}

async fn ask_udp(server: SocketAddr, msg: &Message) -> Message {
    let sock = UdpSocket::bind(LOOPBACK).await.unwrap();
    sock.connect(server).await.unwrap();
    sock.send(&msg.to_vec().unwrap()).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(CLIENT_TIMEOUT, sock.recv(&mut buf))
        .await
        .expect("dns server answered over udp")
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.id, msg.id);
    resp
}

async fn query_udp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    ask_udp(server, &build_query(name, rtype)).await
}

async fn query_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let msg = build_query(name, rtype);
    let mut stream = TcpStream::connect(server).await.unwrap();
    let fut = async {
        write_framed(&mut stream, &msg.to_vec().unwrap()).await;
        read_framed(&mut stream).await.unwrap()
    };
    let raw = tokio::time::timeout(CLIENT_TIMEOUT, fut)
        .await
        .expect("dns server answered over tcp");
    let resp = Message::from_vec(&raw).unwrap();
    assert_eq!(resp.id, msg.id);
    resp
}

async fn write_framed(stream: &mut TcpStream, bytes: &[u8]) {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.unwrap();
}

async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

fn addresses(resp: &Message) -> Vec<IpAddr> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The kernel picks a free UDP port; the same TCP port may be taken (an
/// ephemeral port of another test's connection), so pick again until both are free.
async fn bind_udp_and_tcp_on_one_port() -> (UdpSocket, TcpListener, SocketAddr) {
    for _ in 0..50 {
        let udp = UdpSocket::bind(LOOPBACK).await.unwrap();
        let addr = udp.local_addr().unwrap();
        match TcpListener::bind(addr).await {
            Ok(tcp) => return (udp, tcp, addr),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => panic!("binding tcp {addr}: {e}"),
        }
    }
    panic!("no port free for both udp and tcp on loopback after 50 tries");
}

/// A stand-in for the host's resolver: `example.test` has an address,
/// `big.test` does not fit in UDP (TC there, 100 addresses over TCP),
/// everything else is NXDOMAIN. It records the names it was asked.
struct FakeUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeUpstream {
    async fn start() -> Self {
        let (udp, tcp, addr) = bind_udp_and_tcp_on_one_port().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let udp_seen = seen.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    return;
                };
                let resp = fake_answer(&buf[..n], &udp_seen, false);
                let _ = udp.send_to(&resp, peer).await;
            }
        });
        let tcp_seen = seen.clone();
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let Ok(query) = read_framed(&mut stream).await else {
                    continue;
                };
                let resp = fake_answer(&query, &tcp_seen, true);
                write_framed(&mut stream, &resp).await;
            }
        });
        Self {
            addr,
            seen,
            tasks: vec![udp_task, tcp_task],
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fake_answer(raw: &[u8], seen: &Mutex<Vec<String>>, over_tcp: bool) -> Vec<u8> {
    let req = Message::from_vec(raw).unwrap();
    let query = req.queries[0].clone();
    let name = query.name.to_ascii().to_ascii_lowercase();
    seen.lock().unwrap().push(name.clone());
    let mut resp = Message::response(req.id, OpCode::Query);
    resp.metadata.recursion_available = true;
    resp.add_query(query.clone());
    let a =
        |last: u8| Record::from_rdata(query.name.clone(), 30, RData::A(A::new(198, 51, 100, last)));
    match name.as_str() {
        "example.test." => {
            resp.add_answer(Record::from_rdata(
                query.name.clone(),
                30,
                RData::A(A(FAKE_ANSWER)),
            ));
        }
        "big.test." if over_tcp => {
            resp.add_answers((1..=100).map(a));
        }
        "big.test." => resp.metadata.truncation = true,
        _ => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    resp.to_vec().unwrap()
}

/// A resolver that reads queries and never answers.
async fn silent_upstream() -> UdpSocket {
    UdpSocket::bind(LOOPBACK).await.unwrap()
}

async fn start(records: &Arc<DnsRecords>, upstreams: Vec<SocketAddr>) -> DnsServer {
    DnsServer::start(LOOPBACK.parse().unwrap(), records.clone(), upstreams)
        .await
        .unwrap()
}

fn web_records() -> Arc<DnsRecords> {
    let records = Arc::new(DnsRecords::with_domain("mynet"));
    records.add_container("web", ID, &["front".into()], ip("10.89.0.2"));
    records.add_container("db", "feedface0000111122223333", &[], ip("10.89.0.3"));
    records
}

#[tokio::test]
async fn answers_names_aliases_short_ids_and_case_variants_locally() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    for name in [
        "web",
        "WEB",
        "Web.",
        "front",
        "FRONT.",
        "3f2a9c1b7d4e",
        "3F2A9C1B7D4E",
        "web.mynet",
        "Web.MyNet.",
    ] {
        let resp = query_udp(addr, name, RecordType::A).await;
        assert_eq!(resp.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(addresses(&resp), vec![ip("10.89.0.2")], "{name}");
        assert!(resp.authoritative, "{name}");
        assert!(resp.recursion_available, "{name}");
        assert_eq!(resp.answers[0].ttl, TTL, "{name}");
        // The question and the owner name keep the client's spelling
        // (0x20 case randomisation checks depend on it).
        assert_eq!(
            resp.queries[0].name.to_ascii().trim_end_matches('.'),
            name.trim_end_matches('.')
        );
        assert_eq!(
            resp.answers[0].name.to_ascii().trim_end_matches('.'),
            name.trim_end_matches('.')
        );
    }
    assert_eq!(
        addresses(&query_udp(addr, "db", RecordType::A).await),
        vec![ip("10.89.0.3")]
    );

    // Only 12 characters of the ID make a name, as with Docker: the longer
    // prefix goes upstream, which does not know it.
    let resp = query_udp(addr, &ID[..13], RecordType::A).await;
    assert_eq!(resp.response_code, ResponseCode::NXDomain);

    assert_eq!(upstream.seen(), vec![format!("{}.", &ID[..13])]);
    server.stop().await;
}

#[tokio::test]
async fn aaaa_of_an_ipv4_only_name_is_empty_noerror_and_v6_names_work() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    records.add_alias("dual", ip("10.89.0.9"));
    records.add_alias("dual", ip("fd00::9"));
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();

    let resp = query_udp(addr, "web", RecordType::AAAA).await;
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());

    let resp = query_udp(addr, "web", RecordType::MX).await;
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());

    assert_eq!(
        addresses(&query_udp(addr, "dual", RecordType::AAAA).await),
        vec![ip("fd00::9")]
    );
    assert_eq!(
        addresses(&query_udp(addr, "dual", RecordType::A).await),
        vec![ip("10.89.0.9")]
    );
    assert!(
        upstream.seen().is_empty(),
        "known names were forwarded: {:?}",
        upstream.seen()
    );
    server.stop().await;
}

#[tokio::test]
async fn ptr_answers_container_name_for_known_addresses() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();

    let resp = query_udp(addr, "2.0.89.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(resp.response_code, ResponseCode::NoError);
    let targets: Vec<String> = resp
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(targets, vec!["web.mynet.".to_string()]);

    // Unknown addresses are the host's business.
    let resp = query_udp(addr, "99.0.89.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(resp.response_code, ResponseCode::NXDomain);
    assert_eq!(
        upstream.seen(),
        vec!["99.0.89.10.in-addr.arpa.".to_string()]
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_names_are_forwarded_upstream() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();

    let resp = query_udp(addr, "example.test.", RecordType::A).await;
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&resp), vec![IpAddr::V4(FAKE_ANSWER)]);
    // The upstream's answer is relayed, not re-made: its TTL survives.
    assert_eq!(resp.answers[0].ttl, 30);

    let resp = query_udp(addr, "nowhere.test.", RecordType::A).await;
    assert_eq!(resp.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.seen(), vec!["example.test.", "nowhere.test."]);
    server.stop().await;
}

/// On a paused clock (tokio's test-util): timers fire in virtual time, so
/// the bounds are exact whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn silent_upstream_gives_servfail_after_the_timeout() {
    let silent = silent_upstream().await;
    let records = web_records();
    let server = start(&records, vec![silent.local_addr().unwrap()]).await;
    let addr = server.local_addr();

    let started = Instant::now();
    let resp = query_udp(addr, "example.test.", RecordType::A).await;
    let took = started.elapsed();
    assert_eq!(resp.response_code, ResponseCode::ServFail);
    assert!(resp.answers.is_empty());
    assert!(
        took >= network::dns::UPSTREAM_TIMEOUT
            && took < network::dns::UPSTREAM_TIMEOUT + Duration::from_millis(100),
        "gave up after {took:?}, not after the upstream timeout"
    );
    // The query did reach the silent resolver.
    let mut buf = [0u8; 512];
    let (n, _) = silent
        .try_recv_from(&mut buf)
        .expect("silent upstream got the query");
    assert_eq!(
        Message::from_vec(&buf[..n]).unwrap().queries[0]
            .name
            .to_ascii(),
        "example.test."
    );

    // Local names do not depend on upstreams at all: answered at once, and
    // nothing more reaches the silent resolver.
    let started = Instant::now();
    assert_eq!(
        addresses(&query_udp(addr, "web", RecordType::A).await),
        vec![ip("10.89.0.2")]
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(
        silent.try_recv_from(&mut buf).is_err(),
        "a local name was forwarded"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_upstream_at_all_is_servfail_not_nxdomain() {
    let records = web_records();
    let server = start(&records, vec![]).await;
    let resp = query_udp(server.local_addr(), "example.test.", RecordType::A).await;
    assert_eq!(resp.response_code, ResponseCode::ServFail);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dead_first_upstream_falls_over_to_the_next_quickly() {
    let silent = silent_upstream().await;
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![silent.local_addr().unwrap(), upstream.addr]).await;

    let started = Instant::now();
    let resp = query_udp(server.local_addr(), "example.test.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![IpAddr::V4(FAKE_ANSWER)]);
    // The next upstream is asked after the stagger, long before the first
    // one's timeout (virtual time: exact).
    let took = started.elapsed();
    assert!(
        took < network::dns::UPSTREAM_TIMEOUT / 2,
        "fell over after {took:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn tcp_queries_are_answered_and_forwarded() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();

    let resp = query_tcp(addr, "Front", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![ip("10.89.0.2")]);

    let resp = query_tcp(addr, "example.test.", RecordType::A).await;
    assert_eq!(addresses(&resp), vec![IpAddr::V4(FAKE_ANSWER)]);

    // Too big for the upstream's UDP answer: the server asks it again over
    // TCP, since a TCP client can take it all.
    let resp = query_tcp(addr, "big.test.", RecordType::A).await;
    assert!(!resp.truncation);
    assert_eq!(addresses(&resp).len(), 100);
    server.stop().await;
}

#[tokio::test]
async fn several_queries_share_one_tcp_connection() {
    let records = web_records();
    let server = start(&records, vec![]).await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    for name in ["web", "db", "front"] {
        let q = build_query(name, RecordType::A);
        write_framed(&mut stream, &q.to_vec().unwrap()).await;
        let raw = tokio::time::timeout(CLIENT_TIMEOUT, read_framed(&mut stream))
            .await
            .unwrap()
            .unwrap();
        let resp = Message::from_vec(&raw).unwrap();
        assert_eq!(resp.id, q.id);
        assert_eq!(addresses(&resp).len(), 1, "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_udp_answers_are_truncated_and_complete_over_tcp() {
    let records = Arc::new(DnsRecords::new());
    for last in 1..=60u8 {
        records.add_alias("many", IpAddr::V4(Ipv4Addr::new(10, 89, 1, last)));
    }
    let server = start(&records, vec![]).await;
    let addr = server.local_addr();

    let resp = query_udp(addr, "many", RecordType::A).await;
    assert!(resp.truncation);
    assert!(resp.answers.is_empty());

    // With EDNS the client takes up to 1232 bytes: 60 A records fit.
    let mut q = build_query("many", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let resp = ask_udp(addr, &q).await;
    assert!(!resp.truncation);
    assert_eq!(addresses(&resp).len(), 60);
    assert!(resp.edns.is_some(), "an EDNS query gets an EDNS answer");

    let resp = query_tcp(addr, "many", RecordType::A).await;
    assert!(!resp.truncation);
    assert_eq!(addresses(&resp).len(), 60);
    server.stop().await;
}

#[tokio::test]
async fn removed_records_disappear_and_new_ones_appear_live() {
    let upstream = FakeUpstream::start().await;
    let records = web_records();
    let server = start(&records, vec![upstream.addr]).await;
    let addr = server.local_addr();

    assert_eq!(
        addresses(&query_udp(addr, "web", RecordType::A).await),
        vec![ip("10.89.0.2")]
    );
    records.remove_ip(ip("10.89.0.2"));
    for name in ["web", "front", "3f2a9c1b7d4e"] {
        let resp = query_udp(addr, name, RecordType::A).await;
        assert_eq!(resp.response_code, ResponseCode::NXDomain, "{name}");
        assert!(addresses(&resp).is_empty(), "{name}");
    }
    assert_eq!(upstream.seen(), vec!["web.", "front.", "3f2a9c1b7d4e."]);
    // The other container is untouched.
    assert_eq!(
        addresses(&query_udp(addr, "db", RecordType::A).await),
        vec![ip("10.89.0.3")]
    );

    records.add("web", ip("10.89.0.7"));
    assert_eq!(
        addresses(&query_udp(addr, "web", RecordType::A).await),
        vec![ip("10.89.0.7")]
    );
    server.stop().await;
}

#[tokio::test]
async fn garbage_and_non_queries_do_not_kill_the_server() {
    let records = web_records();
    let server = start(&records, vec![]).await;
    let addr = server.local_addr();
    let sock = UdpSocket::bind(LOOPBACK).await.unwrap();
    sock.connect(addr).await.unwrap();

    // A header followed by nonsense: FORMERR with the same ID.
    let mut garbage = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0, 0];
    garbage.extend_from_slice(&[0xff; 20]);
    sock.send(&garbage).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(CLIENT_TIMEOUT, sock.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.id, 0xabcd);
    assert_eq!(resp.response_code, ResponseCode::FormErr);

    // Runts and responses get no answer at all.
    sock.send(&[1, 2, 3]).await.unwrap();
    let mut not_a_query = build_query("web", RecordType::A);
    not_a_query.metadata.message_type = hickory_proto::op::MessageType::Response;
    sock.send(&not_a_query.to_vec().unwrap()).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), sock.recv(&mut buf)).await;
    assert!(quiet.is_err(), "server answered a non-query");

    // Other opcodes: NOTIMP.
    let mut notify = build_query("web", RecordType::A);
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        ask_udp(addr, &notify).await.response_code,
        ResponseCode::NotImp
    );

    assert_eq!(
        addresses(&query_udp(addr, "web", RecordType::A).await),
        vec![ip("10.89.0.2")]
    );
    server.stop().await;
}

#[tokio::test]
async fn stop_releases_the_address_and_own_address_is_never_an_upstream() {
    let records = web_records();
    let server = start(&records, vec![]).await;
    let addr = server.local_addr();
    server.stop().await;

    // Same port, both protocols, right away; and the server listed as its
    // own upstream must not loop: an unknown name is a prompt SERVFAIL.
    let server = DnsServer::start(addr, records.clone(), vec![addr])
        .await
        .unwrap();
    assert_eq!(server.local_addr(), addr);
    let started = Instant::now();
    let resp = query_udp(addr, "example.test.", RecordType::A).await;
    assert_eq!(resp.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        addresses(&query_tcp(addr, "web", RecordType::A).await),
        vec![ip("10.89.0.2")]
    );
    server.stop().await;

    let sock = UdpSocket::bind(addr).await.expect("udp port released");
    let tcp = TcpListener::bind(addr).await.expect("tcp port released");
    drop((sock, tcp));
}
