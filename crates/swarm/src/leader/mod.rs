//! The leader's loop: every manager campaigns; the one elected keeps a
//! copy of the cluster (`mirror`, listed once, then fed by a watch),
//! plans one pass from it ([`plan`]), writes the pass (transactions etcd
//! accepts), and waits for the next change or the next restart delay.
//! Level-triggered: a missed event or a lost race only costs a pass,
//! since each pass decides from the whole state.

mod alloc;
pub mod depends;

/// The node attachments of a cluster's first node on its brand-new
/// ingress network (see [`alloc::Allocator::node_attachments`]).
pub fn first_node_attachments(
    ingress: &cluster::model::Network,
    node: &cluster::model::Node,
) -> Option<Vec<cluster::model::NetworkAttachment>> {
    let nets = [crate::store::Stored {
        version: 0,
        value: ingress.clone(),
    }];
    alloc::Allocator::new(&nets, &[], &[], &[]).node_attachments(node, &Default::default())
}
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cluster::ids::IdSource;
use cluster::model::{Node, NodeState, TaskState, Timestamp};
use kvstore::Election;

use crate::manager::SwarmRecord;
use crate::mirror::Mirror;
use crate::store::{ClusterStore, Kind, Stored, Write};

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
    /// Campaigns as `node_id`; leading, plans from `mirror` (the manager's,
    /// shared with its dispatcher sessions).
    pub fn spawn(store: ClusterStore, mirror: Arc<Mirror>, node_id: String) -> LeaderLoop {
        LeaderLoop {
            task: tokio::spawn(campaign(store, mirror, node_id)),
        }
    }
}

async fn campaign(store: ClusterStore, mirror: Arc<Mirror>, node_id: String) {
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
            () = lead(&store, &mirror) => {}
        }
    }
}

/// Passes until the future is dropped (leadership lost).
async fn lead(store: &ClusterStore, mirror: &Mirror) {
    mirror.past(0).await;
    let mut ids = cluster::ids::RandomIds;
    let mut running_since = HashMap::new();
    // A new leader gives agents one lease period to beat before it calls
    // their nodes down (they beat to etcd, not to it, but a whole cluster
    // restarting starts with expired leases).
    let since = tokio::time::Instant::now();
    loop {
        let may_mark_down = since.elapsed() > crate::NODE_TTL;
        let wake = match pass(store, mirror, &mut ids, &mut running_since, may_mark_down).await {
            Ok(PassResult::Raced { revision }) => {
                // Decided on a copy behind etcd: wait until it has caught up.
                let _ = tokio::time::timeout(Duration::from_secs(1), mirror.past(revision)).await;
                continue;
            }
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
            sleep = sleep.min(crate::NODE_TTL);
        }
        tokio::select! {
            () = mirror.past(revision) => {}
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
    Raced {
        revision: i64,
    },
    Done {
        revision: i64,
        wake: Option<Duration>,
    },
}

async fn pass(
    store: &ClusterStore,
    mirror: &Mirror,
    ids: &mut (dyn IdSource + Send),
    running_since: &mut HashMap<String, Timestamp>,
    may_mark_down: bool,
) -> Result<PassResult, crate::store::StoreError> {
    let cluster = store
        .get::<SwarmRecord>(Kind::Swarm, "cluster")
        .await?
        .value
        .swarm
        .cluster
        .spec;
    let now = crate::now();
    // Planned under the mirror's lock, which no await may hold.
    let (p, rev) = {
        let view = mirror.read();
        let mut nodes: Vec<Stored<Node>> = view.nodes.rows().to_vec();
        let mut node_writes = Vec::new();
        for n in &mut nodes {
            let beating = view.beating.contains(&n.value.id);
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
        let tasks = view.tasks.rows();
        // The update monitor measures from when this leader saw a task run.
        let present: HashSet<&str> = tasks.iter().map(|t| t.value.id.as_str()).collect();
        running_since.retain(|id, _| present.contains(id.as_str()));
        for t in tasks {
            if t.value.status.state == TaskState::Running {
                running_since.entry(t.value.id.clone()).or_insert(now);
            }
        }
        let mut p = plan::plan(
            &plan::Snapshot {
                services: view.services.rows(),
                tasks,
                nodes: &nodes,
                networks: view.networks.rows(),
                cluster: &cluster,
                running_since,
                now,
            },
            ids,
        );
        // A node marked down this pass is written once, by that write: the
        // plan's (its ingress leg) waits for the next pass.
        let marked: HashSet<String> = node_writes
            .iter()
            .filter_map(|w| match w {
                Write::Update { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        p.writes.retain(
            |w| !matches!(w, Write::Update { kind: Kind::Node, id, .. } if marked.contains(id)),
        );
        p.writes.extend(node_writes);
        (p, view.revision)
    };
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
        // Our own writes wake the mirror at once: the next pass confirms
        // convergence (and writes nothing).
        Ok(PassResult::Done {
            revision: rev,
            wake,
        })
    } else {
        Ok(PassResult::Raced { revision: rev })
    }
}
