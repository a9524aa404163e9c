//! A container's networking as its config and state keep it: what it asks
//! of each network, its endpoints while it runs, its published ports.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::PathBuf;

use network::Protocol;
use serde::{Deserialize, Serialize};

/// What a container asks of one network (create's `EndpointsConfig`,
/// `network connect`); kept in the container's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConfig {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4_address: Option<Ipv4Addr>,
    /// `--ip6`, on a dual-stack network with a user-given IPv6 subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<Ipv6Addr>,
    /// `--mac-address` (the endpoint's, or Config.MacAddress for the primary
    /// network); else one derived from the address, as Docker does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `network connect --link` / endpoint Links: "child:alias".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// `--link-local-ip`: extra 169.254/16 or fe80::/10 addresses on the
    /// interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<IpAddr>,
    /// Kept and shown as given; the bridge driver reads none of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// One attached endpoint of a running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    pub network_id: String,
    pub endpoint_id: String,
    /// Name inside the container (eth0, eth1, ...).
    pub ifname: String,
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address, prefix length and gateway on a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix_len6: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Names the network's DNS answers with this address.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// The network's driver; only bridge endpoints expose ports (dockerd
    /// shows none for containers that are only on macvlan or ipvlan).
    #[serde(default = "bridge_driver")]
    pub driver: String,
}

fn bridge_driver() -> String {
    // Docker's default driver (networking::DRIVER_BRIDGE); the model keeps
    // no dependency on the networking module.
    "bridge".to_string()
}

/// The networking of a running container, persisted with its state so a
/// restarted daemon can adopt it and a stopped one can be cleaned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    /// The pinned namespace, when the daemon made one.
    #[serde(default)]
    pub sandbox: Option<PathBuf>,
    /// By network name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointState>,
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

impl EndpointState {
    /// Every address of the endpoint: the IPv4 one, then the IPv6 one.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        std::iter::once(IpAddr::V4(self.ip)).chain(self.ip6.map(IpAddr::V6))
    }
}

impl NetworkState {
    /// eth0, eth1, ...: the first name no endpoint uses.
    pub fn next_ifname(&self) -> String {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !self.endpoints.values().any(|e| &e.ifname == n))
            .expect("an unused interface name")
    }
}

/// A port as inspect and `docker port` show it while the container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub proto: Protocol,
    /// `None`: every IPv4 address (0.0.0.0); an IPv6 address (`::` too) is
    /// served by the proxy.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub network_id: String,
    pub container_ip: Ipv4Addr,
    /// Where the proxy of an IPv6 binding sends traffic: the container's
    /// IPv6 address, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_ip6: Option<Ipv6Addr>,
}

impl PublishedPort {
    /// The firewall's DNAT of an IPv4 binding; `None` for IPv6 ones.
    pub fn mapping(&self) -> Option<network::PortMapping> {
        let host_ip = match self.host_ip {
            None => None,
            Some(IpAddr::V4(ip)) => Some(ip),
            Some(IpAddr::V6(_)) => return None,
        };
        Some(network::PortMapping {
            proto: self.proto,
            host_ip,
            host_port: self.host_port,
            container_ip: self.container_ip,
            container_port: self.container_port,
        })
    }

    /// Whether traffic goes through the daemon's proxy whatever the firewall.
    pub fn is_v6(&self) -> bool {
        self.host_ip.is_some_and(|ip| ip.is_ipv6())
    }

    /// The container's end of the proxy.
    pub fn target(&self) -> SocketAddr {
        match self.container_ip6.filter(|_| self.is_v6()) {
            Some(ip6) => SocketAddr::V6(SocketAddrV6::new(ip6, self.container_port, 0, 0)),
            None => SocketAddr::V4(SocketAddrV4::new(self.container_ip, self.container_port)),
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

/// How `HostConfig.NetworkMode` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeKind {
    /// "default" / "bridge": the default bridge (loopback only when disabled).
    Default,
    Host,
    None,
    Container(String),
    /// A user-defined network by name or id.
    Named(String),
}

pub fn mode_kind(mode: &str) -> ModeKind {
    match mode {
        "" | "default" | "bridge" => ModeKind::Default,
        "host" => ModeKind::Host,
        "none" => ModeKind::None,
        m => match m.strip_prefix("container:") {
            Some(target) => ModeKind::Container(target.to_string()),
            None => ModeKind::Named(m.to_string()),
        },
    }
}
