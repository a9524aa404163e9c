//! Replicated services: one task per slot `1..=Replicas`. Stopped tasks
//! and tasks on down or drained nodes are restarted per policy; missing
//! slots get new tasks; extra slots are removed, keeping running tasks and
//! a balanced spread, and the lowest slot numbers.

use std::collections::{BTreeMap, HashMap};

use crate::model::TaskState;

use super::restart::{restart, updatable_in_slot};
use super::task::new_task;
use super::work::{Ctx, Work};

/// Tasks by slot number.
pub(crate) fn slots(w: &Work<'_>) -> BTreeMap<u64, Vec<usize>> {
    let mut m: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in w.live() {
        m.entry(w.tasks[i].slot).or_default().push(i);
    }
    m
}

/// Reconciles and returns the slots the updater should look at.
pub(crate) fn reconcile(w: &mut Work<'_>, ctx: &Ctx<'_>, replicas: u64) -> Vec<Vec<usize>> {
    // Restart what stopped or sits on a node that went away.
    for (_, slot) in slots(w) {
        for &i in &slot {
            let t = &w.tasks[i];
            if t.desired_state <= TaskState::Running
                && (t.status.state > TaskState::Running
                    || (!t.node_id.is_empty() && ctx.node_invalid(&t.node_id)))
            {
                restart(w, ctx, i, &slot);
            }
        }
    }
    let rolling_back = w
        .service
        .update_status
        .as_ref()
        .and_then(|u| u.state)
        .is_some_and(|s| s.is_rollback());
    let by_slot = slots(w);
    let mut running: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut dead: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (n, slot) in by_slot {
        let updatable = updatable_in_slot(w, &slot, rolling_back);
        if updatable.is_empty() {
            dead.insert(n, slot);
        } else {
            running.insert(n, updatable);
        }
    }
    let have = running.len() as u64;
    let mut keep: Vec<Vec<usize>> = running.values().cloned().collect();
    if replicas > have {
        let mut next = 0u64;
        for _ in 0..replicas - have {
            next += 1;
            while running.contains_key(&next) {
                next += 1;
            }
            // A dead slot taken again keeps its tasks as history.
            dead.remove(&next);
            let id = w.new_id();
            let t = new_task(&w.service, id, next, "", ctx.now);
            let i = w.add(t);
            keep.push(vec![i]);
        }
    } else if replicas < have {
        let ordered = scale_down_order(w, running.into_values().collect());
        let (kept, removed) = ordered.split_at(replicas as usize);
        for slot in removed {
            for &i in slot {
                w.set_desired(i, TaskState::Remove, ctx.now);
            }
        }
        keep = kept.to_vec();
    }
    delete_dead(w, dead.into_values());
    keep
}

/// Slots in the order they are kept: those with a running task first,
/// then spreading over nodes (a node's first slot before anyone's second),
/// then by slot number, so the highest slots go first.
fn scale_down_order(w: &Work<'_>, mut slots: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    let is_running = |s: &Vec<usize>| {
        s.iter()
            .any(|&i| w.tasks[i].status.state == TaskState::Running)
    };
    slots.sort_by_key(|s| (!is_running(s), s.first().map_or(0, |&i| w.tasks[i].slot)));
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    let mut indexed: Vec<(usize, Vec<usize>)> = slots
        .into_iter()
        .map(|s| {
            let index = if s.len() == 1 && !w.tasks[s[0]].node_id.is_empty() {
                let c = per_node.entry(w.tasks[s[0]].node_id.as_str()).or_default();
                *c += 1;
                *c
            } else {
                usize::MAX
            };
            (index, s)
        })
        .collect();
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, s)| s).collect()
}

/// Dead slots' tasks are deleted once they are not on a node any more;
/// the rest go on the next pass.
pub(crate) fn delete_dead(w: &mut Work<'_>, dead: impl Iterator<Item = Vec<usize>>) {
    for slot in dead {
        for i in slot {
            let s = w.tasks[i].status.state;
            if s > TaskState::Running || s < TaskState::Assigned {
                w.delete(i);
            }
        }
    }
}
