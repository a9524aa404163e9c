//! `ServiceStatus` counting.

use crate::model::{Task, TaskState};
use crate::orchestrator::service_status;
use crate::testutil::*;

fn task(desired: TaskState, state: TaskState) -> Task {
    let mut t = Task {
        service_id: "svc".into(),
        desired_state: desired,
        ..Default::default()
    };
    t.status.state = state;
    t
}

#[test]
fn replicated_counts() {
    let sim = Sim::new(replicated("web", 3), 1);
    let tasks = vec![
        task(TaskState::Running, TaskState::Running),
        task(TaskState::Running, TaskState::Starting),
        task(TaskState::Shutdown, TaskState::Running),
        task(TaskState::Shutdown, TaskState::Failed),
    ];
    let s = service_status(&sim.service, &tasks);
    // The task still running but desired to stop (on a dead node, being
    // replaced) does not count: `service ls` would show 4/3 meanwhile.
    assert_eq!(
        (s.running_tasks, s.desired_tasks, s.completed_tasks),
        (1, 3, 0)
    );
}

#[test]
fn global_counts_desired_tasks() {
    let mut s = spec("g", "x");
    s.mode.global = Some(Default::default());
    let sim = Sim::new(s, 1);
    let tasks = vec![
        task(TaskState::Running, TaskState::Running),
        task(TaskState::Running, TaskState::Pending),
        task(TaskState::Shutdown, TaskState::Shutdown),
    ];
    let s = service_status(&sim.service, &tasks);
    assert_eq!((s.running_tasks, s.desired_tasks), (1, 2));
}

#[test]
fn other_services_are_ignored() {
    let sim = Sim::new(replicated("web", 1), 1);
    let mut t = task(TaskState::Running, TaskState::Running);
    t.service_id = "other".into();
    assert_eq!(service_status(&sim.service, &[t]).running_tasks, 0);
}
