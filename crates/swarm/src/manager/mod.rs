//! The control API every manager serves (`/swarm`, `/nodes`, `/services`,
//! `/tasks`, `/secrets`, `/configs`): reads from and writes to the cluster store directly (etcd is
//! the single source of truth, so any manager can validate and write); the
//! leader's loop then makes the world match what was written.

mod blobs;
mod filters;
mod lookup;
mod networks;
mod secrets;

use std::collections::BTreeMap;

use cluster::model::{Node, Service, ServiceSpec, Swarm, SwarmSpec, Task};
use serde::{Deserialize, Serialize};

use zeroize::Zeroizing;

use crate::autolock::UnlockKey;
use crate::error::{ErrorKind, Result, SwarmError};
use crate::pki::JoinToken;
use crate::seal::DataKey;
use crate::store::{ClusterStore, Kind, StoreError};

pub use filters::Filters;
pub use networks::{
    VXLAN_ID_OPTION, default_ingress, ingress_of, ipv4_config, network_targets, publishes_ingress,
    vni_of,
};
pub use secrets::SecretRecord;

/// The cluster object as stored: what `GET /swarm` shows, and what only
/// managers read (never returned by the API): the CA key and, with
/// autolock, the unlock key, both sealed with the data key, which is not in
/// the store (a copy of etcd's files opens neither).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmRecord {
    #[serde(flatten)]
    pub swarm: Swarm,
    /// Named apart from the plain `berthCAKey` of earlier builds, so such a
    /// record is refused as malformed rather than misread.
    #[serde(rename = "berthSealedCAKey")]
    pub sealed_ca_key: String,
    #[serde(
        rename = "berthSealedUnlockKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sealed_unlock_key: Option<String>,
}

const CA_KEY_LABEL: &str = "swarm/ca-key";

impl SwarmRecord {
    pub fn new(swarm: Swarm, ca_key_pem: &str, data_key: &DataKey) -> Result<SwarmRecord> {
        Ok(SwarmRecord {
            swarm,
            sealed_ca_key: data_key.seal(CA_KEY_LABEL, ca_key_pem.as_bytes())?,
            sealed_unlock_key: None,
        })
    }

    /// The CA's private key (PEM).
    pub fn ca_key(&self, data_key: &DataKey) -> Result<Zeroizing<String>> {
        let bytes = data_key.open(CA_KEY_LABEL, &self.sealed_ca_key)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| SwarmError::internal("the cluster's CA key is not PEM text"))
    }

    /// The manager unlock key, while autolock is on.
    pub fn unlock_key(&self, data_key: &DataKey) -> Result<Option<UnlockKey>> {
        self.sealed_unlock_key
            .as_deref()
            .map(|s| UnlockKey::open_sealed(data_key, s))
            .transpose()
            .map_err(Into::into)
    }

    pub fn set_unlock_key(&mut self, key: Option<&UnlockKey>, data_key: &DataKey) -> Result<()> {
        self.sealed_unlock_key = key.map(|k| k.seal(data_key)).transpose()?;
        Ok(())
    }
}

/// `POST /swarm/update`'s rotation flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    pub worker_token: bool,
    pub manager_token: bool,
    pub unlock_key: bool,
}

/// One manager's view of the cluster.
#[derive(Clone)]
pub struct Manager {
    store: ClusterStore,
    node_id: String,
    /// Seals secrets on their way into the store.
    key: DataKey,
}

/// How a service list or inspect is answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceView {
    /// `?status=true`: the running/desired/completed counts.
    pub status: bool,
}

impl Manager {
    pub fn new(store: ClusterStore, node_id: String, key: DataKey) -> Manager {
        Manager {
            store,
            node_id,
            key,
        }
    }

    /// The cluster's data key (a demoting manager opens the CA key with it).
    pub fn data_key(&self) -> &DataKey {
        &self.key
    }

    pub fn store(&self) -> &ClusterStore {
        &self.store
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub async fn swarm_record(&self) -> Result<SwarmRecord> {
        let mut stored = self
            .store
            .get::<SwarmRecord>(Kind::Swarm, "cluster")
            .await?;
        stored.value.swarm.cluster.meta.version.index = stored.version as u64;
        Ok(stored.value)
    }

    /// `GET /swarm`.
    pub async fn swarm(&self) -> Result<Swarm> {
        Ok(self.swarm_record().await?.swarm)
    }

    /// `POST /swarm/update`: a new spec at `version`, tokens and the unlock
    /// key rotated on request. As swarmkit: autolock off drops the unlock
    /// key; on, it makes one if there is none (or on request), and a
    /// rotation requested while it is off does nothing.
    pub async fn update_swarm(
        &self,
        version: i64,
        spec: SwarmSpec,
        rotate: Rotation,
    ) -> Result<()> {
        let mut rec = self.swarm_record().await?;
        let ca = rec.swarm.cluster.tls_info.trust_root.clone();
        if rotate.worker_token {
            rec.swarm.join_tokens.worker = JoinToken::generate(&ca).to_string();
        }
        if rotate.manager_token {
            rec.swarm.join_tokens.manager = JoinToken::generate(&ca).to_string();
        }
        if !spec.encryption_config.auto_lock_managers {
            rec.sealed_unlock_key = None;
        } else if rec.sealed_unlock_key.is_none() || rotate.unlock_key {
            rec.set_unlock_key(Some(&UnlockKey::generate()?), &self.key)?;
        }
        let mut spec = spec;
        if spec.annotations.name.is_empty() {
            spec.annotations.name = "default".into();
        }
        rec.swarm.cluster.spec = spec;
        rec.swarm.cluster.meta.updated_at = now();
        self.store
            .update(Kind::Swarm, "cluster", version, None, &rec)
            .await?;
        Ok(())
    }

    /// `GET /swarm/unlockkey`: `SWMKEY-1-…`, or empty without autolock.
    pub async fn unlock_key(&self) -> Result<Zeroizing<String>> {
        let rec = self.swarm_record().await?;
        Ok(rec
            .unlock_key(&self.key)?
            .map(|k| k.to_human())
            .unwrap_or_default())
    }

    // ---- nodes ----

    pub async fn nodes(&self, filters: &Filters) -> Result<Vec<Node>> {
        let (nodes, _) = self.store.list::<Node>(Kind::Node).await?;
        // Who leads is the election's key, not a stored flag.
        let leader = kvstore::Election::leader(self.store.kv().as_ref(), &self.store.leader_key())
            .await?
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
        Ok(nodes
            .into_iter()
            .map(|s| with_version_node(s.value, s.version))
            .map(|mut n| {
                let down = n.status.state == cluster::model::NodeState::Down;
                if let Some(ms) = n.manager_status.as_mut() {
                    ms.leader = leader.as_deref() == Some(n.id.as_str());
                    ms.reachability = if down {
                        cluster::model::Reachability::Unreachable
                    } else {
                        cluster::model::Reachability::Reachable
                    };
                }
                n
            })
            .filter(|n| filters.node(n))
            .collect())
    }

    pub async fn node(&self, id_or_name: &str) -> Result<Node> {
        let nodes = self.nodes(&Filters::default()).await?;
        let node = lookup::one(
            &nodes,
            id_or_name,
            "node",
            |n| &n.id,
            |n| n.description.hostname.as_str(),
        )?;
        Ok(node.clone())
    }

    /// `POST /nodes/{id}/update`: role, availability and labels.
    pub async fn update_node(
        &self,
        id_or_name: &str,
        version: i64,
        spec: cluster::model::NodeSpec,
    ) -> Result<()> {
        let mut node = self.node(id_or_name).await?;
        match spec.role.as_str() {
            "" | "worker" | "manager" => {}
            r => return Err(SwarmError::invalid(format!("invalid role {r:?}"))),
        }
        match spec.availability.as_str() {
            "" | "active" | "pause" | "drain" => {}
            a => {
                return Err(SwarmError::invalid(format!("invalid availability {a:?}")));
            }
        }
        if node.spec.role == "manager" && spec.role == "worker" {
            let nodes = self.nodes(&Filters::default()).await?;
            can_demote(&nodes, &node.id)?;
        }
        // The node itself carries out a role change: its session tells it.
        node.spec = spec;
        node.meta.updated_at = now();
        self.store
            .update(Kind::Node, &node.id.clone(), version, None, &node)
            .await?;
        Ok(())
    }

    /// `DELETE /nodes/{id}`: only nodes that are down, unless forced; never
    /// a manager (it must be demoted first), as dockerd.
    pub async fn remove_node(&self, id_or_name: &str, force: bool) -> Result<()> {
        let node = self.node(id_or_name).await?;
        if node.manager_status.is_some() {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "rpc error: code = FailedPrecondition desc = node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
                    node.id
                ),
            ));
        }
        if !force && node.status.state != cluster::model::NodeState::Down {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "rpc error: code = FailedPrecondition desc = node {} is not down and can't be removed",
                    node.id
                ),
            ));
        }
        self.store.delete(Kind::Node, &node.id, None).await?;
        Ok(())
    }

    // ---- services ----

    pub async fn services(&self, filters: &Filters, view: ServiceView) -> Result<Vec<Service>> {
        let (services, _) = self.store.list::<Service>(Kind::Service).await?;
        let mut out: Vec<Service> = services
            .into_iter()
            .map(|s| with_version_service(s.value, s.version))
            .filter(|s| filters.service(s))
            .collect();
        if view.status {
            let (tasks, _) = self.store.list::<Task>(Kind::Task).await?;
            let tasks: Vec<Task> = tasks.into_iter().map(|t| t.value).collect();
            for s in &mut out {
                s.service_status = Some(cluster::orchestrator::service_status(s, &tasks));
            }
        }
        out.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
        Ok(out)
    }

    pub async fn service(&self, id_or_name: &str) -> Result<Service> {
        let services = self
            .services(&Filters::default(), ServiceView::default())
            .await?;
        let s = lookup::one(
            &services,
            id_or_name,
            "service",
            |s| &s.id,
            |s| s.spec.annotations.name.as_str(),
        )?;
        Ok(s.clone())
    }

    /// `POST /services/create`: the new service's id.
    pub async fn create_service(&self, mut spec: ServiceSpec) -> Result<String> {
        self.resolve_networks(&mut spec).await?;
        self.check_ingress(&spec).await?;
        crate::validate::service_spec(&spec)?;
        let others = self
            .services(&Filters::default(), ServiceView::default())
            .await?;
        cluster::validate::check_port_conflicts(&spec, "", &others)?;
        let id = crate::pki::new_id();
        let mut service = cluster::updater::create_service(id.clone(), spec, now())?;
        service.endpoint.spec = service.spec.endpoint_spec.clone().unwrap_or_default();
        let name = service.spec.annotations.name.clone();
        self.write_checked(&service.spec, |guards| {
            self.store
                .create_guarded(Kind::Service, &id, Some(&name), &service, guards)
        })
        .await?;
        Ok(id)
    }

    /// Writes a service whose spec's references to secrets and configs
    /// check out, checking again if one of them went meanwhile.
    async fn write_checked<F, Fut>(&self, spec: &ServiceSpec, write: F) -> Result<()>
    where
        F: Fn(crate::store::Guards) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<i64, StoreError>>,
    {
        for _ in 0..blobs::RACE_RETRIES {
            let guards = self.check_references(spec).await?;
            match write(guards).await {
                Err(StoreError::Raced { .. }) => continue,
                other => return other.map(|_| ()).map_err(Into::into),
            }
        }
        Err(StoreError::Raced {
            kind: Kind::Service,
        }
        .into())
    }

    /// `POST /services/{id}/update`; `rollback` asks for the previous spec.
    pub async fn update_service(
        &self,
        id_or_name: &str,
        version: i64,
        mut spec: ServiceSpec,
        rollback: bool,
    ) -> Result<()> {
        let current = self.service(id_or_name).await?;
        let mut next = if rollback {
            cluster::updater::rollback_service(&current, now())?
        } else {
            self.resolve_networks(&mut spec).await?;
            self.check_ingress(&spec).await?;
            crate::validate::service_spec(&spec)?;
            let others = self
                .services(&Filters::default(), ServiceView::default())
                .await?;
            cluster::validate::check_port_conflicts(&spec, &current.id, &others)?;
            cluster::updater::apply_service_update(&current, spec, now())?
        };
        next.endpoint.spec = next.spec.endpoint_spec.clone().unwrap_or_default();
        let rename = (
            current.spec.annotations.name.as_str(),
            next.spec.annotations.name.as_str(),
        );
        if rename.0 != rename.1 {
            return Err(SwarmError::invalid(
                "rpc error: code = Unimplemented desc = renaming services is not supported",
            ));
        }
        self.write_checked(&next.spec, |guards| {
            self.store
                .update_guarded(Kind::Service, &current.id, version, None, &next, guards)
        })
        .await
    }

    /// `DELETE /services/{id}`: the service goes at once; its tasks are
    /// shut down and removed by the leader's loop.
    pub async fn remove_service(&self, id_or_name: &str) -> Result<()> {
        let s = self.service(id_or_name).await?;
        self.store
            .delete(Kind::Service, &s.id, Some(&s.spec.annotations.name))
            .await?;
        Ok(())
    }

    // ---- tasks ----

    pub async fn tasks(&self, filters: &Filters) -> Result<Vec<Task>> {
        let (tasks, _) = self.store.list::<Task>(Kind::Task).await?;
        let needs_services = filters.needs_services();
        let services: BTreeMap<String, Service> = if needs_services {
            self.services(&Filters::default(), ServiceView::default())
                .await?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(tasks
            .into_iter()
            .map(|t| with_version_task(t.value, t.version))
            .filter(|t| filters.task(t, &services))
            .collect())
    }

    pub async fn task(&self, id: &str) -> Result<Task> {
        let tasks = self.tasks(&Filters::default()).await?;
        let t = lookup::one(&tasks, id, "task", |t| &t.id, |_| "")?;
        Ok(t.clone())
    }
}

/// swarmkit's demotion checks: never the last manager, and never one
/// whose removal from the store's membership would cost it its quorum
/// (a majority of the remaining managers must be reachable).
fn can_demote(nodes: &[Node], id: &str) -> Result<()> {
    let managers: Vec<&Node> = nodes.iter().filter(|n| n.spec.role == "manager").collect();
    if managers.len() == 1 && managers[0].id == id {
        return Err(SwarmError::new(
            ErrorKind::InvalidArgument,
            "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm",
        ));
    }
    let members: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.manager_status.is_some())
        .collect();
    if !members.iter().any(|n| n.id == id) {
        // Not a member yet (a promotion still under way): nothing to lose.
        return Ok(());
    }
    let remaining = members.len() - 1;
    let reachable_after = members
        .iter()
        .filter(|n| n.id != id && n.status.state != cluster::model::NodeState::Down)
        .count();
    if reachable_after < remaining / 2 + 1 {
        return Err(SwarmError::new(
            ErrorKind::InvalidArgument,
            "rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum",
        ));
    }
    Ok(())
}

fn with_version_node(mut n: Node, v: i64) -> Node {
    n.meta.version.index = v as u64;
    n
}

fn with_version_service(mut s: Service, v: i64) -> Service {
    s.meta.version.index = v as u64;
    s
}

fn with_version_task(mut t: Task, v: i64) -> Task {
    t.meta.version.index = v as u64;
    t
}

pub(crate) use crate::now;

#[cfg(test)]
mod demotion_tests {
    use super::*;
    use cluster::model::{ManagerStatus, NodeState};

    fn node(id: &str, role: &str, member: bool, down: bool) -> Node {
        let mut n = Node {
            id: id.into(),
            ..Default::default()
        };
        n.spec.role = role.into();
        n.status.state = if down {
            NodeState::Down
        } else {
            NodeState::Ready
        };
        if member {
            n.manager_status = Some(ManagerStatus::default());
        }
        n
    }

    #[test]
    fn the_last_manager_stays() {
        let nodes = [
            node("a", "manager", true, false),
            node("b", "worker", false, false),
        ];
        let e = can_demote(&nodes, "a").unwrap_err();
        assert!(
            e.to_string()
                .contains("attempting to demote the last manager"),
            "{e}"
        );
    }

    #[test]
    fn a_demotion_that_would_lose_the_quorum_is_refused() {
        // Three members, one down: removing a live one leaves one of two.
        let nodes = [
            node("a", "manager", true, false),
            node("b", "manager", true, false),
            node("c", "manager", true, true),
        ];
        let e = can_demote(&nodes, "a").unwrap_err();
        assert!(e.to_string().contains("loss of quorum"), "{e}");
        // Removing the dead one leaves two of two.
        assert!(can_demote(&nodes, "c").is_ok());
        let healthy = [
            node("a", "manager", true, false),
            node("b", "manager", true, false),
            node("c", "manager", true, false),
        ];
        assert!(can_demote(&healthy, "b").is_ok());
    }

    #[test]
    fn a_promotion_under_way_can_be_undone() {
        let nodes = [
            node("a", "manager", true, false),
            node("b", "manager", false, false),
        ];
        assert!(can_demote(&nodes, "b").is_ok());
    }
}
