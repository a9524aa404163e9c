//! The leader's loop: every manager campaigns; the one elected reads the
//! cluster, plans one pass ([`plan`]), writes it in one transaction, and
//! waits for the next change (a watch on the cluster prefix) or the next
//! restart delay. Level-triggered: a missed event or a lost race only
//! costs a pass, since each pass decides from the whole state.

pub mod plan;

use std::time::Duration;

use std::collections::{HashMap, HashSet};

use cluster::ids::IdSource;
use cluster::model::{Node, NodeState, Service, Task, TaskState, Timestamp};
use kvstore::Election;

use crate::manager::SwarmRecord;
use crate::store::{ClusterStore, Kind, Write};

/// Leadership lasts this long without a refresh: the failover time when a
/// leader dies.
const LEADER_TTL: Duration = Duration::from_secs(3);

/// A running campaign-and-lead loop; dropping it stops leading.
pub struct LeaderLoop {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LeaderLoop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaderLoop {
    pub fn spawn(store: ClusterStore, node_id: String) -> LeaderLoop {
        LeaderLoop {
            task: tokio::spawn(campaign(store, node_id)),
        }
    }
}

async fn campaign(store: ClusterStore, node_id: String) {
    loop {
        let leadership = match Election::campaign(
            store.kv().clone(),
            &store.leader_key(),
            node_id.as_bytes().to_vec(),
            LEADER_TTL,
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("swarm: campaigning for leadership: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        tracing::info!("swarm: this manager ({node_id}) leads the cluster");
        tokio::select! {
            why = leadership.lost() => tracing::warn!("swarm: leadership lost: {why}"),
            () = lead(&store) => {}
        }
    }
}

/// Passes until the future is dropped (leadership lost).
async fn lead(store: &ClusterStore) {
    let mut ids = cluster::ids::RandomIds;
    let mut running_since = HashMap::new();
    // A new leader gives agents one lease period to beat before it calls
    // their nodes down (they beat to etcd, not to it, but a whole cluster
    // restarting starts with expired leases).
    let since = tokio::time::Instant::now();
    loop {
        let may_mark_down = since.elapsed() > crate::dispatcher::NODE_TTL;
        let wake = match pass(store, &mut ids, &mut running_since, may_mark_down).await {
            Ok(PassResult::Raced) => continue,
            Ok(PassResult::Done { revision, wake }) => (revision, wake),
            Err(e) => {
                tracing::warn!("swarm: reconcile pass: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let (revision, wake) = wake;
        let mut sleep = wake.unwrap_or(Duration::from_secs(30));
        if !may_mark_down {
            sleep = sleep.min(crate::dispatcher::NODE_TTL);
        }
        let mut watch = match store.kv().watch(store.prefix(), revision + 1).await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!("swarm: leader watch: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tokio::select! {
            _ = watch.next() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

/// A node with a live heartbeat lease is ready, one without is down;
/// `None` when its status already says so.
fn liveness(node: &Node, beating: bool) -> Option<NodeState> {
    match (node.status.state, beating) {
        (NodeState::Ready, true) | (NodeState::Down, false) => None,
        (_, true) => Some(NodeState::Ready),
        (_, false) => Some(NodeState::Down),
    }
}

enum PassResult {
    Raced,
    Done {
        revision: i64,
        wake: Option<Duration>,
    },
}

async fn pass(
    store: &ClusterStore,
    ids: &mut (dyn IdSource + Send),
    running_since: &mut HashMap<String, Timestamp>,
    may_mark_down: bool,
) -> Result<PassResult, crate::store::StoreError> {
    let (tasks, rev) = store.list::<Task>(Kind::Task).await?;
    let (services, _) = store.list::<Service>(Kind::Service).await?;
    let (mut nodes, _) = store.list::<Node>(Kind::Node).await?;
    let beats = store.kv().range(&store.heartbeat_key("")).await?;
    let alive: HashSet<String> = beats
        .kvs
        .iter()
        .filter_map(|kv| kv.key.rsplit('/').next().map(str::to_string))
        .collect();
    let mut node_writes = Vec::new();
    for n in &mut nodes {
        let beating = alive.contains(&n.value.id);
        if !beating && !may_mark_down {
            continue;
        }
        if let Some(state) = liveness(&n.value, beating) {
            n.value.status.state = state;
            n.value.status.message = if state == NodeState::Down {
                "heartbeat failure".into()
            } else {
                String::new()
            };
            if let Ok(value) = serde_json::to_value(&n.value) {
                node_writes.push(Write::Update {
                    kind: Kind::Node,
                    id: n.value.id.clone(),
                    version: n.version,
                    value,
                });
            }
        }
    }
    let cluster = store
        .get::<SwarmRecord>(Kind::Swarm, "cluster")
        .await?
        .value
        .swarm
        .cluster
        .spec;
    let now = crate::now();
    // The update monitor measures from when this leader saw a task run.
    running_since.retain(|id, _| tasks.iter().any(|t| &t.value.id == id));
    for t in &tasks {
        if t.value.status.state == TaskState::Running {
            running_since.entry(t.value.id.clone()).or_insert(now);
        }
    }
    let p = plan::plan(
        &plan::Snapshot {
            services: &services,
            tasks: &tasks,
            nodes: &nodes,
            cluster: &cluster,
            running_since,
            now,
        },
        ids,
    );
    let mut p = p;
    p.writes.extend(node_writes);
    let wake = p
        .wake_at
        .map(|at| Duration::from_nanos(at.nanos_since(&now).max(1) as u64));
    if p.writes.is_empty() {
        return Ok(PassResult::Done {
            revision: rev,
            wake,
        });
    }
    if store.apply(&p.writes).await? {
        // Our own writes wake the watch at once: the next pass confirms
        // convergence (and writes nothing).
        Ok(PassResult::Done {
            revision: rev,
            wake,
        })
    } else {
        Ok(PassResult::Raced)
    }
}
