//! The agent every node runs: it receives the tasks assigned to its node,
//! converges a container per task toward the task's desired state, and
//! reports each status change. It talks to the engine only through
//! [`Executor`] and to the managers only through [`Dispatcher`], so its
//! rules (state only moves forward, a task's container is created once,
//! exits become `complete`/`failed`, `shutdown` stops) are tested on fakes.

pub mod engine_executor;
pub mod spec;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::BoxFuture;
use crate::log_broker::LogSubscription;
use crate::logs::{Selector, TaskLine};

pub use worker::{TaskState, parse_state, status};

/// Why the engine could not do what a task needs; its text becomes the
/// task's `Err` as `docker service ps` shows it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// A file a task carries into its container (a secret or config).
#[derive(Clone)]
pub struct TaskFile {
    pub target: String,
    pub data: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// A container as the agent finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub running: bool,
    pub pid: u32,
    pub exit_code: i64,
    /// `starting`, `healthy` or `unhealthy`; `None` without a health check.
    pub health: Option<String>,
}

/// What the agent asks of the engine.
pub trait Executor: Send + Sync {
    /// The containers of swarm tasks on this node: task id → container id.
    fn task_containers(&self) -> HashMap<String, String>;
    /// Makes `image` available (pulling it when it is missing, with
    /// `registry_auth`: the service's `--with-registry-auth`, encoded as
    /// `X-Registry-Auth` is).
    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        registry_auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ExecError>>;
    fn create<'a>(
        &'a self,
        name: &'a str,
        body: Value,
        files: Vec<TaskFile>,
    ) -> BoxFuture<'a, Result<String, ExecError>>;
    /// Starts the container; its pid.
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<u32, ExecError>>;
    /// Whether the container runs now (an adopted one after a restart).
    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerState, ExecError>>;
    /// Resolves with the exit code once the container is not running.
    fn wait<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<i64, ExecError>>;
    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), ExecError>>;
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ExecError>>;
    /// The lines of the selected tasks' containers on this node (the
    /// channel closes at their end, never with `follow`).
    fn task_logs(&self, selector: &Selector, opts: engine::LogOptions) -> mpsc::Receiver<TaskLine>;
    /// Brings this node's copy of each viewed overlay network up and
    /// programs what the cluster knows of its members.
    fn apply_networks<'a>(
        &'a self,
        views: &'a [crate::netview::NetworkView],
    ) -> BoxFuture<'a, Result<(), ExecError>>;
    /// Drops the node's copies of the overlay networks not in `keep` that
    /// no running container uses.
    fn release_networks<'a>(&'a self, keep: &'a [String]) -> BoxFuture<'a, ()>;
}

/// One task as the agent receives it (also the wire shape of a session).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The whole `Task` as the API shows it (JSON): the agent reads its
    /// `Spec`, `ServiceID`, `Slot`, `DesiredState` and `Status`.
    pub task: Value,
    /// The service's name (the container name starts with it).
    pub service_name: String,
    /// Ports the service publishes (`PortConfig` JSON).
    pub ports: Vec<Value>,
    /// The service's labels (`.Service.Labels` of templated files).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_labels: BTreeMap<String, String>,
}

impl Assignment {
    pub fn task_id(&self) -> &str {
        self.task.get("ID").and_then(Value::as_str).unwrap_or("")
    }

    /// A container's attachment to a network, not a task to run.
    pub fn is_attachment(&self) -> bool {
        self.task.pointer("/Spec/NetworkAttachmentSpec").is_some()
            && self
                .task
                .get("ServiceID")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
    }

    pub fn desired(&self) -> TaskState {
        parse_state(
            self.task
                .get("DesiredState")
                .and_then(Value::as_str)
                .unwrap_or("running"),
        )
    }
}

/// The complete set of tasks assigned to this node, and the secrets and
/// configs (by id) they reference.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Assignments {
    pub tasks: Vec<Assignment>,
    #[serde(with = "b64map")]
    pub files: HashMap<String, Vec<u8>>,
    /// The files among them that are templates: id → template driver.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub templated: HashMap<String, String>,
    /// Logs requests other managers serve that this node's tasks have
    /// lines for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_subscriptions: Vec<LogSubscription>,
    /// The node's standing in the cluster: the session is how a node
    /// learns that it was promoted or demoted and where the managers are.
    #[serde(default)]
    pub standing: Standing,
    /// The overlay networks the tasks use, with what the cluster knows of
    /// their other members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<crate::netview::NetworkView>,
    /// The cluster's routed services, for the node's HTTP router.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<crate::routes::RoutedService>,
}

/// The role the managers want this node to have, and the managers'
/// cluster addresses (a worker keeps them to fail over between managers).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    /// `manager` or `worker`; empty when the node record is missing.
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub managers: Vec<String>,
}

/// This node as templates see it (`.Node.Hostname`, `.Node.Platform`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub hostname: String,
    pub os: String,
    pub architecture: String,
}

/// File data as base64 on the wire (JSON has no bytes).
mod b64map {
    use std::collections::HashMap;

    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &HashMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let out: HashMap<&String, String> = m.iter().map(|(k, v)| (k, b64.encode(v))).collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<String, Vec<u8>>, D::Error> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let m: HashMap<String, String> = HashMap::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| {
                b64.decode(v)
                    .map(|bytes| (k, bytes))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// A task's new status (a `TaskStatus` as JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    pub task_id: String,
    pub status: Value,
}

/// A container of this node asks for an address on a cluster network
/// (`docker run --network NAME` with an attachable overlay).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachRequest {
    /// The network's name or id, as the user gave it.
    pub network: String,
    pub container_id: String,
    pub container_name: String,
    /// The endpoint's aliases: names the whole cluster resolves to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// The managers as an agent sees them.
pub trait Dispatcher: Send + Sync {
    /// The node's assignments, replaced whole on every change.
    fn assignments<'a>(
        &'a self,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<watch::Receiver<Assignments>, ExecError>>;
    fn report<'a>(
        &'a self,
        node_id: &'a str,
        updates: Vec<StatusUpdate>,
    ) -> BoxFuture<'a, Result<(), ExecError>>;
    /// Keeps the node alive in the managers' eyes; how long until the next.
    fn heartbeat<'a>(&'a self, node_id: &'a str) -> BoxFuture<'a, Result<Duration, ExecError>>;
    /// Records an attachment of a container of this node to a cluster
    /// network (a task the leader gives an address): the task's id, or
    /// `None` when the cluster has no network of that name or id.
    fn attach_network<'a>(
        &'a self,
        node_id: &'a str,
        req: &'a AttachRequest,
    ) -> BoxFuture<'a, Result<Option<String>, ExecError>>;
    /// Drops attachment tasks of this node (the container stopped).
    fn detach_network<'a>(
        &'a self,
        node_id: &'a str,
        task_ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), ExecError>>;
    /// Sends `lines` to the manager that serves `sub`, until they end or
    /// the manager stops taking them.
    fn publish_logs<'a>(
        &'a self,
        sub: &'a LogSubscription,
        lines: mpsc::Receiver<TaskLine>,
    ) -> BoxFuture<'a, Result<(), ExecError>>;
}

/// A running agent; dropping it stops the loop (containers stay: a daemon
/// restart adopts them).
pub struct Agent {
    task: tokio::task::JoinHandle<()>,
    standing: watch::Receiver<Standing>,
    assignments: watch::Receiver<Assignments>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
    pub fn start(
        node_id: String,
        node: NodeInfo,
        dispatcher: Arc<dyn Dispatcher>,
        executor: Arc<dyn Executor>,
    ) -> Agent {
        let (tx, standing) = watch::channel(Standing::default());
        let (assigned_tx, assignments) = watch::channel(Assignments::default());
        Agent {
            task: tokio::spawn(run(node_id, node, dispatcher, executor, tx, assigned_tx)),
            standing,
            assignments,
        }
    }

    /// The assignments as the agent last applied them.
    pub fn assignments(&self) -> watch::Receiver<Assignments> {
        self.assignments.clone()
    }

    /// The node's standing as the last assignments gave it.
    pub fn standing(&self) -> watch::Receiver<Standing> {
        self.standing.clone()
    }
}

async fn run(
    node_id: String,
    node: NodeInfo,
    dispatcher: Arc<dyn Dispatcher>,
    executor: Arc<dyn Executor>,
    standing: watch::Sender<Standing>,
    applied: watch::Sender<Assignments>,
) {
    let node = Arc::new((node_id.clone(), node));
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    // Ends with this loop (the agent is aborted, never returns on its own).
    let _reporter = AbortOnDrop(tokio::spawn(report_loop(
        node_id.clone(),
        dispatcher.clone(),
        report_rx,
    )));
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat_loop(
        node_id.clone(),
        dispatcher.clone(),
    )));
    let mut workers: HashMap<String, worker::Handle> = HashMap::new();
    let mut publishers: HashMap<String, AbortOnDrop> = HashMap::new();
    loop {
        let mut rx = match dispatcher.assignments(&node_id).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!("agent: no session with a manager: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let current = rx.borrow_and_update().clone();
            standing.send_if_modified(|s| {
                let changed = *s != current.standing;
                if changed {
                    *s = current.standing.clone();
                }
                changed
            });
            let mut networks_ok =
                reconcile(&node, &current, &executor, &report_tx, &mut workers).await;
            applied.send_replace(current.clone());
            publish_logs(&current, &dispatcher, &executor, &mut publishers);
            // Between changes, networks whose last container went since
            // (removed by a worker after the pass) are dropped, and networks
            // that could not be set up are tried again (e.g. a segment id
            // still held by the copy of a network that just went).
            let changed = loop {
                tokio::select! {
                    r = rx.changed() => break r,
                    () = tokio::time::sleep(NETWORK_SWEEP) => {
                        executor.release_networks(&network_ids(&current)).await;
                        if !networks_ok {
                            networks_ok = executor.apply_networks(&current.networks).await.is_ok();
                            // Attachments waited for these networks: a
                            // container's start waits for their report.
                            if networks_ok {
                                report_attachments(&current, &report_tx);
                            }
                        }
                    }
                }
            };
            if changed.is_err() {
                break;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One pass: a worker per assigned task (given the newest assignment), and
/// the containers of tasks no longer assigned removed. Whether the
/// networks were all set up.
async fn reconcile(
    node: &Arc<(String, NodeInfo)>,
    current: &Assignments,
    executor: &Arc<dyn Executor>,
    report: &mpsc::UnboundedSender<StatusUpdate>,
    workers: &mut HashMap<String, worker::Handle>,
) -> bool {
    let assigned: HashMap<&str, &Assignment> = current
        .tasks
        .iter()
        .filter(|a| !a.is_attachment())
        .map(|a| (a.task_id(), a))
        .collect();
    // Networks first: a task's container is created on them.
    let networks = executor.apply_networks(&current.networks).await;
    if let Err(e) = &networks {
        tracing::warn!("agent: overlay networks: {e}");
    }
    if networks.is_ok() {
        report_attachments(current, report);
    }
    let existing = executor.task_containers();
    for (task_id, assignment) in &assigned {
        match workers.get(*task_id) {
            Some(w) => w.update((*assignment).clone()),
            None => {
                let w = worker::Handle::spawn(
                    node.clone(),
                    (*assignment).clone(),
                    worker::TaskData {
                        files: current.files.clone(),
                        templated: current.templated.clone(),
                    },
                    existing.get(*task_id).cloned(),
                    executor.clone(),
                    report.clone(),
                );
                workers.insert(task_id.to_string(), w);
            }
        }
    }
    workers.retain(|id, _| assigned.contains_key(id.as_str()));
    for (task_id, container) in existing {
        if !assigned.contains_key(task_id.as_str()) {
            let _ = executor.stop(&container, Duration::from_secs(10)).await;
            if let Err(e) = executor.remove(&container).await {
                tracing::warn!("agent: removing the container of task {task_id}: {e}");
            }
        }
    }
    executor.release_networks(&network_ids(current)).await;
    networks.is_ok()
}

/// A container's attachment runs once its network is here: reports the
/// attachments of `current` running that the managers do not yet know so.
fn report_attachments(current: &Assignments, report: &mpsc::UnboundedSender<StatusUpdate>) {
    for a in current.tasks.iter().filter(|a| a.is_attachment()) {
        let state = a
            .task
            .pointer("/Status/State")
            .and_then(Value::as_str)
            .map_or(TaskState::New, worker::parse_state);
        if state < TaskState::Running && a.desired() <= TaskState::Running {
            let _ = report.send(StatusUpdate {
                task_id: a.task_id().to_string(),
                status: worker::status(TaskState::Running, "started", None, None),
            });
        }
    }
}

/// How often an idle agent drops the overlay networks no container uses.
const NETWORK_SWEEP: Duration = Duration::from_secs(2);

fn network_ids(current: &Assignments) -> Vec<String> {
    current
        .networks
        .iter()
        .map(|v| v.network.id.clone())
        .collect()
}

/// A publisher per log subscription, started once: one that ended (its
/// lines all sent) stays until the subscription goes, so it is not sent
/// twice; one whose subscription went is stopped.
fn publish_logs(
    current: &Assignments,
    dispatcher: &Arc<dyn Dispatcher>,
    executor: &Arc<dyn Executor>,
    publishers: &mut HashMap<String, AbortOnDrop>,
) {
    publishers.retain(|id, _| current.log_subscriptions.iter().any(|s| s.id == *id));
    for sub in &current.log_subscriptions {
        if publishers.contains_key(&sub.id) {
            continue;
        }
        let lines = executor.task_logs(&sub.selector, (&sub.options).into());
        let dispatcher = dispatcher.clone();
        let sub = sub.clone();
        let id = sub.id.clone();
        publishers.insert(
            id,
            AbortOnDrop(tokio::spawn(async move {
                if let Err(e) = dispatcher.publish_logs(&sub, lines).await {
                    tracing::debug!("agent: logs for {}: {e}", sub.manager_addr);
                }
            })),
        );
    }
}

/// A node that stops heartbeating is down and its tasks move: beat on.
async fn heartbeat_loop(node_id: String, dispatcher: Arc<dyn Dispatcher>) {
    loop {
        let next = match dispatcher.heartbeat(&node_id).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!("agent: heartbeat: {e}");
                Duration::from_millis(500)
            }
        };
        tokio::time::sleep(next).await;
    }
}

/// Sends updates in order, batching what queued up, retrying while the
/// managers are unreachable (a status is never dropped).
async fn report_loop(
    node_id: String,
    dispatcher: Arc<dyn Dispatcher>,
    mut rx: mpsc::UnboundedReceiver<StatusUpdate>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        while let Err(e) = dispatcher.report(&node_id, batch.clone()).await {
            tracing::warn!("agent: reporting {} task status(es): {e}", batch.len());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests;
