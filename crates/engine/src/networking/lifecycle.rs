//! A network's life: bring-up (bridge or macvlan parent, rules, address
//! pools, DNS), `network create`, `network rm` and tear-down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use network::dns::{DnsRecords, DnsServer};
use network::{Ipam, NetworkConfig};
use parking_lot::Mutex;

use super::request::{CreateNetwork, IpamPool, ipv6_config, is_macvlan_driver, validate_create};
use super::{Driver, LiveNet, NetworkRecord, Networking, Pools, dns_scope, lock};
use crate::{EngineError, Result};

impl Networking {
    /// Subnets of the known networks plus the host's routes (read once at
    /// start and at each create), so new subnets avoid both.
    pub(super) fn subnets_in_use(
        &self,
        records: &[NetworkRecord],
        host: Option<&[Ipv4Net]>,
    ) -> Vec<Ipv4Net> {
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
    pub(super) async fn bring_up(&self, record: NetworkRecord) -> Result<Arc<LiveNet>> {
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
        if cfg.overlay.is_some() {
            return self.bring_up_overlay(record, cfg).await;
        }
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

    pub(super) async fn rules_and_ipam(&self, cfg: &NetworkConfig) -> Result<Pools> {
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
    pub(super) fn forget_addresses(&self, id: &str) {
        for name in [format!("{id}.json"), format!("{id}.v6.json")] {
            let _ = std::fs::remove_file(self.ipam_dir.join(name));
        }
    }

    /// Removes from the host what this daemon made of a bridge.
    pub(super) async fn release_bridge(
        &self,
        cfg: &NetworkConfig,
        owned: network::BridgeOwnership,
    ) -> Result<()> {
        network::Network::new(cfg.clone())?.release(owned).await?;
        Ok(())
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
            ingress: false,
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

    pub(super) fn bridge_name_for(&self, id: &str) -> String {
        let room = network::MAX_IFNAME.saturating_sub(self.opts.bridge_prefix.len());
        format!("{}{}", self.opts.bridge_prefix, &id[..room.min(id.len())])
    }

    /// Undoes [`Self::bring_up`] of a network that is going away.
    pub(super) async fn tear_down(&self, record: &NetworkRecord) {
        let Some(cfg) = record.bridge.clone() else {
            return;
        };
        if cfg.overlay.is_some() {
            self.tear_down_overlay(&cfg).await;
            return;
        }
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
        self.drop_mesh(&live).await;
        self.drop_leg(&live).await;
        self.tear_down(&live.record).await;
        Ok(live.record.clone())
    }
}
