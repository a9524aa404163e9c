//! Thin helpers over rtnetlink: one short-lived connection per operation so
//! the caller needs no long-lived handle tied to a runtime or a namespace.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::route::RouteScope;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::endpoint::Endpoint;
use crate::error::{NetError, Result, errno, io_err, nl_err};

pub(crate) fn connect() -> Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(io_err("open netlink socket"))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// Runs `f` with a netlink handle opened inside the network namespace at
/// `netns`. A dedicated thread enters the namespace (setns only affects the
/// calling thread) and drives its own single-threaded runtime, so neither
/// the caller's thread nor the caller's runtime ever changes namespace.
pub(crate) async fn in_netns<F, Fut, T>(netns: &Path, f: F) -> Result<T>
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
    T: Send + 'static,
{
    let ns = std::fs::File::open(netns).map_err(io_err(format!("open {}", netns.display())))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            let result = (|| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    NetError::Io {
                        op: "enter network namespace".into(),
                        source: e.into(),
                    }
                })?;
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(io_err("start netns runtime"))?;
                rt.block_on(async move { f(connect()?).await })
            })();
            let _ = tx.send(result);
        })
        .map_err(io_err("spawn netns thread"))?;
    rx.await.unwrap_or_else(|_| {
        Err(NetError::Io {
            op: "netns thread".into(),
            source: std::io::Error::other("thread panicked"),
        })
    })
}

pub(crate) async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("get link {name}"))(e)),
    }
}

pub(crate) async fn require_link(h: &Handle, name: &str) -> Result<u32> {
    link_by_name(h, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| NetError::LinkNotFound(name.to_string()))
}

pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

pub(crate) fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

pub(crate) fn link_controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

pub(crate) async fn all_links(h: &Handle) -> Result<Vec<LinkMessage>> {
    h.link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list links"))
}

/// The names of this namespace's links that netlink reports without a
/// kind (hardware and the like: no bridge, veth, vlan, dummy, …), as
/// dockerd's choice of an address to advertise counts them.
pub async fn device_links() -> Result<Vec<String>> {
    let h = connect()?;
    Ok(all_links(&h)
        .await?
        .iter()
        .filter(|l| link_kind(l).is_none())
        .filter_map(|l| link_name(l).map(str::to_string))
        .collect())
}

/// Deletes a link by name; a link that is already gone counts as success.
pub(crate) async fn delete_link(h: &Handle, name: &str) -> Result<bool> {
    let Some(link) = link_by_name(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(nl_err(format!("delete link {name}"))(e)),
    }
}

pub(crate) async fn set_up(h: &Handle, index: u32, what: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl_err(format!("set {what} up")))
}

/// The link's address messages (both families), each with its address
/// and prefix.
async fn address_messages(h: &Handle, index: u32) -> Result<Vec<(AddressMessage, IpAddr, u8)>> {
    let msgs: Vec<AddressMessage> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list addresses"))?;
    Ok(msgs
        .into_iter()
        .filter(|m| m.header.index == index)
        .filter(|m| matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6))
        .filter_map(|m| {
            let ip = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })?;
            let prefix = m.header.prefix_len;
            Some((m, ip, prefix))
        })
        .collect())
}

pub(crate) async fn ipv4_addresses(h: &Handle, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
    Ok(address_messages(h, index)
        .await?
        .into_iter()
        .filter_map(|(_, ip, prefix)| match ip {
            IpAddr::V4(ip) => Some((ip, prefix)),
            IpAddr::V6(_) => None,
        })
        .collect())
}

/// Adds `ip/prefix` unless the link already carries it; true when this call
/// added it. IPv6 addresses skip duplicate address detection (the subnet is
/// berth's to hand out), so they are usable at once instead of after DAD's
/// second or two of "tentative".
pub(crate) async fn ensure_address(
    h: &Handle,
    index: u32,
    ip: impl Into<IpAddr>,
    prefix: u8,
) -> Result<bool> {
    let ip: IpAddr = ip.into();
    let present = address_messages(h, index)
        .await?
        .iter()
        .any(|(_, a, p)| (*a, *p) == (ip, prefix));
    if present {
        return Ok(false);
    }
    let mut req = h.address().add(index, ip, prefix);
    if ip.is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(nl_err(format!("add address {ip}/{prefix}"))(e)),
    }
}

/// Removes `ip/prefix` from the link; an address that is not there is fine.
pub(crate) async fn delete_address(
    h: &Handle,
    index: u32,
    ip: impl Into<IpAddr>,
    prefix: u8,
) -> Result<()> {
    let ip: IpAddr = ip.into();
    for (msg, a, p) in address_messages(h, index).await? {
        if (a, p) != (ip, prefix) {
            continue;
        }
        match h.address().del(msg).execute().await {
            Ok(()) => {}
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {}
            Err(e) => return Err(nl_err(format!("delete address {ip}/{prefix}"))(e)),
        }
    }
    Ok(())
}

/// How a container interface reaches beyond its subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultRoute {
    /// Internal networks: nowhere.
    None,
    Via(Ipv4Addr),
    /// Straight out of the interface (ipvlan l3: the parent's host routes).
    Device,
}

/// What every container interface gets once it is in the container's
/// namespace and named: its addresses, up, loopback up, the default route.
/// Runs inside that namespace.
pub(crate) async fn configure_endpoint(
    h: &Handle,
    index: u32,
    ep: &Endpoint,
    link_local: &[IpAddr],
    route: DefaultRoute,
) -> Result<()> {
    ensure_address(h, index, ep.ip, ep.prefix_len).await?;
    if let Some(ip6) = ep.ip6 {
        ensure_address(h, index, ip6, ep.prefix_len6).await?;
    }
    for ll in link_local {
        let prefix = if ll.is_ipv4() { 16 } else { 64 };
        ensure_address(h, index, *ll, prefix).await?;
    }
    set_up(h, index, &ep.ifname).await?;
    let lo = require_link(h, "lo").await?;
    set_up(h, lo, "lo").await?;
    if let Some(gw) = ep.gateway6 {
        let route = RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build();
        match h.route().add(route).execute().await {
            Err(e) if errno(&e) != Some(libc::EEXIST) => {
                return Err(nl_err(format!("add default route via {gw}"))(e));
            }
            _ => {}
        }
    }
    let (builder, what) = match route {
        DefaultRoute::None => return Ok(()),
        DefaultRoute::Via(gw) => (
            RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw),
            format!("via {gw}"),
        ),
        DefaultRoute::Device => (
            RouteMessageBuilder::<Ipv4Addr>::new()
                .output_interface(index)
                .scope(RouteScope::Link),
            format!("dev {}", ep.ifname),
        ),
    };
    match h.route().add(builder.build()).execute().await {
        Err(e) if errno(&e) != Some(libc::EEXIST) => {
            Err(nl_err(format!("add default route {what}"))(e))
        }
        _ => Ok(()),
    }
}

/// Moves link `index` into the namespace at `netns`.
pub(crate) async fn move_to_netns(h: &Handle, index: u32, netns: &Path) -> Result<()> {
    let ns = std::fs::File::open(netns).map_err(io_err(format!("open {}", netns.display())))?;
    h.link()
        .set(
            LinkUnspec::new_with_index(index)
                .setns_by_fd(ns.as_raw_fd())
                .build(),
        )
        .execute()
        .await
        .map_err(nl_err("move link into namespace"))
}

/// Sends what the container answers from `ep`'s address through `gw` on
/// that interface (a table of its own and a rule on the source), leaving
/// its other traffic to the main table. Runs inside its namespace.
pub(crate) async fn route_replies_via(
    h: &Handle,
    index: u32,
    ep: &Endpoint,
    subnet: ipnet::Ipv4Net,
    gw: Ipv4Addr,
) -> Result<()> {
    let table = crate::overlay_config::INGRESS_REPLY_TABLE;
    let on_link = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(subnet.network(), subnet.prefix_len())
        .output_interface(index)
        .scope(RouteScope::Link)
        .table_id(table)
        .build();
    let default = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gw)
        .output_interface(index)
        .table_id(table)
        .build();
    for (route, what) in [
        (on_link, format!("{subnet}")),
        (default, format!("default via {gw}")),
    ] {
        match h.route().add(route).execute().await {
            Err(e) if errno(&e) != Some(libc::EEXIST) => {
                return Err(nl_err(format!("add route {what} to table {table}"))(e));
            }
            _ => {}
        }
    }
    match h
        .rule()
        .add()
        .v4()
        .source_prefix(ep.ip, 32)
        .action(netlink_packet_route::rule::RuleAction::ToTable)
        .table_id(table)
        .priority(table)
        .execute()
        .await
    {
        Err(e) if errno(&e) != Some(libc::EEXIST) => Err(nl_err(format!(
            "add rule from {} to table {table}",
            ep.ip
        ))(e)),
        _ => Ok(()),
    }
}
