//! A container's side of networking: its sandbox (pinned namespace), one
//! endpoint (veth + address + DNS names) per network, and its published ports.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::model::{EndpointConfig, EndpointState, NetworkState};

use super::ports::{self, PortRequest, PublishedPort};
use super::{Driver, LiveNet, Networking, lock};
use crate::{EngineError, Result};

/// "02:42:ac:11:00:02" → bytes; a multicast address cannot be a NIC's.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || EngineError::InvalidParameter(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(bad());
    }
    Ok(mac)
}

fn endpoint(ep: &EndpointState) -> network::Endpoint {
    network::Endpoint {
        host_ifname: ep.host_ifname.clone(),
        ifname: ep.ifname.clone(),
        ip: ep.ip,
        prefix_len: ep.prefix_len,
        mac: ep.mac.clone(),
        gateway: ep.gateway,
        ip6: ep.ip6,
        prefix_len6: ep.prefix_len6,
        gateway6: ep.gateway6,
    }
}

/// The userland path for one published port: IPv6 clients, or every
/// client when no firewall can DNAT.
fn proxy(p: &PublishedPort, r: &mut ports::Reservation) -> Result<()> {
    r.proxy(p.proto, p.target()).map_err(|e| {
        EngineError::internal(
            format_args!("starting the port proxy for {}", p.host_port),
            e,
        )
    })
}

impl Networking {
    /// A fresh pinned namespace for the container (a leftover one is
    /// replaced). With `userns` (a pin path that must not exist, and maps),
    /// the namespace is owned by a new user namespace pinned there, so a
    /// remapped container can mount its own /sys.
    pub async fn create_sandbox(
        &self,
        container_id: &str,
        userns: Option<(&std::path::Path, &runtime::userns::IdMappings)>,
    ) -> Result<PathBuf> {
        let path = self.sandbox_path(container_id);
        network::remove_netns(&path)?;
        match userns {
            None => network::create_netns(&path).await?,
            Some((pin, maps)) => runtime::userns::create_pinned(maps, pin, Some(&path))?,
        }
        Ok(path)
    }

    /// Address, veth and DNS names of the container on `net`.
    pub async fn attach(
        &self,
        net: &Arc<LiveNet>,
        sandbox: &std::path::Path,
        ifname: &str,
        container_id: &str,
        container_name: &str,
        cfg: &EndpointConfig,
    ) -> Result<EndpointState> {
        let Some(driver) = &net.driver else {
            return Err(EngineError::InvalidParameter(format!(
                "network {} cannot carry endpoints",
                net.record.name
            )));
        };
        if let Driver::Macvlan(m) = driver
            && !m.kind().has_own_mac()
            && cfg.mac_address.is_some()
        {
            return Err(EngineError::InvalidParameter(format!(
                "{} interfaces do not support custom mac address assignment",
                m.kind().driver()
            )));
        }
        if let Some(ip) = cfg.ipv4_address
            && !net.record.user_ipam
        {
            return Err(EngineError::InvalidParameter(format!(
                "user specified IP address {ip} is supported only when connecting to networks with user configured subnets"
            )));
        }
        let (ip, ip6) = {
            let mut pools = lock(&net.ipam);
            let pools = pools.as_mut().ok_or_else(|| {
                EngineError::Internal(format!("network {} has no IPAM", net.record.name))
            })?;
            pools.allocate(&net.record.name, cfg.ipv4_address, cfg.ipv6_address)?
        };
        let mac = match &cfg.mac_address {
            Some(m) => parse_mac(m)?,
            None => network::mac_from_ip(ip),
        };
        let addrs = network::EndpointAddrs {
            ip,
            ip6,
            mac,
            link_local: cfg.link_local_ips.clone(),
        };
        let attached = match driver {
            Driver::Bridge(b) => b.attach_with(sandbox, ifname, &addrs).await,
            Driver::Macvlan(m) => m.attach(sandbox, ifname, &addrs).await,
            Driver::Overlay(o) => o.net.attach(sandbox, ifname, &addrs).await,
        };
        let ep = match attached {
            Ok(ep) => ep,
            Err(err) => {
                if let Some(pools) = lock(&net.ipam).as_mut() {
                    let _ = pools.release(ip, ip6);
                }
                return Err(err.into());
            }
        };
        let short: String = container_id.chars().take(12).collect();
        let mut dns_names = vec![container_name.to_string()];
        for alias in &cfg.aliases {
            if !dns_names.contains(alias) {
                dns_names.push(alias.clone());
            }
        }
        if !dns_names.contains(&short) {
            dns_names.push(short);
        }
        let state = EndpointState {
            network_id: net.record.id.clone(),
            endpoint_id: crate::names::new_id(),
            ifname: ep.ifname,
            host_ifname: ep.host_ifname,
            ip,
            prefix_len: ep.prefix_len,
            gateway: ep.gateway,
            ip6: ep.ip6,
            prefix_len6: ep.prefix_len6,
            gateway6: ep.gateway6,
            mac: ep.mac,
            aliases: cfg.aliases.clone(),
            dns_names,
            driver: net.record.driver.clone(),
        };
        self.register(net, container_id, container_name, &state);
        if matches!(driver, Driver::Overlay(_)) {
            self.apply_vips(net, container_id).await;
        }
        Ok(state)
    }

    /// Makes an endpoint known to the network (inspect, DNS); also used to
    /// adopt endpoints of containers that outlived a daemon restart.
    fn register(&self, net: &LiveNet, container_id: &str, name: &str, ep: &EndpointState) {
        if let Some(records) = &net.dns_records {
            for ip in ep.addresses() {
                records.add_container(name, container_id, &ep.aliases, ip);
            }
        }
        lock(&net.endpoints).insert(container_id.to_string(), (name.to_string(), ep.clone()));
        self.refresh_dns_scope(container_id);
    }

    /// Lets every address of the container resolve the names of all its
    /// user networks.
    fn refresh_dns_scope(&self, container_id: &str) {
        let mut addresses = Vec::new();
        let mut tables = Vec::new();
        for net in self.list() {
            if let Some((_, ep)) = lock(&net.endpoints).get(container_id) {
                addresses.extend(ep.addresses());
                if let Some(records) = &net.dns_records {
                    tables.push(records.clone());
                }
            }
        }
        self.dns_directory.set(&addresses, &tables);
    }

    /// Undoes [`Self::attach`]; best effort, as the namespace may be gone.
    /// `sandbox` is where a macvlan/ipvlan port lives (a veth goes from
    /// the host side).
    pub async fn detach(&self, container_id: &str, ep: &EndpointState, sandbox: Option<&Path>) {
        let Some(net) = self.nets().get(&ep.network_id).cloned() else {
            return;
        };
        for ip in ep.addresses() {
            if let Some(records) = &net.dns_records {
                records.remove_ip(ip);
            }
            self.dns_directory.forget(ip);
        }
        lock(&net.endpoints).remove(container_id);
        self.refresh_dns_scope(container_id);
        let removed = match (&net.driver, sandbox) {
            (Some(Driver::Bridge(b)), _) => b.detach(&endpoint(ep)).await,
            (Some(Driver::Macvlan(m)), Some(sandbox)) => m.detach(sandbox, &ep.ifname).await,
            (Some(Driver::Overlay(o)), sandbox) => o.net.detach(&endpoint(ep), sandbox).await,
            _ => Ok(()),
        };
        if let Err(e) = removed {
            tracing::warn!(container = %container_id, "removing interface {}: {e}", ep.ifname);
        }
        if let Some(pools) = lock(&net.ipam).as_mut()
            && let Err(e) = pools.release(ep.ip, ep.ip6)
        {
            tracing::warn!(container = %container_id, "releasing its addresses: {e}");
        }
    }

    /// Holds the host ports and adds the DNAT rules towards `ep`.
    pub async fn publish(
        &self,
        container_id: &str,
        container_name: &str,
        ep: &EndpointState,
        requests: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let net = self.get(&ep.network_id)?;
        let cfg = net
            .record
            .bridge
            .clone()
            .ok_or_else(|| EngineError::Internal("ports on a network without bridge".into()))?;
        let mut held = Vec::new();
        let mut published = Vec::new();
        for req in requests {
            match ports::reserve(req) {
                Ok((host_port, reservation)) => {
                    let port = PublishedPort {
                        container_port: req.container_port,
                        proto: req.proto,
                        host_ip: req.host_ip,
                        host_port,
                        network_id: ep.network_id.clone(),
                        container_ip: ep.ip,
                        container_ip6: ep.ip6,
                    };
                    held.push(reservation);
                    // 0.0.0.0 comes with [::] on an IPv6 host, as in dockerd.
                    if req.host_ip.is_none()
                        && let Some(twin) = ports::reserve_v6_twin(req.proto, host_port)
                    {
                        held.push(twin);
                        published.push(port.clone());
                        published.push(PublishedPort {
                            host_ip: Some(Ipv6Addr::UNSPECIFIED.into()),
                            ..port
                        });
                    } else {
                        published.push(port);
                    }
                }
                Err(msg) => {
                    return Err(EngineError::Internal(format!(
                        "driver failed programming external connectivity on endpoint {container_name} ({}): {msg}",
                        ep.endpoint_id
                    )));
                }
            }
        }
        let no_firewall = self.firewall.name() == "none";
        let mut programmed = published
            .iter()
            .zip(held.iter_mut())
            .filter(|(p, _)| no_firewall || p.is_v6())
            .try_for_each(|(p, r)| proxy(p, r));
        if programmed.is_ok() && !no_firewall {
            let mappings: Vec<network::PortMapping> =
                published.iter().filter_map(|p| p.mapping()).collect();
            programmed = self
                .blocking_fw(move |fw| {
                    let mut done = Vec::new();
                    for m in &mappings {
                        if let Err(e) = fw.add_port_mapping(&cfg, m) {
                            for d in &done {
                                let _ = fw.remove_port_mapping(&cfg, d);
                            }
                            return Err(e);
                        }
                        done.push(m.clone());
                    }
                    Ok(())
                })
                .await;
        }
        if let Err(err) = programmed {
            return Err(EngineError::Internal(format!(
                "driver failed programming external connectivity on endpoint {container_name} ({}): {err}",
                ep.endpoint_id
            )));
        }
        lock(&self.reservations)
            .entry(container_id.to_string())
            .or_default()
            .extend(held);
        Ok(published)
    }

    /// Drops the container's held host ports and the rules of `published`
    /// (a container publishes on one network only, so these are all of them).
    pub(crate) async fn unpublish(&self, container_id: &str, published: &[PublishedPort]) {
        lock(&self.reservations).remove(container_id);
        for p in published {
            if let Err(e) = self.port_rule(p, false).await {
                tracing::warn!(container = %container_id, "removing port rule: {e}");
            }
        }
    }

    /// Adds or removes the DNAT rules of one published port.
    async fn port_rule(&self, p: &PublishedPort, add: bool) -> Result<()> {
        let Some(cfg) = self
            .nets()
            .get(&p.network_id)
            .and_then(|net| net.record.bridge.clone())
        else {
            return Ok(());
        };
        let Some(m) = p.mapping() else {
            return Ok(());
        };
        self.blocking_fw(move |fw| {
            if add {
                fw.add_port_mapping(&cfg, &m)
            } else {
                fw.remove_port_mapping(&cfg, &m)
            }
        })
        .await
    }

    /// Everything of a container's networking, after it stopped (or failed
    /// to start): ports, endpoints, addresses and the namespace.
    pub async fn teardown(&self, container_id: &str, state: &NetworkState) {
        self.stop_container_dns(container_id).await;
        self.unpublish(container_id, &state.ports).await;
        for ep in state.endpoints.values() {
            self.detach(container_id, ep, state.sandbox.as_deref())
                .await;
        }
        if let Some(sandbox) = &state.sandbox
            && let Err(e) = network::remove_netns(sandbox)
        {
            tracing::warn!(container = %container_id, "removing network namespace: {e}");
        }
    }

    /// Adopts the networking of a container that kept running while the
    /// daemon was away: DNS names, inspect data, host ports and rules.
    pub async fn adopt(&self, container_id: &str, name: &str, state: &NetworkState) {
        for ep in state.endpoints.values() {
            if let Some(net) = self.nets().get(&ep.network_id).cloned() {
                self.register(&net, container_id, name, ep);
            }
        }
        let mut held = Vec::new();
        for p in &state.ports {
            let req = PortRequest {
                container_port: p.container_port,
                proto: p.proto,
                host_ip: p.host_ip,
                host_ports: Some((p.host_port, p.host_port)),
            };
            match ports::reserve(&req) {
                Ok((_, mut r)) => {
                    if (self.firewall.name() == "none" || p.is_v6())
                        && let Err(e) = proxy(p, &mut r)
                    {
                        tracing::warn!(container = %container_id, "restarting port proxy: {e}");
                    }
                    held.push(r);
                }
                Err(e) => {
                    tracing::warn!(container = %container_id, "re-holding port {}: {e}", p.host_port)
                }
            }
            if self.firewall.name() != "none"
                && let Err(e) = self.port_rule(p, true).await
            {
                tracing::warn!(container = %container_id, "restoring port rule: {e}");
            }
        }
        lock(&self.reservations).insert(container_id.to_string(), held);
    }

    /// A container rename changes its DNS name on every network.
    pub fn rename(&self, container_id: &str, old: &str, new: &str, state: &NetworkState) {
        for ep in state.endpoints.values() {
            let Some(net) = self.nets().get(&ep.network_id).cloned() else {
                continue;
            };
            if let Some(records) = &net.dns_records {
                for ip in ep.addresses() {
                    records.remove(old, ip);
                    records.add(new, ip);
                }
            }
            if let Some(entry) = lock(&net.endpoints).get_mut(container_id) {
                entry.0 = new.to_string();
            }
        }
    }
}
