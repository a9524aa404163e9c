//! macvlan and ipvlan networks: each container gets a sub-interface of one
//! parent link, so it sits on the parent's LAN with an address of its own.
//! No bridge, no NAT, no published ports: the host is not in the path.
//!
//! The two drivers differ only in the netlink kind of the sub-interface
//! (macvlan gives each one its own MAC, ipvlan shares the parent's), so they
//! share this module. As dockerd does, a parent named `eth0.100` that does
//! not exist is created as an 802.1q sub-interface of `eth0`, and a network
//! without a parent (or `--internal`) gets a dummy link `dm-<id12>`
//! (`di-` for ipvlan); both go with the network, an existing parent stays.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_route::link::{InfoKind, IpVlanFlags, IpVlanMode, LinkMessage, MacVlanMode};
use rand::Rng;
use rtnetlink::{LinkDummy, LinkIpVlan, LinkMacVlan, LinkVlan};

use crate::config::NetworkConfig;
use crate::endpoint::{Endpoint, EndpointAddrs, format_mac};
use crate::error::{NetError, Result, errno, io_err, nl_err};
pub use crate::macvlan_config::*;
use crate::macvlan_config::{check_vlan_id, parse_vlan, refused};
use crate::netlink::{self, DefaultRoute, connect};

/// Prefix of the throwaway link that checks the kernel at `network create`.
const PROBE_PREFIX: &str = "bprobe";

impl MacvlanConfig {
    /// `network create`: makes the parent when it is missing (a VLAN
    /// sub-interface, or the dummy), records that in `origin`, and checks
    /// the kernel can make this driver's ports on it. On error nothing of it
    /// is left.
    pub async fn create_parent(&mut self) -> Result<()> {
        let h = connect()?;
        if netlink::link_by_name(&h, &self.parent).await?.is_none() {
            self.make_parent(&h).await?;
        }
        if let Err(e) = self.probe(&h).await {
            self.release_parent().await?;
            return Err(e);
        }
        Ok(())
    }

    /// Daemon start: makes again a parent berth made that went away (a
    /// reboot takes VLANs and dummies); a missing parent of the
    /// administrator's is an error, the network stays as it is.
    pub async fn restore_parent(&mut self) -> Result<()> {
        let h = connect()?;
        if netlink::link_by_name(&h, &self.parent).await?.is_some() {
            return Ok(());
        }
        match self.origin {
            ParentOrigin::Existing => Err(NetError::LinkNotFound(self.parent.clone())),
            _ => self.make_parent(&h).await,
        }
    }

    async fn make_parent(&mut self, h: &rtnetlink::Handle) -> Result<()> {
        let (msg, what, feature, hint) = if self.origin == ParentOrigin::Dummy {
            (
                LinkDummy::new(&self.parent).build(),
                format!("failed to create the dummy parent link {}", self.parent),
                "dummy link",
                "; a network without -o parent (or an --internal one) needs it: give the network a parent interface with -o parent=IFACE".to_string(),
            )
        } else {
            let (base, vid) = parse_vlan(&self.parent)?;
            let base_index = netlink::link_by_name(h, base)
                .await?
                .map(|l| l.header.index)
                .ok_or_else(|| {
                    refused(format!(
                        "-o parent interface does was not found on the host: {base}"
                    ))
                })?;
            let vid = check_vlan_id(vid)?;
            (
                LinkVlan::new(&self.parent, base_index, vid).build(),
                format!("failed to create {} vlan link", self.parent),
                "802.1q VLAN",
                format!(
                    "; create {} yourself or give an existing interface as -o parent",
                    self.parent
                ),
            )
        };
        match h.link().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => {
                return Err(NetError::KernelLacks {
                    what,
                    feature,
                    reason: "operation not supported".into(),
                    hint,
                });
            }
            Err(e) => return Err(nl_err(what)(e)),
        }
        self.origin = if self.origin == ParentOrigin::Dummy {
            ParentOrigin::Dummy
        } else {
            ParentOrigin::Vlan
        };
        let index = netlink::require_link(h, &self.parent).await?;
        if let Err(e) = netlink::set_up(h, index, &self.parent).await {
            let _ = netlink::delete_link(h, &self.parent).await;
            return Err(e);
        }
        Ok(())
    }

    /// A throwaway port on the parent, so a kernel without the driver fails
    /// `network create` instead of every container start.
    async fn probe(&self, h: &rtnetlink::Handle) -> Result<()> {
        let parent = netlink::require_link(h, &self.parent).await?;
        let suffix: u32 = rand::rng().random_range(0..0x100_0000);
        let name = format!("{PROBE_PREFIX}{suffix:06x}");
        let msg = port_message(self.kind, &name, parent, None);
        h.link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| port_error(self.kind, e))?;
        netlink::delete_link(h, &name).await?;
        Ok(())
    }

    /// Deletes the parent if berth made it (and it still is what berth made).
    pub async fn release_parent(&self) -> Result<()> {
        let wanted = match self.origin {
            ParentOrigin::Existing => return Ok(()),
            ParentOrigin::Vlan => InfoKind::Vlan,
            ParentOrigin::Dummy => InfoKind::Dummy,
        };
        let h = connect()?;
        if let Some(link) = netlink::link_by_name(&h, &self.parent).await?
            && netlink::link_kind(&link) == Some(&wanted)
        {
            netlink::delete_link(&h, &self.parent).await?;
        }
        Ok(())
    }
}

/// The RTM_NEWLINK of one port named `name` on `parent`.
fn port_message(kind: MacvlanKind, name: &str, parent: u32, mac: Option<[u8; 6]>) -> LinkMessage {
    match kind {
        MacvlanKind::Macvlan { mode } => {
            let mode = match mode {
                MacvlanMode::Bridge => MacVlanMode::Bridge,
                MacvlanMode::Private => MacVlanMode::Private,
                MacvlanMode::Vepa => MacVlanMode::Vepa,
                MacvlanMode::Passthru => MacVlanMode::Passthrough,
            };
            let b = LinkMacVlan::new(name, parent, mode);
            match mac {
                Some(m) => b.address(m.to_vec()).build(),
                None => b.build(),
            }
        }
        MacvlanKind::Ipvlan { mode, flag } => {
            let mode = match mode {
                IpvlanMode::L2 => IpVlanMode::L2,
                IpvlanMode::L3 => IpVlanMode::L3,
            };
            let flag = match flag {
                IpvlanFlag::Bridge => IpVlanFlags::empty(),
                IpvlanFlag::Private => IpVlanFlags::Private,
                IpvlanFlag::Vepa => IpVlanFlags::Vepa,
            };
            LinkIpVlan::new(name, parent, mode).flag(flag).build()
        }
    }
}

/// dockerd's "failed to create the ipvlan port" wording, with the cause
/// spelled out when the kernel has no such link type.
fn port_error(kind: MacvlanKind, e: rtnetlink::Error) -> NetError {
    let what = format!("failed to create the {} port", kind.driver());
    if errno(&e) == Some(libc::EOPNOTSUPP) {
        return NetError::KernelLacks {
            what,
            feature: kind.driver(),
            reason: "operation not supported".into(),
            hint: String::new(),
        };
    }
    nl_err(what)(e)
}

/// Kernel-side operations of one macvlan or ipvlan network.
#[derive(Debug, Clone)]
pub struct MacvlanNetwork {
    config: NetworkConfig,
    link: MacvlanConfig,
}

impl MacvlanNetwork {
    pub fn new(config: NetworkConfig) -> Result<Self> {
        config.validate()?;
        let link = config.macvlan.clone().ok_or_else(|| {
            NetError::InvalidConfig(format!("{} has no parent link", config.name))
        })?;
        Ok(MacvlanNetwork { config, link })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    pub fn kind(&self) -> MacvlanKind {
        self.link.kind
    }

    /// The next hop containers get: none on internal networks, and none in
    /// ipvlan l3 mode, where the default route is the interface itself.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        let l3 = matches!(
            self.link.kind,
            MacvlanKind::Ipvlan {
                mode: IpvlanMode::L3,
                ..
            }
        );
        (!self.config.internal && !l3).then_some(self.config.gateway)
    }

    /// Creates the container's port straight inside the namespace at
    /// `netns`, named `ifname` (so nothing is ever left half-made on the
    /// host), then gives it `ip`, up and the default route. `mac` is for
    /// macvlan only (ipvlan ports carry the parent's).
    pub async fn attach(
        &self,
        netns: &Path,
        ifname: &str,
        addrs: &EndpointAddrs,
    ) -> Result<Endpoint> {
        let c = &self.config;
        c.check_endpoint(ifname, addrs)?;
        let ip = addrs.ip;
        let h = connect()?;
        let parent = netlink::require_link(&h, &self.link.parent).await?;
        let ns = std::fs::File::open(netns).map_err(io_err(format!("open {}", netns.display())))?;
        let mac = Some(addrs.mac).filter(|_| self.link.kind.has_own_mac());
        let mut msg = port_message(self.link.kind, ifname, parent, mac);
        msg.attributes
            .push(netlink_packet_route::link::LinkAttribute::NetNsFd(
                ns.as_raw_fd(),
            ));
        h.link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| port_error(self.link.kind, e))?;
        let endpoint = Endpoint {
            host_ifname: String::new(),
            ifname: ifname.to_string(),
            ip,
            prefix_len: c.subnet.prefix_len(),
            mac: mac.map(|m| format_mac(&m)).unwrap_or_default(),
            gateway: self.gateway(),
            ip6: None,
            prefix_len6: 0,
            gateway6: None,
        };
        let route = match (endpoint.gateway, c.internal) {
            (Some(gw), _) => DefaultRoute::Via(gw),
            (None, false) => DefaultRoute::Device,
            (None, true) => DefaultRoute::None,
        };
        let ep = endpoint.clone();
        let link_local = addrs.link_local.clone();
        netlink::in_netns(netns, move |h| async move {
            let index = netlink::require_link(&h, &ep.ifname).await?;
            let done = netlink::configure_endpoint(&h, index, &ep, &link_local, route).await;
            if done.is_err() {
                let _ = netlink::delete_link(&h, &ep.ifname).await;
            }
            done
        })
        .await?;
        Ok(endpoint)
    }

    /// Deletes the container's port; a namespace or port already gone is
    /// fine (the kernel deletes the port with the namespace).
    pub async fn detach(&self, netns: &Path, ifname: &str) -> Result<()> {
        if !netns.exists() {
            return Ok(());
        }
        let ifname = ifname.to_string();
        netlink::in_netns(netns, move |h| async move {
            netlink::delete_link(&h, &ifname).await.map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn modes_default_and_bad_ones_get_dockerds_messages() {
        let id = "0123456789abcdef";
        let (c, internal) =
            MacvlanConfig::from_options("macvlan", id, &opts(&[("parent", "eth0")]), false)
                .unwrap();
        assert_eq!(
            c.kind,
            MacvlanKind::Macvlan {
                mode: MacvlanMode::Bridge
            }
        );
        assert_eq!(
            (c.parent.as_str(), c.origin, internal),
            ("eth0", ParentOrigin::Existing, false)
        );
        let err =
            MacvlanConfig::from_options("macvlan", id, &opts(&[("macvlan_mode", "foo")]), false)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "requested macvlan mode 'foo' is not valid, 'bridge' mode is the macvlan driver default"
        );
        let err = MacvlanConfig::from_options("ipvlan", id, &opts(&[("ipvlan_mode", "l4")]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default"
        );
        let err = MacvlanConfig::from_options("ipvlan", id, &opts(&[("parent", "lo")]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "loopback interface is not a valid ipvlan parent link"
        );
        let (c, _) = MacvlanConfig::from_options(
            "ipvlan",
            id,
            &opts(&[
                ("parent", "eth0"),
                ("ipvlan_mode", "l3"),
                ("ipvlan_flag", "private"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(
            c.kind,
            MacvlanKind::Ipvlan {
                mode: IpvlanMode::L3,
                flag: IpvlanFlag::Private
            }
        );
    }

    #[test]
    fn no_parent_means_an_internal_network_on_a_dummy() {
        let id = "0123456789abcdef";
        let (c, internal) = MacvlanConfig::from_options("macvlan", id, &opts(&[]), false).unwrap();
        assert_eq!(
            (c.parent.as_str(), c.origin, internal),
            ("dm-0123456789ab", ParentOrigin::Dummy, true)
        );
        let (c, _) = MacvlanConfig::from_options("ipvlan", id, &opts(&[]), false).unwrap();
        assert_eq!(c.parent, "di-0123456789ab");
        // --internal keeps the parent, and only loses the way out.
        let (c, internal) =
            MacvlanConfig::from_options("ipvlan", id, &opts(&[("parent", "eth0")]), true).unwrap();
        assert_eq!(
            (c.parent.as_str(), c.origin, internal),
            ("eth0", ParentOrigin::Existing, true)
        );
    }

    #[test]
    fn vlan_names_parse_as_dockerd_reads_them() {
        assert_eq!(parse_vlan("eth0.100").unwrap(), ("eth0", 100));
        let msg = |n: &str| parse_vlan(n).unwrap_err().to_string();
        assert_eq!(
            msg("nosuch"),
            "invalid subinterface vlan name nosuch, example formatting is eth0.10"
        );
        assert_eq!(
            msg("eth0.x"),
            "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"
        );
        let range = |n: &str| {
            check_vlan_id(parse_vlan(n).unwrap().1)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            range("eth0.5000"),
            "vlan id must be between 1-4094, received: 5000"
        );
        assert_eq!(
            range("eth0.0"),
            "vlan id must be between 1-4094, received: 0"
        );
        assert_eq!(check_vlan_id(4094).unwrap(), 4094);
        assert!(msg("a.b.c").starts_with("required interface name format is: name.vlan_id"));
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = MacvlanConfig {
            kind: MacvlanKind::Ipvlan {
                mode: IpvlanMode::L3,
                flag: IpvlanFlag::Vepa,
            },
            parent: "eth0.7".into(),
            origin: ParentOrigin::Vlan,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<MacvlanConfig>(&json).unwrap(), c);
    }
}
