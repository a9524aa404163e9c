//! The engine's use of networking: which networks a container asks for at
//! create, its sandbox at start and teardown at exit, `network connect` /
//! `disconnect`, and the network API operations that touch containers.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use runtime::config::NetworkMode;
use serde_json::Value;

use super::{EndpointConfig, LiveNet, NetworkState};
use crate::container::Container;
use crate::model::{ContainerRecord, HostConfig, Status};
use crate::{Engine, EngineError, Result, etcfiles};

pub(crate) use crate::model::{ModeKind, mode_kind};

/// `EndpointsConfig[name]` of create / `EndpointConfig` of connect.
fn endpoint_request(net: &LiveNet, v: Option<&Value>) -> Result<EndpointConfig> {
    let mut cfg = EndpointConfig {
        network_id: net.record.id.clone(),
        ..Default::default()
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(cfg);
    };
    if let Some(aliases) = v.get("Aliases").and_then(Value::as_array) {
        cfg.aliases = aliases
            .iter()
            .filter_map(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
    }
    let ip = v
        .get("IPAMConfig")
        .and_then(|i| i.get("IPv4Address"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !ip.is_empty() {
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| EngineError::InvalidParameter(format!("invalid IPv4 address: {ip}")))?;
        let subnet = net.record.bridge.as_ref().map(|b| b.subnet);
        if !subnet.is_some_and(|s| s.contains(&ip)) || !net.record.user_ipam {
            return Err(EngineError::InvalidParameter(format!(
                "user specified IP address is supported only when connecting to networks with user configured subnets (invalid address {ip} for network {})",
                net.record.name
            )));
        }
        cfg.ipv4_address = Some(ip);
    }
    if let Some(mac) = v
        .get("MacAddress")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        super::endpoints::parse_mac(mac)?;
        cfg.mac_address = Some(mac.to_string());
    }
    if let Some(links) = v.get("Links").and_then(Value::as_array) {
        cfg.links = links
            .iter()
            .filter_map(Value::as_str)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    }
    if let Some(opts) = v.get("DriverOpts").and_then(Value::as_object) {
        cfg.driver_opts = opts
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
    }
    let ip6 = v
        .get("IPAMConfig")
        .and_then(|i| i.get("IPv6Address"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !ip6.is_empty() {
        let ip6: Ipv6Addr = ip6
            .parse()
            .map_err(|_| EngineError::InvalidParameter(format!("invalid IPv6 address: {ip6}")))?;
        let subnet = net
            .record
            .bridge
            .as_ref()
            .and_then(|b| b.ipv6.as_ref())
            .map(|v6| v6.subnet);
        match subnet {
            None => {
                return Err(EngineError::InvalidParameter(format!(
                    "user specified IP address is supported only when connecting to networks with user configured subnets (network {} has no IPv6 subnet)",
                    net.record.name
                )));
            }
            Some(s) if !s.contains(&ip6) => {
                return Err(EngineError::InvalidParameter(format!(
                    "Invalid address {ip6}: It does not belong to any of this network's subnets"
                )));
            }
            Some(_) => {}
        }
        cfg.ipv6_address = Some(ip6);
    }
    let link_local = v
        .get("IPAMConfig")
        .and_then(|i| i.get("LinkLocalIPs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for ip in link_local {
        let ll = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) if v4.is_link_local() => IpAddr::V4(v4),
            Ok(IpAddr::V6(v6)) if v6.is_unicast_link_local() => IpAddr::V6(v6),
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid link local IP address: {ip}"
                )));
            }
        };
        cfg.link_local_ips.push(ll);
    }
    let is_default_bridge = net.record.name == "bridge";
    if is_default_bridge && !cfg.aliases.is_empty() {
        return Err(EngineError::InvalidParameter(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    Ok(cfg)
}

impl Engine {
    /// The networks a new container joins, by network name.
    pub(crate) fn plan_networks(
        &self,
        hc: &HostConfig,
        networking_config: Option<&Value>,
    ) -> Result<BTreeMap<String, EndpointConfig>> {
        let endpoints: BTreeMap<String, Value> = networking_config
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mode = mode_kind(&hc.network_mode);
        let mut plan = BTreeMap::new();
        let primary = match &mode {
            ModeKind::Default => match self.networking.default_bridge() {
                Some(net) => Some(net),
                None if hc.network_mode == "bridge" => {
                    return Err(EngineError::NotFound("network bridge not found".into()));
                }
                None => None,
            },
            // As dockerd: an unknown network fails the start, not the create.
            ModeKind::Named(name) => match self.networking.get(name) {
                Ok(net) => Some(net),
                Err(EngineError::NotFound(_)) => {
                    plan.insert(name.clone(), EndpointConfig::default());
                    None
                }
                Err(e) => return Err(e),
            },
            ModeKind::Container(target) => {
                self.container(target)?;
                None
            }
            ModeKind::Host | ModeKind::None => None,
        };
        let shares_namespace = matches!(
            mode,
            ModeKind::Host | ModeKind::None | ModeKind::Container(_)
        );
        for key in endpoints.keys() {
            let own = key == &hc.network_mode
                || primary
                    .as_ref()
                    .is_some_and(|p| &p.record.name == key || &p.record.id == key);
            if shares_namespace && !own {
                return Err(EngineError::InvalidParameter(
                    "container sharing network namespace with another container or host cannot be connected to any other network".into(),
                ));
            }
        }
        if let Some(net) = &primary {
            let req = endpoints
                .get(&net.record.name)
                .or_else(|| endpoints.get(&net.record.id))
                .or_else(|| endpoints.get(&hc.network_mode));
            plan.insert(net.record.name.clone(), endpoint_request(net, req)?);
        }
        if !shares_namespace {
            for (key, v) in &endpoints {
                if key == &hc.network_mode {
                    continue;
                }
                let net = self.networking.get(key)?;
                if plan.contains_key(&net.record.name) {
                    continue;
                }
                plan.insert(net.record.name.clone(), endpoint_request(&net, Some(v))?);
            }
        }
        Ok(plan)
    }

    /// Namespace, endpoints, ports and name files of a starting container.
    /// On error nothing of it is left.
    pub(crate) async fn setup_network(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
        userns: Option<&crate::remap::UsernsSource>,
    ) -> Result<(NetworkMode, NetworkState)> {
        let owner = match userns {
            Some(crate::remap::UsernsSource::New { pin, maps }) => Some((pin.as_path(), maps)),
            _ => None,
        };
        match mode_kind(&record.host_config.network_mode) {
            ModeKind::Host => return Ok((NetworkMode::Host, NetworkState::default())),
            ModeKind::None => {
                // Docker's "none": a namespace of its own whose loopback is up
                // (127.0.0.1 works), and nothing else.
                let state = NetworkState {
                    sandbox: Some(self.networking.create_sandbox(&c.id, owner).await?),
                    ..Default::default()
                };
                let path = state.sandbox.clone().expect("sandbox was just made");
                return Ok((NetworkMode::Join(path), state));
            }
            ModeKind::Container(target) => {
                let t = self.container(&target)?;
                let (status, pid, sandbox) = {
                    let inner = t.lock();
                    (
                        inner.state.status,
                        inner.state.pid,
                        inner.state.network.sandbox.clone(),
                    )
                };
                if !matches!(status, Status::Running | Status::Paused) || pid == 0 {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network namespace of a non running container: {}",
                        t.id
                    )));
                }
                let path = sandbox.unwrap_or_else(|| PathBuf::from(format!("/proc/{pid}/ns/net")));
                return Ok((NetworkMode::Join(path), NetworkState::default()));
            }
            ModeKind::Default | ModeKind::Named(_) => {}
        }
        // With the default bridge disabled (--bridge=none) the sandbox holds
        // only loopback, and `network connect` can still add endpoints to it.
        let mut state = NetworkState {
            sandbox: Some(self.networking.create_sandbox(&c.id, owner).await?),
            ..Default::default()
        };
        let result = self.populate_sandbox(c, record, &mut state).await;
        if let Err(err) = result {
            self.networking.teardown(&c.id, &state).await;
            return Err(err);
        }
        let path = state.sandbox.clone().expect("sandbox was just made");
        Ok((NetworkMode::Join(path), state))
    }

    async fn populate_sandbox(
        &self,
        c: &Arc<Container>,
        record: &ContainerRecord,
        state: &mut NetworkState,
    ) -> Result<()> {
        let sandbox = state.sandbox.clone().expect("sandbox exists");
        // The network named by --network first: it gets eth0 and the ports.
        let mut order: Vec<(&String, &EndpointConfig)> = record.networks.iter().collect();
        let primary_name = self.primary_network_name(record);
        order.sort_by_key(|(name, _)| Some(name.as_str()) != primary_name.as_deref());
        for (name, cfg) in order {
            let mut cfg = cfg.clone();
            let found = self
                .networking
                .get(&cfg.network_id)
                .or_else(|_| self.networking.get(name));
            // A copy of a cluster network is here for the node's tasks (which
            // come with their addresses): a container of its own still asks
            // the cluster for one.
            let found = found.and_then(|net| {
                if net.record.driver == super::DRIVER_OVERLAY && cfg.ipv4_address.is_none() {
                    Err(EngineError::NotFound(net.record.name.clone()))
                } else {
                    Ok(net)
                }
            });
            let net = match found {
                Ok(net) => net,
                Err(_) => {
                    // A cluster's attachable network: its copy comes to this
                    // node with an address the cluster gives the container.
                    let attached = match self.network_attacher() {
                        Some(a) => a
                            .attach(name, &c.id, &record.name, &cfg.aliases)
                            .await
                            .map_err(EngineError::Forbidden)?,
                        None => None,
                    };
                    let Some(ip) = attached else {
                        return Err(EngineError::NotFound(format!("network {name} not found")));
                    };
                    cfg.ipv4_address = Some(ip);
                    self.networking.get(name)?
                }
            };
            let cfg = &cfg;
            let ifname = state.next_ifname();
            let ep = self
                .networking
                .attach(&net, &sandbox, &ifname, &c.id, &record.name, cfg)
                .await?;
            state.endpoints.insert(net.record.name.clone(), ep);
        }
        let requests = super::ports::requested(&record.config, &record.host_config)?;
        let primary = primary_name
            .as_ref()
            .and_then(|n| state.endpoints.get(n))
            .or_else(|| state.endpoints.values().next())
            .cloned();
        // dockerd publishes nothing (and says nothing) on macvlan and ipvlan
        // networks: the container has its own address on the LAN.
        let publishes = primary.as_ref().is_none_or(|ep| {
            self.networking
                .get(&ep.network_id)
                .is_ok_and(|n| n.is_bridge())
        });
        if !requests.is_empty() && publishes {
            let primary =
                primary.ok_or_else(|| EngineError::Internal("ports without an endpoint".into()))?;
            state.ports = self
                .networking
                .publish(&c.id, &record.name, &primary, &requests)
                .await?;
        }
        self.refresh_dns(&c.id, record, state).await;
        self.write_network_files(record, state)?;
        Ok(())
    }

    fn primary_network_name(&self, record: &ContainerRecord) -> Option<String> {
        match mode_kind(&record.host_config.network_mode) {
            ModeKind::Default => Some("bridge".into()),
            ModeKind::Named(n) => self.networking.get(&n).ok().map(|l| l.record.name.clone()),
            _ => None,
        }
    }

    /// The container's resolver at 127.0.0.11, with its `--dns` upstreams and
    /// its links' aliases (links on user networks are names only it resolves).
    async fn refresh_dns(&self, id: &str, record: &ContainerRecord, state: &NetworkState) {
        let dns = record.host_config.dns.clone().unwrap_or_default();
        let links: Vec<(String, String)> = crate::links::declared(record)
            .into_iter()
            .map(|l| (l.alias, l.child))
            .collect();
        self.networking
            .refresh_container_dns(id, state, &dns, &links)
            .await;
    }

    fn write_network_files(&self, record: &ContainerRecord, state: &NetworkState) -> Result<()> {
        let dns_server = if self.networking.has_container_dns(&record.id) {
            Some(super::container_dns::RESOLVER)
        } else {
            state
                .endpoints
                .values()
                .find_map(|ep| self.networking.get(&ep.network_id).ok()?.dns_server())
        };
        let host_gateway = self
            .networking
            .default_bridge()
            .and_then(|b| b.record.bridge.as_ref().map(|c| c.gateway))
            .or_else(|| state.endpoints.values().find_map(|e| e.gateway));
        let links = self.link_hosts(record);
        etcfiles::write_network(record, state, dns_server, host_gateway, &links)?;
        Ok(())
    }

    /// Frees the networking of a container that stopped, and records that.
    pub(crate) async fn teardown_network(&self, c: &Arc<Container>) {
        if !self.release_network(c).await {
            return;
        }
        if let Err(err) = c.update_state(|_| {}) {
            tracing::error!(container = %c.id, "persisting network teardown: {err}");
        }
    }

    /// [`Self::teardown_network`] for a caller that persists the state
    /// itself right after: whether there was networking to free. Until that
    /// write, the state on disk still names what was freed, and a daemon
    /// that restarts in between frees it again (teardown is idempotent).
    pub(crate) async fn release_network(&self, c: &Arc<Container>) -> bool {
        let state = std::mem::take(&mut c.lock().state.network);
        if state == NetworkState::default() {
            return false;
        }
        self.networking.teardown(&c.id, &state).await;
        let on_cluster = state
            .endpoints
            .values()
            .any(|ep| ep.driver == super::DRIVER_OVERLAY);
        if on_cluster && let Some(a) = self.network_attacher() {
            a.detach(&c.id, None).await;
        }
        true
    }

    /// After a daemon restart: adopt the networking of a running container.
    pub(crate) async fn adopt_network(&self, c: &Arc<Container>) {
        let (name, state) = {
            let inner = c.lock();
            (inner.record.name.clone(), inner.state.network.clone())
        };
        self.networking.adopt(&c.id, &name, &state).await;
        let record = c.lock().record.clone();
        self.refresh_dns(&c.id, &record, &state).await;
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        endpoint_config: Option<&Value>,
    ) -> Result<()> {
        let timer = self.metrics.network_action("connect");
        timer.observe(
            self.network_connect_untimed(network, container, endpoint_config)
                .await,
        )
    }

    async fn network_connect_untimed(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        endpoint_config: Option<&Value>,
    ) -> Result<()> {
        let c = self.container(container)?;
        // A cluster's network: the address comes from the cluster (see
        // NetworkAttacher), the node's copy with it.
        let local = self.networking.get(network);
        let from_cluster = match &local {
            Ok(net) => net.record.driver == super::DRIVER_OVERLAY,
            Err(EngineError::NotFound(_)) => self.network_attacher().is_some(),
            Err(_) => false,
        };
        let mut cluster_ip = None;
        if from_cluster && matches!(c.status(), Status::Running | Status::Paused) {
            let Some(a) = self.network_attacher() else {
                return Err(EngineError::Forbidden(format!(
                    "network {network} belongs to a swarm this node has left"
                )));
            };
            let name = c.lock().record.name.clone();
            let aliases: Vec<String> = endpoint_config
                .and_then(|v| v.get("Aliases"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            cluster_ip = a
                .attach(network, &c.id, &name, &aliases)
                .await
                .map_err(EngineError::Forbidden)?;
            if cluster_ip.is_none() {
                return Err(EngineError::NotFound(format!(
                    "network {network} not found"
                )));
            }
        } else if from_cluster {
            // As dockerd: a stopped container only records the network; its
            // start asks the cluster for its address there.
            return self
                .record_cluster_network(&c, network, local.ok(), endpoint_config)
                .await;
        }
        let net = self.networking.get(network)?;
        if net.record.bridge.is_none() {
            return Err(EngineError::Forbidden(format!(
                "container cannot be disconnected from host network or connected to host network (network {})",
                net.record.name
            )));
        }
        let _op = c.op.lock().await;
        let record = c.lock().record.clone();
        let mode = mode_kind(&record.host_config.network_mode);
        if matches!(
            mode,
            ModeKind::Host | ModeKind::None | ModeKind::Container(_)
        ) {
            return Err(EngineError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if record.networks.contains_key(&net.record.name) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                record.name, net.record.name
            )));
        }
        let mut cfg = endpoint_request(&net, endpoint_config)?;
        if cluster_ip.is_some() {
            cfg.ipv4_address = cluster_ip;
        }
        let running = matches!(c.status(), Status::Running | Status::Paused);
        if running {
            let mut state = c.lock().state.network.clone();
            let Some(sandbox) = state.sandbox.clone() else {
                return Err(EngineError::Forbidden(format!(
                    "container {} has no network namespace of its own to connect",
                    record.name
                )));
            };
            let ifname = state.next_ifname();
            let ep = self
                .networking
                .attach(&net, &sandbox, &ifname, &c.id, &record.name, &cfg)
                .await?;
            state.endpoints.insert(net.record.name.clone(), ep.clone());
            let persisted = c.update_state(|s| s.network = state.clone());
            if let Err(err) = persisted {
                self.networking.detach(&c.id, &ep, Some(&sandbox)).await;
                return Err(EngineError::internal("saving the container state", err));
            }
        }
        let mut updated = record.clone();
        updated.networks.insert(net.record.name.clone(), cfg);
        c.update_record(|r| r.networks = updated.networks.clone())
            .map_err(|e| EngineError::internal("saving the container config", e))?;
        if running {
            let state = c.lock().state.network.clone();
            self.refresh_dns(&c.id, &updated, &state).await;
            self.write_network_files(&updated, &state)?;
        }
        self.network_event(&net, "connect", &c.id);
        Ok(())
    }

    /// `network connect` of a stopped container to a cluster's network:
    /// the name (or the node's copy) kept with the endpoint's aliases.
    async fn record_cluster_network(
        self: &Arc<Self>,
        c: &Arc<crate::container::Container>,
        network: &str,
        copy: Option<Arc<LiveNet>>,
        endpoint_config: Option<&Value>,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        let record = c.lock().record.clone();
        if matches!(
            mode_kind(&record.host_config.network_mode),
            ModeKind::Host | ModeKind::None | ModeKind::Container(_)
        ) {
            return Err(EngineError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let key = copy
            .as_ref()
            .map_or_else(|| network.to_string(), |n| n.record.name.clone());
        if record.networks.contains_key(&key) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {key}",
                record.name
            )));
        }
        let ep = endpoint_config.filter(|v| !v.is_null());
        if ep
            .and_then(|v| v.pointer("/IPAMConfig/IPv4Address"))
            .and_then(Value::as_str)
            .is_some_and(|ip| !ip.is_empty())
        {
            return Err(EngineError::InvalidParameter(format!(
                "user specified IP address is supported only when connecting to networks with user configured subnets (network {key} gives its addresses from the cluster)"
            )));
        }
        let cfg = EndpointConfig {
            network_id: copy
                .as_ref()
                .map(|n| n.record.id.clone())
                .unwrap_or_default(),
            aliases: ep
                .and_then(|v| v.get("Aliases"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        c.update_record(|r| {
            r.networks.insert(key.clone(), cfg.clone());
        })
        .map_err(|e| EngineError::internal("saving the container config", e))?;
        Ok(())
    }

    /// `DELETE /containers/PARENT/ALIAS?link=1` (`docker rm --link`): drops
    /// the link, and its name from a running container's files and resolver.
    pub async fn remove_link(self: &Arc<Self>, parent: &str, alias: &str) -> Result<()> {
        let c = self.container(parent)?;
        let _op = c.op.lock().await;
        let record = c.lock().record.clone();
        let suffix = format!("/{alias}");
        let links = record.host_config.links.clone().unwrap_or_default();
        let kept: Vec<String> = links
            .iter()
            .filter(|l| !l.ends_with(&suffix))
            .cloned()
            .collect();
        if kept.len() == links.len() {
            return Err(EngineError::NotFound(format!(
                "Could not find container for entity id /{}/{alias}",
                record.name
            )));
        }
        c.update_record(|r| r.host_config.links = Some(kept.clone()))
            .map_err(|e| EngineError::internal("saving the container config", e))?;
        if matches!(c.status(), Status::Running | Status::Paused) {
            let (updated, state) = {
                let inner = c.lock();
                (inner.record.clone(), inner.state.network.clone())
            };
            self.refresh_dns(&c.id, &updated, &state).await;
            self.write_network_files(&updated, &state)?;
        }
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let timer = self.metrics.network_action("disconnect");
        timer.observe(
            self.network_disconnect_untimed(network, container, _force)
                .await,
        )
    }

    async fn network_disconnect_untimed(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let net = self.networking.get(network)?;
        let c = self.container(container)?;
        let _op = c.op.lock().await;
        let record = c.lock().record.clone();
        if net.record.bridge.is_none() {
            return Err(EngineError::Forbidden(format!(
                "container cannot be disconnected from {} network",
                net.record.name
            )));
        }
        if !record.networks.contains_key(&net.record.name) {
            return Err(EngineError::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, net.record.name
            )));
        }
        let mut state = c.lock().state.network.clone();
        if let Some(ep) = state.endpoints.remove(&net.record.name) {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.ports)
                .into_iter()
                .partition(|p| p.network_id == ep.network_id);
            state.ports = kept;
            if !gone.is_empty() {
                self.networking.unpublish(&c.id, &gone).await;
            }
            self.networking
                .detach(&c.id, &ep, state.sandbox.as_deref())
                .await;
            c.update_state(|s| s.network = state.clone())
                .map_err(|e| EngineError::internal("saving the container state", e))?;
            // Its address on a cluster network goes back to the cluster.
            if ep.driver == super::DRIVER_OVERLAY
                && let Some(a) = self.network_attacher()
            {
                a.detach(&c.id, Some(&net.record.id)).await;
            }
        }
        let mut updated = record.clone();
        updated.networks.remove(&net.record.name);
        c.update_record(|r| r.networks = updated.networks.clone())
            .map_err(|e| EngineError::internal("saving the container config", e))?;
        if matches!(c.status(), Status::Running | Status::Paused) {
            self.refresh_dns(&c.id, &updated, &state).await;
            self.write_network_files(&updated, &state)?;
        }
        self.network_event(&net, "disconnect", &c.id);
        Ok(())
    }

    /// A network by full id, exact name, then unique id prefix (Docker's order).
    pub fn network(&self, name_or_id: &str) -> Result<Arc<LiveNet>> {
        self.networking.get(name_or_id)
    }

    pub fn list_networks(&self) -> Vec<Arc<LiveNet>> {
        self.networking.list()
    }

    pub async fn network_create(&self, req: super::CreateNetwork) -> Result<String> {
        let timer = self.metrics.network_action("create");
        timer.observe(self.network_create_untimed(req).await)
    }

    async fn network_create_untimed(&self, req: super::CreateNetwork) -> Result<String> {
        let id = self.networking.create(req).await?;
        if let Ok(net) = self.networking.get(&id) {
            self.network_event(&net, "create", "");
        }
        Ok(id)
    }

    pub async fn network_remove(&self, name_or_id: &str) -> Result<()> {
        let timer = self.metrics.network_action("delete");
        timer.observe(self.network_remove_untimed(name_or_id).await)
    }

    async fn network_remove_untimed(&self, name_or_id: &str) -> Result<()> {
        let record = self.networking.remove(name_or_id).await?;
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), record.name.clone());
        attrs.insert("type".to_string(), record.driver.clone());
        self.events.publish("network", "destroy", &record.id, attrs);
        Ok(())
    }

    /// Names of containers (running or not) configured to use the network.
    pub fn network_users(&self, net: &LiveNet) -> Vec<String> {
        self.containers()
            .into_iter()
            .filter(|v| v.record.networks.contains_key(&net.record.name))
            .map(|v| v.record.name)
            .collect()
    }

    pub(crate) fn network_event(&self, net: &LiveNet, action: &str, container: &str) {
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), net.record.name.clone());
        attrs.insert("type".to_string(), net.record.driver.clone());
        if !container.is_empty() {
            attrs.insert("container".to_string(), container.to_string());
        }
        self.events
            .publish("network", action, &net.record.id, attrs);
    }
}

/// One interface's counters as the container sees them: the metrics
/// crate's type, so a scrape takes `docker stats`' numbers as they are.
pub use metrics::InterfaceCounters as InterfaceStats;

impl Engine {
    /// `networks` of the stats document, by interface name inside the
    /// container: the container's own view (/proc/<pid>/net/dev, one read
    /// for all its interfaces, as dockerd reads them inside the sandbox);
    /// the host end of a veth when that view is gone (its receive is the
    /// container's transmit).
    pub fn network_stats(&self, c: &Container) -> BTreeMap<String, InterfaceStats> {
        let (endpoints, pid): (Vec<(String, String)>, u32) = {
            let inner = c.lock();
            let eps = inner
                .state
                .network
                .endpoints
                .values()
                .map(|ep| (ep.ifname.clone(), ep.host_ifname.clone()))
                .collect();
            (eps, inner.state.pid)
        };
        if endpoints.is_empty() {
            return BTreeMap::new();
        }
        let own_view = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
        let read = |ifname: &str, counter: &str| -> u64 {
            std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/{counter}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        endpoints
            .into_iter()
            .map(|(ifname, host_ifname)| {
                if let Some(counters) = proc_net_dev(&own_view, &ifname) {
                    return (ifname, counters);
                }
                if host_ifname.is_empty() {
                    return (ifname, InterfaceStats::default());
                }
                let h = host_ifname.as_str();
                let counters = InterfaceStats {
                    rx_bytes: read(h, "tx_bytes"),
                    rx_packets: read(h, "tx_packets"),
                    rx_errors: read(h, "tx_errors"),
                    rx_dropped: read(h, "tx_dropped"),
                    tx_bytes: read(h, "rx_bytes"),
                    tx_packets: read(h, "rx_packets"),
                    tx_errors: read(h, "rx_errors"),
                    tx_dropped: read(h, "rx_dropped"),
                };
                (ifname, counters)
            })
            .collect()
    }
}

/// One interface's line of /proc/net/dev: eight receive then eight
/// transmit counters (bytes, packets, errs, drop first in each).
fn proc_net_dev(text: &str, ifname: &str) -> Option<InterfaceStats> {
    let counters = text.lines().find_map(|l| {
        let (name, rest) = l.split_once(':')?;
        (name.trim() == ifname).then_some(rest)
    })?;
    let n: Vec<u64> = counters
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| n.get(i).copied().unwrap_or(0);
    Some(InterfaceStats {
        rx_bytes: at(0),
        rx_packets: at(1),
        rx_errors: at(2),
        rx_dropped: at(3),
        tx_bytes: at(8),
        tx_packets: at(9),
        tx_errors: at(10),
        tx_dropped: at(11),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_dev_lines_read_as_the_containers_counters() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n  \
eth0:    1234      12    1    2    0     0          0         0      567       5    0    3    0     0       0          0\n";
        let s = proc_net_dev(text, "eth0").unwrap();
        assert_eq!(
            (s.rx_bytes, s.rx_packets, s.rx_errors, s.rx_dropped),
            (1234, 12, 1, 2)
        );
        assert_eq!((s.tx_bytes, s.tx_packets, s.tx_dropped), (567, 5, 3));
        assert!(proc_net_dev(text, "eth1").is_none());
    }
}
