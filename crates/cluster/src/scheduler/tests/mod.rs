//! Scheduler cases: shared builders; filters and explanations in
//! `filters`, spreading, preference trees and the 50,000-task run in
//! `spread`.

mod filters;
mod spread;

use std::collections::HashMap;

use super::*;
use crate::model::{
    DiscreteGenericResource, NamedGenericResource, NodeState, Placement as PlacementSpec,
    PlacementPreference, Platform, ResourceRequirements, Resources, SpreadOver, TaskSpec,
};

const GB: i64 = 1 << 30;
const CPU: i64 = 1_000_000_000;

fn node(id: &str) -> Node {
    let mut n = Node {
        id: id.into(),
        ..Default::default()
    };
    n.status.state = NodeState::Ready;
    n.spec.availability = "active".into();
    n.spec.role = "worker".into();
    n.description.hostname = id.into();
    n.description.platform = Platform {
        architecture: "x86_64".into(),
        os: "linux".into(),
    };
    n.description.resources = Resources {
        nano_cpus: 4 * CPU,
        memory_bytes: 8 * GB,
        ..Default::default()
    };
    n
}

fn labeled(id: &str, key: &str, value: &str) -> Node {
    let mut n = node(id);
    n.spec.annotations.labels.insert(key.into(), value.into());
    n
}

fn task(id: &str, service: &str, spec: &TaskSpec) -> Task {
    Task {
        id: id.into(),
        service_id: service.into(),
        spec: spec.clone(),
        desired_state: TaskState::Running,
        status: crate::model::TaskStatus {
            state: TaskState::Pending,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn tasks(n: usize, service: &str, spec: &TaskSpec) -> Vec<Task> {
    (0..n)
        .map(|i| task(&format!("{service}-{i}"), service, spec))
        .collect()
}

fn on(mut t: Task, node: &str, state: TaskState) -> Task {
    t.node_id = node.into();
    t.status.state = state;
    t
}

fn reserve(cpu: i64, mem: i64) -> TaskSpec {
    TaskSpec {
        resources: Some(ResourceRequirements {
            reservations: Some(Resources {
                nano_cpus: cpu,
                memory_bytes: mem,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn constrained(list: &[&str]) -> TaskSpec {
    TaskSpec {
        placement: Some(PlacementSpec {
            constraints: list.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn plain(ts: &[Task]) -> Vec<SchedTask<'_>> {
    ts.iter().map(SchedTask::plain).collect()
}

/// Placed tasks per node id.
fn per_node(nodes: &[Node], d: &Decisions) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in &d.placed {
        *m.entry(nodes[p.node].id.clone()).or_default() += 1;
    }
    m
}

fn reasons(d: &Decisions) -> Vec<&str> {
    d.unplaced.iter().map(|u| u.reason.as_str()).collect()
}
