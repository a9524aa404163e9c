//! What a network's config holds of an overlay (a leaf: the config and
//! the data plane both read it).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// IANA's VXLAN port, dockerd's `--data-path-port` default.
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
/// Bytes VXLAN adds to each frame (outer IPv4 20 + UDP 8 + VXLAN 8 + inner
/// Ethernet 14): interfaces on the overlay are that much smaller than the
/// underlay's.
pub const VXLAN_OVERHEAD: u32 = 50;
/// What makes a network an overlay: its segment id and where its VXLAN
/// traffic leaves this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayLink {
    /// The VXLAN network identifier, the same on every node.
    pub vni: u32,
    /// UDP port of the VXLAN traffic (the swarm's data path port).
    pub port: u16,
    /// This node's data-path address (the VTEP's source).
    pub local: Ipv4Addr,
    /// The namespace holding this network's bridge and VXLAN port.
    pub netns: PathBuf,
    /// MTU of the VXLAN device, the bridge and every container interface.
    pub mtu: u32,
    /// On the ingress network: an address that every node's leg holds
    /// besides its own, and through which the containers send what they
    /// answer from their address on this network. Connections that the
    /// routing mesh hands over with the client's own source address then
    /// go back through the node that handed them over (it holds their
    /// NAT state); those it masqueraded come from a leg's address, on the
    /// subnet, and are answered straight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_gateway: Option<Ipv4Addr>,
}

/// The routing table (and rule priority) in a container's namespace that
/// sends its answers from an ingress address back through the node's leg.
pub const INGRESS_REPLY_TABLE: u32 = 4096;
