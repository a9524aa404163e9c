//! Overlay networks on the engine's side. The cluster owns them (their
//! subnet, segment id and every address are allocated once by the swarm
//! leader); a node holds a local copy only while one of its containers is
//! on the network, as dockerd's workers do. The swarm agent brings a copy
//! up before it starts a task on the network ([`Networking::ensure_overlay`]),
//! feeds it what the cluster knows of the network's other members
//! ([`Networking::program_overlay`]: forwarding entries, names, service
//! VIPs) and drops it when no task of the node uses it any more.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::Ipv4Net;
use network::dns::DnsRecords;
use network::lb::VirtualService;
use network::{Ipam, NetworkConfig, OverlayLink, OverlayNetwork, Peer};
use parking_lot::Mutex;

use super::{Driver, LiveNet, NetworkRecord, Networking, Pools, lock};
use crate::{EngineError, Result};

pub const DRIVER_OVERLAY: &str = "overlay";

/// The future of an attacher's call.
pub type AttachFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Brings a cluster's network to this node for a container that names it
/// (`docker run --network NAME` with an attachable overlay): swarm mode
/// asks its managers for the container's address there and brings the
/// node's copy up. The engine knows no cluster; this is its one door.
pub trait NetworkAttacher: Send + Sync {
    /// The container's address on `network` once the node has a copy of
    /// it; `Ok(None)` when the cluster has no network of that name or id.
    fn attach<'a>(
        &'a self,
        network: &'a str,
        container_id: &'a str,
        container_name: &'a str,
        aliases: &'a [String],
    ) -> AttachFuture<'a, std::result::Result<Option<Ipv4Addr>, String>>;
    /// The container left cluster network `network` (an id), or all of
    /// them (`None`: it stopped).
    fn detach<'a>(
        &'a self,
        container_id: &'a str,
        network: Option<&'a str>,
    ) -> AttachFuture<'a, ()>;
}

/// One overlay network as the cluster defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlaySpec {
    pub id: String,
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub vni: u32,
    /// The swarm's data path port.
    pub port: u16,
    /// This node's data-path address.
    pub local: Ipv4Addr,
    pub mtu: u32,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created: chrono::DateTime<chrono::Utc>,
}

/// What the cluster knows of a network's members elsewhere, for one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverlayMembers {
    /// Containers of other nodes (forwarding and ARP entries).
    pub peers: Vec<Peer>,
    /// Names the network's resolver answers beside the local containers'
    /// own: services (their VIP, or their tasks in dnsrr mode),
    /// `tasks.<service>`, task names and aliases.
    pub names: BTreeMap<String, Vec<IpAddr>>,
    /// Service VIPs and their running tasks.
    pub vips: Vec<VirtualService>,
}

/// The overlay part of a live network: its data plane and the VIPs every
/// attached container balances.
pub(super) struct OverlayPart {
    pub net: OverlayNetwork,
    pub vips: Mutex<Vec<VirtualService>>,
    /// On the ingress network: the routing mesh as last set up (the
    /// node's leg, its address, the ports), so that an unchanged one is
    /// not set up again on every change of the cluster.
    pub mesh: Mutex<Option<Mesh>>,
    /// On another overlay: the node's leg as last set (`Some(None)`: none),
    /// unknown until the first [`Networking::program_leg`] after the copy
    /// came up (a daemon restart may find one it no longer wants).
    pub leg: Mutex<Option<Option<(Ipv4Addr, u8)>>>,
}

#[derive(Clone, PartialEq)]
pub(super) struct Mesh {
    leg: String,
    leg_ip: (Ipv4Addr, u8),
    ports: Vec<network::lb::MeshPort>,
}

impl Networking {
    fn overlay_netns(&self, id: &str) -> std::path::PathBuf {
        let short: String = id.chars().take(12).collect();
        self.overlay_dir.join(short)
    }

    /// Brings this node's copy of an overlay network up (idempotent; a
    /// changed definition is refused while containers use the old one).
    pub async fn ensure_overlay(&self, spec: &OverlaySpec) -> Result<Arc<LiveNet>> {
        let _admin = self.admin.lock().await;
        if let Some(live) = self.nets().get(&spec.id).cloned() {
            return Ok(live);
        }
        if let Some(other) = self.nets().values().find(|n| n.record.name == spec.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists on this node (id {})",
                spec.name, other.record.id
            )));
        }
        let link = OverlayLink {
            vni: spec.vni,
            port: spec.port,
            local: spec.local,
            netns: self.overlay_netns(&spec.id),
            mtu: spec.mtu,
            reply_gateway: spec.ingress.then_some(spec.gateway),
        };
        let mut cfg = NetworkConfig::overlay(&spec.id, &spec.name, spec.subnet, spec.gateway, link);
        cfg.internal = spec.internal;
        cfg.labels = spec.labels.clone();
        cfg.options = spec.options.clone();
        cfg.validate()?;
        let record = NetworkRecord {
            id: spec.id.clone(),
            name: spec.name.clone(),
            driver: DRIVER_OVERLAY.into(),
            created: spec.created,
            attachable: spec.attachable,
            ingress: spec.ingress,
            labels: spec.labels.clone(),
            options: spec.options.clone(),
            user_ipam: true,
            bridge: Some(cfg.clone()),
            owned: None,
        };
        let live = self.bring_up_overlay(record.clone(), cfg).await?;
        if let Err(e) = self.files.save(&record) {
            if let Some(Driver::Overlay(o)) = &live.driver {
                let _ = o.net.down().await;
            }
            return Err(EngineError::internal("saving the overlay network", e));
        }
        self.nets_mut().insert(spec.id.clone(), live.clone());
        Ok(live)
    }

    pub(super) async fn bring_up_overlay(
        &self,
        record: NetworkRecord,
        cfg: NetworkConfig,
    ) -> Result<Arc<LiveNet>> {
        let net = OverlayNetwork::new(cfg.clone())?;
        net.up().await?;
        let ipam = Ipam::open(&self.ipam_dir, &cfg)?;
        let dns_records = Arc::new(DnsRecords::with_domain(&record.name));
        Ok(Arc::new(LiveNet {
            record,
            driver: Some(Driver::Overlay(OverlayPart {
                net,
                vips: Mutex::new(Vec::new()),
                mesh: Mutex::new(None),
                leg: Mutex::new(None),
            })),
            ipam: Mutex::new(Some(Pools { v4: ipam, v6: None })),
            dns_records: Some(dns_records),
            dns: Mutex::new(None),
            endpoints: Mutex::new(BTreeMap::new()),
        }))
    }

    /// Programs what the cluster knows of the network's members: the
    /// other nodes' containers, the names, and the VIPs of every attached
    /// container of this node.
    pub async fn program_overlay(&self, id: &str, members: OverlayMembers) -> Result<()> {
        let live = self.get(id)?;
        let Some(Driver::Overlay(part)) = &live.driver else {
            return Err(EngineError::InvalidParameter(format!(
                "network {} is not an overlay",
                live.record.name
            )));
        };
        part.net.set_peers(&members.peers).await?;
        if let Some(records) = &live.dns_records {
            records.set_cluster_names(members.names);
        }
        let changed = {
            let mut vips = lock(&part.vips);
            let changed = *vips != members.vips;
            *vips = members.vips;
            changed
        };
        if changed {
            for (container, _, _) in live.endpoints() {
                self.apply_vips(&live, &container).await;
            }
        }
        Ok(())
    }

    fn mesh_table(&self) -> String {
        format!("{}-mesh", self.opts.nft_table)
    }

    /// The routing mesh through overlay network `id` (the ingress one):
    /// the node's leg on it at `leg_ip`, and its published ports.
    pub async fn program_mesh(
        &self,
        id: &str,
        leg_ip: (Ipv4Addr, u8),
        ports: Vec<network::lb::MeshPort>,
    ) -> Result<()> {
        let live = self.get(id)?;
        let Some(Driver::Overlay(part)) = &live.driver else {
            return Err(EngineError::InvalidParameter(format!(
                "network {} is not an overlay",
                live.record.name
            )));
        };
        let vni = live
            .record
            .bridge
            .as_ref()
            .and_then(|b| b.overlay.as_ref())
            .map_or(0, |o| o.vni);
        let wanted = Mesh {
            leg: format!("bing{vni}"),
            leg_ip,
            ports,
        };
        if lock(&part.mesh).as_ref() == Some(&wanted) {
            return Ok(());
        }
        part.net
            .attach_host(&wanted.leg, leg_ip.0, leg_ip.1)
            .await?;
        let table = self.mesh_table();
        let (leg, ports) = (wanted.leg.clone(), wanted.ports.clone());
        tokio::task::spawn_blocking(move || network::lb::apply_mesh(&table, &leg, &ports))
            .await
            .map_err(|e| EngineError::internal("routing mesh rules", e))??;
        *lock(&part.mesh) = Some(wanted);
        Ok(())
    }

    /// The host's leg on overlay network `id` (not the ingress one: its
    /// leg is the mesh's): a veth from the host into the network's bridge
    /// with the address the leader gave this node, whose prefix route
    /// leads the host (the HTTP router) to the network's tasks on every
    /// node. `None` removes it.
    pub async fn program_leg(&self, id: &str, leg: Option<(Ipv4Addr, u8)>) -> Result<()> {
        let live = self.get(id)?;
        let Some(Driver::Overlay(part)) = &live.driver else {
            return Err(EngineError::InvalidParameter(format!(
                "network {} is not an overlay",
                live.record.name
            )));
        };
        if *lock(&part.leg) == Some(leg) {
            return Ok(());
        }
        let name = leg_name(&live);
        match leg {
            Some((ip, prefix)) => part.net.attach_host(&name, ip, prefix).await?,
            None => part.net.detach_host(&name).await?,
        }
        *lock(&part.leg) = Some(leg);
        Ok(())
    }

    /// Undoes [`Self::program_leg`] for a network going away.
    pub(super) async fn drop_leg(&self, live: &LiveNet) {
        let Some(Driver::Overlay(part)) = &live.driver else {
            return;
        };
        if live.record.ingress {
            return;
        }
        if let Err(e) = part.net.detach_host(&leg_name(live)).await {
            tracing::warn!(network = %live.record.name, "removing the node's leg: {e}");
        }
        *lock(&part.leg) = None;
    }

    /// Undoes [`Self::program_mesh`] for a network going away.
    pub(super) async fn drop_mesh(&self, live: &LiveNet) {
        let Some(Driver::Overlay(part)) = &live.driver else {
            return;
        };
        let Some(Mesh { leg, .. }) = lock(&part.mesh).take() else {
            return;
        };
        let table = self.mesh_table();
        let cleared =
            tokio::task::spawn_blocking(move || network::lb::apply_mesh(&table, "", &[])).await;
        if !matches!(cleared, Ok(Ok(()))) {
            tracing::warn!(network = %live.record.name, "removing the routing mesh rules: {cleared:?}");
        }
        if let Err(e) = part.net.detach_host(&leg).await {
            tracing::warn!(network = %live.record.name, "removing the mesh leg {leg}: {e}");
        }
    }

    /// Makes `container`'s namespace balance the network's VIPs of now.
    pub(super) async fn apply_vips(&self, live: &LiveNet, container: &str) {
        let Some(Driver::Overlay(part)) = &live.driver else {
            return;
        };
        let vips = lock(&part.vips).clone();
        let sandbox = self.sandbox_path(container);
        let table = network::lb::table_name(&live.record.id[..12.min(live.record.id.len())]);
        let (balancer, subnet) = (self.vip_balancer.clone(), part.net.config().subnet);
        let applied = tokio::task::spawn_blocking(move || {
            if !sandbox.exists() {
                return Ok(());
            }
            balancer.apply(&sandbox, &table, subnet, &vips)
        })
        .await;
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(container = %container, network = %live.record.name, "service VIPs: {e}")
            }
            Err(e) => tracing::warn!(container = %container, "service VIPs: {e}"),
        }
    }

    /// Drops this node's copy of an overlay network unless a container
    /// still uses it. Whether it was removed.
    pub async fn release_overlay(&self, id: &str) -> Result<bool> {
        let Ok(live) = self.get(id) else {
            return Ok(true);
        };
        if live.record.driver != DRIVER_OVERLAY {
            return Err(EngineError::InvalidParameter(format!(
                "network {} is not an overlay",
                live.record.name
            )));
        }
        if live.has_endpoints() {
            return Ok(false);
        }
        self.remove(id).await?;
        Ok(true)
    }

    pub(super) async fn tear_down_overlay(&self, cfg: &NetworkConfig) {
        if let Ok(net) = OverlayNetwork::new(cfg.clone())
            && let Err(e) = net.down().await
        {
            tracing::warn!(network = %cfg.name, "removing the overlay's namespace: {e}");
        }
        self.forget_addresses(&cfg.id);
    }
}

/// The host end of the node's leg on a (non-ingress) overlay: `brt` and
/// the segment id, as the mesh's is `bing` and the ingress one's.
fn leg_name(live: &LiveNet) -> String {
    let vni = live
        .record
        .bridge
        .as_ref()
        .and_then(|b| b.overlay.as_ref())
        .map_or(0, |o| o.vni);
    format!("brt{vni}")
}

impl crate::Engine {
    /// Swarm mode's door for attachable networks (`None` when leaving).
    pub fn set_network_attacher(&self, attacher: Option<Arc<dyn NetworkAttacher>>) {
        *self.attacher.write() = attacher;
    }

    pub(crate) fn network_attacher(&self) -> Option<Arc<dyn NetworkAttacher>> {
        self.attacher.read().clone()
    }

    /// See [`Networking::ensure_overlay`]; a "create" event the first time.
    pub async fn ensure_overlay(&self, spec: &OverlaySpec) -> Result<()> {
        let fresh = self.networking.get(&spec.id).is_err();
        let net = self.networking.ensure_overlay(spec).await?;
        if fresh {
            self.network_event(&net, "create", "");
        }
        Ok(())
    }

    /// See [`Networking::program_mesh`].
    pub async fn program_mesh(
        &self,
        id: &str,
        leg_ip: (Ipv4Addr, u8),
        ports: Vec<network::lb::MeshPort>,
    ) -> Result<()> {
        self.networking.program_mesh(id, leg_ip, ports).await
    }

    /// See [`Networking::program_leg`].
    pub async fn program_leg(&self, id: &str, leg: Option<(Ipv4Addr, u8)>) -> Result<()> {
        self.networking.program_leg(id, leg).await
    }

    /// See [`Networking::program_overlay`].
    pub async fn program_overlay(&self, id: &str, members: OverlayMembers) -> Result<()> {
        self.networking.program_overlay(id, members).await
    }

    /// Drops this node's copy of an overlay network once no running
    /// container is on it (a stopped task's container is never started
    /// again: the orchestrator makes a new task). Whether it is gone.
    pub async fn release_overlay(&self, id: &str) -> Result<bool> {
        let Ok(net) = self.networking.get(id) else {
            return Ok(true);
        };
        let removed = self.networking.release_overlay(id).await?;
        if removed {
            let mut attrs = std::collections::HashMap::new();
            attrs.insert("name".to_string(), net.record.name.clone());
            attrs.insert("type".to_string(), net.record.driver.clone());
            self.events
                .publish("network", "destroy", &net.record.id, attrs);
        }
        Ok(removed)
    }

    /// The overlay networks this node holds a copy of (their ids).
    pub fn overlay_ids(&self) -> Vec<String> {
        self.networking
            .list()
            .into_iter()
            .filter(|n| n.record.driver == DRIVER_OVERLAY)
            .map(|n| n.record.id.clone())
            .collect()
    }
}
