//! The manager side of agents' sessions: a node's assignments computed
//! from the store (its tasks, their services' names and ports, the secret
//! and config data those tasks reference — and nothing of other nodes'),
//! recomputed on every change under the cluster prefix (secrets are
//! opened here, and only those the node's tasks use); and status reports
//! written back with swarmkit's rule that a task's state only moves forward.
//!
//! This is the in-process dispatcher a manager's own agent uses; remote
//! agents reach the same logic through the cluster port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cluster::model::{
    Config, Network, NetworkAttachment, Node, NodeState, Service, Task, TaskStatus,
};

use crate::netview::{self, NetworkView};
use crate::routes::{self, RoutedService};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::BoxFuture;
use crate::agent::{
    Assignment, Assignments, AttachRequest, Dispatcher, ExecError, Standing, StatusUpdate,
};
use crate::log_broker::LogSubscription;
use crate::logs::TaskLine;
use crate::manager::SecretRecord;
use crate::mirror::{Mirror, View};
use crate::remote::LogClient;
use crate::seal::DataKey;
use crate::store::{ClusterStore, Kind, StoreError, Write};

pub struct LocalDispatcher {
    store: ClusterStore,
    /// Opens the secrets the node's tasks use.
    key: DataKey,
    /// A manager's own agent sends its lines for the logs requests other
    /// managers serve through their cluster port, as a worker does.
    logs: Option<LogClient>,
    /// The manager's copy of the cluster: sessions read their node's tasks
    /// there instead of listing every task on every change.
    mirror: Arc<Mirror>,
}

impl LocalDispatcher {
    pub fn new(
        store: ClusterStore,
        key: DataKey,
        logs: Option<LogClient>,
        mirror: Arc<Mirror>,
    ) -> Arc<LocalDispatcher> {
        Arc::new(LocalDispatcher {
            store,
            key,
            logs,
            mirror,
        })
    }
}

/// What a node's assignments are made of: its tasks, their services, and
/// the node's standing, as of `revision`.
struct Inputs {
    mine: Vec<Task>,
    services: HashMap<String, Service>,
    standing: Standing,
    networks: Vec<NetworkView>,
    routes: Vec<RoutedService>,
    revision: i64,
}

/// The objects network views read, from a full listing of the store.
struct Listed {
    tasks: Vec<Task>,
    services: HashMap<String, Service>,
    nodes: Vec<Node>,
    networks: Vec<Network>,
    port: u32,
}

impl netview::Source for Listed {
    fn network(&self, id: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == id)
    }
    fn tasks_on(&self, network: &str) -> Vec<&Task> {
        self.tasks
            .iter()
            .filter(|t| {
                t.networks_attachments
                    .iter()
                    .any(|a| a.network.id == network)
            })
            .collect()
    }
    fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }
    fn node_addr(&self, node: &str) -> Option<&str> {
        node_addr(self.nodes.iter(), node)
    }
    fn node_ready(&self, node: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.id == node && n.status.state == NodeState::Ready)
    }
    fn data_path_port(&self) -> u32 {
        self.port
    }
    fn node_attachments(&self) -> Vec<(&str, &[NetworkAttachment])> {
        self.nodes
            .iter()
            .map(|n| (n.id.as_str(), n.attachments.as_slice()))
            .collect()
    }
    fn meshed_services(&self) -> Vec<&Service> {
        self.services
            .values()
            .filter(|s| crate::manager::publishes_ingress(&s.spec))
            .collect()
    }
}

impl netview::Source for View {
    fn network(&self, id: &str) -> Option<&Network> {
        self.networks.get(id).map(|n| &n.value)
    }
    fn tasks_on(&self, network: &str) -> Vec<&Task> {
        View::tasks_on(self, network).map(|t| &t.value).collect()
    }
    fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id).map(|s| &s.value)
    }
    fn node_addr(&self, node: &str) -> Option<&str> {
        self.nodes.get(node).map(|n| n.value.status.addr.as_str())
    }
    fn node_ready(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.value.status.state == NodeState::Ready)
    }
    fn data_path_port(&self) -> u32 {
        self.data_path_port
    }
    fn node_attachments(&self) -> Vec<(&str, &[NetworkAttachment])> {
        self.nodes
            .rows()
            .iter()
            .map(|n| (n.value.id.as_str(), n.value.attachments.as_slice()))
            .collect()
    }
    fn meshed_services(&self) -> Vec<&Service> {
        self.services
            .rows()
            .iter()
            .map(|s| &s.value)
            .filter(|s| crate::manager::publishes_ingress(&s.spec))
            .collect()
    }
}

impl routes::Source for Listed {
    fn services(&self) -> Vec<&Service> {
        self.services.values().collect()
    }
    fn network_is_ingress(&self, id: &str) -> Option<bool> {
        netview::Source::network(self, id).map(|n| n.spec.ingress)
    }
    fn ingress(&self) -> Option<&str> {
        crate::manager::ingress_of(&self.networks).map(|n| n.id.as_str())
    }
    fn tasks_on(&self, network: &str) -> Vec<&Task> {
        netview::Source::tasks_on(self, network)
    }
    fn node_ready(&self, node: &str) -> bool {
        netview::Source::node_ready(self, node)
    }
}

impl routes::Source for View {
    fn services(&self) -> Vec<&Service> {
        self.services.rows().iter().map(|s| &s.value).collect()
    }
    fn network_is_ingress(&self, id: &str) -> Option<bool> {
        self.networks.get(id).map(|n| n.value.spec.ingress)
    }
    fn ingress(&self) -> Option<&str> {
        crate::manager::ingress_of(self.networks.rows().iter().map(|n| &n.value))
            .map(|n| n.id.as_str())
    }
    fn tasks_on(&self, network: &str) -> Vec<&Task> {
        View::tasks_on(self, network).map(|t| &t.value).collect()
    }
    fn node_ready(&self, node: &str) -> bool {
        netview::Source::node_ready(self, node)
    }
}

fn node_addr<'a>(mut nodes: impl Iterator<Item = &'a Node>, id: &str) -> Option<&'a str> {
    nodes.find(|n| n.id == id).map(|n| n.status.addr.as_str())
}

impl Inputs {
    /// From the store itself (one listing of each kind).
    async fn read(store: &ClusterStore, node_id: &str) -> Result<Inputs, StoreError> {
        let (tasks, revision) = store.list::<Task>(Kind::Task).await?;
        let (services, _) = store.list::<Service>(Kind::Service).await?;
        let (nodes, _) = store.list::<Node>(Kind::Node).await?;
        let (networks, _) = store.list::<Network>(Kind::Network).await?;
        let port = match store
            .get::<crate::manager::SwarmRecord>(Kind::Swarm, "cluster")
            .await
        {
            Ok(r) => r.value.swarm.cluster.data_path_port,
            Err(StoreError::NotFound { .. }) => 0,
            Err(e) => return Err(e),
        };
        let listed = Listed {
            tasks: tasks.into_iter().map(|t| t.value).collect(),
            services: services
                .into_iter()
                .map(|s| (s.value.id.clone(), s.value))
                .collect(),
            nodes: nodes.into_iter().map(|n| n.value).collect(),
            networks: networks.into_iter().map(|n| n.value).collect(),
            port,
        };
        let mine: Vec<Task> = listed
            .tasks
            .iter()
            .filter(|t| t.node_id == node_id)
            .cloned()
            .collect();
        let networks = netview::views(node_id, &mine, &listed);
        let routes = routes::routes(&listed);
        Ok(Inputs {
            mine,
            routes,
            standing: standing_of(listed.nodes.iter(), node_id),
            services: listed.services,
            networks,
            revision,
        })
    }

    /// From the manager's mirror: the node's tasks by its index, only
    /// their services.
    fn mirrored(view: &View, node_id: &str) -> Inputs {
        let mine: Vec<Task> = view.tasks_of(node_id).map(|t| t.value.clone()).collect();
        let services = mine
            .iter()
            .filter_map(|t| view.services.get(&t.service_id))
            .map(|s| (s.value.id.clone(), s.value.clone()))
            .collect();
        let networks = netview::views(node_id, &mine, view);
        Inputs {
            mine,
            services,
            networks,
            routes: routes::routes(view),
            standing: standing_of(view.nodes.rows().iter().map(|n| &n.value), node_id),
            revision: view.revision,
        }
    }
}

fn err(e: impl std::fmt::Display) -> ExecError {
    ExecError(e.to_string())
}

/// The assignments of `node_id` in the store now, and the revision read.
pub async fn assignments_of(
    store: &ClusterStore,
    key: &DataKey,
    node_id: &str,
) -> Result<(Assignments, i64), StoreError> {
    let inputs = Inputs::read(store, node_id).await?;
    assemble(store, key, node_id, inputs).await
}

/// The assignments from their inputs: the secret and config data the
/// tasks reference (opened here), the log requests that concern them.
async fn assemble(
    store: &ClusterStore,
    key: &DataKey,
    node_id: &str,
    inputs: Inputs,
) -> Result<(Assignments, i64), StoreError> {
    let Inputs {
        mine,
        services,
        standing,
        networks,
        routes,
        revision: rev,
    } = inputs;
    let mut wanted_secrets = Vec::new();
    let mut wanted_configs = Vec::new();
    for t in &mine {
        if let Some(cs) = &t.spec.container_spec {
            wanted_secrets.extend(cs.secrets.iter().map(|s| s.secret_id.clone()));
            wanted_configs.extend(cs.configs.iter().map(|c| c.config_id.clone()));
        }
    }
    let mut files = HashMap::new();
    let mut templated = HashMap::new();
    let mut note_template = |id: &str, t: Option<&cluster::model::Driver>| {
        if let Some(t) = t.filter(|t| !t.name.is_empty()) {
            templated.insert(id.to_string(), t.name.clone());
        }
    };
    if !wanted_secrets.is_empty() {
        for s in store.list::<SecretRecord>(Kind::Secret).await?.0 {
            let id = &s.value.secret.id;
            if !wanted_secrets.contains(id) {
                continue;
            }
            // A secret that does not open stays out: the task that needs
            // it is rejected, saying it is not available to this node.
            match key.open(id, &s.value.sealed) {
                Ok(data) => {
                    files.insert(id.clone(), data.to_vec());
                    note_template(id, s.value.secret.spec.templating.as_ref());
                }
                Err(e) => tracing::error!("dispatcher: secret {id}: {e}"),
            }
        }
    }
    if !wanted_configs.is_empty() {
        for c in store.list::<Config>(Kind::Config).await?.0 {
            if wanted_configs.contains(&c.value.id) {
                files.insert(c.value.id.clone(), c.value.spec.data.clone());
                note_template(&c.value.id, c.value.spec.templating.as_ref());
            }
        }
    }
    // Requests this node's manager serves itself read its lines locally.
    let log_subscriptions = crate::log_broker::subscriptions(store)
        .await?
        .into_iter()
        .filter(|s| s.manager_node != node_id && s.concerns(&mine))
        .collect();
    let mut out = Vec::with_capacity(mine.len());
    for t in mine {
        let service = services.get(&t.service_id);
        let ports = service
            .map(|s| {
                s.endpoint
                    .spec
                    .ports
                    .iter()
                    .filter_map(|p| serde_json::to_value(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        let service_name = service
            .map(|s| s.spec.annotations.name.clone())
            .unwrap_or_default();
        let service_labels = service
            .map(|s| s.spec.annotations.labels.clone())
            .unwrap_or_default();
        out.push(Assignment {
            task: serde_json::to_value(&t).unwrap_or(Value::Null),
            service_name,
            ports,
            service_labels,
        });
    }
    out.sort_by(|a, b| a.task_id().cmp(b.task_id()));
    Ok((
        Assignments {
            tasks: out,
            files,
            templated,
            log_subscriptions,
            standing,
            networks,
            routes,
        },
        rev,
    ))
}

/// The role the node's spec asks for and the managers' cluster addresses.
fn standing_of<'a>(nodes: impl Iterator<Item = &'a Node>, node_id: &str) -> Standing {
    let mut standing = Standing::default();
    for n in nodes {
        if n.id == node_id {
            standing.role = n.spec.role.clone();
        }
        if let Some(ms) = &n.manager_status {
            standing.managers.push(ms.addr.clone());
        }
    }
    standing.managers.sort();
    standing
}

impl Dispatcher for LocalDispatcher {
    fn assignments<'a>(
        &'a self,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<watch::Receiver<Assignments>, ExecError>> {
        Box::pin(async move {
            self.mirror.past(0).await;
            let inputs = Inputs::mirrored(&self.mirror.read(), node_id);
            let (first, rev) = assemble(&self.store, &self.key, node_id, inputs)
                .await
                .map_err(err)?;
            let (tx, rx) = watch::channel(first);
            tokio::spawn(follow(
                self.store.clone(),
                self.mirror.clone(),
                self.key.clone(),
                node_id.to_string(),
                tx,
                rev,
            ));
            Ok(rx)
        })
    }

    fn report<'a>(
        &'a self,
        node_id: &'a str,
        updates: Vec<StatusUpdate>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            apply_statuses(&self.store, node_id, &updates)
                .await
                .map_err(err)
        })
    }

    fn heartbeat<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, Result<Duration, ExecError>> {
        Box::pin(async move {
            heartbeat(&self.store, node_id).await.map_err(err)?;
            Ok(HEARTBEAT_EVERY)
        })
    }

    fn attach_network<'a>(
        &'a self,
        node_id: &'a str,
        req: &'a AttachRequest,
    ) -> BoxFuture<'a, Result<Option<String>, ExecError>> {
        Box::pin(async move { attach_network(&self.store, node_id, req).await })
    }

    fn detach_network<'a>(
        &'a self,
        node_id: &'a str,
        task_ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move { detach_network(&self.store, node_id, task_ids).await })
    }

    fn publish_logs<'a>(
        &'a self,
        sub: &'a LogSubscription,
        lines: mpsc::Receiver<TaskLine>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            match &self.logs {
                Some(c) => c.publish(sub, lines).await,
                None => Err(ExecError("no node credentials to send logs with".into())),
            }
        })
    }
}

/// Recomputes on every change the mirror sees, until nobody listens.
async fn follow(
    store: ClusterStore,
    mirror: Arc<Mirror>,
    key: DataKey,
    node: String,
    tx: watch::Sender<Assignments>,
    mut rev: i64,
) {
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            () = mirror.past(rev) => {}
        }
        let inputs = Inputs::mirrored(&mirror.read(), &node);
        match assemble(&store, &key, &node, inputs).await {
            Ok((a, r)) => {
                rev = r;
                tx.send_if_modified(|cur| {
                    if *cur != a {
                        *cur = a;
                        true
                    } else {
                        false
                    }
                });
            }
            Err(e) => {
                tracing::debug!("dispatcher: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

pub use crate::{HEARTBEAT_EVERY, NODE_TTL};

/// Records an attachment task of `node_id`'s container on an attachable
/// network (dockerd's words when the network is not attachable); an
/// attachment the container already has is returned again.
pub async fn attach_network(
    store: &ClusterStore,
    node_id: &str,
    req: &AttachRequest,
) -> Result<Option<String>, ExecError> {
    let (networks, _) = store.list::<Network>(Kind::Network).await.map_err(err)?;
    let Some(net) = networks
        .iter()
        .map(|n| &n.value)
        .find(|n| n.id == req.network)
        .or_else(|| {
            networks
                .iter()
                .map(|n| &n.value)
                .find(|n| n.spec.annotations.name == req.network)
        })
    else {
        return Ok(None);
    };
    let name = &net.spec.annotations.name;
    if !net.spec.attachable || net.spec.ingress {
        return Err(ExecError(format!(
            "Could not attach to network {name}: rpc error: code = PermissionDenied desc = network {name} not manually attachable"
        )));
    }
    let (tasks, _) = store.list::<Task>(Kind::Task).await.map_err(err)?;
    let existing = tasks.iter().map(|t| &t.value).find(|t| {
        t.node_id == node_id
            && t.spec.networks.iter().any(|n| n.target == net.id)
            && t.spec
                .network_attachment_spec
                .as_ref()
                .is_some_and(|a| a.container_id == req.container_id)
    });
    if let Some(t) = existing {
        return Ok(Some(t.id.clone()));
    }
    let now = crate::now();
    let mut task = Task {
        id: crate::pki::new_id(),
        node_id: node_id.to_string(),
        desired_state: cluster::model::TaskState::Running,
        ..Default::default()
    };
    task.annotations.name = req.container_name.trim_start_matches('/').to_string();
    task.meta.created_at = now;
    task.meta.updated_at = now;
    task.spec.network_attachment_spec = Some(cluster::model::NetworkAttachmentSpec {
        container_id: req.container_id.clone(),
    });
    task.spec.networks = vec![cluster::model::NetworkAttachmentConfig {
        target: net.id.clone(),
        aliases: req.aliases.clone(),
        ..Default::default()
    }];
    task.status.state = cluster::model::TaskState::New;
    task.status.timestamp = now;
    store
        .create(Kind::Task, &task.id, None, &task)
        .await
        .map_err(err)?;
    Ok(Some(task.id))
}

/// Drops `node_id`'s attachment tasks among `task_ids`.
pub async fn detach_network(
    store: &ClusterStore,
    node_id: &str,
    task_ids: &[String],
) -> Result<(), ExecError> {
    for id in task_ids {
        let t = match store.get::<Task>(Kind::Task, id).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(err(e)),
        };
        if t.value.node_id != node_id || t.value.spec.network_attachment_spec.is_none() {
            return Err(ExecError(format!(
                "task {id} is not an attachment of this node"
            )));
        }
        match store.delete(Kind::Task, id, None).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

/// Refreshes the node's liveness lease, or makes one (first beat, after a
/// manager failover, after it expired). Any manager can refresh it: the
/// lease id lives in the key's value.
pub async fn heartbeat(store: &ClusterStore, node_id: &str) -> Result<(), StoreError> {
    let key = store.heartbeat_key(node_id);
    if let Some(kv) = store.kv().get(&key).await?
        && let Some(lease) = kv.lease
    {
        match store.kv().keep_alive(lease).await {
            Ok(_) => return Ok(()),
            Err(kvstore::KvError::LeaseNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let lease = store.kv().grant(NODE_TTL).await?;
    store
        .kv()
        .txn(
            vec![],
            vec![kvstore::Op::put_with_lease(
                key,
                node_id.as_bytes().to_vec(),
                lease,
            )],
            vec![],
        )
        .await?;
    Ok(())
}

/// Writes a node's batch of statuses in as few transactions as etcd
/// allows: per task the furthest status of the batch (as swarmkit's
/// dispatcher keeps only the newest), each only if it moves the task
/// forward and the task is still this node's; a lost race re-reads and
/// decides again. One read and one write per 128 tasks instead of two
/// round trips per status: an agent starting many tasks reports at the
/// store's pace, not one fsync at a time.
pub async fn apply_statuses(
    store: &ClusterStore,
    node_id: &str,
    updates: &[StatusUpdate],
) -> Result<(), StoreError> {
    let mut latest: Vec<(String, TaskStatus)> = Vec::new();
    for u in updates {
        let status: TaskStatus = match serde_json::from_value(u.status.clone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("dispatcher: a malformed status for task {}: {e}", u.task_id);
                continue;
            }
        };
        match latest.iter_mut().find(|(id, _)| *id == u.task_id) {
            Some((_, kept)) if status.state >= kept.state => *kept = status,
            Some(_) => {}
            None => latest.push((u.task_id.clone(), status)),
        }
    }
    for _ in 0..5 {
        let ids: Vec<&str> = latest.iter().map(|(id, _)| id.as_str()).collect();
        let stored = store.get_many::<Task>(Kind::Task, &ids).await?;
        let mut writes = Vec::new();
        for ((id, status), found) in latest.iter().zip(stored) {
            // Removed meanwhile (service gone): nothing to record.
            let Some(mut t) = found else { continue };
            if t.value.node_id != node_id || !status.advances(&t.value.status) {
                continue;
            }
            t.value.status = status.clone();
            t.value.meta.updated_at = crate::now();
            let value = serde_json::to_value(&t.value).map_err(|e| StoreError::Corrupt {
                key: id.clone(),
                message: e.to_string(),
            })?;
            writes.push(Write::Update {
                kind: Kind::Task,
                id: id.clone(),
                version: t.version,
                value,
            });
        }
        if writes.is_empty() || store.apply(&writes).await? {
            return Ok(());
        }
    }
    // Still racing (a leader rewriting these tasks): one at a time.
    for (id, status) in &latest {
        let u = StatusUpdate {
            task_id: id.clone(),
            status: serde_json::to_value(status).unwrap_or_default(),
        };
        apply_status(store, node_id, &u).await?;
    }
    Ok(())
}

/// Writes one status if it moves the task forward, retrying lost races.
pub async fn apply_status(
    store: &ClusterStore,
    node_id: &str,
    u: &StatusUpdate,
) -> Result<(), StoreError> {
    let status: TaskStatus = match serde_json::from_value(u.status.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("dispatcher: a malformed status for task {}: {e}", u.task_id);
            return Ok(());
        }
    };
    loop {
        let mut stored = match store.get::<Task>(Kind::Task, &u.task_id).await {
            Ok(s) => s,
            // Removed meanwhile (service gone): nothing to record.
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if stored.value.node_id != node_id || !status.advances(&stored.value.status) {
            return Ok(());
        }
        stored.value.status = status.clone();
        stored.value.meta.updated_at = crate::now();
        match store
            .update(Kind::Task, &u.task_id, stored.version, None, &stored.value)
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::OutOfSequence) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::model::TaskState;
    use kvstore::MemoryStore;

    fn task(id: &str, node: &str, state: TaskState) -> Task {
        let mut t = Task {
            id: id.into(),
            node_id: node.into(),
            ..Default::default()
        };
        t.status.state = state;
        t
    }

    fn update(id: &str, state: &str) -> StatusUpdate {
        StatusUpdate {
            task_id: id.into(),
            status: serde_json::json!({"State": state, "Message": state}),
        }
    }

    async fn state(store: &ClusterStore, id: &str) -> TaskState {
        store
            .get::<Task>(Kind::Task, id)
            .await
            .unwrap()
            .value
            .status
            .state
    }

    /// A session reads its node's tasks from the manager's mirror and
    /// follows it: a task placed on the node arrives, one on another node
    /// does not, a removed one goes.
    #[tokio::test]
    async fn a_session_follows_its_node_s_tasks_through_the_mirror() {
        let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
        let t1 = task("t1", "n1", TaskState::Assigned);
        store.create(Kind::Task, "t1", None, &t1).await.unwrap();
        let d = LocalDispatcher::new(
            store.clone(),
            DataKey::generate().unwrap(),
            None,
            Mirror::spawn(store.clone()),
        );
        let mut rx = d.assignments("n1").await.unwrap();
        let ids = |a: &Assignments| -> Vec<String> {
            a.tasks.iter().map(|t| t.task_id().to_string()).collect()
        };
        assert_eq!(ids(&rx.borrow_and_update()), ["t1"]);
        for t in [
            task("t2", "n1", TaskState::Assigned),
            task("t3", "n2", TaskState::Assigned),
        ] {
            store
                .create(Kind::Task, &t.id.clone(), None, &t)
                .await
                .unwrap();
        }
        store.delete(Kind::Task, "t1", None).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                rx.changed().await.unwrap();
                if ids(&rx.borrow_and_update()) == ["t2"] {
                    break;
                }
            }
        })
        .await
        .expect("the session caught up");
    }

    #[tokio::test]
    async fn a_batch_of_statuses_moves_only_this_node_s_tasks_forward() {
        let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
        for t in [
            task("t1", "n1", TaskState::Assigned),
            task("t2", "n1", TaskState::Running),
            task("t3", "n2", TaskState::Assigned),
        ] {
            store
                .create(Kind::Task, &t.id.clone(), None, &t)
                .await
                .unwrap();
        }
        // More tasks than one transaction holds, all written.
        for i in 0..300 {
            let t = task(&format!("m{i}"), "n1", TaskState::Assigned);
            store
                .create(Kind::Task, &t.id.clone(), None, &t)
                .await
                .unwrap();
        }
        let mut batch = vec![
            update("t1", "preparing"),
            update("t1", "running"),
            update("t1", "starting"),
            update("t2", "preparing"),
            update("t3", "running"),
            update("gone", "running"),
        ];
        batch.extend((0..300).map(|i| update(&format!("m{i}"), "running")));
        apply_statuses(&store, "n1", &batch).await.unwrap();
        assert_eq!(
            state(&store, "t1").await,
            TaskState::Running,
            "the furthest wins"
        );
        assert_eq!(
            state(&store, "t2").await,
            TaskState::Running,
            "never backwards"
        );
        assert_eq!(
            state(&store, "t3").await,
            TaskState::Assigned,
            "another node's task"
        );
        for i in [0, 150, 299] {
            assert_eq!(state(&store, &format!("m{i}")).await, TaskState::Running);
        }
    }

    #[tokio::test]
    async fn a_running_task_turning_unhealthy_is_recorded_and_then_fails() {
        let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
        let t = task("t1", "n1", TaskState::Running);
        store.create(Kind::Task, "t1", None, &t).await.unwrap();
        let with = |state: &str, message: &str| StatusUpdate {
            task_id: "t1".into(),
            status: serde_json::json!({"State": state, "Message": message}),
        };
        let stored = |store: ClusterStore| async move {
            store
                .get::<Task>(Kind::Task, "t1")
                .await
                .unwrap()
                .value
                .status
        };
        apply_status(&store, "n1", &with("running", "unhealthy"))
            .await
            .unwrap();
        let s = stored(store.clone()).await;
        assert_eq!(
            (s.state, s.message.as_str()),
            (TaskState::Running, "unhealthy")
        );
        assert!(!s.serving());
        // Another running report (a late "started") is not news.
        apply_statuses(&store, "n1", &[with("running", "started")])
            .await
            .unwrap();
        assert_eq!(stored(store.clone()).await.message, "unhealthy");
        apply_statuses(&store, "n1", &[with("failed", "failed")])
            .await
            .unwrap();
        assert_eq!(stored(store.clone()).await.state, TaskState::Failed);
    }
}
