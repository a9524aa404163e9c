//! The restart policy: conditions, delay, attempts, window, history.

use crate::model::{Task, TaskState};
use crate::orchestrator::restart::should_restart;
use crate::testutil::*;

fn with_policy(condition: &str, delay: i64, max: Option<u64>, window: Option<i64>) -> Sim {
    let mut s = replicated("web", 1);
    s.task_template.restart_policy = Some(restart_policy(condition, delay, max, window));
    let mut sim = Sim::new(s, 1);
    sim.settle();
    sim
}

fn current(sim: &Sim) -> String {
    sim.tasks
        .iter()
        .filter(|t| t.desired_state <= TaskState::Running)
        .max_by_key(|t| t.meta.created_at)
        .map(|t| t.id.clone())
        .unwrap_or_default()
}

/// Fails the running task and lets the orchestrator react; returns whether
/// a replacement was created.
fn fail(sim: &mut Sim, state: TaskState) -> bool {
    let id = current(sim);
    sim.set_state(&id, state);
    let c = sim.pass().clone();
    assert_eq!(sim.task(&id).desired_state, TaskState::Shutdown);
    !c.create.is_empty()
}

#[test]
fn failed_task_is_replaced_after_delay() {
    let mut sim = with_policy("any", 3 * SEC, None, None);
    let old = current(&sim);
    assert!(fail(&mut sim, TaskState::Failed));
    let new = sim.last.create[0].clone();
    assert_eq!(new.slot, 1);
    assert_eq!(new.desired_state, TaskState::Ready);
    assert_eq!(sim.last.wake_at, Some(sim.now.add_nanos(3 * SEC)));
    sim.advance(2 * SEC);
    sim.pass();
    assert_eq!(sim.task(&new.id).desired_state, TaskState::Ready);
    sim.advance(SEC);
    sim.pass();
    assert_eq!(sim.task(&new.id).desired_state, TaskState::Running);
    sim.settle();
    assert_eq!(sim.task(&new.id).status.state, TaskState::Running);
    assert_eq!(
        sim.task(&old).status.state,
        TaskState::Failed,
        "history kept"
    );
}

#[test]
fn a_replacement_rejected_while_it_waits_is_replaced_once_its_delay_is_over() {
    let mut sim = with_policy("any", 3 * SEC, None, None);
    assert!(fail(&mut sim, TaskState::Rejected));
    let waiting = sim.last.create[0].clone();
    assert_eq!(waiting.desired_state, TaskState::Ready);
    // Its node prepares it at once, and its image cannot be pulled.
    sim.place();
    assert!(!sim.task(&waiting.id).node_id.is_empty());
    sim.advance(SEC / 10);
    sim.set_state(&waiting.id, TaskState::Rejected);
    let c = sim.pass().clone();
    assert!(
        c.create.is_empty(),
        "replaced within its delay: {:?}",
        c.create
    );
    assert_eq!(sim.task(&waiting.id).desired_state, TaskState::Ready);
    assert_eq!(c.wake_at, Some(waiting.meta.created_at.add_nanos(3 * SEC)));
    sim.advance(3 * SEC);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1, "{:?}", c.create);
    assert_eq!(sim.task(&waiting.id).desired_state, TaskState::Shutdown);
    assert_eq!(c.create[0].desired_state, TaskState::Ready);
}

#[test]
fn default_delay_is_five_seconds() {
    let mut sim = Sim::new(replicated("web", 1), 1);
    sim.settle();
    assert!(fail(&mut sim, TaskState::Failed));
    assert_eq!(sim.last.wake_at, Some(sim.now.add_nanos(5 * SEC)));
}

#[test]
fn conditions() {
    for (condition, state, restarts) in [
        ("any", TaskState::Failed, true),
        ("any", TaskState::Complete, true),
        ("any", TaskState::Rejected, true),
        ("", TaskState::Complete, true),
        ("on-failure", TaskState::Failed, true),
        ("on-failure", TaskState::Rejected, true),
        ("on-failure", TaskState::Complete, false),
        ("none", TaskState::Failed, false),
        ("none", TaskState::Complete, false),
    ] {
        let mut sim = with_policy(condition, 0, None, None);
        assert_eq!(fail(&mut sim, state), restarts, "{condition} {state}");
        if !restarts {
            // The slot stays taken by the stopped task: no new one.
            assert!(sim.pass().create.is_empty(), "{condition} {state}");
            sim.advance(60 * SEC);
            assert!(sim.pass().create.is_empty());
        }
    }
}

#[test]
fn max_attempts() {
    let mut sim = with_policy("any", 0, Some(2), None);
    assert!(fail(&mut sim, TaskState::Failed));
    sim.settle();
    assert!(fail(&mut sim, TaskState::Failed));
    sim.settle();
    assert!(!fail(&mut sim, TaskState::Failed), "two restarts used");
    assert!(sim.pass().create.is_empty());
    assert_eq!(sim.in_slot(1).len(), 3, "MaxAttempts + 1 tasks are kept");
}

#[test]
fn max_attempts_reset_by_spec_change() {
    let mut sim = with_policy("any", 0, Some(1), None);
    assert!(fail(&mut sim, TaskState::Failed));
    sim.settle();
    let mut s = sim.service.spec.clone();
    s.task_template.force_update += 1;
    sim.set_spec(s);
    sim.settle();
    sim.advance(10 * SEC);
    sim.settle();
    assert!(
        fail(&mut sim, TaskState::Failed),
        "a new spec has its own attempts"
    );
}

#[test]
fn window_limits_attempts_in_time() {
    let mut sim = with_policy("any", 0, Some(1), Some(10 * SEC));
    assert!(fail(&mut sim, TaskState::Failed));
    sim.settle();
    sim.advance(SEC);
    assert!(
        !fail(&mut sim, TaskState::Failed),
        "one restart within the window already"
    );
    // Outside the window the attempt is available again.
    let mut sim = with_policy("any", 0, Some(1), Some(10 * SEC));
    assert!(fail(&mut sim, TaskState::Failed));
    sim.settle();
    sim.advance(11 * SEC);
    assert!(fail(&mut sim, TaskState::Failed));
}

#[test]
fn replacement_waits_for_the_old_task() {
    let mut sim = with_policy("any", 0, None, None);
    sim.nodes.push(node("n2"));
    sim.nodes[0].spec.availability = "drain".into();
    let c = sim.pass().clone();
    let new = c.create[0].id.clone();
    sim.advance(30 * SEC);
    sim.pass();
    assert_eq!(
        sim.task(&new).desired_state,
        TaskState::Ready,
        "old task still running"
    );
    assert_eq!(
        sim.last.wake_at,
        Some(c.create[0].meta.created_at.add_nanos(60 * SEC))
    );
    sim.advance(30 * SEC);
    sim.pass();
    assert_eq!(
        sim.task(&new).desired_state,
        TaskState::Running,
        "gave up waiting after a minute"
    );
}

#[test]
fn history_is_trimmed() {
    let mut sim = with_policy("any", 0, None, None);
    sim.cluster.orchestration.task_history_retention_limit = Some(3);
    for _ in 0..6 {
        assert!(fail(&mut sim, TaskState::Failed));
        sim.settle();
    }
    assert_eq!(sim.in_slot(1).len(), 3);
    assert_eq!(
        sim.in_slot(1)
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .count(),
        1
    );
}

#[test]
fn negative_retention_keeps_everything() {
    let mut sim = with_policy("any", 0, None, None);
    sim.cluster.orchestration.task_history_retention_limit = Some(-1);
    for _ in 0..7 {
        fail(&mut sim, TaskState::Failed);
        sim.settle();
    }
    assert_eq!(sim.in_slot(1).len(), 8);
}

fn t(id: &str, created: i64, state: TaskState) -> Task {
    let mut t = Task {
        id: id.into(),
        ..Default::default()
    };
    t.meta.created_at = crate::model::Timestamp::from_unix(created, 0);
    t.status.state = state;
    t.status.timestamp = crate::model::Timestamp::from_unix(created + 1, 0);
    t.spec.restart_policy = Some(restart_policy("any", 0, Some(2), None));
    t
}

#[test]
fn should_restart_counts_same_spec_tasks() {
    let a = t("a", 0, TaskState::Failed);
    let b = t("b", 10, TaskState::Failed);
    let c = t("c", 20, TaskState::Failed);
    assert!(should_restart(&a, &[&a], false));
    assert!(should_restart(&b, &[&a, &b], false));
    assert!(!should_restart(&c, &[&a, &b, &c], false));
    let mut other = t("o", 5, TaskState::Failed);
    other.spec.force_update = 9;
    assert!(
        should_restart(&b, &[&other, &a, &b], false),
        "other specs do not count"
    );
    let mut done = t("d", 0, TaskState::Complete);
    assert!(
        !should_restart(&done, &[&done], true),
        "a completed job task is done"
    );
    done.spec.restart_policy = None;
    assert!(should_restart(&done, &[&done], false));
}
