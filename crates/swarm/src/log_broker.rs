//! `docker service logs` across nodes. Managers cannot call workers (a
//! worker serves no port; it keeps a session with a manager's cluster
//! port), so the nodes come to the manager:
//!
//! 1. The manager serving a logs request writes a [`LogSubscription`]
//!    (whose logs, the options, its own cluster address) into the cluster
//!    store under a lease it keeps alive while the request is open: the
//!    subscription vanishes when the request ends or the manager dies.
//! 2. Each node's dispatcher hands its agent the subscriptions that concern
//!    the node's tasks, with its assignments (through the session for a
//!    worker, straight from the store for a manager's own agent).
//! 3. The agent reads the matching lines from its engine and streams them
//!    to the requesting manager's cluster port (`POST /v1/logs/{id}`, mutual
//!    TLS: the node certificate says which node the lines come from).
//! 4. The manager merges them with its own node's lines, read locally, into
//!    the API response: by time without `follow` (each node's lines arrive
//!    in time order), as they come with it.
//!
//! swarmkit routes subscriptions through the leader's log broker instead;
//! here any manager can serve one itself, since the store already reaches
//! every manager's dispatcher and the lines need not cross a second hop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use cluster::model::Task;
use engine::{LogLine, LogOptions, StdStream};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::logs::{Selector, TaskContext, TaskLine};
use crate::store::{ClusterStore, Kind, StoreError};

/// How long a subscription outlives its manager's last keep-alive.
const LEASE_TTL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(3);
/// Without `follow`: how long the manager waits for a live node with
/// tasks to start sending, and for the next line of one that started.
const ATTACH_WITHIN: Duration = Duration::from_secs(5);
const IDLE_WITHIN: Duration = Duration::from_secs(15);

/// A logs request as the nodes see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSubscription {
    pub id: String,
    pub selector: Selector,
    pub options: WireOptions,
    /// The node of the manager that serves the request (it reads its own
    /// lines itself) and its cluster port, where the others send theirs.
    pub manager_node: String,
    pub manager_addr: String,
}

impl LogSubscription {
    /// Whether a node running `tasks` has lines for it.
    pub fn concerns(&self, tasks: &[Task]) -> bool {
        tasks.iter().any(|t| match &self.selector {
            Selector::Service(id) => t.service_id == *id,
            Selector::Task(id) => t.id == *id,
        })
    }
}

/// [`LogOptions`] on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl From<&LogOptions> for WireOptions {
    fn from(o: &LogOptions) -> Self {
        WireOptions {
            stdout: o.stdout,
            stderr: o.stderr,
            follow: o.follow,
            tail: o.tail,
            since: o.since,
            until: o.until,
        }
    }
}

impl From<&WireOptions> for LogOptions {
    fn from(o: &WireOptions) -> Self {
        LogOptions {
            stdout: o.stdout,
            stderr: o.stderr,
            follow: o.follow,
            tail: o.tail,
            since: o.since,
            until: o.until,
        }
    }
}

/// One line on the wire (a JSON line of `POST /v1/logs/{id}`). The node
/// is not in it: the connection's certificate says which node sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireLine {
    pub service_id: String,
    pub task_id: String,
    pub stderr: bool,
    pub time: DateTime<Utc>,
    /// Base64: a line need not be UTF-8.
    pub data: String,
}

impl WireLine {
    pub fn from_line(l: &TaskLine) -> WireLine {
        WireLine {
            service_id: l.context.service_id.clone(),
            task_id: l.context.task_id.clone(),
            stderr: l.line.stream == StdStream::Stderr,
            time: l.line.time,
            data: base64::engine::general_purpose::STANDARD.encode(&l.line.data),
        }
    }

    /// The line as sent by `node_id`; None if its data is not base64.
    pub fn into_line(self, node_id: &str) -> Option<TaskLine> {
        let data = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .ok()?;
        Some(TaskLine {
            context: Arc::new(TaskContext {
                node_id: node_id.to_string(),
                service_id: self.service_id,
                task_id: self.task_id,
            }),
            line: LogLine {
                stream: if self.stderr {
                    StdStream::Stderr
                } else {
                    StdStream::Stdout
                },
                time: self.time,
                data: Bytes::from(data),
            },
        })
    }
}

/// A node's lines for one subscription, as they arrive.
pub struct Source {
    pub node_id: String,
    pub lines: mpsc::Receiver<TaskLine>,
}

/// The subscriptions this manager serves, for its cluster port to route
/// the nodes' lines to.
#[derive(Default)]
pub struct LogBroker {
    open: Mutex<HashMap<String, mpsc::Sender<Source>>>,
}

impl LogBroker {
    pub fn new() -> Arc<LogBroker> {
        Arc::new(LogBroker::default())
    }

    fn register(&self, id: &str) -> mpsc::Receiver<Source> {
        let (tx, rx) = mpsc::channel(16);
        self.open.lock().insert(id.to_string(), tx);
        rx
    }

    fn unregister(&self, id: &str) {
        self.open.lock().remove(id);
    }

    /// A node starts sending its lines for subscription `id`: where to put
    /// them, or None if this manager serves no such subscription (any
    /// more). A node attaches once per subscription.
    pub async fn attach(&self, id: &str, node_id: &str) -> Option<mpsc::Sender<TaskLine>> {
        let sources = self.open.lock().get(id).cloned()?;
        let (tx, rx) = mpsc::channel(256);
        sources
            .send(Source {
                node_id: node_id.to_string(),
                lines: rx,
            })
            .await
            .ok()?;
        Some(tx)
    }
}

/// Where subscriptions live in the store.
pub fn prefix(store: &ClusterStore) -> String {
    format!("{}logsubscriptions/", store.prefix())
}

/// The subscriptions in the store now.
pub async fn subscriptions(store: &ClusterStore) -> Result<Vec<LogSubscription>, StoreError> {
    let listing = store.kv().range(&prefix(store)).await?;
    Ok(listing
        .kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}

/// What a manager serving a logs request needs.
pub struct Request {
    pub store: ClusterStore,
    pub broker: Arc<LogBroker>,
    /// This manager's node and cluster address.
    pub node_id: String,
    pub addr: String,
    /// This node's own lines.
    pub local: mpsc::Receiver<TaskLine>,
}

/// Serves one logs request: publishes the subscription, merges what the
/// nodes send with the local lines, and withdraws it when the stream ends
/// or its receiver goes away.
pub async fn serve(
    req: Request,
    selector: Selector,
    opts: LogOptions,
) -> Result<mpsc::Receiver<TaskLine>, StoreError> {
    let Request {
        store,
        broker,
        node_id,
        addr,
        local,
    } = req;
    let sub = LogSubscription {
        id: crate::pki::new_id(),
        selector,
        options: WireOptions::from(&opts),
        manager_node: node_id,
        manager_addr: addr,
    };
    let sources = broker.register(&sub.id);
    let lease = match publish(&store, &sub).await {
        Ok(lease) => lease,
        Err(e) => {
            broker.unregister(&sub.id);
            return Err(e);
        }
    };
    // Without follow, the nodes to wait for: those with tasks of the
    // selection that are alive now (a down node has nothing to send).
    let expected = if opts.follow {
        Ok(HashSet::new())
    } else {
        expected_nodes(&store, &sub).await
    };
    let expected = match expected {
        Ok(n) => n,
        Err(e) => {
            withdraw(&store, &broker, &sub.id, lease).await;
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let kv = store.kv().clone();
        let keep = tokio::spawn(async move {
            loop {
                tokio::time::sleep(KEEP_ALIVE_EVERY).await;
                if let Err(e) = kv.keep_alive(lease).await {
                    tracing::debug!("logs subscription lease: {e}");
                }
            }
        });
        if opts.follow {
            follow(local, sources, &tx).await;
        } else {
            gather(local, sources, expected, &tx).await;
        }
        keep.abort();
        withdraw(&store, &broker, &sub.id, lease).await;
    });
    Ok(rx)
}

/// Every source's lines as they come, nodes that attach later included,
/// until the receiver goes away.
async fn follow(
    local: mpsc::Receiver<TaskLine>,
    mut sources: mpsc::Receiver<Source>,
    tx: &mpsc::Sender<TaskLine>,
) {
    let (lines_tx, mut lines) = mpsc::channel::<TaskLine>(256);
    // Dropped on return, which ends every forwarder.
    let mut forwarders = tokio::task::JoinSet::new();
    let forward = |mut from: mpsc::Receiver<TaskLine>, to: mpsc::Sender<TaskLine>| async move {
        while let Some(l) = from.recv().await {
            if to.send(l).await.is_err() {
                return;
            }
        }
    };
    forwarders.spawn(forward(local, lines_tx.clone()));
    loop {
        tokio::select! {
            () = tx.closed() => return,
            Some(src) = sources.recv() => {
                forwarders.spawn(forward(src.lines, lines_tx.clone()));
            }
            Some(line) = lines.recv() => {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
        while forwarders.try_join_next().is_some() {}
    }
}

/// Without follow: waits for the expected nodes to attach (a while at
/// most), then merges every source by time.
async fn gather(
    local: mpsc::Receiver<TaskLine>,
    mut sources: mpsc::Receiver<Source>,
    mut expected: HashSet<String>,
    tx: &mpsc::Sender<TaskLine>,
) {
    let mut all = vec![local];
    let deadline = tokio::time::Instant::now() + ATTACH_WITHIN;
    while !expected.is_empty() {
        match tokio::time::timeout_at(deadline, sources.recv()).await {
            Ok(Some(src)) => {
                expected.remove(&src.node_id);
                all.push(idle_bounded(src.lines));
            }
            _ => break,
        }
    }
    if !expected.is_empty() {
        tracing::debug!("service logs: no lines from nodes {expected:?}");
    }
    // Nodes nobody waited for that came anyway.
    while let Ok(src) = sources.try_recv() {
        all.push(idle_bounded(src.lines));
    }
    crate::logs::merge_by_time(all, tx).await;
}

/// A node's lines, ended if it falls silent mid-stream (a node that
/// vanished would otherwise hold the merge forever).
fn idle_bounded(mut from: mpsc::Receiver<TaskLine>) -> mpsc::Receiver<TaskLine> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok(Some(l)) = tokio::time::timeout(IDLE_WITHIN, from.recv()).await {
            if tx.send(l).await.is_err() {
                return;
            }
        }
    });
    rx
}

async fn publish(
    store: &ClusterStore,
    sub: &LogSubscription,
) -> Result<kvstore::LeaseId, StoreError> {
    let lease = store.kv().grant(LEASE_TTL).await?;
    let value = serde_json::to_vec(sub).map_err(|e| StoreError::Corrupt {
        key: sub.id.clone(),
        message: e.to_string(),
    })?;
    store
        .kv()
        .txn(
            vec![],
            vec![kvstore::Op::put_with_lease(
                format!("{}{}", prefix(store), sub.id),
                value,
                lease,
            )],
            vec![],
        )
        .await?;
    Ok(lease)
}

async fn withdraw(store: &ClusterStore, broker: &LogBroker, id: &str, lease: kvstore::LeaseId) {
    broker.unregister(id);
    if let Err(e) = store.kv().revoke(lease).await {
        tracing::debug!("logs subscription {id}: revoking its lease: {e}");
    }
}

async fn expected_nodes(
    store: &ClusterStore,
    sub: &LogSubscription,
) -> Result<HashSet<String>, StoreError> {
    let (tasks, _) = store.list::<Task>(Kind::Task).await?;
    let mut nodes = HashSet::new();
    for t in tasks {
        let t = t.value;
        if t.node_id.is_empty() || t.node_id == sub.manager_node || nodes.contains(&t.node_id) {
            continue;
        }
        if sub.concerns(std::slice::from_ref(&t))
            && store
                .kv()
                .get(&store.heartbeat_key(&t.node_id))
                .await?
                .is_some()
        {
            nodes.insert(t.node_id);
        }
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests;
