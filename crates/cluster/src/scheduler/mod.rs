//! Pure task placement. Given the nodes, the tasks already on them and the
//! pending tasks, decide a node for each pending task or say why none
//! fits, in swarmkit's words. Pending tasks of one service with the same
//! spec form a group that is filtered once and spread with heaps, so the
//! cost is about one filter pass per group plus a heap operation per task.
//!
//! Not modelled: swarmkit's "recent failures" down-weighting of nodes
//! where a service's tasks just failed (in-memory leader state there) and
//! CSI volume placement.

mod filter;
mod nodeinfo;
mod tree;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use filter::{FILTERS, GroupFilter, explain};
use nodeinfo::NodeInfo;
use tree::{Assigner, Tree};

use crate::model::{GenericResource, Node, PortConfig, Task, TaskState, Timestamp};

/// A task as the scheduler sees it: the task and its service's published
/// ports (tasks do not carry their endpoint in Docker's task type).
#[derive(Debug, Clone, Copy)]
pub struct SchedTask<'a> {
    pub task: &'a Task,
    pub ports: &'a [PortConfig],
}

impl<'a> SchedTask<'a> {
    pub fn new(task: &'a Task, ports: &'a [PortConfig]) -> Self {
        SchedTask { task, ports }
    }

    /// A task with no host-published ports to account for.
    pub fn plain(task: &'a Task) -> Self {
        SchedTask { task, ports: &[] }
    }
}

/// Pending task `task` (an index into `pending`) goes to `nodes[node]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub task: usize,
    pub node: usize,
    /// Named or counted resources taken on the node (for `Task.GenericResources`).
    pub generic_resources: Vec<GenericResource>,
}

/// Pending task `task` fits nowhere; `reason` goes to its `Status.Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    pub task: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub placed: Vec<Placement>,
    pub unplaced: Vec<Unplaced>,
}

/// The status message swarmkit's scheduler writes on assignment.
pub const ASSIGNED_MESSAGE: &str = "scheduler assigned task to node";

impl Decisions {
    /// The pending tasks as they should be written back: placed ones with
    /// their node and state `assigned`, the others still pending with the
    /// reason in `Status.Err`.
    pub fn apply(&self, nodes: &[Node], pending: &[SchedTask<'_>], now: Timestamp) -> Vec<Task> {
        let mut out = Vec::with_capacity(self.placed.len() + self.unplaced.len());
        for p in &self.placed {
            let mut t = pending[p.task].task.clone();
            t.node_id = nodes[p.node].id.clone();
            t.generic_resources = p.generic_resources.clone();
            t.status.state = TaskState::Assigned;
            t.status.timestamp = now;
            t.status.message = ASSIGNED_MESSAGE.to_string();
            t.meta.updated_at = now;
            t.status.err.clear();
            out.push(t);
        }
        for u in &self.unplaced {
            let mut t = pending[u.task].task.clone();
            t.status.timestamp = now;
            t.status.err = u.reason.clone();
            t.meta.updated_at = now;
            out.push(t);
        }
        out
    }
}

fn no_suitable_node(explanation: &str) -> String {
    if explanation.is_empty() {
        "no suitable node".to_string()
    } else {
        format!("no suitable node ({explanation})")
    }
}

struct Group {
    members: Vec<usize>,
}

/// A service's groups, found by a hash of spec and ports (equality decides).
#[derive(Default)]
struct ServiceGroups {
    last: Option<usize>,
    by_hash: HashMap<u64, Vec<usize>>,
}

fn spec_hash(p: &SchedTask<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // Serialization cannot fail for these types; an empty string only
    // makes more specs share a bucket.
    serde_json::to_string(&p.task.spec)
        .unwrap_or_default()
        .hash(&mut h);
    p.ports.hash(&mut h);
    h.finish()
}

/// Places `pending` on `nodes`, given the tasks already `assigned` (their
/// `NodeID` set; tasks on unknown nodes and stopped tasks are ignored).
/// A pending task that already names a node (global services) is only
/// checked against that node; one desired to stop is skipped.
pub fn schedule(
    nodes: &[Node],
    assigned: &[SchedTask<'_>],
    pending: &[SchedTask<'_>],
) -> Decisions {
    let mut infos: Vec<NodeInfo<'_>> = nodes.iter().map(NodeInfo::new).collect();
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    for a in assigned {
        if let Some(&i) = index.get(a.task.node_id.as_str()) {
            infos[i].add_existing(a.task, a.ports);
        }
    }
    let mut decisions = Decisions::default();

    // Groups in order of first appearance, so results do not depend on
    // hash order.
    let mut groups: Vec<Group> = Vec::new();
    let mut by_service: HashMap<&str, ServiceGroups> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        // Asked to stop before it was placed: nothing to decide.
        if p.task.desired_state > TaskState::Complete {
            continue;
        }
        if !p.task.node_id.is_empty() {
            place_preassigned(&mut infos, &index, pending, i, &mut decisions);
            continue;
        }
        let same = |g: usize| {
            let rep = &pending[groups[g].members[0]];
            rep.task.spec == p.task.spec && rep.ports == p.ports
        };
        let sg = by_service.entry(p.task.service_id.as_str()).or_default();
        // Tasks of one spec usually come together: try the last group
        // before hashing the spec.
        if let Some(g) = sg.last.filter(|&g| same(g)) {
            groups[g].members.push(i);
            continue;
        }
        let key = spec_hash(p);
        let found = sg
            .by_hash
            .get(&key)
            .and_then(|list| list.iter().copied().find(|&g| same(g)));
        let g = match found {
            Some(g) => {
                groups[g].members.push(i);
                g
            }
            None => {
                groups.push(Group { members: vec![i] });
                sg.by_hash.entry(key).or_default().push(groups.len() - 1);
                groups.len() - 1
            }
        };
        sg.last = Some(g);
    }
    for group in groups {
        schedule_group(&mut infos, pending, group, &mut decisions);
    }
    decisions
}

fn schedule_group<'a>(
    infos: &mut [NodeInfo<'a>],
    pending: &[SchedTask<'a>],
    group: Group,
    out: &mut Decisions,
) {
    let rep = pending[group.members[0]];
    let service_id = rep.task.service_id.as_str();
    let filter = GroupFilter::new(rep.task, rep.ports);
    let mut service_tasks: Vec<u32> = infos
        .iter()
        .map(|n| n.by_service.get(service_id).copied().unwrap_or(0))
        .collect();
    let eligible: Vec<bool> = infos
        .iter()
        .zip(&service_tasks)
        .map(|(n, &c)| filter.check(n, c).is_ok())
        .collect();
    let prefs = rep
        .task
        .spec
        .placement
        .as_ref()
        .map_or(&[][..], |p| p.preferences.as_slice());
    let mut tree = Tree::build(infos, &service_tasks, &eligible, prefs);
    let count = group.members.len();
    let mut assigner = Assigner {
        infos,
        service_tasks: &mut service_tasks,
        filter: &filter,
        service_id,
        queue: group.members.into_iter(),
        placed: &mut out.placed,
    };
    assigner.on_subtree(&mut tree, count as u64);
    let left: Vec<usize> = assigner.queue.collect();
    if left.is_empty() {
        return;
    }
    let mut counts = [0usize; FILTERS];
    for (n, &c) in infos.iter().zip(&service_tasks) {
        if let Err(f) = filter.check(n, c) {
            counts[f as usize] += 1;
        }
    }
    let reason = no_suitable_node(&explain(&counts));
    out.unplaced.extend(left.into_iter().map(|task| Unplaced {
        task,
        reason: reason.clone(),
    }));
}

fn place_preassigned<'a>(
    infos: &mut [NodeInfo<'a>],
    index: &HashMap<&str, usize>,
    pending: &[SchedTask<'a>],
    i: usize,
    out: &mut Decisions,
) {
    let p = pending[i];
    let Some(&n) = index.get(p.task.node_id.as_str()) else {
        out.unplaced.push(Unplaced {
            task: i,
            reason: no_suitable_node(""),
        });
        return;
    };
    let filter = GroupFilter::new(p.task, p.ports);
    let service_id = p.task.service_id.as_str();
    let service_tasks = infos[n].by_service.get(service_id).copied().unwrap_or(0);
    match filter.check(&infos[n], service_tasks) {
        Ok(()) => {
            let info = &mut infos[n];
            let generic_resources = filter.reserve(info);
            info.active += 1;
            *info.by_service.entry(service_id).or_default() += 1;
            out.placed.push(Placement {
                task: i,
                node: n,
                generic_resources,
            });
        }
        Err(f) => {
            let mut counts = [0usize; FILTERS];
            counts[f as usize] = 1;
            out.unplaced.push(Unplaced {
                task: i,
                reason: no_suitable_node(&explain(&counts)),
            });
        }
    }
}
