//! One reconcile pass of the leader as a pure function of the cluster's
//! objects and the time: the cluster crate's orchestrators (modes, restart
//! policies, rolling updates, history) decide per service, the scheduler
//! places what is pending, and the result is one batch of versioned writes.
//! Tasks whose service is gone are this layer's own: they are shut down,
//! and forgotten once stopped.

use std::collections::{HashMap, HashSet};

use cluster::ids::IdSource;
use cluster::model::{Network, Node, PortConfig, Service, SwarmSpec, Task, TaskState, Timestamp};
use cluster::orchestrator::{ServiceSnapshot, reconcile_service};
use cluster::scheduler::{SchedTask, schedule};

use crate::store::{Kind, Stored, Write};

/// Everything a pass reads.
pub struct Snapshot<'a> {
    pub services: &'a [Stored<Service>],
    pub tasks: &'a [Stored<Task>],
    pub nodes: &'a [Stored<Node>],
    /// Overlay networks (the allocator's pools).
    pub networks: &'a [Stored<Network>],
    pub cluster: &'a SwarmSpec,
    /// When the leader first saw each task running (the update monitor's clock).
    pub running_since: &'a HashMap<String, Timestamp>,
    pub now: Timestamp,
}

/// What a pass decided, and when it wants to run again even if nothing
/// changes (restart and update delays, monitor windows).
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub wake_at: Option<Timestamp>,
}

pub fn plan(s: &Snapshot<'_>, ids: &mut dyn IdSource) -> Plan {
    let nodes: Vec<Node> = s.nodes.iter().map(|n| n.value.clone()).collect();
    let versions: HashMap<&str, i64> = s
        .tasks
        .iter()
        .map(|t| (t.value.id.as_str(), t.version))
        .collect();
    // The tasks as this pass leaves them: id → task, plus which are new.
    let mut tasks: HashMap<String, Task> = s
        .tasks
        .iter()
        .map(|t| (t.value.id.clone(), t.value.clone()))
        .collect();
    let mut created: HashSet<String> = HashSet::new();
    let mut changed: HashSet<String> = HashSet::new();
    let mut deleted: Vec<String> = Vec::new();
    let mut writes = Vec::new();
    let mut wake_at: Option<Timestamp> = None;

    let mut alloc = super::alloc::Allocator::new(s.networks, s.services, s.tasks, s.nodes);
    let mut by_service: HashMap<&str, Vec<Task>> = HashMap::new();
    for t in s.tasks.iter().map(|t| &t.value) {
        if is_attachment(t) {
            // A container's attachment to a network lives as long as its
            // node (the node asks for its removal when the container stops).
            if !s.nodes.iter().any(|n| n.value.id == t.node_id) {
                tasks.remove(&t.id);
                deleted.push(t.id.clone());
            }
            continue;
        }
        by_service
            .entry(t.service_id.as_str())
            .or_default()
            .push(t.clone());
    }
    for svc in s.services {
        let mine = by_service.remove(svc.value.id.as_str()).unwrap_or_default();
        let changes = reconcile_service(
            &ServiceSnapshot {
                service: &svc.value,
                tasks: &mine,
                nodes: &nodes,
                cluster: s.cluster,
                running_since: s.running_since,
            },
            s.now,
            ids,
        );
        for t in changes.create {
            created.insert(t.id.clone());
            tasks.insert(t.id.clone(), t);
        }
        for t in changes.update {
            changed.insert(t.id.clone());
            tasks.insert(t.id.clone(), t);
        }
        for id in changes.delete {
            tasks.remove(&id);
            deleted.push(id);
        }
        let mut service_out = changes.service;
        let current = service_out.as_ref().unwrap_or(&svc.value);
        if let Some(endpoint) = alloc.endpoint(current) {
            let mut next = current.clone();
            next.endpoint = endpoint;
            service_out = Some(next);
        }
        if let Some(service) = service_out
            && let Ok(value) = serde_json::to_value(&service)
        {
            writes.push(Write::Update {
                kind: Kind::Service,
                id: service.id.clone(),
                version: svc.version,
                value,
            });
        }
        if let Some(at) = changes.wake_at {
            wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
        }
    }
    // Tasks of removed services: stop them, then forget them.
    for orphans in by_service.into_values() {
        for t in orphans {
            let stopped = t.status.state.is_terminal() || t.status.state < TaskState::Assigned;
            if t.desired_state >= TaskState::Shutdown && stopped {
                tasks.remove(&t.id);
                deleted.push(t.id.clone());
            } else if t.desired_state < TaskState::Shutdown
                && let Some(task) = tasks.get_mut(&t.id)
            {
                task.desired_state = TaskState::Shutdown;
                task.meta.updated_at = s.now;
                changed.insert(t.id.clone());
            }
        }
    }
    for id in place(s, &nodes, &mut tasks, &mut alloc) {
        changed.insert(id);
    }
    // Each node's own legs: in the ingress network (the routing mesh's
    // source) and in every network a routed service is reached on (its
    // HTTP router's path to the tasks).
    let ingress = crate::manager::ingress_of(s.networks.iter().map(|n| &n.value));
    let routed = crate::routes::routed_networks(
        s.services.iter().map(|s| &s.value),
        |id| {
            s.networks
                .iter()
                .find(|n| n.value.id == id)
                .map(|n| n.value.spec.ingress)
        },
        ingress.map(|n| n.id.as_str()),
    );
    for n in s.nodes {
        if let Some(attachments) = alloc.node_attachments(&n.value, &routed) {
            let mut node = n.value.clone();
            node.attachments = attachments;
            if let Ok(value) = serde_json::to_value(&node) {
                writes.push(Write::Update {
                    kind: Kind::Node,
                    id: node.id.clone(),
                    version: n.version,
                    value,
                });
            }
        }
    }

    for id in deleted {
        if versions.contains_key(id.as_str()) {
            writes.push(Write::Delete {
                kind: Kind::Task,
                id,
                name: None,
            });
        }
    }
    let mut new_ids: Vec<&String> = created.iter().collect();
    new_ids.sort();
    for id in new_ids {
        if let Some(value) = tasks.get(id).and_then(|t| serde_json::to_value(t).ok()) {
            writes.push(Write::Create {
                kind: Kind::Task,
                id: id.clone(),
                value,
            });
        }
    }
    let mut changed_ids: Vec<&String> = changed.difference(&created).collect();
    changed_ids.sort();
    for id in changed_ids {
        let (Some(version), Some(task)) = (versions.get(id.as_str()), tasks.get(id)) else {
            continue;
        };
        if let Ok(value) = serde_json::to_value(task) {
            writes.push(Write::Update {
                kind: Kind::Task,
                id: id.clone(),
                version: *version,
                value,
            });
        }
    }
    Plan { writes, wake_at }
}

/// The scheduler over the tasks as the orchestrators left them: pending
/// ones (not yet on a node, still wanted) are placed or keep waiting with
/// the reason. Returns the ids it changed.
fn place(
    s: &Snapshot<'_>,
    nodes: &[Node],
    tasks: &mut HashMap<String, Task>,
    alloc: &mut super::alloc::Allocator,
) -> Vec<String> {
    let ports: HashMap<&str, &[PortConfig]> = s
        .services
        .iter()
        .map(|svc| {
            let p = svc
                .value
                .spec
                .endpoint_spec
                .as_ref()
                .map_or(&[][..], |e| e.ports.as_slice());
            (svc.value.id.as_str(), p)
        })
        .collect();
    // The allocator's step: a new task gets its overlay addresses, and is
    // then ready for the scheduler (`pending`, as dockerd shows it). In id
    // order, so that a pass hands out the same addresses whatever the map's.
    let mut out = Vec::new();
    let mut fresh: Vec<&mut Task> = tasks
        .values_mut()
        .filter(|t| t.status.state == TaskState::New && t.desired_state <= TaskState::Complete)
        .collect();
    fresh.sort_by(|a, b| a.id.cmp(&b.id));
    let meshed: HashSet<&str> = s
        .services
        .iter()
        .filter(|svc| crate::manager::publishes_ingress(&svc.value.spec))
        .map(|svc| svc.value.id.as_str())
        .collect();
    for t in fresh {
        let ingress = meshed.contains(t.service_id.as_str());
        if let Err(reason) = alloc.attach_task(t, ingress) {
            if t.status.message != reason {
                t.status.message = reason;
                t.status.timestamp = s.now;
                out.push(t.id.clone());
            }
            continue;
        }
        if is_attachment(t) {
            // Already on its node: nothing to schedule.
            t.status.state = TaskState::Assigned;
            t.status.message = "network attachment".into();
        } else {
            t.status.state = TaskState::Pending;
            t.status.message = "pending task scheduling".into();
        }
        t.status.timestamp = s.now;
        out.push(t.id.clone());
    }
    fn sched<'a>(t: &'a Task, ports: &HashMap<&str, &'a [PortConfig]>) -> SchedTask<'a> {
        SchedTask::new(
            t,
            ports
                .get(t.service_id.as_str())
                .copied()
                .unwrap_or_default(),
        )
    }
    // Tasks of services that wait for others stay pending, saying why.
    let waiting = super::depends::waiting(s.services.iter().map(|svc| &svc.value), tasks);
    for t in tasks
        .values_mut()
        .filter(|t| t.status.state == TaskState::Pending && t.desired_state <= TaskState::Complete)
    {
        if let Some(why) = waiting.get(&t.service_id)
            && t.status.message != *why
        {
            t.status.message = why.clone();
            t.status.timestamp = s.now;
            out.push(t.id.clone());
        }
    }
    let snapshot: Vec<Task> = tasks.values().cloned().collect();
    let pending_tasks: Vec<&Task> = snapshot
        .iter()
        .filter(|t| t.status.state < TaskState::Assigned && t.desired_state <= TaskState::Complete)
        .filter(|t| !waiting.contains_key(&t.service_id))
        .collect();
    if pending_tasks.is_empty() {
        return out;
    }
    let assigned: Vec<SchedTask<'_>> = snapshot
        .iter()
        .filter(|t| t.status.state >= TaskState::Assigned)
        .map(|t| sched(t, &ports))
        .collect();
    let pending: Vec<SchedTask<'_>> = pending_tasks.iter().map(|t| sched(t, &ports)).collect();
    let decisions = schedule(nodes, &assigned, &pending);
    for t in decisions.apply(nodes, &pending, s.now) {
        let before = tasks.get(&t.id);
        if before != Some(&t) {
            out.push(t.id.clone());
            tasks.insert(t.id.clone(), t);
        }
    }
    out
}

/// A container's attachment to a network (`docker run --network` with an
/// attachable overlay), not a service's task.
pub fn is_attachment(t: &Task) -> bool {
    t.service_id.is_empty() && t.spec.network_attachment_spec.is_some()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
