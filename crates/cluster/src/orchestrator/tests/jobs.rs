//! Replicated and global jobs.

use crate::model::{ReplicatedJob, TaskState, Version};
use crate::testutil::*;

fn job(max: u64, total: u64, nodes: usize) -> Sim {
    let mut s = spec("migrate", "migrate");
    s.mode.replicated_job = Some(ReplicatedJob {
        max_concurrent: Some(max),
        total_completions: Some(total),
    });
    Sim::new(s, nodes)
}

fn complete_running(sim: &mut Sim) {
    let ids: Vec<String> = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running)
        .map(|t| t.id.clone())
        .collect();
    for id in ids {
        sim.set_state(&id, TaskState::Complete);
    }
}

#[test]
fn runs_max_concurrent_until_total() {
    let mut sim = job(2, 5, 2);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 2);
    let mut slots: Vec<u64> = c.create.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, vec![0, 1]);
    assert!(
        c.create
            .iter()
            .all(|t| t.desired_state == TaskState::Complete
                && t.job_iteration == Some(Version { index: 0 }))
    );
    for round in 0..3 {
        sim.settle();
        complete_running(&mut sim);
        sim.pass();
        let _ = round;
    }
    let complete = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Complete)
        .count();
    assert_eq!(
        complete,
        5,
        "{:?}",
        sim.tasks
            .iter()
            .map(|t| (t.slot, t.status.state))
            .collect::<Vec<_>>()
    );
    assert!(sim.pass().create.is_empty());
    let status = crate::orchestrator::service_status(&sim.service, &sim.tasks);
    assert_eq!(status.completed_tasks, 5);
    assert_eq!(status.desired_tasks, 2);
}

#[test]
fn defaults_run_one_task_once() {
    let mut s = spec("once", "x");
    s.mode.replicated_job = Some(ReplicatedJob::default());
    let mut sim = Sim::new(s, 1);
    assert_eq!(sim.pass().create.len(), 1);
    sim.settle();
    complete_running(&mut sim);
    assert!(sim.pass().is_empty());
}

#[test]
fn failed_job_task_restarts_in_its_slot() {
    let mut sim = job(1, 1, 1);
    sim.settle();
    let id = sim.tasks[0].id.clone();
    sim.set_state(&id, TaskState::Failed);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].slot, 0);
    assert_eq!(c.create[0].desired_state, TaskState::Ready);
    sim.advance(5 * SEC);
    sim.pass();
    let new = sim.task(&c.create[0].id);
    assert_eq!(
        new.desired_state,
        TaskState::Complete,
        "job tasks run to completion"
    );
}

#[test]
fn exhausted_attempts_end_the_slot() {
    let mut s = spec("flaky", "x");
    s.mode.replicated_job = Some(ReplicatedJob {
        max_concurrent: Some(1),
        total_completions: Some(1),
    });
    s.task_template.restart_policy = Some(restart_policy("on-failure", 0, Some(1), None));
    let mut sim = Sim::new(s, 1);
    sim.settle();
    let first = sim.tasks[0].id.clone();
    sim.set_state(&first, TaskState::Failed);
    sim.settle();
    let second = sim
        .tasks
        .iter()
        .find(|t| t.id != first)
        .map(|t| t.id.clone())
        .unwrap();
    sim.set_state(&second, TaskState::Failed);
    sim.settle();
    assert_eq!(
        sim.tasks.len(),
        2,
        "no third attempt, and no new task in the slot"
    );
}

#[test]
fn new_execution_replaces_old_tasks() {
    let mut sim = job(2, 2, 2);
    sim.settle();
    let mut s = sim.service.spec.clone();
    s.task_template.force_update += 1;
    sim.set_spec(s);
    assert_eq!(
        sim.service.job_status.as_ref().unwrap().job_iteration.index,
        1
    );
    let c = sim.pass().clone();
    assert_eq!(
        c.update
            .iter()
            .filter(|t| t.desired_state == TaskState::Remove)
            .count(),
        2
    );
    assert_eq!(c.create.len(), 2);
    assert!(
        c.create
            .iter()
            .all(|t| t.job_iteration == Some(Version { index: 1 }))
    );
    sim.agents();
    sim.pass();
    assert_eq!(
        sim.tasks.len(),
        2,
        "the old execution's tasks are gone once stopped"
    );
}

#[test]
fn global_job_once_per_node() {
    let mut s = spec("prune", "docker");
    s.mode.global_job = Some(Default::default());
    let mut sim = Sim::new(s, 3);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 3);
    assert!(
        c.create
            .iter()
            .all(|t| t.desired_state == TaskState::Complete && t.slot == 0)
    );
    sim.settle();
    complete_running(&mut sim);
    assert!(sim.pass().is_empty(), "completed nodes are done");
    sim.nodes.push(node("n4"));
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].node_id, "n4");
    let status = crate::orchestrator::service_status(&sim.service, &sim.tasks);
    assert_eq!(status.completed_tasks, 3);
    assert_eq!(status.desired_tasks, 1);
}

#[test]
fn jobs_take_no_rolling_update() {
    let mut sim = job(1, 1, 1);
    sim.settle();
    assert!(sim.service.update_status.is_none());
}

#[test]
fn job_task_on_lost_node_restarts() {
    let mut sim = job(1, 1, 2);
    sim.settle();
    let node = sim.tasks[0].node_id.clone();
    let idx = sim.nodes.iter().position(|n| n.id == node).unwrap();
    sim.nodes[idx].status.state = crate::model::NodeState::Down;
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].slot, 0);
    sim.advance(5 * SEC);
    sim.settle();
    let live: Vec<_> = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running && t.desired_state <= TaskState::Complete)
        .collect();
    assert_eq!(live.len(), 1, "the old one is stale on its down node");
    assert_ne!(live[0].node_id, node);
}

#[test]
fn total_smaller_than_concurrency() {
    let mut sim = job(5, 2, 3);
    assert_eq!(sim.pass().create.len(), 2);
}

#[test]
fn global_job_skips_paused_and_unmatched_nodes() {
    let mut s = spec("prune", "docker");
    s.mode.global_job = Some(Default::default());
    s.task_template.placement = Some(crate::model::Placement {
        constraints: vec!["node.role==worker".into()],
        ..Default::default()
    });
    let mut sim = Sim::new(s, 3);
    sim.nodes[0].spec.availability = "pause".into();
    sim.nodes[1].spec.role = "manager".into();
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].node_id, "n3");
}
