//! Networks as the Docker API shows them, built on the `network` crate:
//! the predefined `bridge`/`host`/`none`, user-defined bridge networks with
//! their IPAM, firewall rules and embedded DNS, and each container's
//! sandbox (a pinned network namespace with one veth per network).

mod container_dns;
pub mod containers;
mod dns_scope;
mod endpoints;
mod macvlan;
pub mod ports;
pub mod store;

use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use network::dns::{DnsRecords, DnsServer};
use network::{AddressPool, Firewall, Ipam, NetworkConfig};
use serde::{Deserialize, Serialize};

pub use endpoints::{EndpointConfig, EndpointState, NetworkState, parse_mac};
pub use store::{DRIVER_BRIDGE, DRIVER_HOST, DRIVER_NULL, NetworkRecord};

use crate::{EngineError, Result};

/// Daemon options of the networking layer (dockerd's flags where they exist).
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Bridge of the default `bridge` network; `None` is `--bridge=none`:
    /// containers without `--network` then get only loopback.
    pub default_bridge: Option<String>,
    /// `--bip`: the default bridge's gateway address and subnet.
    pub bip: Option<(Ipv4Addr, Ipv4Net)>,
    /// `--ipv6 --fixed-cidr-v6`: the default bridge's IPv6 subnet.
    pub ipv6: Option<Ipv6Net>,
    /// `--default-address-pool`: where subnets of new networks come from.
    pub pools: Vec<AddressPool>,
    /// Names of user-defined networks' bridges start with this. Stale
    /// bridges with this prefix are removed at start, so it must be ours
    /// alone (dockerd uses "br-").
    pub bridge_prefix: String,
    /// "auto", "nftables", "iptables" or "none" (`--iptables=false`).
    pub firewall: String,
    /// nftables table holding this daemon's rules.
    pub nft_table: String,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            default_bridge: Some(network::DEFAULT_BRIDGE.to_string()),
            bip: None,
            ipv6: None,
            pools: network::default_pools(),
            bridge_prefix: "berth-".into(),
            firewall: "auto".into(),
            nft_table: network::firewall::NFT_TABLE.into(),
        }
    }
}

/// `POST /networks/create`, already decoded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNetwork {
    pub name: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub attachable: bool,
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<IpamRequest>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub scope: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub config_only: bool,
    #[serde(default)]
    pub config_from: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub ingress: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamRequest {
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<IpamPool>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamPool {
    #[serde(
        default,
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    #[serde(
        default,
        rename = "IPRange",
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(
        default,
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_address: Option<BTreeMap<String, String>>,
}

/// What carries a network's endpoints.
enum Driver {
    Bridge(network::Network),
    Macvlan(network::MacvlanNetwork),
}

/// A network while the daemon runs.
pub struct LiveNet {
    pub record: NetworkRecord,
    /// `None` for host and null.
    driver: Option<Driver>,
    ipam: Mutex<Option<Pools>>,
    /// Names the embedded DNS server answers (user-defined bridges only,
    /// as Docker: the default bridge has no name resolution).
    pub dns_records: Option<Arc<DnsRecords>>,
    dns: Mutex<Option<DnsServer>>,
    /// container id -> its endpoint here, for inspect's `Containers`.
    endpoints: Mutex<BTreeMap<String, (String, EndpointState)>>,
}

impl LiveNet {
    /// (container id, container name, endpoint) of every attached container.
    pub fn endpoints(&self) -> Vec<(String, String, EndpointState)> {
        lock(&self.endpoints)
            .iter()
            .map(|(id, (name, ep))| (id.clone(), name.clone(), ep.clone()))
            .collect()
    }

    fn has_endpoints(&self) -> bool {
        !lock(&self.endpoints).is_empty()
    }

    /// Where this network's own DNS server listens (the bridge's gateway
    /// address); macvlan networks have none, their containers ask 127.0.0.11.
    pub fn dns_server(&self) -> Option<Ipv4Addr> {
        if lock(&self.dns).is_none() {
            return None;
        }
        self.record.bridge.as_ref().map(|b| b.gateway)
    }

    /// Whether published ports and NAT apply (dockerd ignores `-p` on
    /// macvlan and ipvlan networks: their containers are on the LAN).
    pub fn is_bridge(&self) -> bool {
        matches!(self.driver, Some(Driver::Bridge(_)))
    }
}

/// The address pools of one network: IPv4 always, IPv6 on dual-stack ones.
struct Pools {
    v4: Ipam,
    v6: Option<Ipam<Ipv6Addr>>,
}

fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

pub struct Networking {
    pub opts: NetOptions,
    files: store::NetworkFiles,
    ipam_dir: PathBuf,
    netns_dir: PathBuf,
    firewall: Arc<dyn Firewall>,
    nets: RwLock<BTreeMap<String, Arc<LiveNet>>>,
    /// Serialises create / remove / attach decisions that check then act.
    admin: tokio::sync::Mutex<()>,
    /// Host ports held for running containers, by container id.
    reservations: Mutex<BTreeMap<String, Vec<ports::Reservation>>>,
    /// Which networks' names each container address may resolve.
    dns_directory: Arc<dns_scope::DnsDirectory>,
    /// Each container's resolver at 127.0.0.11, by container id.
    container_dns: Mutex<BTreeMap<String, DnsServer>>,
}

impl Networking {
    /// Loads the networks, makes the predefined ones, rebuilds bridges and
    /// rules, and drops what a crash left (stale bridges, this daemon's
    /// firewall table).
    pub async fn open(opts: NetOptions, data_root: &Path, exec_root: &Path) -> Result<Self> {
        let root = data_root.join("network");
        let files = store::NetworkFiles::open(&root)
            .map_err(|e| EngineError::internal("opening the network store", e))?;
        let netns_dir = exec_root.join("netns");
        crate::perms::create_dir_private(&netns_dir)?;
        let firewall: Arc<dyn Firewall> = match opts.firewall.as_str() {
            "auto" => Arc::from(network::detect_firewall_in(&opts.nft_table)),
            name => Arc::from(
                network::firewall_by_name_in(name, &opts.nft_table).ok_or_else(|| {
                    EngineError::InvalidParameter(format!("unknown firewall backend {name:?}"))
                })?,
            ),
        };
        tracing::info!(backend = firewall.name(), "firewall");
        let n = Networking {
            opts,
            files,
            ipam_dir: root.join("ipam"),
            netns_dir,
            firewall,
            nets: RwLock::new(BTreeMap::new()),
            admin: tokio::sync::Mutex::new(()),
            reservations: Mutex::new(BTreeMap::new()),
            dns_directory: Arc::default(),
            container_dns: Mutex::new(BTreeMap::new()),
        };
        // Rules are rebuilt from the records below; whatever a crash left goes.
        if n.firewall.name() == "nftables" {
            n.blocking_fw(|fw| fw.cleanup_all()).await?;
        }
        let mut records = n.files.load_all();
        let host_routes = network::host_routes().await.unwrap_or_default();
        let dropped = n.ensure_predefined(&mut records, &host_routes).await?;
        for (cfg, owned) in dropped {
            if let Err(e) = n.release_bridge(&cfg, owned).await {
                tracing::warn!(bridge = %cfg.bridge_name, "releasing the old default bridge: {e}");
            }
        }
        for record in records {
            let name = record.name.clone();
            let owned_before = record.owned;
            match n.bring_up(record).await {
                Ok(live) => {
                    if live.record.owned != owned_before
                        && let Err(e) = n.files.save(&live.record)
                    {
                        tracing::warn!(network = %name, "recording the bridge's owner: {e}");
                    }
                    n.nets_mut().insert(live.record.id.clone(), live);
                }
                Err(err) => tracing::error!(network = %name, "cannot bring the network up: {err}"),
            }
        }
        let keep: Vec<String> = n
            .list()
            .iter()
            .filter_map(|l| l.record.bridge.as_ref().filter(|b| b.is_bridge()))
            .map(|b| b.bridge_name.clone())
            .collect();
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        match network::cleanup_stale(&n.opts.bridge_prefix, &keep).await {
            Ok(report) if !report.bridges.is_empty() || !report.veths.is_empty() => {
                tracing::info!(?report, "removed stale bridges and veths");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("cleaning stale bridges: {err}"),
        }
        Ok(n)
    }

    fn nets(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<String, Arc<LiveNet>>> {
        self.nets.read()
    }

    fn nets_mut(&self) -> parking_lot::RwLockWriteGuard<'_, BTreeMap<String, Arc<LiveNet>>> {
        self.nets.write()
    }

    async fn blocking_fw<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Firewall) -> network::Result<T> + Send + 'static,
    ) -> Result<T> {
        let fw = self.firewall.clone();
        tokio::task::spawn_blocking(move || f(fw.as_ref()))
            .await
            .map_err(|e| EngineError::internal("firewall task", e))?
            .map_err(EngineError::from)
    }

    pub fn firewall_name(&self) -> &'static str {
        self.firewall.name()
    }

    /// `bridge` (unless disabled), `host` and `none`, with ids kept across
    /// restarts. Answers the bridges of a default network that went away or
    /// changed, with what of them this daemon owns, for the caller to release.
    async fn ensure_predefined(
        &self,
        records: &mut Vec<NetworkRecord>,
        host_routes: &[Ipv4Net],
    ) -> Result<Vec<(NetworkConfig, network::BridgeOwnership)>> {
        let mut dropped = Vec::new();
        let default_bridge = self.default_bridge_config(records, host_routes).await?;
        match (
            default_bridge,
            records.iter().position(|r| r.name == "bridge"),
        ) {
            (None, Some(i)) => {
                let old = records.remove(i);
                self.files.remove(&old.id)?;
                self.forget_addresses(&old.id);
                if let Some(b) = old.bridge.clone() {
                    dropped.push((b, old.ownership()));
                }
            }
            (Some(cfg), Some(i)) => {
                if records[i].bridge.as_ref() != Some(&cfg) {
                    // A changed --bip or bridge name: old addresses are void.
                    self.forget_addresses(&cfg.id);
                    let owned = records[i].ownership();
                    let mut kept = network::BridgeOwnership::default();
                    if let Some(old) = records[i].bridge.clone() {
                        if old.bridge_name == cfg.bridge_name {
                            // Same device: only an address it gave the
                            // bridge goes; the device stays (and stays ours).
                            kept.link = owned.link;
                            let same_address = (old.gateway, old.subnet.prefix_len())
                                == (cfg.gateway, cfg.subnet.prefix_len())
                                && old.ipv6 == cfg.ipv6;
                            if !owned.is_empty() && !same_address {
                                let address = network::BridgeOwnership {
                                    link: false,
                                    address: true,
                                };
                                dropped.push((old, address));
                            }
                        } else {
                            dropped.push((old, owned));
                        }
                    }
                    records[i].bridge = Some(cfg);
                    records[i].owned = Some(kept);
                    self.files.save(&records[i])?;
                }
            }
            (Some(cfg), None) => {
                let record = NetworkRecord {
                    id: cfg.id.clone(),
                    name: "bridge".into(),
                    driver: DRIVER_BRIDGE.into(),
                    created: chrono::Utc::now(),
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: default_bridge_options(&cfg.bridge_name),
                    user_ipam: false,
                    bridge: Some(cfg),
                    owned: Some(network::BridgeOwnership::default()),
                };
                self.files.save(&record)?;
                records.push(record);
            }
            (None, None) => {}
        }
        for (name, driver) in [("host", DRIVER_HOST), ("none", DRIVER_NULL)] {
            if !records.iter().any(|r| r.name == name) {
                let record = NetworkRecord {
                    id: crate::names::new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: chrono::Utc::now(),
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    user_ipam: false,
                    bridge: None,
                    owned: None,
                };
                self.files.save(&record)?;
                records.push(record);
            }
        }
        Ok(dropped)
    }

    /// The default bridge's config from the options, keeping the stored id.
    async fn default_bridge_config(
        &self,
        records: &[NetworkRecord],
        host_routes: &[Ipv4Net],
    ) -> Result<Option<NetworkConfig>> {
        let Some(bridge_name) = &self.opts.default_bridge else {
            return Ok(None);
        };
        let id = records
            .iter()
            .find(|r| r.name == "bridge")
            .map(|r| r.id.clone())
            .unwrap_or_else(crate::names::new_id);
        // `--bip` wins; else the subnet of the last run stays (addresses of
        // live-restored containers are in it); else, as dockerd with docker0,
        // the address the bridge already has (another daemon's, or one an
        // administrator gave it); else a free subnet from the pools.
        let old = records
            .iter()
            .find(|r| r.name == "bridge")
            .and_then(|r| r.bridge.as_ref())
            .filter(|b| &b.bridge_name == bridge_name);
        let (gateway, subnet) = match (self.opts.bip, old) {
            (Some((gw, subnet)), _) => (Some(gw), subnet),
            (None, Some(b)) => (Some(b.gateway), b.subnet),
            (None, None) => match network::link_ipv4_addresses(bridge_name)
                .await?
                .and_then(|addrs| addrs.first().copied())
            {
                Some((ip, prefix)) => {
                    let subnet = Ipv4Net::new(ip, prefix)
                        .map_err(|e| EngineError::internal("the bridge's address", e))?
                        .trunc();
                    network::check_overlap(
                        subnet,
                        records
                            .iter()
                            .filter(|r| r.name != "bridge")
                            .filter_map(|r| r.bridge.as_ref().map(|b| (r.name.as_str(), b.subnet))),
                    )?;
                    (Some(ip), subnet)
                }
                None => {
                    let in_use = self.subnets_in_use(records, Some(host_routes));
                    (None, network::allocate_subnet(&self.opts.pools, &in_use)?)
                }
            },
        };
        let mut cfg = NetworkConfig::bridge(&id, "bridge", subnet);
        if let Some(gw) = gateway {
            cfg.gateway = gw;
        }
        cfg.bridge_name = bridge_name.clone();
        cfg.options = default_bridge_options(bridge_name);
        cfg.ipv6 = self.opts.ipv6.map(network::Ipv6Config::new);
        cfg.validate()?;
        Ok(Some(cfg))
    }

    /// Subnets of the known networks plus the host's routes (read once at
    /// start and at each create), so new subnets avoid both.
    fn subnets_in_use(&self, records: &[NetworkRecord], host: Option<&[Ipv4Net]>) -> Vec<Ipv4Net> {
        let mut v: Vec<Ipv4Net> = records
            .iter()
            .filter_map(|r| r.bridge.as_ref().map(|b| b.subnet))
            .collect();
        if let Some(h) = host {
            v.extend_from_slice(h);
        }
        v
    }

    /// Bridge, rules, IPAM and DNS of one network.
    async fn bring_up(&self, record: NetworkRecord) -> Result<Arc<LiveNet>> {
        let Some(cfg) = record.bridge.clone() else {
            return Ok(Arc::new(LiveNet {
                record,
                driver: None,
                ipam: Mutex::new(None),
                dns_records: None,
                dns: Mutex::new(None),
                endpoints: Mutex::new(BTreeMap::new()),
            }));
        };
        if !cfg.is_bridge() {
            return self.bring_up_macvlan(record, cfg).await;
        }
        let bridge = network::Network::new(cfg.clone())?;
        let added = bridge.ensure_bridge().await?;
        let mut record = record;
        record.owned = Some(record.ownership().union(added));
        let ready = self.rules_and_ipam(&cfg).await;
        let ipam = match ready {
            Ok(ipam) => ipam,
            Err(e) => {
                // Take back what this call added; the caller tears down the rest.
                if let Err(re) = bridge.release(added).await {
                    tracing::warn!(network = %record.name, "removing the bridge again: {re}");
                }
                return Err(e);
            }
        };
        let user_defined = record.name != "bridge";
        let (dns_records, dns) = if user_defined {
            let records = Arc::new(DnsRecords::with_domain(&record.name));
            let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let listen = SocketAddr::from((cfg.gateway, 53));
            let source = Arc::new(dns_scope::ScopedNames {
                own: records.clone(),
                directory: self.dns_directory.clone(),
            });
            match DnsServer::start_with_source(
                listen,
                source,
                network::dns::upstream_resolvers(&host_conf),
            )
            .await
            {
                Ok(server) => (Some(records), Some(server)),
                Err(err) => {
                    tracing::warn!(network = %record.name, "embedded DNS disabled: {err}");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        Ok(Arc::new(LiveNet {
            record,
            driver: Some(Driver::Bridge(bridge)),
            ipam: Mutex::new(Some(ipam)),
            dns_records,
            dns: Mutex::new(dns),
            endpoints: Mutex::new(BTreeMap::new()),
        }))
    }

    async fn rules_and_ipam(&self, cfg: &NetworkConfig) -> Result<Pools> {
        let fw_cfg = cfg.clone();
        let ruled = self.blocking_fw(move |fw| fw.setup_network(&fw_cfg)).await;
        if let Err(e) = ruled
            && self.firewall.name() != "none"
        {
            return Err(e);
        }
        let v6 = match &cfg.ipv6 {
            Some(v6) => Some(Ipam::open_v6(&self.ipam_dir, &cfg.id, v6)?),
            None => None,
        };
        Ok(Pools {
            v4: Ipam::open(&self.ipam_dir, cfg)?,
            v6,
        })
    }

    /// Drops the address allocations of network `id` (both families).
    fn forget_addresses(&self, id: &str) {
        for name in [format!("{id}.json"), format!("{id}.v6.json")] {
            let _ = std::fs::remove_file(self.ipam_dir.join(name));
        }
    }

    /// Removes from the host what this daemon made of a bridge.
    async fn release_bridge(
        &self,
        cfg: &NetworkConfig,
        owned: network::BridgeOwnership,
    ) -> Result<()> {
        network::Network::new(cfg.clone())?.release(owned).await?;
        Ok(())
    }

    pub fn list(&self) -> Vec<Arc<LiveNet>> {
        self.nets().values().cloned().collect()
    }

    /// By full id, exact name, then unique id prefix (Docker's order).
    pub fn get(&self, name_or_id: &str) -> Result<Arc<LiveNet>> {
        let nets = self.nets();
        if let Some(n) = nets.get(name_or_id) {
            return Ok(n.clone());
        }
        if let Some(n) = nets.values().find(|n| n.record.name == name_or_id) {
            return Ok(n.clone());
        }
        let matches: Vec<_> = nets
            .values()
            .filter(|n| !name_or_id.is_empty() && n.record.id.starts_with(name_or_id))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::NotFound(format!(
                "network {name_or_id} not found"
            ))),
            _ => Err(EngineError::InvalidParameter(format!(
                "network {name_or_id} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    pub fn default_bridge(&self) -> Option<Arc<LiveNet>> {
        self.opts.default_bridge.as_ref()?;
        self.get("bridge").ok()
    }

    pub async fn create(&self, req: CreateNetwork) -> Result<String> {
        let _admin = self.admin.lock().await;
        validate_create(&req)?;
        if self.nets().values().any(|n| n.record.name == req.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let id = crate::names::new_id();
        let records: Vec<NetworkRecord> = self.list().iter().map(|n| n.record.clone()).collect();
        let pools = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        let (v6_pools, v4_pools): (Vec<IpamPool>, Vec<IpamPool>) =
            pools.into_iter().partition(|p| p.subnet.contains(':'));
        let pool = v4_pools.into_iter().next().unwrap_or_default();
        let user_ipam = !pool.subnet.is_empty();
        let subnet: Ipv4Net = if user_ipam {
            let s: Ipv4Net = pool.subnet.parse().map_err(|_| {
                EngineError::InvalidParameter(format!("invalid subnet {}", pool.subnet))
            })?;
            let s = s.trunc();
            network::check_overlap(
                s,
                records
                    .iter()
                    .filter_map(|r| r.bridge.as_ref().map(|b| (r.name.as_str(), b.subnet))),
            )?;
            s
        } else {
            let host = network::host_routes().await.unwrap_or_default();
            let in_use = self.subnets_in_use(&records, Some(&host));
            network::allocate_subnet(&self.opts.pools, &in_use)?
        };
        let ipv6 = match (req.enable_ipv6 == Some(true), v6_pools.first()) {
            (true, Some(p)) => Some(ipv6_config(p, &records)?),
            // dockerd has no default IPv6 pools either.
            (true, None) => {
                return Err(EngineError::NotFound(
                    "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into(),
                ));
            }
            // As dockerd: an IPv6 pool without --ipv6 is not used.
            (false, _) => None,
        };
        let options = req.options.clone().unwrap_or_default();
        let mut cfg = if is_macvlan_driver(&req.driver) {
            self.macvlan_config(&req, &id, subnet, &options, &records)?
        } else {
            let mut cfg = NetworkConfig::bridge(&id, &req.name, subnet);
            cfg.bridge_name = self.bridge_name_for(&id);
            cfg.internal = req.internal;
            if let Some(name) = options.get("com.docker.network.bridge.name") {
                cfg.bridge_name = name.clone();
            }
            cfg
        };
        if ipv6.is_some() && cfg.macvlan.is_some() {
            return Err(EngineError::NotImplemented(format!(
                "IPv6 on {} networks",
                req.driver
            )));
        }
        cfg.ipv6 = ipv6;
        cfg.labels = req.labels.clone().unwrap_or_default();
        cfg.options = options;
        if !pool.gateway.is_empty() {
            cfg.gateway = pool.gateway.parse().map_err(|_| {
                EngineError::InvalidParameter(format!("invalid gateway address {}", pool.gateway))
            })?;
        }
        if !pool.ip_range.is_empty() {
            let r: Ipv4Net = pool.ip_range.parse().map_err(|_| {
                EngineError::InvalidParameter(format!("invalid ip-range {}", pool.ip_range))
            })?;
            cfg.ip_range = Some(r.trunc());
        }
        cfg.validate()?;
        if let Some(link) = cfg.macvlan.as_mut() {
            // Last, so nothing above can fail with a parent made and left.
            link.create_parent().await?;
        }
        let record = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            driver: cfg.driver.clone(),
            created: chrono::Utc::now(),
            attachable: req.attachable,
            labels: cfg.labels.clone(),
            options: cfg.options.clone(),
            user_ipam,
            bridge: Some(cfg),
            owned: Some(network::BridgeOwnership::default()),
        };
        let live = match self.bring_up(record.clone()).await {
            Ok(live) => live,
            Err(err) => {
                self.tear_down(&record).await;
                return Err(err);
            }
        };
        if let Err(err) = self.files.save(&live.record) {
            self.tear_down(&live.record).await;
            return Err(err.into());
        }
        self.nets_mut().insert(id.clone(), live);
        Ok(id)
    }

    fn bridge_name_for(&self, id: &str) -> String {
        let room = network::MAX_IFNAME.saturating_sub(self.opts.bridge_prefix.len());
        format!("{}{}", self.opts.bridge_prefix, &id[..room.min(id.len())])
    }

    /// Undoes [`Self::bring_up`] of a network that is going away.
    async fn tear_down(&self, record: &NetworkRecord) {
        let Some(cfg) = record.bridge.clone() else {
            return;
        };
        if let Some(link) = &cfg.macvlan {
            if let Err(e) = link.release_parent().await {
                tracing::warn!(network = %record.name, "removing parent {}: {e}", link.parent);
            }
            let _ = std::fs::remove_file(self.ipam_dir.join(format!("{}.json", cfg.id)));
            return;
        }
        let fw_cfg = cfg.clone();
        if let Err(e) = self
            .blocking_fw(move |fw| fw.teardown_network(&fw_cfg))
            .await
        {
            tracing::warn!(network = %record.name, "removing firewall rules: {e}");
        }
        if let Err(e) = self.release_bridge(&cfg, record.ownership()).await {
            tracing::warn!(network = %record.name, "removing bridge: {e}");
        }
        self.forget_addresses(&cfg.id);
    }

    pub async fn remove(&self, name_or_id: &str) -> Result<NetworkRecord> {
        let _admin = self.admin.lock().await;
        let live = self.get(name_or_id)?;
        if live.record.is_predefined() {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                live.record.name
            )));
        }
        if live.has_endpoints() {
            return Err(EngineError::Forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                live.record.name, live.record.id
            )));
        }
        self.nets_mut().remove(&live.record.id);
        let server = lock(&live.dns).take();
        if let Some(server) = server {
            server.stop().await;
        }
        self.files.remove(&live.record.id)?;
        self.tear_down(&live.record).await;
        Ok(live.record.clone())
    }

    pub fn sandbox_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    /// Removes pinned namespaces no running container uses (a crash, or
    /// containers that ended while the daemon was away).
    pub fn remove_stale_sandboxes(&self, keep: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.netns_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name)
                && let Err(e) = network::remove_netns(&entry.path())
            {
                tracing::warn!("removing stale network namespace {name}: {e}");
            }
        }
    }

    /// Releases addresses no running container holds (a crash between
    /// allocating and recording, or exits while the daemon was away).
    pub fn release_unused_addresses(&self) {
        for net in self.list() {
            let endpoints = net.endpoints();
            let held: Vec<Ipv4Addr> = endpoints.iter().map(|(_, _, ep)| ep.ip).collect();
            let held6: Vec<Ipv6Addr> = endpoints.iter().filter_map(|(_, _, ep)| ep.ip6).collect();
            let mut pools = lock(&net.ipam);
            let Some(pools) = pools.as_mut() else {
                continue;
            };
            release_unheld(&net.record.name, &mut pools.v4, &held);
            if let Some(v6) = pools.v6.as_mut() {
                release_unheld(&net.record.name, v6, &held6);
            }
        }
    }
}

/// The IPv6 side of a new network from its IPv6 pool: subnet, gateway
/// (default `::1`) and range, refused when the subnet overlaps another
/// network's.
fn ipv6_config(pool: &IpamPool, records: &[NetworkRecord]) -> Result<network::Ipv6Config> {
    let subnet: Ipv6Net = pool
        .subnet
        .parse()
        .map_err(|_| EngineError::InvalidParameter(format!("invalid subnet {}", pool.subnet)))?;
    network::check_overlap(
        subnet.trunc(),
        records.iter().filter_map(|r| {
            let v6 = r.bridge.as_ref()?.ipv6.as_ref()?;
            Some((r.name.as_str(), v6.subnet))
        }),
    )?;
    let mut cfg = network::Ipv6Config::new(subnet);
    if !pool.gateway.is_empty() {
        cfg.gateway = pool.gateway.parse().map_err(|_| {
            EngineError::InvalidParameter(format!("invalid gateway address {}", pool.gateway))
        })?;
    }
    if !pool.ip_range.is_empty() {
        let r: Ipv6Net = pool.ip_range.parse().map_err(|_| {
            EngineError::InvalidParameter(format!("invalid ip-range {}", pool.ip_range))
        })?;
        cfg.ip_range = Some(r.trunc());
    }
    Ok(cfg)
}

fn release_unheld<A: network::Family>(net: &str, ipam: &mut Ipam<A>, held: &[A]) {
    for ip in ipam.allocated() {
        if !held.contains(&ip)
            && let Err(e) = ipam.release(ip)
        {
            tracing::warn!(network = %net, "releasing {ip}: {e}");
        }
    }
}

fn default_bridge_options(bridge_name: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        ("com.docker.network.bridge.name", bridge_name),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn is_macvlan_driver(driver: &str) -> bool {
    matches!(driver, network::DRIVER_MACVLAN | network::DRIVER_IPVLAN)
}

fn validate_create(req: &CreateNetwork) -> Result<()> {
    if req.name.is_empty() {
        return Err(EngineError::InvalidParameter(
            "network name must not be empty".into(),
        ));
    }
    // dockerd takes any name ("my net" too): names are only looked up, never
    // used as paths or interface names here.
    if matches!(req.name.as_str(), "bridge" | "host" | "none") {
        return Err(EngineError::Forbidden(format!(
            "{} is a pre-defined network and cannot be created",
            req.name
        )));
    }
    match req.driver.as_str() {
        "" | "bridge" | network::DRIVER_MACVLAN | network::DRIVER_IPVLAN => {}
        "overlay" => {
            return Err(EngineError::NotImplemented(format!(
                "the {} network driver",
                req.driver
            )));
        }
        "host" | "null" => {
            return Err(EngineError::Forbidden(format!(
                "only one instance of \"{}\" network is allowed",
                req.driver
            )));
        }
        other => {
            return Err(EngineError::NotFound(format!(
                "plugin \"{other}\" not found"
            )));
        }
    }
    if req.config_only || req.config_from.as_ref().is_some_and(crate::model::is_set) || req.ingress
    {
        return Err(EngineError::NotImplemented(
            "config-only, config-from and ingress networks".into(),
        ));
    }
    if let Some(ipam) = &req.ipam {
        if !matches!(ipam.driver.as_str(), "" | "default") {
            return Err(EngineError::NotImplemented(format!(
                "IPAM driver {:?}",
                ipam.driver
            )));
        }
        let pools = ipam.config.as_deref().unwrap_or_default();
        let v6 = pools.iter().filter(|p| p.subnet.contains(':')).count();
        if v6 > 1 || pools.len() - v6 > 1 {
            return Err(EngineError::Forbidden(
                "bridge driver doesn't support multiple subnets".into(),
            ));
        }
        for p in pools {
            if p.subnet.is_empty() && (!p.gateway.is_empty() || !p.ip_range.is_empty()) {
                return Err(EngineError::InvalidParameter(
                    "gateway and ip-range need a subnet (--subnet)".into(),
                ));
            }
            if p.aux_address.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(EngineError::NotImplemented("--aux-address".into()));
            }
        }
    }
    Ok(())
}
