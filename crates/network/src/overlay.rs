//! Overlay networks on one node: a VXLAN segment that spans the nodes of a
//! cluster, as dockerd's overlay driver builds it. Each network gets a
//! namespace of its own holding a bridge (`br0`) and the VXLAN port
//! (`vxlan0`); containers hang off that bridge by veth pairs. The namespace
//! keeps the segment away from the host's routing: the host has no address
//! on it, so nothing leaks between the overlay and the node's other networks.
//!
//! The VXLAN device learns nothing and floods nothing: the forwarding
//! database (which node carries a MAC) and the ARP answers (which MAC an
//! address has, answered by the device itself with `proxy`) are programmed
//! from the cluster's allocations ([`OverlayNetwork::set_peers`]). MACs
//! derive from addresses (02:42 + IPv4), so an entry left by a task that is
//! gone is replaced, not contradicted, when its address is handed out again.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use parking_lot::Mutex;
use rand::Rng;
use rtnetlink::{LinkBridge, LinkUnspec, LinkVeth, LinkVxlan};

use crate::config::{NetworkConfig, format_mac};
use crate::endpoint::{Endpoint, EndpointAddrs, VETH_PREFIX};
use crate::error::{NetError, Result, errno, nl_err};
use crate::netlink::{self, DefaultRoute, connect};
pub use crate::overlay_config::{DEFAULT_VXLAN_PORT, OverlayLink, VXLAN_OVERHEAD};

/// The bridge and VXLAN device inside an overlay's namespace.
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

    /// Makes the namespace, bridge and VXLAN port unless they exist (a
    /// daemon restart finds them pinned and in use by running containers).
    pub async fn up(&self) -> Result<()> {
        let link = self.link().clone();
        if link.netns.exists() {
            let ready = netlink::in_netns(&link.netns, |h| async move {
                Ok(netlink::link_by_name(&h, VXLAN).await?.is_some()
                    && netlink::link_by_name(&h, BRIDGE).await?.is_some())
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
        let mtu = link.mtu;
        netlink::in_netns(&link.netns, move |h| async move {
            h.link()
                .add(LinkBridge::new(BRIDGE).mtu(mtu).build())
                .execute()
                .await
                .map_err(nl_err("create overlay bridge"))?;
            let br = netlink::require_link(&h, BRIDGE).await?;
            let vx = netlink::require_link(&h, &tmp).await?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(vx)
                        .name(VXLAN.to_string())
                        .controller(br)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl_err("attach the VXLAN port to the overlay bridge"))?;
            netlink::set_up(&h, vx, VXLAN).await?;
            netlink::set_up(&h, br, BRIDGE).await
        })
        .await
    }

    /// Removes the segment from this node (the kernel deletes its devices
    /// with the namespace). Missing is fine.
    pub async fn down(&self) -> Result<()> {
        crate::netns::remove_netns(self.netns())
    }

    /// Connects the container namespace `sandbox` to the segment: a veth
    /// whose bridge end lives in the overlay's namespace. No default route:
    /// an overlay carries the traffic of the cluster's services, not the
    /// container's way out.
    pub async fn attach(
        &self,
        sandbox: &Path,
        ifname: &str,
        addrs: &EndpointAddrs,
    ) -> Result<Endpoint> {
        let c = &self.config;
        c.check_endpoint(ifname, addrs)?;
        let link = self.link().clone();
        let suffix: u32 = rand::rng().random_range(0..0x1000_0000);
        let host_ifname = format!("{VETH_PREFIX}{suffix:07x}");
        let peer = format!("ovp{suffix:07x}");
        let endpoint = Endpoint {
            host_ifname: host_ifname.clone(),
            ifname: ifname.to_string(),
            ip: addrs.ip,
            prefix_len: c.subnet.prefix_len(),
            mac: format_mac(&addrs.mac),
            gateway: None,
            ip6: None,
            prefix_len6: 0,
            gateway6: None,
        };
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
        let ep = endpoint.clone();
        let mac = addrs.mac;
        let (reply_gateway, subnet) = (link.reply_gateway, c.subnet);
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
            let _ = self.detach(&endpoint).await;
            return Err(e);
        }
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

    /// Removes the endpoint's veth pair (from the overlay's side, where its
    /// bridge end is). Already gone is fine.
    pub async fn detach(&self, endpoint: &Endpoint) -> Result<()> {
        if !self.netns().exists() {
            return Ok(());
        }
        let name = endpoint.host_ifname.clone();
        netlink::in_netns(self.netns(), move |h| async move {
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
