//! Networks as the Docker API shows them, built on the `network` crate:
//! the predefined `bridge`/`host`/`none` (`predefined`), user-defined bridge
//! and macvlan/ipvlan networks with their IPAM, firewall rules and embedded
//! DNS (`request` checks what create asks, `lifecycle` brings networks up
//! and down), and each container's sandbox: a pinned network namespace
//! with one interface per network (`endpoints`, `containers`, `ports`).

mod container_dns;
pub mod containers;
mod dns_scope;
mod endpoints;
mod lifecycle;
mod macvlan;
mod overlay;
pub mod ports;
mod predefined;
mod request;
pub mod store;

use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use network::dns::{DnsRecords, DnsServer};
use network::{AddressPool, Firewall, Ipam};

pub use endpoints::{EndpointConfig, EndpointState, NetworkState, parse_mac};
pub use overlay::{AttachFuture, DRIVER_OVERLAY, NetworkAttacher, OverlayMembers, OverlaySpec};
pub use request::{CreateNetwork, IpamPool, IpamRequest};
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
    /// `--service-lb`: how service VIPs are balanced in containers'
    /// namespaces, "nftables" or "ipvs".
    pub service_lb: String,
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
            service_lb: "nftables".into(),
        }
    }
}

/// The VIP balancer `--service-lb` names; IPVS only where the kernel has it,
/// so that a daemon asked for it never runs without.
fn vip_balancer(name: &str) -> Result<Arc<dyn network::lb::VipBalancer>> {
    match name {
        "nftables" => Ok(Arc::new(network::lb::NftVips)),
        "ipvs" => {
            network::ipvs::Ipvs::open()
                .map_err(|e| EngineError::InvalidParameter(format!("--service-lb ipvs: {e}")))?;
            Ok(Arc::new(network::lb::IpvsVips {
                iptables: "iptables".into(),
            }))
        }
        other => Err(EngineError::InvalidParameter(format!(
            "unknown --service-lb {other:?}: expected nftables or ipvs"
        ))),
    }
}

/// What carries a network's endpoints.
enum Driver {
    Bridge(network::Network),
    Macvlan(network::MacvlanNetwork),
    Overlay(overlay::OverlayPart),
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

impl Pools {
    /// One address of each family the network has (`preferred` ones when
    /// given), or none at all: a failure takes back what was handed out.
    fn allocate(
        &mut self,
        network: &str,
        v4: Option<Ipv4Addr>,
        v6: Option<Ipv6Addr>,
    ) -> Result<(Ipv4Addr, Option<Ipv6Addr>)> {
        let ip = self.v4.allocate(v4)?;
        let ip6 = match (self.v6.as_mut(), v6) {
            (Some(pool), preferred) => pool
                .allocate(preferred)
                .map(Some)
                .map_err(EngineError::from),
            (None, Some(ip6)) => Err(EngineError::InvalidParameter(format!(
                "invalid IPv6 address {ip6}: network {network} has no IPv6 subnet (create it with --ipv6 --subnet)"
            ))),
            (None, None) => Ok(None),
        };
        if ip6.is_err() {
            let _ = self.v4.release(ip);
        }
        Ok((ip, ip6?))
    }

    /// Gives both addresses back; both are tried even when one fails.
    fn release(&mut self, ip: Ipv4Addr, ip6: Option<Ipv6Addr>) -> network::Result<()> {
        let v4 = self.v4.release(ip);
        let v6 = match (self.v6.as_mut(), ip6) {
            (Some(pool), Some(ip6)) => pool.release(ip6),
            _ => Ok(()),
        };
        v4.and(v6)
    }
}

fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

pub(crate) struct Networking {
    pub opts: NetOptions,
    files: store::NetworkFiles,
    ipam_dir: PathBuf,
    netns_dir: PathBuf,
    /// Namespaces of the overlay networks' segments, by network id prefix.
    overlay_dir: PathBuf,
    firewall: Arc<dyn Firewall>,
    /// Balances service VIPs in the namespaces of containers on overlays.
    vip_balancer: Arc<dyn network::lb::VipBalancer>,
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
        let overlay_dir = exec_root.join("overlay");
        crate::perms::create_dir_private(&overlay_dir)?;
        let firewall: Arc<dyn Firewall> = match opts.firewall.as_str() {
            "auto" => Arc::from(network::detect_firewall_in(&opts.nft_table)),
            name => Arc::from(
                network::firewall_by_name_in(name, &opts.nft_table).ok_or_else(|| {
                    EngineError::InvalidParameter(format!("unknown firewall backend {name:?}"))
                })?,
            ),
        };
        tracing::info!(backend = firewall.name(), "firewall");
        let vip_balancer = vip_balancer(&opts.service_lb)?;
        let n = Networking {
            opts,
            files,
            ipam_dir: root.join("ipam"),
            netns_dir,
            overlay_dir,
            firewall,
            vip_balancer,
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

fn release_unheld<A: network::Family>(net: &str, ipam: &mut Ipam<A>, held: &[A]) {
    for ip in ipam.allocated() {
        if !held.contains(&ip)
            && let Err(e) = ipam.release(ip)
        {
            tracing::warn!(network = %net, "releasing {ip}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_lb_names_a_balancer_and_ipvs_is_refused_where_the_kernel_lacks_it() {
        assert!(vip_balancer("nftables").is_ok());
        let bogus = vip_balancer("haproxy").err().unwrap().to_string();
        assert!(
            bogus.contains("unknown --service-lb \"haproxy\""),
            "{bogus}"
        );
        // Asking for the family loads ip_vs where the kernel has it as a module.
        let ipvs = vip_balancer("ipvs");
        let has_ipvs = Path::new("/proc/net/ip_vs").exists();
        assert_eq!(
            ipvs.is_ok(),
            has_ipvs,
            "{:?}",
            ipvs.err().map(|e| e.to_string())
        );
        if let Err(e) = ipvs {
            let text = e.to_string();
            assert!(text.contains("--service-lb ipvs"), "{text}");
            assert!(text.contains("ip_vs"), "{text}");
        }
    }
}
