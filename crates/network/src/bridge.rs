//! The bridge of one network and the veth endpoints of its containers.

use std::net::Ipv4Addr;
use std::path::Path;

use netlink_packet_route::link::InfoKind;
use rand::Rng;
use rtnetlink::{LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth};
use serde::{Deserialize, Serialize};

use crate::config::NetworkConfig;
use crate::endpoint::format_mac;
pub use crate::endpoint::{Endpoint, EndpointAddrs};
use crate::error::{NetError, Result, nl_err};
use crate::netlink::{self, DefaultRoute, connect};
use crate::sysctl;

/// Prefix of host-side veth names.
pub use crate::endpoint::VETH_PREFIX;
/// Prefix of the container-side veth while it still lives in the host
/// namespace; one left behind means an attach was interrupted.
const PENDING_PEER_PREFIX: &str = "bp";

/// The host-side name of a pair's container end until it moves into the
/// container: it carries a tag of its bridge, so that a daemon's clean-up
/// removes only its own half-attached pairs while other daemons on the
/// host (tests run many at once) are attaching theirs.
pub fn pending_peer_name(bridge: &str, suffix: u32) -> String {
    format!(
        "{PENDING_PEER_PREFIX}{:05x}{:07x}",
        bridge_tag(bridge),
        suffix & 0x0fff_ffff
    )
}

/// 20 bits of FNV-1a: stable across versions and daemons.
fn bridge_tag(bridge: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bridge.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h & 0xf_ffff
}

fn is_pending_peer_of(name: &str, bridges: &[&str]) -> bool {
    name.len() == PENDING_PEER_PREFIX.len() + 12
        && name.starts_with(PENDING_PEER_PREFIX)
        && bridges
            .iter()
            .any(|b| name[2..7] == format!("{:05x}", bridge_tag(b)))
}

/// What [`Network::ensure_bridge`] had to add to the host. The daemon that
/// made a bridge or gave it its address owns that, and takes it away again
/// with the network ([`Network::release`]); what was there before (a bridge
/// and address another daemon left, or the administrator's) stays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeOwnership {
    /// The bridge device was created (everything on it goes with it).
    #[serde(default)]
    pub link: bool,
    /// The gateway address was added to a bridge that was already there.
    #[serde(default)]
    pub address: bool,
}

impl BridgeOwnership {
    /// Both the device and its address.
    pub const ALL: BridgeOwnership = BridgeOwnership {
        link: true,
        address: true,
    };

    /// What either side owns: ownership acquired on any start is kept.
    pub fn union(self, other: BridgeOwnership) -> BridgeOwnership {
        BridgeOwnership {
            link: self.link || other.link,
            address: self.address || other.address,
        }
    }

    pub fn is_empty(self) -> bool {
        !self.link && !self.address
    }
}

/// The IPv4 addresses (address, prefix length) on the link `name`, in the
/// kernel's order; `None` when there is no such link.
pub async fn link_ipv4_addresses(name: &str) -> Result<Option<Vec<(Ipv4Addr, u8)>>> {
    let h = connect()?;
    match netlink::link_by_name(&h, name).await? {
        Some(link) => Ok(Some(netlink::ipv4_addresses(&h, link.header.index).await?)),
        None => Ok(None),
    }
}

/// Kernel-side operations of one bridge network.
#[derive(Debug, Clone)]
pub struct Network {
    config: NetworkConfig,
}

impl Network {
    pub fn new(config: NetworkConfig) -> Result<Self> {
        config.validate()?;
        Ok(Network { config })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Creates the bridge with the gateway address and brings it up; safe to
    /// call again on an existing bridge (daemon restart). Answers what this
    /// call added.
    pub async fn ensure_bridge(&self) -> Result<BridgeOwnership> {
        let c = &self.config;
        let h = connect()?;
        let mut owned = BridgeOwnership::default();
        let index = match netlink::link_by_name(&h, &c.bridge_name).await? {
            Some(link) => {
                if netlink::link_kind(&link) != Some(&InfoKind::Bridge) {
                    return Err(NetError::WrongLinkKind {
                        name: c.bridge_name.clone(),
                        expected: "bridge",
                    });
                }
                link.header.index
            }
            None => {
                // An explicit address stops the kernel from re-deriving the
                // bridge MAC from its ports each time a container comes or
                // goes, which would leave containers with a stale gateway
                // ARP entry.
                let mut mac: [u8; 6] = rand::rng().random();
                mac[0] = (mac[0] & 0xfe) | 0x02;
                let mut bridge = LinkBridge::new(&c.bridge_name).address(mac.to_vec());
                if let Some(m) = c.mtu()? {
                    bridge = bridge.mtu(m);
                }
                h.link()
                    .add(bridge.build())
                    .execute()
                    .await
                    .map_err(nl_err(format!("create bridge {}", c.bridge_name)))?;
                owned.link = true;
                netlink::require_link(&h, &c.bridge_name).await?
            }
        };
        owned.address =
            netlink::ensure_address(&h, index, c.gateway, c.subnet.prefix_len()).await?;
        if let Some(v6) = &c.ipv6 {
            // A bridge made while IPv6 was off for new links has it off too.
            sysctl::ensure(
                &format!("net.ipv6.conf.{}.disable_ipv6", c.bridge_name),
                "0",
            )?;
            owned.address |=
                netlink::ensure_address(&h, index, v6.gateway, v6.subnet.prefix_len()).await?;
            if !c.internal && sysctl::ensure("net.ipv6.conf.all.forwarding", "1")? {
                tracing::info!(
                    network = %c.name,
                    "enabled net.ipv6.conf.all.forwarding so containers can reach outside networks over IPv6"
                );
            }
        }
        netlink::set_up(&h, index, &c.bridge_name).await?;
        // Published ports on 127.0.0.1 are DNATed to the container and leave
        // through the bridge with a loopback source; without route_localnet
        // the kernel drops them as martians.
        sysctl::ensure(
            &format!("net.ipv4.conf.{}.route_localnet", c.bridge_name),
            "1",
        )?;
        if !c.internal && sysctl::ensure("net.ipv4.ip_forward", "1")? {
            tracing::info!(
                network = %c.name,
                "enabled net.ipv4.ip_forward so containers can reach outside networks"
            );
        }
        Ok(owned)
    }

    /// Takes away what the daemon owns of this network's bridge: the whole
    /// device if it created it, else the gateway address if it added it;
    /// nothing of a bridge and address it found. Gone already is fine.
    pub async fn release(&self, owned: BridgeOwnership) -> Result<()> {
        let c = &self.config;
        let h = connect()?;
        if owned.link {
            netlink::delete_link(&h, &c.bridge_name).await?;
        } else if owned.address
            && let Some(link) = netlink::link_by_name(&h, &c.bridge_name).await?
        {
            netlink::delete_address(&h, link.header.index, c.gateway, c.subnet.prefix_len())
                .await?;
            if let Some(v6) = &c.ipv6 {
                netlink::delete_address(&h, link.header.index, v6.gateway, v6.subnet.prefix_len())
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes the bridge; a missing bridge is not an error.
    pub async fn remove_bridge(&self) -> Result<()> {
        let h = connect()?;
        netlink::delete_link(&h, &self.config.bridge_name).await?;
        Ok(())
    }

    /// Connects the namespace at `netns` (e.g. `/proc/<pid>/ns/net`) to the
    /// bridge: a veth pair whose peer becomes `ifname` with `ip` and `mac`,
    /// plus loopback up and, unless internal, a default route via the gateway.
    pub async fn attach(
        &self,
        netns: &Path,
        ifname: &str,
        ip: Ipv4Addr,
        mac: [u8; 6],
    ) -> Result<Endpoint> {
        let addrs = EndpointAddrs {
            mac,
            ..EndpointAddrs::v4(ip)
        };
        self.attach_with(netns, ifname, &addrs).await
    }

    /// [`Network::attach`] with every address of `addrs`: the IPv6 one of a
    /// dual-stack network (and its default route) and link-local ones.
    pub async fn attach_with(
        &self,
        netns: &Path,
        ifname: &str,
        addrs: &EndpointAddrs,
    ) -> Result<Endpoint> {
        let c = &self.config;
        c.check_endpoint(ifname, addrs)?;
        let ip = addrs.ip;
        let h = connect()?;
        let bridge = netlink::require_link(&h, &c.bridge_name).await?;
        let suffix: u32 = rand::rng().random_range(0..0x1000_0000);
        let host_ifname = format!("{VETH_PREFIX}{suffix:07x}");
        let peer = pending_peer_name(&c.bridge_name, suffix);
        let mtu = c.mtu()?;
        let mut veth = LinkVeth::new(&host_ifname, &peer);
        if let Some(m) = mtu {
            veth = veth.mtu(m);
        }
        h.link()
            .add(veth.build())
            .execute()
            .await
            .map_err(nl_err("create veth pair"))?;
        let endpoint = Endpoint {
            host_ifname: host_ifname.clone(),
            ifname: ifname.to_string(),
            ip,
            prefix_len: c.subnet.prefix_len(),
            mac: format_mac(&addrs.mac),
            gateway: (!c.internal).then_some(c.gateway),
            ip6: addrs.ip6,
            prefix_len6: c.ipv6.as_ref().map_or(0, |v6| v6.subnet.prefix_len()),
            gateway6: c.ipv6.as_ref().filter(|_| !c.internal).map(|v6| v6.gateway),
        };
        let result = self
            .wire(
                &h,
                bridge,
                netns,
                &host_ifname,
                &peer,
                &endpoint,
                addrs,
                mtu,
            )
            .await;
        if let Err(e) = result {
            // Deleting one end removes the pair wherever the peer ended up.
            let _ = netlink::delete_link(&h, &host_ifname).await;
            return Err(e);
        }
        Ok(endpoint)
    }

    #[allow(clippy::too_many_arguments)]
    async fn wire(
        &self,
        h: &rtnetlink::Handle,
        bridge: u32,
        netns: &Path,
        host_ifname: &str,
        peer: &str,
        ep: &Endpoint,
        addrs: &EndpointAddrs,
        mtu: Option<u32>,
    ) -> Result<()> {
        let peer_index = netlink::require_link(h, peer).await?;
        netlink::move_to_netns(h, peer_index, netns).await?;
        let host_index = netlink::require_link(h, host_ifname).await?;
        h.link()
            .set(
                LinkUnspec::new_with_index(host_index)
                    .controller(bridge)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(nl_err(format!("attach {host_ifname} to bridge")))?;
        if !self.config.icc() {
            // An isolated port reaches only the bridge itself (the host,
            // the gateway), never another isolated port: dockerd's
            // enable_icc=false, in the bridge rather than br_netfilter.
            h.link()
                .set_port(LinkBridgePort::new(host_index).isolated(true).build())
                .execute()
                .await
                .map_err(nl_err(format!("isolate {host_ifname} on the bridge")))?;
        }
        let peer = peer.to_string();
        let ep = ep.clone();
        let link_local = addrs.link_local.clone();
        let mac = addrs.mac;
        netlink::in_netns(netns, move |h| async move {
            let index = netlink::require_link(&h, &peer).await?;
            let mut set = LinkUnspec::new_with_index(index)
                .name(ep.ifname.clone())
                .address(mac.to_vec());
            if let Some(m) = mtu {
                set = set.mtu(m);
            }
            h.link()
                .set(set.build())
                .execute()
                .await
                .map_err(nl_err(format!("rename {peer} to {}", ep.ifname)))?;
            let route = match ep.gateway {
                Some(gw) => DefaultRoute::Via(gw),
                None => DefaultRoute::None,
            };
            netlink::configure_endpoint(&h, index, &ep, &link_local, route).await
        })
        .await
    }

    /// Removes the endpoint's veth pair; already gone is fine (the kernel
    /// deletes it when the container's namespace dies).
    pub async fn detach(&self, endpoint: &Endpoint) -> Result<()> {
        let h = connect()?;
        netlink::delete_link(&h, &endpoint.host_ifname).await?;
        Ok(())
    }
}

/// What [`cleanup_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub bridges: Vec<String>,
    pub veths: Vec<String>,
}

/// Removes what a crash can leave behind: bridges named `<bridge_prefix>*`
/// that are not in `keep_bridges`, the veths enslaved to them, and
/// half-attached veth pairs of these bridges whose peer never left the
/// host namespace (never another daemon's: see [`pending_peer_name`]).
pub async fn cleanup_stale(bridge_prefix: &str, keep_bridges: &[&str]) -> Result<CleanupReport> {
    let h = connect()?;
    let links = netlink::all_links(&h).await?;
    let mut stale_bridges = Vec::new();
    for link in &links {
        let Some(name) = netlink::link_name(link) else {
            continue;
        };
        if netlink::link_kind(link) == Some(&InfoKind::Bridge)
            && name.starts_with(bridge_prefix)
            && !keep_bridges.contains(&name)
        {
            stale_bridges.push((link.header.index, name.to_string()));
        }
    }
    let mut report = CleanupReport::default();
    let ours: Vec<&str> = keep_bridges
        .iter()
        .copied()
        .chain(stale_bridges.iter().map(|(_, n)| n.as_str()))
        .collect();
    for link in &links {
        let Some(name) = netlink::link_name(link) else {
            continue;
        };
        let on_stale = netlink::link_controller(link)
            .is_some_and(|c| stale_bridges.iter().any(|(i, _)| *i == c));
        let is_veth = netlink::link_kind(link) == Some(&InfoKind::Veth);
        if is_veth
            && (on_stale || is_pending_peer_of(name, &ours))
            && netlink::delete_link(&h, name).await?
        {
            report.veths.push(name.to_string());
        }
    }
    for (_, name) in stale_bridges {
        if netlink::delete_link(&h, &name).await? {
            report.bridges.push(name);
        }
    }
    Ok(report)
}
