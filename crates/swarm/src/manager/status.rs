//! `ServiceStatus` for `GET /services?status=true`: tasks running on
//! nodes that are up, and how many are desired.

use cluster::model::{ModeKind, Node, NodeState, Service, ServiceStatus, Task, TaskState};

pub(super) fn service_status(service: &Service, tasks: &[Task], nodes: &[Node]) -> ServiceStatus {
    let up = |node_id: &str| {
        nodes
            .iter()
            .any(|n| n.id == node_id && n.status.state != NodeState::Down)
    };
    let mine = tasks.iter().filter(|t| t.service_id == service.id);
    let mut running = 0u64;
    let mut completed = 0u64;
    let mut active_global = 0u64;
    for t in mine {
        if t.status.state == TaskState::Running && up(&t.node_id) {
            running += 1;
        }
        if t.status.state == TaskState::Complete {
            completed += 1;
        }
        if t.desired_state == TaskState::Running {
            active_global += 1;
        }
    }
    let desired = match service.spec.mode.kind() {
        ModeKind::Replicated { replicas } => replicas,
        ModeKind::ReplicatedJob { max_concurrent, .. } => max_concurrent,
        ModeKind::Global | ModeKind::GlobalJob => active_global,
    };
    ServiceStatus {
        running_tasks: running,
        desired_tasks: desired,
        completed_tasks: completed,
    }
}
