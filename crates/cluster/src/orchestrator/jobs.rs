//! Jobs: tasks run to completion. A replicated job keeps up to
//! `MaxConcurrent` tasks going until `TotalCompletions` have completed; a
//! global job runs once on every qualifying node. Each spec update is a
//! new execution (`JobIteration`): tasks of earlier ones are removed.

use std::collections::{BTreeMap, HashSet};

use crate::constraint;
use crate::model::{Task, TaskState};

use super::global::by_node;
use super::restart::{restart, should_restart};
use super::task::new_task;
use super::work::{Ctx, Work};

fn iteration(w: &Work<'_>) -> u64 {
    w.service
        .job_status
        .as_ref()
        .map_or(0, |j| j.job_iteration.index)
}

fn of_iteration(t: &Task, it: u64) -> bool {
    t.job_iteration.is_some_and(|v| v.index == it)
}

/// Stops tasks of earlier executions that still run.
fn remove_old(w: &mut Work<'_>, ctx: &Ctx<'_>, it: u64) {
    let old: Vec<usize> = w
        .live()
        .filter(|&i| {
            let t = &w.tasks[i];
            t.job_iteration.is_some()
                && !of_iteration(t, it)
                && t.status.state <= TaskState::Running
        })
        .collect();
    for i in old {
        w.set_desired(i, TaskState::Remove, ctx.now);
    }
}

/// A task of this execution that stopped without completing, or whose
/// node went away.
fn needs_restart(ctx: &Ctx<'_>, t: &Task) -> bool {
    t.desired_state <= TaskState::Complete
        && t.status.state != TaskState::Complete
        && (t.status.state > TaskState::Complete
            || (!t.node_id.is_empty() && ctx.node_invalid(&t.node_id)))
}

pub(crate) fn reconcile_replicated(
    w: &mut Work<'_>,
    ctx: &Ctx<'_>,
    max_concurrent: u64,
    total: u64,
) -> Vec<Vec<usize>> {
    let it = iteration(w);
    remove_old(w, ctx, it);
    let mut by_slot: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in w.live().filter(|&i| of_iteration(&w.tasks[i], it)) {
        by_slot.entry(w.tasks[i].slot).or_default().push(i);
    }
    for slot in by_slot.values() {
        for &i in slot {
            if needs_restart(ctx, &w.tasks[i]) {
                restart(w, ctx, i, slot);
            }
        }
    }
    let mut by_slot: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in w.live().filter(|&i| of_iteration(&w.tasks[i], it)) {
        by_slot.entry(w.tasks[i].slot).or_default().push(i);
    }
    let (mut running, mut complete, mut exhausted) = (0u64, 0u64, 0u64);
    let mut taken = HashSet::new();
    for (&n, slot) in &by_slot {
        let tasks: Vec<&Task> = slot.iter().map(|&i| &w.tasks[i]).collect();
        if tasks.iter().any(|t| t.status.state == TaskState::Complete) {
            complete += 1;
        } else if tasks.iter().any(|t| t.desired_state <= TaskState::Complete) {
            running += 1;
        } else if let Some(last) = tasks.iter().max_by_key(|t| t.meta.created_at)
            && !should_restart(last, &tasks, true)
        {
            // Out of restart attempts: the slot failed for good.
            exhausted += 1;
        } else {
            continue;
        }
        taken.insert(n);
    }
    let new = max_concurrent
        .saturating_sub(running)
        .min(total.saturating_sub(complete + running + exhausted));
    let mut next = 0u64;
    for _ in 0..new {
        while taken.contains(&next) {
            next += 1;
        }
        taken.insert(next);
        let id = w.new_id();
        let t = new_task(&w.service, id, next, "", ctx.now);
        w.add(t);
    }
    slots_of(w, it, |t| t.slot.to_string())
}

pub(crate) fn reconcile_global(w: &mut Work<'_>, ctx: &Ctx<'_>) -> Vec<Vec<usize>> {
    let it = iteration(w);
    remove_old(w, ctx, it);
    let constraints =
        constraint::parse(w.service.spec.task_template.constraints()).unwrap_or_default();
    let tasks = by_node(w);
    for node in ctx.all_nodes {
        let on_node: Vec<usize> = tasks
            .get(&node.id)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| of_iteration(&w.tasks[i], it))
                    .collect()
            })
            .unwrap_or_default();
        let qualifies = !node.is_invalid_for_tasks()
            && node.spec.availability != "pause"
            && constraint::node_matches(&constraints, node);
        for &i in &on_node {
            if needs_restart(ctx, &w.tasks[i]) && qualifies {
                restart(w, ctx, i, &on_node);
            }
        }
        if qualifies && on_node.is_empty() {
            let id = w.new_id();
            let t = new_task(&w.service, id, 0, &node.id, ctx.now);
            w.add(t);
        }
    }
    slots_of(w, it, |t| t.node_id.clone())
}

fn slots_of(w: &Work<'_>, it: u64, key: impl Fn(&Task) -> String) -> Vec<Vec<usize>> {
    let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in w.live().filter(|&i| of_iteration(&w.tasks[i], it)) {
        m.entry(key(&w.tasks[i])).or_default().push(i);
    }
    m.into_values().collect()
}
