//! Task history retention (swarmkit's task reaper): per slot, or per node
//! for global services, keep `TaskHistoryRetentionLimit` tasks (at least
//! `MaxAttempts + 1` when restarts are limited, since restart accounting
//! reads them), deleting the oldest stopped ones first. Tasks removed by a
//! scale-down go as soon as they stopped.

use std::collections::BTreeMap;

use crate::model::TaskState;

use super::work::Work;

pub(crate) fn reap(w: &mut Work<'_>, retention: i64) {
    // Scaled-down or superseded tasks, once off their node.
    let removable: Vec<usize> = w
        .live()
        .filter(|&i| {
            let t = &w.tasks[i];
            t.desired_state == TaskState::Remove
                && (t.status.state < TaskState::Assigned || t.status.state >= TaskState::Complete)
        })
        .collect();
    for i in removable {
        w.delete(i);
    }
    let mut keep = retention;
    if let Some(max) = w
        .service
        .spec
        .task_template
        .restart_policy
        .as_ref()
        .and_then(|r| r.max_attempts)
        && max > 0
    {
        keep = i64::try_from(max).unwrap_or(i64::MAX).saturating_add(1);
    }
    if keep < 0 {
        return;
    }
    let global = w.service.spec.mode.kind().is_global();
    let mut groups: BTreeMap<(u64, String), Vec<usize>> = BTreeMap::new();
    for i in w.live() {
        let t = &w.tasks[i];
        let key = if global {
            (0, t.node_id.clone())
        } else {
            (t.slot, String::new())
        };
        groups.entry(key).or_default().push(i);
    }
    for (_, mut tasks) in groups {
        let mut excess = tasks.len() as i64 - keep;
        if excess <= 0 {
            continue;
        }
        tasks.sort_by_key(|&i| (w.tasks[i].status.timestamp, w.tasks[i].meta.created_at));
        for i in tasks {
            if excess <= 0 {
                break;
            }
            let t = &w.tasks[i];
            let stopped = t.status.state > TaskState::Running;
            let never_ran =
                t.status.state < TaskState::Assigned && t.desired_state > TaskState::Running;
            if stopped || never_ran {
                w.delete(i);
                excess -= 1;
            }
        }
    }
}
