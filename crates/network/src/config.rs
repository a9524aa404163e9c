use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::endpoint::validate_ifname;
pub use crate::endpoint::{MAX_IFNAME, format_mac, mac_from_ip};
use crate::error::{NetError, Result};
use crate::macvlan_config::MacvlanConfig;

/// Name of the bridge of the default network, like Docker's `docker0`.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// A network with addresses (bridge, macvlan, ipvlan) as the engine stores
/// it (`networks/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub id: String,
    pub name: String,
    /// "bridge", "macvlan" or "ipvlan".
    pub driver: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Sub-range of `subnet` that container addresses are taken from.
    pub ip_range: Option<Ipv4Net>,
    pub bridge_name: String,
    /// Internal networks get no default route and no egress.
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The IPv6 half of a dual-stack network (`--ipv6`); `None`: IPv4 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Config>,
    /// Parent link and mode of a macvlan or ipvlan network (no bridge then:
    /// `bridge_name` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<MacvlanConfig>,
    /// VXLAN segment of an overlay network (no bridge on the host then:
    /// `bridge_name` is empty, the bridge lives in the overlay's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<crate::overlay_config::OverlayLink>,
}

/// IPv6 addressing of a network: the bridge carries `gateway`, containers
/// get addresses of `ip_range` (default: the whole subnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Config {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv6Net>,
}

impl Ipv6Config {
    /// `subnet` with its first host address (`::1`) as the gateway.
    pub fn new(subnet: Ipv6Net) -> Self {
        let subnet = subnet.trunc();
        Ipv6Config {
            subnet,
            gateway: Ipv6Addr::from(u128::from(subnet.network()) + 1),
            ip_range: None,
        }
    }

    fn validate(&self) -> Result<()> {
        // A gateway and at least one container need two addresses beside
        // the subnet-router anycast address.
        if self.subnet.prefix_len() > 126 {
            return Err(NetError::InvalidConfig(format!(
                "subnet {} is too small",
                self.subnet
            )));
        }
        if !self.subnet.contains(&self.gateway) || self.gateway == self.subnet.network() {
            return Err(NetError::InvalidConfig(format!(
                "gateway {} is not a host address of {}",
                self.gateway, self.subnet
            )));
        }
        if let Some(range) = self.ip_range
            && !self.subnet.contains(&range)
        {
            return Err(NetError::InvalidConfig(format!(
                "ip-range {range} is not inside {}",
                self.subnet
            )));
        }
        Ok(())
    }
}

impl NetworkConfig {
    /// A bridge network with the usual defaults: gateway is the first host
    /// address, bridge named `br-<id12>` (the default network passes `berth0`).
    pub fn bridge(id: &str, name: &str, subnet: Ipv4Net) -> Self {
        let gateway = first_host(subnet);
        NetworkConfig {
            id: id.to_string(),
            name: name.to_string(),
            driver: "bridge".to_string(),
            subnet: subnet.trunc(),
            gateway,
            ip_range: None,
            bridge_name: bridge_name_for(id),
            internal: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipv6: None,
            macvlan: None,
            overlay: None,
        }
    }

    /// A macvlan or ipvlan network on `link`'s parent; the gateway is the
    /// first host address, as for bridges (it is only a route's next hop:
    /// nothing on this host answers it).
    pub fn macvlan(id: &str, name: &str, subnet: Ipv4Net, link: MacvlanConfig) -> Self {
        NetworkConfig {
            driver: link.kind.driver().to_string(),
            bridge_name: String::new(),
            macvlan: Some(link),
            ..NetworkConfig::bridge(id, name, subnet)
        }
    }

    /// An overlay network's segment on this node; the gateway is the one
    /// the cluster allocated (no device of this node carries it).
    pub fn overlay(
        id: &str,
        name: &str,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
        link: crate::overlay_config::OverlayLink,
    ) -> Self {
        NetworkConfig {
            driver: "overlay".to_string(),
            bridge_name: String::new(),
            gateway,
            overlay: Some(link),
            ..NetworkConfig::bridge(id, name, subnet)
        }
    }

    pub fn is_bridge(&self) -> bool {
        self.macvlan.is_none() && self.overlay.is_none()
    }

    /// Rejects configurations the kernel or IPAM would choke on later,
    /// so errors surface at `network create` time.
    pub fn validate(&self) -> Result<()> {
        match &self.macvlan {
            None if self.driver == "overlay" && self.overlay.is_some() => {}
            None if self.driver == "bridge" => validate_ifname(&self.bridge_name)?,
            Some(link) if self.driver == link.kind.driver() => validate_ifname(&link.parent)?,
            _ => {
                return Err(NetError::InvalidConfig(format!(
                    "driver {:?} is not supported",
                    self.driver
                )));
            }
        }
        if self.subnet.prefix_len() > 30 {
            return Err(NetError::InvalidConfig(format!(
                "subnet {} is too small",
                self.subnet
            )));
        }
        if !self.subnet.contains(&self.gateway)
            || self.gateway == self.subnet.network()
            || self.gateway == self.subnet.broadcast()
        {
            return Err(NetError::InvalidConfig(format!(
                "gateway {} is not a host address of {}",
                self.gateway, self.subnet
            )));
        }
        self.mtu()?;
        if let Some(range) = self.ip_range
            && !self.subnet.contains(&range)
        {
            return Err(NetError::InvalidConfig(format!(
                "ip-range {range} is not inside {}",
                self.subnet
            )));
        }
        if let Some(v6) = &self.ipv6 {
            v6.validate()?;
        }
        Ok(())
    }
}

impl NetworkConfig {
    /// What any driver checks before giving a container `ifname` with
    /// `addrs`: each address inside its subnet, an IPv6 one exactly when
    /// the network is dual-stack.
    pub(crate) fn check_endpoint(
        &self,
        ifname: &str,
        addrs: &crate::endpoint::EndpointAddrs,
    ) -> Result<()> {
        validate_ifname(ifname)?;
        if !self.subnet.contains(&addrs.ip) {
            return Err(NetError::OutOfSubnet {
                ip: addrs.ip.into(),
                subnet: self.subnet.into(),
            });
        }
        match (&self.ipv6, addrs.ip6) {
            (Some(v6), Some(ip6)) if !v6.subnet.contains(&ip6) => Err(NetError::OutOfSubnet {
                ip: ip6.into(),
                subnet: v6.subnet.into(),
            }),
            (Some(_), None) => Err(NetError::InvalidConfig(format!(
                "network {} is dual-stack: the endpoint needs an IPv6 address",
                self.name
            ))),
            (None, Some(ip6)) => Err(NetError::InvalidConfig(format!(
                "network {} has no IPv6 subnet for {ip6}",
                self.name
            ))),
            _ => Ok(()),
        }
    }
}

/// Docker's option that turns off traffic between a bridge's containers.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";

impl NetworkConfig {
    /// Whether containers on the bridge may talk to each other directly
    /// ([`OPT_ICC`] not `false`).
    pub fn icc(&self) -> bool {
        self.options.get(OPT_ICC).is_none_or(|v| v != "false")
    }
}

/// Docker's option key for the MTU of the bridge and container interfaces.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

impl NetworkConfig {
    /// MTU from [`OPT_MTU`], `None` to keep the kernel default.
    pub fn mtu(&self) -> Result<Option<u32>> {
        match self.options.get(OPT_MTU) {
            None => Ok(None),
            Some(v) => match v.parse::<u32>() {
                Ok(0) => Ok(None),
                Ok(m) if (68..=65535).contains(&m) => Ok(Some(m)),
                _ => Err(NetError::InvalidConfig(format!("invalid MTU {v:?}"))),
            },
        }
    }
}

/// `br-` plus the first 12 characters of the network id, as Docker names them.
pub fn bridge_name_for(id: &str) -> String {
    let short: String = id.chars().take(12).collect();
    format!("br-{short}")
}

pub(crate) fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One published port: traffic to `host_ip:host_port` goes to the container.
/// `host_ip` of `None` (Docker's 0.0.0.0) means every local address,
/// loopback included.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

impl PortMapping {
    /// Stable tag carried by every rule of this mapping so it can be found
    /// and removed again without remembering rule handles.
    pub(crate) fn tag(&self) -> String {
        let host = self
            .host_ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "0.0.0.0".to_string());
        format!(
            "berth-port:{}:{}:{}:{}:{}",
            self.proto, host, self.host_port, self.container_ip, self.container_port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_follows_docker_scheme() {
        let mac = mac_from_ip("172.17.0.2".parse().unwrap());
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
    }

    #[test]
    fn bridge_config_defaults() {
        let c = NetworkConfig::bridge("0123456789abcdef", "n", "10.199.3.0/24".parse().unwrap());
        assert_eq!(c.bridge_name, "br-0123456789ab");
        assert_eq!(c.gateway, "10.199.3.1".parse::<Ipv4Addr>().unwrap());
        c.validate().unwrap();
        let mut bad = c.clone();
        bad.gateway = "10.199.3.255".parse().unwrap();
        assert!(matches!(bad.validate(), Err(NetError::InvalidConfig(_))));
        let mut long = c;
        long.bridge_name = "a-very-long-bridge-name".into();
        assert!(long.validate().is_err());
    }
}
