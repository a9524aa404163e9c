//! Global services: one task per node that is up, not drained and matches
//! the constraints. Paused nodes keep what they run but get nothing new;
//! tasks on nodes that stopped qualifying are shut down, not moved.

use std::collections::BTreeMap;

use crate::constraint;
use crate::model::TaskState;

use super::restart::{restart, updatable_in_slot};
use super::task::new_task;
use super::work::{Ctx, Work};

pub(crate) fn by_node(w: &Work<'_>) -> BTreeMap<String, Vec<usize>> {
    let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in w.live() {
        m.entry(w.tasks[i].node_id.clone()).or_default().push(i);
    }
    m
}

fn shutdown(w: &mut Work<'_>, ctx: &Ctx<'_>, tasks: &[usize]) {
    for &i in tasks {
        if w.tasks[i].desired_state <= TaskState::Complete {
            w.set_desired(i, TaskState::Shutdown, ctx.now);
        }
    }
}

pub(crate) fn reconcile(w: &mut Work<'_>, ctx: &Ctx<'_>) -> Vec<Vec<usize>> {
    let constraints =
        constraint::parse(w.service.spec.task_template.constraints()).unwrap_or_default();
    let eligible = |node_id: &str| {
        ctx.node(node_id)
            .is_some_and(|n| !n.is_invalid_for_tasks() && constraint::node_matches(&constraints, n))
    };
    // Tasks that stopped on a node that still qualifies are restarted there.
    for (node, tasks) in by_node(w) {
        if !eligible(&node) {
            continue;
        }
        for &i in &tasks {
            let t = &w.tasks[i];
            if t.desired_state <= TaskState::Running && t.status.state > TaskState::Running {
                restart(w, ctx, i, &tasks);
            }
        }
    }
    let rolling_back = w
        .service
        .update_status
        .as_ref()
        .and_then(|u| u.state)
        .is_some_and(|s| s.is_rollback());
    let mut tasks = by_node(w);
    let mut slots = Vec::new();
    for node in ctx.all_nodes {
        let on_node = tasks.remove(&node.id).unwrap_or_default();
        if !eligible(&node.id) {
            shutdown(w, ctx, &on_node);
            continue;
        }
        if node.spec.availability == "pause" {
            continue;
        }
        let updatable = updatable_in_slot(w, &on_node, rolling_back);
        if updatable.is_empty() {
            let id = w.new_id();
            let t = new_task(&w.service, id, 0, &node.id, ctx.now);
            let i = w.add(t);
            slots.push(vec![i]);
        } else {
            slots.push(updatable);
        }
    }
    // Nodes that left the cluster.
    for (_, rest) in tasks {
        shutdown(w, ctx, &rest);
    }
    slots
}
