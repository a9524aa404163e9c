//! macvlan and ipvlan networks on the engine's side: their config at
//! `network create`, with dockerd's checks in dockerd's order, and their
//! bring-up (no bridge, rules or per-network DNS server: containers on them
//! resolve names through their own 127.0.0.11).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::Ipv4Net;
use network::dns::DnsRecords;
use network::{Ipam, MacvlanConfig, NetworkConfig};

use super::{CreateNetwork, Driver, LiveNet, NetworkRecord, Networking, Pools};
use crate::{EngineError, Result};

impl Networking {
    /// The config of a new macvlan/ipvlan network; its parent is made later
    /// ([`MacvlanConfig::create_parent`]), once nothing else can fail.
    pub(super) fn macvlan_config(
        &self,
        req: &CreateNetwork,
        id: &str,
        subnet: Ipv4Net,
        options: &BTreeMap<String, String>,
        records: &[NetworkRecord],
    ) -> Result<NetworkConfig> {
        let (link, internal) = MacvlanConfig::from_options(&req.driver, id, options, req.internal)?;
        // One network per parent and driver, as dockerd (whose message names
        // the other network by its dummy-link name whatever its parent).
        let other = records.iter().find(|r| {
            r.driver == req.driver
                && r.bridge
                    .as_ref()
                    .and_then(|b| b.macvlan.as_ref())
                    .is_some_and(|l| l.parent == link.parent)
        });
        if let Some(other) = other {
            return Err(EngineError::InvalidParameter(format!(
                "network {} is already using parent interface {}",
                link.kind.dummy_name(&other.id),
                link.parent
            )));
        }
        let mut cfg = NetworkConfig::macvlan(id, &req.name, subnet, link);
        cfg.internal = internal;
        Ok(cfg)
    }

    pub(super) async fn bring_up_macvlan(
        &self,
        record: NetworkRecord,
        mut cfg: NetworkConfig,
    ) -> Result<Arc<LiveNet>> {
        if let Some(link) = cfg.macvlan.as_mut()
            && let Err(e) = link.restore_parent().await
        {
            // The network stays; its containers fail to start until the
            // parent is back, as with dockerd.
            tracing::warn!(network = %record.name, "parent {}: {e}", link.parent);
        }
        let net = network::MacvlanNetwork::new(cfg.clone())?;
        let ipam = Ipam::open(&self.ipam_dir, &cfg)?;
        let dns_records = Arc::new(DnsRecords::with_domain(&record.name));
        Ok(Arc::new(LiveNet {
            record,
            driver: Some(Driver::Macvlan(net)),
            ipam: Mutex::new(Some(Pools { v4: ipam, v6: None })),
            dns_records: Some(dns_records),
            dns: Mutex::new(None),
            endpoints: Mutex::new(BTreeMap::new()),
        }))
    }
}
