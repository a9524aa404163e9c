//! The restart policy without a supervisor's memory: restart history is
//! read from the tasks kept in the slot (history retention keeps at least
//! `MaxAttempts + 1` of them, as swarmkit's reaper does), and a replacement
//! waits (desired `ready`) until its delay has passed and the task it
//! replaces has stopped, then is started by `promote_ready`.

use crate::model::{Task, TaskState, Timestamp};

use super::work::{Ctx, Work};

/// swarmkit's default restart delay.
pub const DEFAULT_RESTART_DELAY: i64 = 5_000_000_000;
/// How long a replacement waits for the task it replaces to stop.
pub const OLD_TASK_TIMEOUT: i64 = 60_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    None,
    OnFailure,
    Any,
}

pub fn condition(task: &Task) -> Condition {
    match task
        .spec
        .restart_policy
        .as_ref()
        .map(|r| r.condition.as_str())
    {
        Some("none") => Condition::None,
        Some("on-failure") => Condition::OnFailure,
        _ => Condition::Any,
    }
}

fn restart_delay(task: &Task) -> i64 {
    task.spec
        .restart_policy
        .as_ref()
        .and_then(|r| r.delay)
        .unwrap_or(DEFAULT_RESTART_DELAY)
}

/// Whether a stopped `task` gets a replacement. `slot` is every task of
/// its slot (or node, for global services), `task` included.
pub fn should_restart(task: &Task, slot: &[&Task], is_job: bool) -> bool {
    match condition(task) {
        Condition::None => return false,
        Condition::OnFailure if task.status.state == TaskState::Complete => return false,
        Condition::Any if is_job && task.status.state == TaskState::Complete => return false,
        _ => {}
    }
    let Some(policy) = &task.spec.restart_policy else {
        return true;
    };
    let max = policy.max_attempts.unwrap_or(0);
    if max == 0 {
        return true;
    }
    // Restarts so far: tasks of this spec in the slot after the first one
    // (a spec change starts the count anew, as swarmkit's spec version).
    let mut same: Vec<&Task> = slot
        .iter()
        .copied()
        .filter(|t| t.spec == task.spec)
        .collect();
    same.sort_by_key(|t| (t.meta.created_at, t.id.as_str()));
    let restarts = same.iter().skip(1);
    let window = policy.window.unwrap_or(0);
    let count = if window == 0 {
        restarts.count() as u64
    } else {
        let at = task.status.timestamp;
        let lookback = at.add_nanos(-window);
        restarts
            .filter(|t| t.meta.created_at > lookback && t.meta.created_at < at)
            .count() as u64
    };
    count < max
}

/// Stops task `i` and, if its policy allows, creates its replacement
/// (same slot, or same node for global services) waiting to start.
pub(crate) fn restart(w: &mut Work<'_>, ctx: &Ctx<'_>, i: usize, slot: &[usize]) {
    let now = ctx.now;
    let kind = w.service.spec.mode.kind();
    if w.tasks[i].desired_state > TaskState::Complete {
        return;
    }
    // A replacement that failed while it waited out its restart delay (a
    // node prepares a task before it starts: its image could not be
    // pulled, say) is itself replaced once that delay is over, as
    // swarmkit's supervisor waits: a bad image is tried once a delay,
    // not in a tight loop of pulls and tasks.
    if w.tasks[i].desired_state == TaskState::Ready {
        let (delay, _) = start_delay(w, ctx, slot, i);
        let at = w.tasks[i].meta.created_at.add_nanos(delay);
        if now < at {
            w.wake(at);
            return;
        }
    }
    w.set_desired(i, TaskState::Shutdown, now);
    let history: Vec<&Task> = slot
        .iter()
        .filter(|&&j| !w.is_deleted(j))
        .map(|&j| &w.tasks[j])
        .collect();
    if !should_restart(&w.tasks[i], &history, kind.is_job()) {
        return;
    }
    let old = &w.tasks[i];
    let (slot_no, node) = if kind.is_global() {
        (0, old.node_id.clone())
    } else {
        (old.slot, String::new())
    };
    let iteration = old.job_iteration;
    let id = w.new_id();
    let mut t = super::task::new_task(&w.service, id, slot_no, &node, now);
    if kind.is_job() {
        t.job_iteration = iteration;
    }
    t.desired_state = TaskState::Ready;
    w.add(t);
}

/// The tasks of a slot that still count, per swarmkit's
/// `UpdatableTasksInSlot`: those desired to run; else the newest one if it
/// will not be restarted (so the slot stays taken); else none (a dead slot).
pub(crate) fn updatable_in_slot(w: &Work<'_>, slot: &[usize], rolling_back: bool) -> Vec<usize> {
    let live: Vec<usize> = slot.iter().copied().filter(|&i| !w.is_deleted(i)).collect();
    let updatable: Vec<usize> = live
        .iter()
        .copied()
        .filter(|&i| w.tasks[i].desired_state <= TaskState::Running)
        .collect();
    if !updatable.is_empty() || rolling_back || live.is_empty() {
        return updatable;
    }
    let newest = live
        .iter()
        .copied()
        .max_by_key(|&i| (w.tasks[i].status.timestamp, w.tasks[i].meta.created_at));
    let Some(n) = newest else { return Vec::new() };
    let history: Vec<&Task> = live.iter().map(|&i| &w.tasks[i]).collect();
    if should_restart(&w.tasks[n], &history, false) {
        Vec::new()
    } else {
        vec![n]
    }
}

/// How long replacement `i` of `slot` waits after its creation before it
/// starts, and whether the task it replaces has stopped.
fn start_delay(w: &Work<'_>, ctx: &Ctx<'_>, slot: &[usize], i: usize) -> (i64, bool) {
    let t = &w.tasks[i];
    let created = t.meta.created_at;
    // The task it replaces: the newest of the slot being stopped.
    let prev = slot
        .iter()
        .copied()
        .filter(|&j| j != i && !w.is_deleted(j))
        .filter(|&j| {
            w.tasks[j].desired_state > TaskState::Running && w.tasks[j].meta.created_at <= created
        })
        .max_by_key(|&j| w.tasks[j].meta.created_at);
    match prev {
        None => (0, true),
        Some(j) => {
            let p = &w.tasks[j];
            let drained = ctx
                .node(&p.node_id)
                .is_some_and(|n| n.spec.availability == "drain");
            let node_down = p.node_id.is_empty() || ctx.node_invalid(&p.node_id) && !drained;
            // A dead node is not a failing task: its tasks move at
            // once (swarmkit applies the restart delay here too,
            // which is most of its failover time).
            let delay = if p.spec == t.spec && !drained && !node_down {
                restart_delay(p)
            } else {
                0
            };
            let stopped = p.status.state > TaskState::Running
                || p.status.state < TaskState::Assigned
                || node_down;
            (delay, stopped)
        }
    }
}

/// Starts the replacements that waited: after their restart delay (none
/// for update replacements or when the old node is drained or down), once the task
/// they replace has stopped or a minute has passed.
pub(crate) fn promote_ready(w: &mut Work<'_>, ctx: &Ctx<'_>, slots: &[Vec<usize>]) {
    let run_state = if w.service.spec.mode.kind().is_job() {
        TaskState::Complete
    } else {
        TaskState::Running
    };
    for slot in slots {
        for &i in slot {
            if w.is_deleted(i) || w.tasks[i].desired_state != TaskState::Ready {
                continue;
            }
            let created = w.tasks[i].meta.created_at;
            let (delay, stopped) = start_delay(w, ctx, slot, i);
            let start_at: Timestamp = created.add_nanos(delay);
            let give_up_at = start_at.add_nanos(OLD_TASK_TIMEOUT);
            if ctx.now >= start_at && (stopped || ctx.now >= give_up_at) {
                w.start(i, run_state, ctx.now);
            } else if ctx.now < start_at {
                w.wake(start_at);
            } else {
                w.wake(give_up_at);
            }
        }
    }
}
