//! Overlay networks on one node: a VXLAN segment that spans the nodes of a
//! cluster. Each network gets a namespace of its own holding the VXLAN
//! device (`vxlan0`); containers and the node's legs are macvlan ports of
//! it in bridge mode, which carries the traffic between the node's own
//! ports. dockerd puts a bridge there with veth pairs to the containers;
//! those two hops cost about a tenth of a stream's throughput across nodes
//! (README, overlay bench), and a macvlan port's frames go straight to the
//! VXLAN device. A copy built with a bridge (`br0`, by an older daemon) is
//! served the old way until its last container leaves. The namespace keeps
//! the segment away from the host's routing: the host has no address on
//! it, so nothing leaks between the overlay and the node's other networks.
//!
//! The VXLAN device learns nothing and floods nothing: the forwarding
//! database (which node carries a MAC) and the ARP answers (which MAC an
//! address has, answered by the device itself with `proxy`) are programmed
//! from the cluster's allocations ([`OverlayNetwork::set_peers`]). MACs
//! derive from addresses (02:42 + IPv4), so an entry left by a task that is
//! gone is replaced, not contradicted, when its address is handed out again.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::{LinkAttribute, MacVlanMode};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use parking_lot::Mutex;
use rand::Rng;
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, LinkVeth, LinkVxlan};

use crate::config::{NetworkConfig, format_mac};
use crate::endpoint::{Endpoint, EndpointAddrs, VETH_PREFIX};
use crate::error::{NetError, Result, errno, io_err, nl_err};
use crate::netlink::{self, DefaultRoute, connect};
pub use crate::overlay_config::{DEFAULT_VXLAN_PORT, OverlayLink, VXLAN_OVERHEAD};

/// The bridge of a copy built by an older daemon, and the VXLAN device,
/// inside an overlay's namespace.
const BRIDGE: &str = "br0";
const VXLAN: &str = "vxlan0";

/// Another node's container on the segment: its address and MAC, and the
/// data-path address of the node that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Peer {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub vtep: Ipv4Addr,
}

/// One overlay network's data plane on this node.
pub struct OverlayNetwork {
    config: NetworkConfig,
    /// The peers programmed last (`set_peers` applies differences).
    peers: Mutex<BTreeSet<Peer>>,
}

impl OverlayNetwork {
    pub fn new(config: NetworkConfig) -> Result<Self> {
        if config.overlay.is_none() {
            return Err(NetError::InvalidConfig(format!(
                "network {} is not an overlay",
                config.name
            )));
        }
        Ok(OverlayNetwork {
            config,
            peers: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn link(&self) -> &OverlayLink {
        // `new` refuses configs without one.
        self.config
            .overlay
            .as_ref()
            .unwrap_or_else(|| unreachable!())
    }

    /// The namespace of the segment's bridge.
    pub fn netns(&self) -> &Path {
        &self.link().netns
    }

    /// Makes the namespace and VXLAN device unless they exist (a daemon
    /// restart finds them pinned and in use by running containers).
    pub async fn up(&self) -> Result<()> {
        let link = self.link().clone();
        if link.netns.exists() {
            let ready = netlink::in_netns(&link.netns, |h| async move {
                Ok(netlink::link_by_name(&h, VXLAN).await?.is_some())
            })
            .await
            .unwrap_or(false);
            if ready {
                return Ok(());
            }
            crate::netns::remove_netns(&link.netns)?;
        }
        crate::netns::create_netns(&link.netns).await?;
        if let Err(e) = self.build(&link).await {
            let _ = crate::netns::remove_netns(&link.netns);
            return Err(e);
        }
        Ok(())
    }

    async fn build(&self, link: &OverlayLink) -> Result<()> {
        // The VXLAN socket belongs to the namespace the device is created
        // in: made here, on the node's network, then moved to the segment's.
        let h = connect()?;
        let tmp = format!("vxb{:07x}", rand::rng().random_range(0..0x1000_0000u32));
        h.link()
            .add(
                LinkVxlan::new(&tmp, link.vni)
                    .local(link.local)
                    .port(link.port)
                    .learning(false)
                    .proxy(true)
                    .mtu(link.mtu)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| match errno(&e) {
                Some(libc::EADDRINUSE) | Some(libc::EEXIST) => NetError::InvalidConfig(format!(
                    "VXLAN id {} or port {} is already in use on this node",
                    link.vni, link.port
                )),
                _ => nl_err(format!("create VXLAN device for VNI {}", link.vni))(e),
            })?;
        let index = netlink::require_link(&h, &tmp).await?;
        if let Err(e) = netlink::move_to_netns(&h, index, &link.netns).await {
            let _ = netlink::delete_link(&h, &tmp).await;
            return Err(e);
        }
        netlink::in_netns(&link.netns, move |h| async move {
            let vx = netlink::require_link(&h, &tmp).await?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(vx)
                        .name(VXLAN.to_string())
                        .build(),
                )
                .execute()
                .await
                .map_err(nl_err("name the VXLAN device"))?;
            netlink::set_up(&h, vx, VXLAN).await
        })
        .await
    }

    /// Whether this node's copy has a bridge (built by an older daemon).
    async fn bridged(&self) -> Result<bool> {
        netlink::in_netns(self.netns(), |h| async move {
            Ok(netlink::link_by_name(&h, BRIDGE).await?.is_some())
        })
        .await
    }

    /// Adds a macvlan port of the VXLAN device named `name` in the
    /// namespace `target` (open, as the port is created there at once).
    async fn add_port(&self, name: &str, mac: [u8; 6], target: std::fs::File) -> Result<()> {
        let (name, mtu) = (name.to_string(), self.link().mtu);
        netlink::in_netns(self.netns(), move |h: Handle| async move {
            let vx = netlink::require_link(&h, VXLAN).await?;
            let mut msg = LinkMacVlan::new(&name, vx, MacVlanMode::Bridge)
                .address(mac.to_vec())
                .mtu(mtu)
                .build();
            msg.attributes
                .push(LinkAttribute::NetNsFd(target.as_raw_fd()));
            h.link()
                .add(msg)
                .execute()
                .await
                .map_err(nl_err(format!("create overlay port {name}")))
        })
        .await
    }

    /// Removes the segment from this node (the kernel deletes its devices
    /// with the namespace). Missing is fine.
    pub async fn down(&self) -> Result<()> {
        crate::netns::remove_netns(self.netns())
    }

    /// Connects the container namespace `sandbox` to the segment: a macvlan
    /// port of the VXLAN device, made in `sandbox` under its final name. No
    /// default route: an overlay carries the traffic of the cluster's
    /// services, not the container's way out.
    pub async fn attach(
        &self,
        sandbox: &Path,
        ifname: &str,
        addrs: &EndpointAddrs,
    ) -> Result<Endpoint> {
        let c = &self.config;
        c.check_endpoint(ifname, addrs)?;
        if self.bridged().await? {
            return self.attach_veth(sandbox, ifname, addrs).await;
        }
        let ns =
            std::fs::File::open(sandbox).map_err(io_err(format!("open {}", sandbox.display())))?;
        self.add_port(ifname, addrs.mac, ns).await?;
        let endpoint = self.endpoint(ifname, addrs, String::new());
        self.configure(sandbox, &endpoint, ifname, addrs.mac)
            .await?;
        Ok(endpoint)
    }

    /// The endpoint `ifname` with `addrs`; `host_ifname` names a veth's end
    /// on the bridge, empty for a port.
    fn endpoint(&self, ifname: &str, addrs: &EndpointAddrs, host_ifname: String) -> Endpoint {
        Endpoint {
            host_ifname,
            ifname: ifname.to_string(),
            ip: addrs.ip,
            prefix_len: self.config.subnet.prefix_len(),
            mac: format_mac(&addrs.mac),
            gateway: None,
            ip6: None,
            prefix_len6: 0,
            gateway6: None,
        }
    }

    /// Addresses and routes of the container's end `current` (renamed to
    /// the endpoint's name); the endpoint is removed if that fails.
    async fn configure(
        &self,
        sandbox: &Path,
        endpoint: &Endpoint,
        current: &str,
        mac: [u8; 6],
    ) -> Result<()> {
        let link = self.link();
        let (ep, peer, mtu) = (endpoint.clone(), current.to_string(), link.mtu);
        let (reply_gateway, subnet) = (link.reply_gateway, self.config.subnet);
        let configured = netlink::in_netns(sandbox, move |h| async move {
            let index = netlink::require_link(&h, &peer).await?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(index)
                        .name(ep.ifname.clone())
                        .address(mac.to_vec())
                        .mtu(mtu)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl_err(format!("rename {peer} to {}", ep.ifname)))?;
            netlink::configure_endpoint(&h, index, &ep, &[], DefaultRoute::None).await?;
            match reply_gateway {
                Some(gw) => netlink::route_replies_via(&h, index, &ep, subnet, gw).await,
                None => Ok(()),
            }
        })
        .await;
        if let Err(e) = configured {
            let _ = self.detach(endpoint, Some(sandbox)).await;
            return Err(e);
        }
        Ok(())
    }

    /// [`Self::attach`] on a copy with a bridge: a veth pair.
    async fn attach_veth(
        &self,
        sandbox: &Path,
        ifname: &str,
        addrs: &EndpointAddrs,
    ) -> Result<Endpoint> {
        let link = self.link().clone();
        let suffix: u32 = rand::rng().random_range(0..0x1000_0000);
        let host_ifname = format!("{VETH_PREFIX}{suffix:07x}");
        let peer = format!("ovp{suffix:07x}");
        let endpoint = self.endpoint(ifname, addrs, host_ifname.clone());
        let (bridge_end, sandbox_path, container_end) =
            (host_ifname.clone(), sandbox.to_path_buf(), peer.clone());
        let mtu = link.mtu;
        netlink::in_netns(&link.netns, move |h| async move {
            h.link()
                .add(LinkVeth::new(&bridge_end, &container_end).mtu(mtu).build())
                .execute()
                .await
                .map_err(nl_err("create veth pair"))?;
            let wired = async {
                let br = netlink::require_link(&h, BRIDGE).await?;
                let end = netlink::require_link(&h, &bridge_end).await?;
                h.link()
                    .set(LinkUnspec::new_with_index(end).controller(br).up().build())
                    .execute()
                    .await
                    .map_err(nl_err(format!("attach {bridge_end} to the overlay bridge")))?;
                let peer = netlink::require_link(&h, &container_end).await?;
                netlink::move_to_netns(&h, peer, &sandbox_path).await
            }
            .await;
            if wired.is_err() {
                let _ = netlink::delete_link(&h, &bridge_end).await;
            }
            wired
        })
        .await?;
        self.configure(sandbox, &endpoint, &peer, addrs.mac).await?;
        Ok(endpoint)
    }

    /// Gives this node itself an address on the segment: a veth `ifname`
    /// in the node's namespace whose other end is on the overlay's bridge
    /// (the routing mesh's leg). Idempotent; turns forwarding on, as the
    /// mesh forwards between the node's network and this leg.
    pub async fn attach_host(&self, ifname: &str, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        crate::endpoint::validate_ifname(ifname)?;
        crate::sysctl::ensure("net.ipv4.ip_forward", "1")?;
        let link = self.link().clone();
        let h = connect()?;
        let index = match netlink::link_by_name(&h, ifname).await? {
            Some(l) => l.header.index,
            None if !self.bridged().await? => {
                let own = std::fs::File::open("/proc/thread-self/ns/net")
                    .map_err(io_err("open this thread's network namespace"))?;
                self.add_port(ifname, crate::endpoint::mac_from_ip(ip), own)
                    .await?;
                netlink::require_link(&h, ifname).await?
            }
            None => {
                let peer = format!("ovh{:07x}", rand::rng().random_range(0..0x1000_0000u32));
                h.link()
                    .add(LinkVeth::new(ifname, &peer).mtu(link.mtu).build())
                    .execute()
                    .await
                    .map_err(nl_err(format!("create {ifname}")))?;
                let wired = async {
                    let p = netlink::require_link(&h, &peer).await?;
                    netlink::move_to_netns(&h, p, &link.netns).await?;
                    netlink::in_netns(&link.netns, move |h| async move {
                        let br = netlink::require_link(&h, BRIDGE).await?;
                        let p = netlink::require_link(&h, &peer).await?;
                        h.link()
                            .set(LinkUnspec::new_with_index(p).controller(br).up().build())
                            .execute()
                            .await
                            .map_err(nl_err("attach the node's leg to the overlay bridge"))
                    })
                    .await
                }
                .await;
                if let Err(e) = wired {
                    let _ = netlink::delete_link(&h, ifname).await;
                    return Err(e);
                }
                netlink::require_link(&h, ifname).await?
            }
        };
        let anycast = link.reply_gateway.map(|gw| (gw, 32));
        for (a, p) in netlink::ipv4_addresses(&h, index).await? {
            if (a, p) != (ip, prefix) && Some((a, p)) != anycast {
                netlink::delete_address(&h, index, a, p).await?;
            }
        }
        netlink::ensure_address(&h, index, ip, prefix).await?;
        if let Some((gw, p)) = anycast {
            netlink::ensure_address(&h, index, gw, p).await?;
        }
        // The other nodes' entries for this address name the MAC derived
        // from it, as for containers.
        h.link()
            .set(
                LinkUnspec::new_with_index(index)
                    .address(crate::endpoint::mac_from_ip(ip).to_vec())
                    .build(),
            )
            .execute()
            .await
            .map_err(nl_err(format!("set the MAC of {ifname}")))?;
        netlink::set_up(&h, index, ifname).await
    }

    /// Removes the node's leg (see [`Self::attach_host`]); missing is fine.
    pub async fn detach_host(&self, ifname: &str) -> Result<()> {
        let h = connect()?;
        netlink::delete_link(&h, ifname).await.map(|_| ())
    }

    /// Removes the endpoint's port from the container's namespace `sandbox`
    /// (without one, the kernel deletes the port with the namespace), or
    /// its veth pair from the overlay's side on a copy with a bridge.
    /// Already gone is fine.
    pub async fn detach(&self, endpoint: &Endpoint, sandbox: Option<&Path>) -> Result<()> {
        let Some((ns, name)) = detach_target(endpoint, sandbox, self.netns()) else {
            return Ok(());
        };
        if !ns.exists() {
            return Ok(());
        }
        let name = name.to_string();
        netlink::in_netns(ns, move |h| async move {
            netlink::delete_link(&h, &name).await.map(|_| ())
        })
        .await
    }

    /// Programs the forwarding and ARP entries of the containers of other
    /// nodes: exactly `peers` after the call (entries of peers no longer
    /// there are removed). The local node's containers are on the bridge and
    /// must not be passed.
    pub async fn set_peers(&self, peers: &[Peer]) -> Result<()> {
        let wanted: BTreeSet<Peer> = peers.iter().copied().collect();
        let (add, remove) = {
            let have = self.peers.lock();
            let add: Vec<Peer> = wanted.difference(&have).copied().collect();
            let remove: Vec<Peer> = have.difference(&wanted).copied().collect();
            (add, remove)
        };
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        netlink::in_netns(self.netns(), move |h| async move {
            let vx = netlink::require_link(&h, VXLAN).await?;
            for p in &remove {
                // An address that moved to another node is re-added below
                // with `replace`; deleting what is not there is fine.
                for msg in [fdb_message(vx, p), neigh_message(vx, p)] {
                    match h.neighbours().del(msg).execute().await {
                        Ok(()) => {}
                        Err(e) if matches!(errno(&e), Some(libc::ENOENT | libc::ENODEV)) => {}
                        Err(e) => return Err(nl_err(format!("remove peer {}", p.ip))(e)),
                    }
                }
            }
            for p in &add {
                let mut fdb = h.neighbours().add_bridge(vx, &p.mac).replace();
                *fdb.message_mut() = fdb_message(vx, p);
                fdb.execute()
                    .await
                    .map_err(nl_err(format!("forwarding entry for {}", p.ip)))?;
                h.neighbours()
                    .add(vx, IpAddr::V4(p.ip))
                    .link_layer_address(&p.mac)
                    .state(NeighbourState::Permanent)
                    .replace()
                    .execute()
                    .await
                    .map_err(nl_err(format!("ARP entry for {}", p.ip)))?;
            }
            Ok(())
        })
        .await?;
        *self.peers.lock() = wanted;
        Ok(())
    }
}

/// Where an endpoint's interface is deleted: a port (no host-side name)
/// in the container's namespace, a veth pair from its end in the overlay's.
fn detach_target<'a>(
    endpoint: &'a Endpoint,
    sandbox: Option<&'a Path>,
    overlay: &'a Path,
) -> Option<(&'a Path, &'a str)> {
    if endpoint.host_ifname.is_empty() {
        sandbox.map(|s| (s, endpoint.ifname.as_str()))
    } else {
        Some((overlay, endpoint.host_ifname.as_str()))
    }
}

/// `bridge fdb add MAC dev vxlan0 dst VTEP self permanent`.
fn fdb_message(index: u32, p: &Peer) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(p.mac.to_vec()));
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            p.vtep,
        )));
    m
}

/// `ip neigh add IP lladdr MAC dev vxlan0 nud permanent` (what the device
/// answers ARP requests with).
fn neigh_message(index: u32, p: &Peer) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
            p.ip,
        )));
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(p.mac.to_vec()));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host_ifname: &str) -> Endpoint {
        Endpoint {
            host_ifname: host_ifname.into(),
            ifname: "eth1".into(),
            ip: Ipv4Addr::new(10, 0, 1, 5),
            prefix_len: 24,
            mac: "02:42:0a:00:01:05".into(),
            gateway: None,
            ip6: None,
            prefix_len6: 0,
            gateway6: None,
        }
    }

    #[test]
    fn ports_go_from_the_container_and_veths_from_the_overlay() {
        let (sandbox, overlay) = (Path::new("/run/ns/c"), Path::new("/run/ov/n"));
        let port = endpoint("");
        assert_eq!(
            detach_target(&port, Some(sandbox), overlay),
            Some((sandbox, "eth1"))
        );
        // Without the container's namespace the kernel deletes the port
        // with it: nothing to do.
        assert_eq!(detach_target(&port, None, overlay), None);
        let veth = endpoint("vethab12cd3");
        assert_eq!(
            detach_target(&veth, Some(sandbox), overlay),
            Some((overlay, "vethab12cd3"))
        );
        assert_eq!(
            detach_target(&veth, None, overlay),
            Some((overlay, "vethab12cd3"))
        );
    }
}
