//! Pure reconcile functions. From a snapshot of one service, its tasks and
//! the nodes, `reconcile_service` returns the writes that bring reality
//! toward the spec: tasks to create, tasks whose desired state changes,
//! tasks to delete, the service itself when its update status or spec
//! moved, and when to call again (restart delays, update delays and
//! monitor windows end at known times). Level-triggered: the result
//! depends only on the snapshot, so a missed event or a new leader changes
//! nothing.

mod global;
mod history;
mod jobs;
mod replicated;
pub mod restart;
pub mod task;
pub(crate) mod work;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::ids::IdSource;
use crate::model::{ModeKind, Node, Service, ServiceStatus, SwarmSpec, Task, TaskState, Timestamp};

pub use task::{container_labels, is_task_dirty, new_task, task_name};

/// What one reconcile pass reads.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSnapshot<'a> {
    pub service: &'a Service,
    /// Every task of this service, history included.
    pub tasks: &'a [Task],
    /// Every node of the cluster.
    pub nodes: &'a [Node],
    pub cluster: &'a SwarmSpec,
    /// When the leader saw tasks reach `running` (task id → time). The
    /// updater's failure monitor measures from there; without an entry a
    /// running task's status time is used, and a task that stopped counts
    /// as failing early.
    pub running_since: &'a HashMap<String, Timestamp>,
}

/// The writes a pass asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub create: Vec<Task>,
    pub update: Vec<Task>,
    pub delete: Vec<String>,
    /// The service with a new `UpdateStatus` (and, for an automatic
    /// rollback, its previous spec restored).
    pub service: Option<Service>,
    /// Reconcile again at this time even if nothing changes.
    pub wake_at: Option<Timestamp>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.update.is_empty()
            && self.delete.is_empty()
            && self.service.is_none()
    }
}

/// One pass over one service: orchestrate its mode, roll updates, start
/// delayed replacements, trim history.
pub fn reconcile_service(
    snap: &ServiceSnapshot<'_>,
    now: Timestamp,
    ids: &mut dyn IdSource,
) -> Changes {
    let ctx = work::Ctx {
        now,
        nodes: snap.nodes.iter().map(|n| (n.id.as_str(), n)).collect(),
        all_nodes: snap.nodes,
        retention: snap.cluster.task_history_retention_limit(),
        running_since: snap.running_since,
    };
    let mut w = work::Work::new(snap.service, snap.tasks, ids);
    let kind = snap.service.spec.mode.kind();
    let slots = match kind {
        ModeKind::Replicated { replicas } => replicated::reconcile(&mut w, &ctx, replicas),
        ModeKind::Global => global::reconcile(&mut w, &ctx),
        ModeKind::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => jobs::reconcile_replicated(&mut w, &ctx, max_concurrent, total_completions),
        ModeKind::GlobalJob => jobs::reconcile_global(&mut w, &ctx),
    };
    if !kind.is_job() {
        crate::updater::advance(&mut w, &ctx, &slots);
    }
    let all: Vec<Vec<usize>> = group_for_promotion(&w, kind);
    restart::promote_ready(&mut w, &ctx, &all);
    history::reap(&mut w, ctx.retention);
    w.into_changes()
}

/// Every task grouped by slot (node for global modes), for starting
/// replacements against the tasks they replace.
fn group_for_promotion(w: &work::Work<'_>, kind: ModeKind) -> Vec<Vec<usize>> {
    let mut m: HashMap<(u64, &str), Vec<usize>> = HashMap::new();
    for i in w.live() {
        let t = &w.tasks[i];
        let key = if kind.is_global() {
            (0, t.node_id.as_str())
        } else {
            (t.slot, "")
        };
        m.entry(key).or_default().push(i);
    }
    let mut v: Vec<Vec<usize>> = m.into_values().collect();
    v.sort();
    v
}

/// `ServiceStatus` as swarmkit's `ListServiceStatuses` counts it: running
/// tasks; desired = replicas (max concurrent for a replicated job, tasks
/// desired to run for global modes); completed tasks of the current job
/// execution.
pub fn service_status(service: &Service, tasks: &[Task]) -> ServiceStatus {
    let kind = service.spec.mode.kind();
    let mut status = ServiceStatus::default();
    let global = match kind {
        ModeKind::Replicated { replicas } => {
            status.desired_tasks = replicas;
            false
        }
        ModeKind::ReplicatedJob { max_concurrent, .. } => {
            status.desired_tasks = max_concurrent;
            false
        }
        _ => true,
    };
    let iteration = service.job_status.as_ref().map(|j| j.job_iteration.index);
    for t in tasks.iter().filter(|t| t.service_id == service.id) {
        if let Some(it) = iteration {
            if t.job_iteration.is_none_or(|v| v.index != it) {
                continue;
            }
            if t.status.state == TaskState::Complete {
                status.completed_tasks += 1;
            }
        }
        // Only tasks still wanted: one left running on a dead node has been
        // replaced (desired shutdown) and must not count twice.
        if t.status.state == TaskState::Running && t.desired_state <= TaskState::Complete {
            status.running_tasks += 1;
        }
        if global && t.desired_state == TaskState::Running {
            status.desired_tasks += 1;
        }
        if global && t.status.state != TaskState::Complete && t.desired_state == TaskState::Complete
        {
            status.desired_tasks += 1;
        }
    }
    status
}
