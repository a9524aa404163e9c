use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::forward::{UPSTREAM_TIMEOUT, forward};
use super::records::DnsRecords;
use crate::error::Result;

/// Docker's embedded DNS answers its own names with this TTL.
pub const TTL: u32 = 600;

/// Plain DNS over UDP without EDNS (RFC 1035).
const CLASSIC_UDP_SIZE: u16 = 512;
/// What we advertise with EDNS: the DNS flag day 2020 size, safe from
/// fragmentation on any link.
const EDNS_UDP_SIZE: u16 = 1232;

/// Queries waiting for an upstream at once, per transport; past this,
/// UDP queries are dropped (clients retry) and TCP accepts wait.
const MAX_INFLIGHT: usize = 512;
/// An idle TCP client is dropped after this long (RFC 7766 suggests
/// seconds, not minutes).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Port-0 listens pick the UDP port first; the same TCP port may be taken.
const BIND_ATTEMPTS: usize = 16;

/// One network's DNS server: UDP and TCP on the same address.
///
/// Dropping it stops it too; [`DnsServer::stop`] also waits until both
/// sockets are closed, so the address can be bound again right away.
#[derive(Debug)]
pub struct DnsServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Listens on `listen` (UDP and TCP; with port 0 both get the same free
    /// port). `upstreams` get every query `records` cannot answer; the
    /// server's own address is removed from them so a host resolv.conf
    /// pointing at it cannot make a forwarding loop.
    pub async fn start(
        listen: SocketAddr,
        records: Arc<DnsRecords>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self> {
        Self::start_with_source(listen, records, upstreams).await
    }

    /// [`DnsServer::start`] answering from any [`NameSource`], which sees
    /// the client's address (so answers can depend on who asks).
    pub async fn start_with_source(
        listen: SocketAddr,
        records: Arc<dyn NameSource>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self> {
        let (udp, tcp) = bind_pair(listen).await?;
        Self::serve(udp, tcp, records, upstreams)
    }

    /// A server listening on `listen` inside the network namespace pinned
    /// at `netns` (Docker's 127.0.0.11 in each container), answering and
    /// forwarding from the daemon: only its two sockets live in there.
    pub async fn start_in_netns(
        netns: &std::path::Path,
        listen: SocketAddr,
        records: Arc<dyn NameSource>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self> {
        let (udp, tcp) = bind_in_netns(netns, listen).await?;
        let udp = UdpSocket::from_std(udp).map_err(crate::error::io_err("dns udp socket"))?;
        let tcp = TcpListener::from_std(tcp).map_err(crate::error::io_err("dns tcp socket"))?;
        Self::serve(udp, tcp, records, upstreams)
    }

    fn serve(
        udp: UdpSocket,
        tcp: TcpListener,
        records: Arc<dyn NameSource>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self> {
        let local_addr = udp
            .local_addr()
            .map_err(crate::error::io_err("dns local address"))?;
        let upstreams = upstreams.into_iter().filter(|u| *u != local_addr).collect();
        let handler = Arc::new(Handler {
            records,
            upstreams,
            timeout: UPSTREAM_TIMEOUT,
        });
        let (shutdown, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), handler.clone(), stopped.clone())),
            tokio::spawn(serve_tcp(tcp, handler, stopped)),
        ];
        tracing::debug!(%local_addr, "dns server started");
        Ok(Self {
            local_addr,
            shutdown,
            tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops answering, drops queries in flight and closes both sockets.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds UDP and TCP sockets on `listen` from a throwaway thread that has
/// entered the namespace (setns changes only the calling thread).
async fn bind_in_netns(
    netns: &std::path::Path,
    listen: SocketAddr,
) -> Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let shown = netns.display().to_string();
    let netns = netns.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-dns-netns".into())
        .spawn(move || {
            let result = (|| -> std::io::Result<_> {
                let ns = std::fs::File::open(&netns)?;
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                let udp = std::net::UdpSocket::bind(listen)?;
                udp.set_nonblocking(true)?;
                // std sets SO_REUSEADDR on listeners, so a restarted server
                // binds again at once.
                let tcp = std::net::TcpListener::bind(listen)?;
                tcp.set_nonblocking(true)?;
                Ok((udp, tcp))
            })();
            let _ = tx.send(result);
        })
        .map_err(crate::error::io_err("spawn dns netns thread"))?;
    rx.await
        .map_err(|_| crate::error::io_err("dns netns thread")(std::io::Error::other("panicked")))?
        .map_err(crate::error::io_err(format!(
            "dns bind {listen} in {shown}"
        )))
}

async fn bind_pair(listen: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let bind_err = |proto: &str| crate::error::io_err(format!("dns bind {proto} {listen}"));
    if listen.port() != 0 {
        let udp = UdpSocket::bind(listen).await.map_err(bind_err("udp"))?;
        let tcp = TcpListener::bind(listen).await.map_err(bind_err("tcp"))?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(listen).await.map_err(bind_err("udp"))?;
        let port = udp.local_addr().map_err(bind_err("udp"))?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(bind_err("tcp")(e)),
        }
    }
    Err(bind_err("tcp")(last.expect("at least one attempt")))
}

async fn serve_udp(sock: Arc<UdpSocket>, handler: Arc<Handler>, mut stop: watch::Receiver<bool>) {
    // Dropping the set on the way out aborts queries still in flight.
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            received = sock.recv_from(&mut buf) => {
                let (n, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "dns udp receive failed");
                        continue;
                    }
                };
                if inflight.len() >= MAX_INFLIGHT {
                    continue;
                }
                let query = buf[..n].to_vec();
                let (sock, handler) = (sock.clone(), handler.clone());
                inflight.spawn(async move {
                    if let Some(resp) = handler.answer(&query, false, peer.ip()).await
                        && let Err(e) = sock.send_to(&resp, peer).await
                    {
                        tracing::debug!(%peer, error = %e, "dns udp reply failed");
                    }
                });
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, handler: Arc<Handler>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept(), if conns.len() < MAX_INFLIGHT => {
                match accepted {
                    Ok((stream, peer)) => {
                        conns.spawn(serve_tcp_conn(stream, handler.clone(), peer.ip()));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "dns tcp accept failed");
                        // Out of descriptors: do not spin on the error.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
}

async fn serve_tcp_conn(mut stream: TcpStream, handler: Arc<Handler>, client: IpAddr) {
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(q)) => q,
            _ => return,
        };
        let Some(resp) = handler.answer(&query, true, client).await else {
            return;
        };
        let Ok(len) = u16::try_from(resp.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(resp.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&resp);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Where a server finds the names it answers itself. `client` is the
/// asker's address, so one server can answer per container (Docker's
/// resolver answers the names of every network the container is on).
pub trait NameSource: Send + Sync + std::fmt::Debug {
    fn lookup(&self, client: IpAddr, name: &str) -> Option<Vec<IpAddr>>;
    fn lookup_ptr(&self, client: IpAddr, ip: IpAddr) -> Option<String>;
}

impl NameSource for DnsRecords {
    fn lookup(&self, _client: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
        DnsRecords::lookup(self, name)
    }

    fn lookup_ptr(&self, _client: IpAddr, ip: IpAddr) -> Option<String> {
        DnsRecords::lookup_ptr(self, ip)
    }
}

struct Handler {
    records: Arc<dyn NameSource>,
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

impl Handler {
    /// The wire answer to one wire query, or `None` when nothing should be
    /// sent back (not a query at all).
    async fn answer(&self, raw: &[u8], over_tcp: bool, client: IpAddr) -> Option<Vec<u8>> {
        let req = match Message::from_vec(raw) {
            Ok(m) => m,
            Err(_) => return format_error(raw),
        };
        if req.message_type != MessageType::Query {
            return None;
        }
        if req.op_code != OpCode::Query {
            return encode(error_response(&req, ResponseCode::NotImp), &req, over_tcp);
        }
        let [query] = req.queries.as_slice() else {
            return encode(error_response(&req, ResponseCode::FormErr), &req, over_tcp);
        };
        if let Some(answers) = self.local_answers(query, client) {
            let mut resp = response_to(&req);
            resp.metadata.authoritative = true;
            resp.add_answers(answers);
            return encode(resp, &req, over_tcp);
        }
        match forward(raw, &self.upstreams, over_tcp, self.timeout).await {
            Some(resp) => Some(resp),
            None => encode(error_response(&req, ResponseCode::ServFail), &req, over_tcp),
        }
    }

    /// `None` when the name is not ours and must be asked upstream; a known
    /// name without records of the asked type gets an empty NOERROR (as
    /// Docker does for AAAA of IPv4-only containers), never NXDOMAIN.
    fn local_answers(&self, query: &Query, client: IpAddr) -> Option<Vec<Record>> {
        if query.query_class != DNSClass::IN {
            return None;
        }
        let name = &query.name;
        if query.query_type == RecordType::PTR {
            let ip = arpa_address(name)?;
            let target = Name::from_ascii(self.records.lookup_ptr(client, ip)?).ok()?;
            return Some(vec![Record::from_rdata(
                name.clone(),
                TTL,
                RData::PTR(PTR(target)),
            )]);
        }
        let ips = self.records.lookup(client, &plain_name(name))?;
        let records = ips
            .into_iter()
            .filter_map(|ip| {
                let rdata = match (query.query_type, ip) {
                    (RecordType::A | RecordType::ANY, IpAddr::V4(v4)) => RData::A(A(v4)),
                    (RecordType::AAAA | RecordType::ANY, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                    _ => return None,
                };
                Some(Record::from_rdata(name.clone(), TTL, rdata))
            })
            .collect();
        Some(records)
    }
}

/// The name's labels as sent, without the escaping `Name`'s Display adds.
fn plain_name(name: &Name) -> String {
    name.iter()
        .map(|label| String::from_utf8_lossy(label))
        .collect::<Vec<_>>()
        .join(".")
}

/// Only a full address is a host's reverse name; shorter ones are zones.
fn arpa_address(name: &Name) -> Option<IpAddr> {
    let mut name = name.clone();
    name.set_fqdn(true);
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

fn response_to(req: &Message) -> Message {
    let mut resp = Message::response(req.id, req.op_code);
    resp.metadata.recursion_desired = req.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.checking_disabled = req.checking_disabled;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        // RFC 6891: a query with OPT gets a response with OPT.
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_UDP_SIZE);
        resp.set_edns(edns);
    }
    resp
}

fn error_response(req: &Message, code: ResponseCode) -> Message {
    let mut resp = response_to(req);
    resp.metadata.response_code = code;
    resp
}

/// FORMERR for bytes that are not a DNS message but carry a query header,
/// so the client stops waiting; anything shorter is dropped.
fn format_error(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() < 12 || raw[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([raw[0], raw[1]]);
    Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        .to_vec()
        .ok()
}

/// Serializes `resp`, truncating it (TC bit) when it would not fit the
/// client's UDP buffer, so the client retries over TCP.
fn encode(resp: Message, req: &Message, over_tcp: bool) -> Option<Vec<u8>> {
    let bytes = resp.to_vec().ok()?;
    let limit = match &req.edns {
        Some(edns) => edns.max_payload().clamp(CLASSIC_UDP_SIZE, EDNS_UDP_SIZE),
        None => CLASSIC_UDP_SIZE,
    };
    if over_tcp || bytes.len() <= usize::from(limit) {
        return Some(bytes);
    }
    resp.truncate().to_vec().ok()
}
