//! What one container's attachment to a network is, whatever the driver:
//! its addresses and interface names, and the rules for them (MACs derived
//! from addresses as Docker does, the kernel's interface-name limits).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// Prefix of the host (or overlay) side of a container's veth pair.
pub const VETH_PREFIX: &str = "veth";

/// Kernel limit for interface names (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// A container's attachment to a network, as the engine stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Host side of the veth pair, enslaved to the bridge.
    pub host_ifname: String,
    /// Interface name inside the container.
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub mac: String,
    /// `None` on internal networks (no default route).
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address on a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix_len6: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
}

/// The addresses one endpoint gets inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAddrs {
    pub ip: Ipv4Addr,
    /// Required on a dual-stack network, refused on an IPv4-only one.
    pub ip6: Option<Ipv6Addr>,
    pub mac: [u8; 6],
    /// `--link-local-ip`: 169.254/16 or fe80::/10 addresses beside the others.
    pub link_local: Vec<IpAddr>,
}

impl EndpointAddrs {
    /// Just `ip`, with the MAC derived from it.
    pub fn v4(ip: Ipv4Addr) -> Self {
        EndpointAddrs {
            ip,
            ip6: None,
            mac: mac_from_ip(ip),
            link_local: Vec::new(),
        }
    }
}

/// Docker's scheme: 02:42 followed by the four IPv4 bytes, so a container's
/// MAC is stable for its address and never collides inside one bridge.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn validate_ifname(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_IFNAME
        || name.contains(['/', ' ', '\0'])
        || name == "."
        || name == ".."
    {
        return Err(NetError::InvalidConfig(format!(
            "invalid interface name {name:?}"
        )));
    }
    Ok(())
}
