//! Published ports: what `-p`/`-P` ask for, and holding the host ports.
//!
//! Traffic reaches containers through the firewall's DNAT rules; no proxy
//! process copies bytes. The daemon still binds each published host port
//! (without listening) so the kernel refuses it to any other program, and
//! a port already taken fails the start with Docker's message.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use network::Protocol;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Config, HostConfig};
use crate::{EngineError, Result};

/// One `-p` entry (or one exposed port under `-P`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub container_port: u16,
    pub proto: Protocol,
    /// `None` is Docker's 0.0.0.0: every local address.
    pub host_ip: Option<Ipv4Addr>,
    /// Inclusive range to take the host port from; `None` picks any free port.
    pub host_ports: Option<(u16, u16)>,
}

/// A port as inspect and `docker port` show it while the container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub proto: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub network_id: String,
    pub container_ip: Ipv4Addr,
}

impl PublishedPort {
    pub fn mapping(&self) -> network::PortMapping {
        network::PortMapping {
            proto: self.proto,
            host_ip: self.host_ip,
            host_port: self.host_port,
            container_ip: self.container_ip,
            container_port: self.container_port,
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
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

fn parse_host_ip(ip: &str) -> Result<Option<Ipv4Addr>> {
    match ip {
        "" | "0.0.0.0" => Ok(None),
        // The docker CLI adds "::" bindings next to 0.0.0.0 ones on IPv6 hosts;
        // networks here are IPv4-only, so 0.0.0.0 already covers the request.
        "::" => Ok(None),
        _ => ip.parse::<Ipv4Addr>().map(Some).map_err(|_| {
            if ip.contains(':') {
                EngineError::NotImplemented(format!("publishing on IPv6 address {ip}"))
            } else {
                EngineError::InvalidParameter(format!("invalid host IP address: {ip}"))
            }
        }),
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
                && (a.host_ip == b.host_ip || a.host_ip.is_none() || b.host_ip.is_none())
            {
                return Err(EngineError::InvalidParameter(format!(
                    "Bind for {}:{} failed: port is already allocated",
                    a.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
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
    /// Turns the reservation into a TCP proxy towards the container: the
    /// fallback when no firewall can DNAT (`--iptables=false`, or neither
    /// nft nor iptables works), as docker-proxy does. Sources are the
    /// host's, as with docker-proxy.
    pub fn proxy_tcp(&mut self, target: SocketAddrV4) -> std::io::Result<()> {
        let fd = self
            .fd
            .take()
            .ok_or_else(|| std::io::Error::other("reservation already in use"))?;
        nix::sys::socket::listen(
            &fd,
            nix::sys::socket::Backlog::new(128).map_err(std::io::Error::from)?,
        )
        .map_err(std::io::Error::from)?;
        let std_listener = std::net::TcpListener::from(fd);
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        self.proxy = Some(tokio::spawn(async move {
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
        }));
        Ok(())
    }
}

/// Binds a host port from the request's range (any free port when none),
/// as Docker's port allocator and proxy do together.
pub fn reserve(req: &PortRequest) -> std::result::Result<(u16, Reservation), String> {
    let ip = req.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let candidates: Vec<u16> = match req.host_ports {
        None => vec![0],
        Some((lo, hi)) => (lo..=hi).collect(),
    };
    let mut last_err = String::new();
    for port in candidates {
        match bind_port(req.proto, ip, port) {
            Ok(r) => return Ok(r),
            Err(e) => last_err = format!("Bind for {ip}:{port} failed: {e}"),
        }
    }
    Err(last_err)
}

fn bind_port(
    proto: Protocol,
    ip: Ipv4Addr,
    port: u16,
) -> std::result::Result<(u16, Reservation), String> {
    let ty = match proto {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let fd =
        socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None).map_err(|e| e.to_string())?;
    let addr = SockaddrIn::from(SocketAddrV4::new(ip, port));
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(|e| match e {
        nix::errno::Errno::EADDRINUSE => "port is already allocated".to_string(),
        other => other.to_string(),
    })?;
    let bound: SockaddrIn =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(|e| e.to_string())?;
    Ok((
        bound.port(),
        Reservation {
            fd: Some(fd),
            proxy: None,
        },
    ))
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
            host_ip: Some(Ipv4Addr::LOCALHOST),
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
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: None,
        };
        let (port, _held) = reserve(&req).unwrap();
        assert_ne!(port, 0);
        let again = PortRequest {
            host_ports: Some((port, port)),
            ..req
        };
        let err = reserve(&again).unwrap_err();
        assert!(err.contains("port is already allocated"), "{err}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    }
}
