//! Container networking for berth: address management, Linux bridges and
//! veth pairs (rtnetlink), and NAT / published ports (nftables, iptables or
//! nothing, behind one [`Firewall`] trait chosen at start-up).
//!
//! Everything applies to the network namespace of the calling thread (the
//! host, for the daemon). IPv4, and IPv6 beside it on dual-stack networks
//! ([`Ipv6Config`]).
//!
//! # How the engine uses it
//!
//! ```no_run
//! # async fn demo(state_dir: &std::path::Path, pid: u32) -> network::Result<()> {
//! use network::*;
//!
//! // Start-up: pick the backend once, drop leftovers of a crash.
//! let fw: Box<dyn Firewall> = detect_firewall();
//! cleanup_stale("br-", &["br-0123456789ab"]).await?;
//!
//! // `network create`: pick a subnet, check overlaps, build the bridge.
//! let subnet = allocate_subnet(&default_pools(), &[/* subnets in use */])?;
//! let cfg = NetworkConfig::bridge("0123456789abcdef...", "mynet", subnet);
//! check_overlap(cfg.subnet, [("other", "10.0.0.0/24".parse().unwrap())])?;
//! let net = Network::new(cfg.clone())?;
//! net.ensure_bridge().await?;              // also enables ip_forward
//! fw.setup_network(&cfg)?;                 // blocking: use spawn_blocking
//!
//! // Container start: an address, a veth into its namespace, its ports.
//! let mut ipam = Ipam::open(state_dir, &cfg)?;
//! let ip = ipam.allocate(None)?;
//! let netns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
//! let ep: Endpoint = net.attach(&netns, "eth0", ip, mac_from_ip(ip)).await?;
//! let port = PortMapping { proto: Protocol::Tcp, host_ip: None, host_port: 8080,
//!                          container_ip: ip, container_port: 80 };
//! fw.add_port_mapping(&cfg, &port)?;
//!
//! // Container stop / rm.
//! fw.remove_port_mapping(&cfg, &port)?;
//! net.detach(&ep).await?;
//! ipam.release(ip)?;
//!
//! // `network rm`, daemon shutdown without live restore.
//! fw.teardown_network(&cfg)?;
//! net.remove_bridge().await?;
//! ipam.destroy()?;
//! fw.cleanup_all()?;
//! # Ok(()) }
//! ```
//!
//! # Pieces
//!
//! - [`NetworkConfig`]: what `networks/<id>.json` holds (`bridge_name` is
//!   `berth0` for the default network, [`bridge_name_for`] for the others;
//!   MTU from the [`OPT_MTU`] option).
//! - [`Ipam`]: per-network allocator persisted atomically in a directory the
//!   caller chooses; gateway, network and broadcast addresses are never
//!   handed out; allocation is sequential and wraps, so freed addresses are
//!   reused last. [`check_overlap`] / [`allocate_subnet`] / [`default_pools`]
//!   choose subnets across networks.
//! - [`Network`]: `ensure_bridge` / `remove_bridge` / `attach` / `detach`,
//!   all idempotent. The bridge gets a fixed random MAC and
//!   `route_localnet=1` (so 127.0.0.1 port mappings can be DNATed to it).
//!   Host-side veths are named `veth<7 hex>`.
//! - [`Firewall`]: [`NftablesFirewall`] (table `ip berth`),
//!   [`IptablesFirewall`] (chains `BERTH-*`, any iptables binary),
//!   [`NoFirewall`] (port mappings fail with [`NetError::NoFirewall`]).
//!   Rules: masquerade of the subnet towards other interfaces, forwarding
//!   to/from the bridge, isolation between berth bridges, no egress at all
//!   for internal networks, DNAT of published ports from every local address
//!   (or one `host_ip`), including loopback and hairpin from containers.
//! - [`MacvlanNetwork`]: macvlan and ipvlan networks ([`macvlan`]): each
//!   container gets a port of a parent link, made straight inside its
//!   namespace; VLAN sub-interface and dummy parents made and removed as
//!   dockerd does.
//! - [`dns`]: the embedded DNS server of user networks ([`dns::DnsServer`]
//!   on the gateway address, names in [`dns::DnsRecords`], everything else
//!   forwarded to the host's resolvers).
//! - [`OverlayNetwork`]: a VXLAN segment across the nodes of a cluster
//!   ([`overlay`]): the VXLAN device in a namespace of the network's own,
//!   containers and the node's legs on macvlan ports of it, forwarding and
//!   ARP entries programmed from the cluster's state.
//! - [`lb`]: service virtual IPs balanced in the kernel (nftables DNAT with
//!   `numgen` in each client container's namespace).
//! - [`cleanup_stale`]: bridges with a prefix that are no longer wanted,
//!   their veths, and half-attached veth pairs.

pub mod bridge;
pub mod config;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod ipam;
pub mod ipvs;
pub mod lb;
pub mod macvlan;
pub mod macvlan_config;
mod netlink;
pub mod netns;
pub mod overlay;
pub mod overlay_config;
mod sysctl;

pub use bridge::{
    BridgeOwnership, CleanupReport, Endpoint, EndpointAddrs, Network, cleanup_stale,
    link_ipv4_addresses, pending_peer_name,
};
pub use config::*;
pub use error::{NetError, Result};
pub use ipam::{AddressPool, Family, Ipam, allocate_subnet, check_overlap, default_pools};
pub use macvlan::{DRIVER_IPVLAN, DRIVER_MACVLAN, MacvlanConfig, MacvlanKind, MacvlanNetwork};
pub use netlink::device_links;
pub use netns::{create_netns, host_routes, remove_netns};
pub use overlay::{OverlayLink, OverlayNetwork, Peer};
pub mod firewall;
pub use firewall::{
    Firewall, IptablesFirewall, NftablesFirewall, NoFirewall, detect_firewall, detect_firewall_in,
    firewall_by_name, firewall_by_name_in,
};
