//! The predefined networks: `bridge` (from the daemon's options, keeping
//! its id and what the daemon owns of the bridge across restarts), `host`
//! and `none`.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use network::NetworkConfig;

use super::{DRIVER_BRIDGE, DRIVER_HOST, DRIVER_NULL, NetworkRecord, Networking};
use crate::{EngineError, Result};

impl Networking {
    /// `bridge` (unless disabled), `host` and `none`, with ids kept across
    /// restarts. Answers the bridges of a default network that went away or
    /// changed, with what of them this daemon owns, for the caller to release.
    pub(super) async fn ensure_predefined(
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
                    ingress: false,
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
                    ingress: false,
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
    pub(super) async fn default_bridge_config(
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
}

pub(super) fn default_bridge_options(bridge_name: &str) -> BTreeMap<String, String> {
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
