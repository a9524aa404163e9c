//! The rolling update as a state machine over stored state. Each pass
//! looks at the service (`Spec`, `UpdateStatus`) and its slots and decides
//! which slots to replace next: at most `Parallelism` in flight, a slot
//! counting as in flight until its new task runs and `Delay` has passed
//! since; `start-first` starts the new task before stopping the old one,
//! `stop-first` the reverse. Tasks of the update that fail within
//! `Monitor` of starting count against `MaxFailureRatio`; past it,
//! `FailureAction` pauses, continues or rolls back. The update completes
//! once every slot runs the new spec and the monitor window has passed.

pub mod ops;

#[cfg(test)]
mod tests;

use crate::model::{Task, TaskState, Timestamp, UpdateConfig, UpdateState, UpdateStatus};
use crate::orchestrator::task::{is_task_dirty, new_task};
use crate::orchestrator::work::{Ctx, Work};

pub use ops::{apply_service_update, create_service, rollback_service};

/// swarmkit's default monitor period.
pub const DEFAULT_MONITOR: i64 = 5_000_000_000;

/// The effective policy with swarmkit's defaults for what is unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub parallelism: u64,
    pub delay: i64,
    pub failure_action: String,
    pub monitor: i64,
    pub max_failure_ratio: f32,
    pub start_first: bool,
}

impl Policy {
    pub fn from_config(config: Option<&UpdateConfig>) -> Self {
        match config {
            None => Policy {
                parallelism: 1,
                delay: 0,
                failure_action: "pause".into(),
                monitor: DEFAULT_MONITOR,
                max_failure_ratio: 0.0,
                start_first: false,
            },
            Some(c) => Policy {
                parallelism: c.parallelism,
                delay: c.delay,
                failure_action: if c.failure_action.is_empty() {
                    "pause".into()
                } else {
                    c.failure_action.clone()
                },
                monitor: if c.monitor == 0 {
                    DEFAULT_MONITOR
                } else {
                    c.monitor
                },
                max_failure_ratio: c.max_failure_ratio,
                start_first: c.order == "start-first",
            },
        }
    }
}

fn state(w: &Work<'_>) -> Option<UpdateState> {
    w.service.update_status.as_ref().and_then(|u| u.state)
}

fn set_status(w: &mut Work<'_>, state: UpdateState, message: String, now: Option<Timestamp>) {
    let status = w.service.update_status.get_or_insert(UpdateStatus {
        state: None,
        started_at: None,
        completed_at: None,
        message: String::new(),
    });
    status.state = Some(state);
    status.message = message;
    if let Some(t) = now {
        status.completed_at = Some(t);
    }
    w.service_changed = true;
}

/// Advances the update of the service in `w` over its `slots`.
pub(crate) fn advance(w: &mut Work<'_>, ctx: &Ctx<'_>, slots: &[Vec<usize>]) {
    if state(w).is_some_and(|s| s.is_paused()) {
        return;
    }
    let clean = |w: &Work<'_>, i: usize| {
        !is_task_dirty(&w.service, &w.tasks[i], ctx.node(&w.tasks[i].node_id))
    };
    let dirty: Vec<&Vec<usize>> = slots
        .iter()
        .filter(|s| s.len() > 1 || s.first().is_some_and(|&i| !clean(w, i)))
        .collect();
    if dirty.is_empty() && !state(w).is_some_and(|s| s.in_progress()) {
        return;
    }
    if state(w).is_none() {
        w.service.update_status = Some(UpdateStatus {
            state: Some(UpdateState::Updating),
            started_at: Some(ctx.now),
            completed_at: None,
            message: "update in progress".into(),
        });
        w.service_changed = true;
    }
    let rolling_back = state(w) == Some(UpdateState::RollbackStarted);
    let policy = Policy::from_config(if rolling_back {
        w.service.spec.rollback_config.as_ref()
    } else {
        w.service.spec.update_config.as_ref()
    });
    let started = w
        .service
        .update_status
        .as_ref()
        .and_then(|u| u.started_at)
        .unwrap_or(ctx.now);
    if policy.failure_action != "continue"
        && check_failures(w, ctx, &policy, started, slots.len(), rolling_back)
    {
        return;
    }

    // Slots whose new task does not run yet, or runs since less than
    // `Delay`, hold a place in the batch.
    let mut busy = 0u64;
    let mut last_start: Option<Timestamp> = None;
    let mut waiting = false;
    let mut start_first_done: Vec<usize> = Vec::new();
    for slot in slots {
        let Some(&new) = slot.iter().find(|&&i| clean(w, i)) else {
            continue;
        };
        let t = &w.tasks[new];
        if t.meta.created_at < started {
            continue;
        }
        match ctx.started_at(t) {
            Some(at) if t.status.state == TaskState::Running => {
                last_start = Some(last_start.map_or(at, |l| l.max(at)));
                if slot.len() > 1 {
                    start_first_done.extend(slot.iter().copied().filter(|&i| i != new));
                }
                if policy.delay > 0 && ctx.now < at.add_nanos(policy.delay) {
                    busy += 1;
                    w.wake(at.add_nanos(policy.delay));
                }
            }
            _ => {
                busy += 1;
                waiting = true;
            }
        }
    }
    // start-first: the old task goes once its replacement runs.
    for i in start_first_done {
        w.set_desired(i, TaskState::Shutdown, ctx.now);
    }

    let todo: Vec<Vec<usize>> = dirty
        .iter()
        .filter(|s| !s.iter().any(|&i| clean(w, i)))
        .map(|s| (*s).clone())
        .collect();
    if todo.is_empty() {
        if !waiting && state(w).is_some_and(|s| s.in_progress()) {
            complete_when_monitored(w, ctx, &policy, last_start, rolling_back);
        }
        return;
    }
    let parallelism = if policy.parallelism == 0 {
        todo.len() as u64
    } else {
        policy.parallelism
    };
    let room = parallelism.saturating_sub(busy);
    for slot in todo
        .iter()
        .take(usize::try_from(room).unwrap_or(usize::MAX))
    {
        replace_slot(w, ctx, slot, policy.start_first);
    }
}

/// Creates the new task of a slot; stop-first also stops the old ones now.
fn replace_slot(w: &mut Work<'_>, ctx: &Ctx<'_>, slot: &[usize], start_first: bool) {
    let Some(&first) = slot.first() else { return };
    let global = w.service.spec.mode.kind().is_global();
    let (slot_no, node) = if global {
        (0, w.tasks[first].node_id.clone())
    } else {
        (w.tasks[first].slot, String::new())
    };
    let id = w.new_id();
    let mut t = new_task(&w.service, id, slot_no, &node, ctx.now);
    if start_first {
        w.add(t);
    } else {
        t.desired_state = TaskState::Ready;
        w.add(t);
        for &i in slot {
            if w.tasks[i].desired_state <= TaskState::Running {
                w.set_desired(i, TaskState::Shutdown, ctx.now);
            }
        }
    }
}

/// Counts the update's tasks that failed within the monitor window and
/// applies the failure action past the ratio. True when the update stopped.
fn check_failures(
    w: &mut Work<'_>,
    ctx: &Ctx<'_>,
    policy: &Policy,
    started: Timestamp,
    slots: usize,
    rolling_back: bool,
) -> bool {
    let template = &w.service.spec.task_template;
    let mut failed: Vec<&Task> = w
        .live()
        .map(|i| &w.tasks[i])
        .filter(|t| t.spec == *template && t.meta.created_at >= started)
        .filter(|t| {
            matches!(
                t.status.state,
                TaskState::Failed | TaskState::Rejected | TaskState::Complete
            )
        })
        .filter(|t| match ctx.running_since.get(&t.id) {
            Some(at) => t.status.timestamp.nanos_since(at) <= policy.monitor,
            None => true,
        })
        .collect();
    if failed.is_empty() || slots == 0 {
        return false;
    }
    if failed.len() as f32 / slots as f32 <= policy.max_failure_ratio {
        return false;
    }
    failed.sort_by_key(|t| (t.status.timestamp, t.id.as_str()));
    let culprit = failed[0].id.clone();
    match (policy.failure_action.as_str(), rolling_back) {
        ("rollback", false) => {
            if let Some(previous) = w.service.previous_spec.take() {
                w.service.spec = previous;
                set_status(
                    w,
                    UpdateState::RollbackStarted,
                    format!(
                        "update rolled back due to failure or early termination of task {culprit}"
                    ),
                    None,
                );
            } else {
                set_status(
                    w,
                    UpdateState::Paused,
                    format!("update paused due to failure or early termination of task {culprit}"),
                    None,
                );
            }
        }
        (_, true) => set_status(
            w,
            UpdateState::RollbackPaused,
            format!("rollback paused due to failure or early termination of task {culprit}"),
            None,
        ),
        _ => set_status(
            w,
            UpdateState::Paused,
            format!("update paused due to failure or early termination of task {culprit}"),
            None,
        ),
    }
    true
}

/// Every slot runs the new spec: complete once the last task has run for
/// the monitor period (`Delay` plus a second when that is longer).
fn complete_when_monitored(
    w: &mut Work<'_>,
    ctx: &Ctx<'_>,
    policy: &Policy,
    last_start: Option<Timestamp>,
    rolling_back: bool,
) {
    let period = if policy.delay >= policy.monitor {
        policy.delay + 1_000_000_000
    } else {
        policy.monitor
    };
    if let Some(at) = last_start
        && ctx.now < at.add_nanos(period)
    {
        w.wake(at.add_nanos(period));
        return;
    }
    let (state, message) = if rolling_back {
        (UpdateState::RollbackCompleted, "rollback completed")
    } else {
        (UpdateState::Completed, "update completed")
    };
    set_status(w, state, message.into(), Some(ctx.now));
}
