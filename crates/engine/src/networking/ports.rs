//! Published ports: what `-p`/`-P` ask for, and holding the host ports.
//!
//! IPv4 traffic reaches containers through the firewall's DNAT rules; no
//! proxy copies bytes. The daemon still binds each published host port
//! (without listening) so the kernel refuses it to any other program, and
//! a port already taken fails the start with Docker's message. IPv6 clients
//! (`[::]:port` beside every `0.0.0.0:port`, or an IPv6 host address) go
//! through a proxy in the daemon, as through dockerd's docker-proxy: the
//! kernel cannot DNAT ::1, and a container without IPv6 is reached on its
//! IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::OwnedFd;

use network::Protocol;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, bind, getsockname, setsockopt,
    socket, sockopt,
};
use serde_json::Value;

pub use crate::model::PublishedPort;
use crate::model::{Config, HostConfig};
use crate::{EngineError, Result};

/// One `-p` entry (or one exposed port under `-P`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub container_port: u16,
    pub proto: Protocol,
    /// `None` is Docker's 0.0.0.0: every local IPv4 address, and `::` too.
    pub host_ip: Option<IpAddr>,
    /// Inclusive range to take the host port from; `None` picks any free port.
    pub host_ports: Option<(u16, u16)>,
}

/// "80/tcp", "53/udp" or "80" (tcp).
pub fn parse_port_key(key: &str) -> Result<(u16, Protocol)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => {
            return Err(EngineError::NotImplemented(format!(
                "publishing SCTP port {key}"
            )));
        }
        other => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid proto: {other}"
            )));
        }
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((p, proto)),
        _ => Err(EngineError::InvalidParameter(format!(
            "invalid containerPort: {port}"
        ))),
    }
}

fn parse_host_ip(ip: &str) -> Result<Option<IpAddr>> {
    match ip {
        "" | "0.0.0.0" => Ok(None),
        _ => ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map(Some)
            .map_err(|_| EngineError::InvalidParameter(format!("invalid host IP address: {ip}"))),
    }
}

fn parse_host_ports(spec: &str) -> Result<Option<(u16, u16)>> {
    if spec.is_empty() {
        return Ok(None);
    }
    let bad = || EngineError::InvalidParameter(format!("invalid hostPort: {spec}"));
    let (lo, hi) = spec.split_once('-').unwrap_or((spec, spec));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok(if lo == 0 { None } else { Some((lo, hi)) })
}

/// Every port `-p` and `-P` ask for, validated; create calls it to refuse
/// bad input early, start calls it again to publish.
pub fn requested(config: &Config, hc: &HostConfig) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    for (key, bindings) in hc.port_bindings.iter().flatten() {
        let (container_port, proto) = parse_port_key(key)?;
        let list: Vec<&Value> = match bindings {
            Value::Array(a) => a.iter().collect(),
            Value::Null => Vec::new(),
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid port bindings for {key}: expected a list"
                )));
            }
        };
        for b in list {
            let field = |name: &str| b.get(name).and_then(Value::as_str).unwrap_or_default();
            out.push(PortRequest {
                container_port,
                proto,
                host_ip: parse_host_ip(field("HostIp"))?,
                host_ports: parse_host_ports(field("HostPort"))?,
            });
        }
    }
    if hc.publish_all_ports {
        for key in config.exposed_ports.iter().flatten().map(|(k, _)| k) {
            let (container_port, proto) = parse_port_key(key)?;
            if !out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto)
            {
                out.push(PortRequest {
                    container_port,
                    proto,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
    }
    // Two requests for the same host address and port can never both work.
    for (i, a) in out.iter().enumerate() {
        for b in &out[i + 1..] {
            if a.proto == b.proto
                && a.host_ports.is_some()
                && a.host_ports == b.host_ports
                && a.host_ports.map(|(lo, hi)| lo == hi) == Some(true)
                && (a.host_ip == b.host_ip
                    || (a.host_ip.is_none() && b.host_ip.is_none_or(|ip| ip.is_ipv4()))
                    || (b.host_ip.is_none() && a.host_ip.is_none_or(|ip| ip.is_ipv4())))
            {
                return Err(EngineError::InvalidParameter(format!(
                    "Bind for {}:{} failed: port is already allocated",
                    a.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    a.host_ports.map(|p| p.0).unwrap_or_default()
                )));
            }
        }
    }
    Ok(out)
}

/// A bound socket that keeps a host port ours: idle when the firewall's
/// DNAT carries the traffic, or the listening end of a userland proxy.
#[derive(Debug)]
pub struct Reservation {
    fd: Option<OwnedFd>,
    proxy: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(task) = self.proxy.take() {
            task.abort();
        }
    }
}

impl Reservation {
    /// Turns the reservation into a proxy towards the container: for IPv6
    /// clients, and for everything when no firewall can DNAT
    /// (`--iptables=false`, or neither nft nor iptables works), as
    /// docker-proxy does. Sources are the host's, as with docker-proxy.
    pub fn proxy(&mut self, proto: Protocol, target: SocketAddr) -> std::io::Result<()> {
        let fd = self
            .fd
            .take()
            .ok_or_else(|| std::io::Error::other("reservation already in use"))?;
        self.proxy = Some(match proto {
            Protocol::Tcp => proxy_tcp(fd, target)?,
            Protocol::Udp => proxy_udp(fd, target)?,
        });
        Ok(())
    }
}

fn proxy_tcp(fd: OwnedFd, target: SocketAddr) -> std::io::Result<tokio::task::JoinHandle<()>> {
    nix::sys::socket::listen(
        &fd,
        nix::sys::socket::Backlog::new(128).map_err(std::io::Error::from)?,
    )
    .map_err(std::io::Error::from)?;
    let std_listener = std::net::TcpListener::from(fd);
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    }))
}

/// How long a UDP flow without traffic keeps its upstream socket
/// (docker-proxy's figure).
const UDP_IDLE: std::time::Duration = std::time::Duration::from_secs(90);

/// One upstream socket per client address, so replies find their client;
/// a flow idle for [`UDP_IDLE`] is dropped.
fn proxy_udp(fd: OwnedFd, target: SocketAddr) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::collections::HashMap;
    use std::sync::Arc;
    let std_socket = std::net::UdpSocket::from(fd);
    std_socket.set_nonblocking(true)?;
    let socket = Arc::new(tokio::net::UdpSocket::from_std(std_socket)?);
    Ok(tokio::spawn(async move {
        let flows: Arc<parking_lot::Mutex<HashMap<SocketAddr, Arc<tokio::net::UdpSocket>>>> =
            Arc::default();
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, client)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let existing = super::lock(&flows).get(&client).cloned();
            let upstream = match existing {
                Some(u) => u,
                None => {
                    let local: SocketAddr = match target {
                        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                    };
                    let Ok(u) = tokio::net::UdpSocket::bind(local).await else {
                        continue;
                    };
                    if u.connect(target).await.is_err() {
                        continue;
                    }
                    let u = Arc::new(u);
                    super::lock(&flows).insert(client, u.clone());
                    let (u2, socket2, flows2) = (u.clone(), socket.clone(), flows.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65535];
                        while let Ok(Ok(n)) =
                            tokio::time::timeout(UDP_IDLE, u2.recv(&mut buf)).await
                        {
                            let _ = socket2.send_to(&buf[..n], client).await;
                        }
                        super::lock(&flows2).remove(&client);
                    });
                    u
                }
            };
            let _ = upstream.send(&buf[..n]).await;
        }
    }))
}

/// A host port that could not be held, in Docker's words
/// ("Bind for 0.0.0.0:80 failed: port is already allocated").
#[derive(Debug, thiserror::Error)]
#[error("Bind for {ip}:{port} failed: {}", bind_reason(*.errno))]
pub struct BindError {
    ip: IpAddr,
    port: u16,
    errno: Errno,
}

/// Binds a host port from the request's range (any free port when none),
/// as Docker's port allocator and proxy do together. The error is the
/// last port's.
pub fn reserve(req: &PortRequest) -> std::result::Result<(u16, Reservation), BindError> {
    let ip = req.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // Requests come parsed, with lo <= hi (port 0: the kernel picks one).
    let (lo, hi) = req.host_ports.unwrap_or((0, 0));
    let mut port = lo;
    loop {
        match bind_port(req.proto, ip, port) {
            Ok(r) => return Ok(r),
            Err(errno) if port >= hi => return Err(BindError { ip, port, errno }),
            Err(_) => port += 1,
        }
    }
}

/// Holds `[::]:port` beside a `0.0.0.0:port` binding; `None` when the host
/// has no IPv6 or the port is taken there (the IPv4 binding stands alone
/// then, as dockerd's does on hosts without IPv6).
pub fn reserve_v6_twin(proto: Protocol, port: u16) -> Option<Reservation> {
    bind_port(proto, IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
        .ok()
        .map(|(_, r)| r)
}

fn bind_port(
    proto: Protocol,
    ip: IpAddr,
    port: u16,
) -> std::result::Result<(u16, Reservation), Errno> {
    let ty = match proto {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let bound = match ip {
        IpAddr::V4(ip) => {
            let addr = SockaddrIn::from(SocketAddrV4::new(ip, port));
            bind(raw, &addr)?;
            getsockname::<SockaddrIn>(raw)?.port()
        }
        IpAddr::V6(ip) => {
            // [::] must not also take the port on IPv4: that is the
            // 0.0.0.0 binding's (or another program's) to hold.
            setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            let addr = SockaddrIn6::from(SocketAddrV6::new(ip, port, 0, 0));
            bind(raw, &addr)?;
            getsockname::<SockaddrIn6>(raw)?.port()
        }
    };
    Ok((
        bound,
        Reservation {
            fd: Some(fd),
            proxy: None,
        },
    ))
}

fn bind_reason(e: Errno) -> String {
    match e {
        Errno::EADDRINUSE => "port is already allocated".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(bindings: Value, all: bool) -> HostConfig {
        serde_json::from_value(json!({"PortBindings": bindings, "PublishAllPorts": all})).unwrap()
    }

    #[test]
    fn bindings_parse_like_docker() {
        let cfg = Config::default();
        let reqs = requested(
            &cfg,
            &hc(
                json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "9000-9005"}],
                       "53/udp": [{"HostIp": "", "HostPort": ""}]}),
                false,
            ),
        )
        .unwrap();
        assert_eq!(reqs.len(), 3);
        assert!(reqs.contains(&PortRequest {
            container_port: 80,
            proto: Protocol::Tcp,
            host_ip: None,
            host_ports: Some((8080, 8080)),
        }));
        assert!(reqs.contains(&PortRequest {
            container_port: 80,
            proto: Protocol::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_ports: Some((9000, 9005)),
        }));
        assert!(reqs.contains(&PortRequest {
            container_port: 53,
            proto: Protocol::Udp,
            host_ip: None,
            host_ports: None,
        }));
    }

    #[test]
    fn publish_all_adds_exposed_ports_once() {
        let cfg = Config {
            exposed_ports: Some(
                [
                    ("80/tcp".to_string(), json!({})),
                    ("443/tcp".to_string(), json!({})),
                ]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        };
        let reqs = requested(&cfg, &hc(json!({"80/tcp": [{"HostPort": "8080"}]}), true)).unwrap();
        assert_eq!(reqs.len(), 2);
        assert!(
            reqs.iter()
                .any(|r| r.container_port == 443 && r.host_ports.is_none())
        );
    }

    #[test]
    fn bad_bindings_are_refused() {
        let cfg = Config::default();
        for bad in [
            json!({"x/tcp": [{"HostPort": "1"}]}),
            json!({"80/tcp": [{"HostPort": "99999"}]}),
            json!({"80/tcp": [{"HostPort": "9-1"}]}),
            json!({"80/tcp": [{"HostIp": "300.1.1.1", "HostPort": "1"}]}),
            json!({"80/tcp": [{"HostPort": "8080"}], "81/tcp": [{"HostPort": "8080"}]}),
        ] {
            assert!(requested(&cfg, &hc(bad.clone(), false)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reserved_port_cannot_be_taken_twice() {
        let req = PortRequest {
            container_port: 80,
            proto: Protocol::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST.into()),
            host_ports: None,
        };
        let (port, _held) = reserve(&req).unwrap();
        assert_ne!(port, 0);
        let again = PortRequest {
            host_ports: Some((port, port)),
            ..req
        };
        let err = reserve(&again).unwrap_err().to_string();
        assert!(err.contains("port is already allocated"), "{err}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    }

    /// The proxy a published port gets without a firewall, or for IPv6
    /// clients: datagrams reach the target and answers find each client.
    #[tokio::test]
    async fn the_udp_proxy_relays_both_ways_per_client() {
        let echo = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, peer)) = echo.recv_from(&mut buf).await {
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, peer).await;
            }
        });
        let req = PortRequest {
            container_port: target.port(),
            proto: Protocol::Udp,
            host_ip: Some(Ipv6Addr::LOCALHOST.into()),
            host_ports: None,
        };
        let (port, mut held) = reserve(&req).unwrap();
        held.proxy(Protocol::Udp, target).unwrap();
        for who in ["a", "b"] {
            let client = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
            client.send_to(who.as_bytes(), ("::1", port)).await.unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                client.recv_from(&mut buf),
            )
            .await
            .expect("an answer through the proxy")
            .unwrap();
            assert_eq!(&buf[..n], format!("echo:{who}").as_bytes());
        }
        drop(held);
    }
}
