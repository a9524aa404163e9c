//! Rolling updates and rollbacks through the simulator.

use crate::model::{TaskState, UpdateConfig, UpdateState};
use crate::testutil::*;
use crate::updater::{Policy, rollback_service};

fn config(
    parallelism: u64,
    delay: i64,
    action: &str,
    monitor: i64,
    ratio: f32,
    order: &str,
) -> UpdateConfig {
    UpdateConfig {
        parallelism,
        delay,
        failure_action: action.into(),
        monitor,
        max_failure_ratio: ratio,
        order: order.into(),
    }
}

fn service(replicas: u64, update: Option<UpdateConfig>) -> Sim {
    let mut s = replicated("web", replicas);
    s.update_config = update;
    let mut sim = Sim::new(s, replicas as usize);
    sim.settle();
    assert_eq!(sim.running(), replicas as usize);
    sim
}

fn new_image(sim: &mut Sim, image: &str) {
    let mut s = sim.service.spec.clone();
    if let Some(c) = s.task_template.container_spec.as_mut() {
        c.image = image.into();
    }
    sim.set_spec(s);
}

fn image_of_running(sim: &Sim) -> Vec<String> {
    let mut v: Vec<String> = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running && t.desired_state == TaskState::Running)
        .map(|t| {
            t.spec
                .container_spec
                .as_ref()
                .map(|c| c.image.clone())
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

fn count_image(sim: &Sim, image: &str) -> usize {
    image_of_running(sim).iter().filter(|i| *i == image).count()
}

/// One round: reconcile, schedule, run.
fn round(sim: &mut Sim) {
    sim.pass();
    sim.place();
    sim.agents();
}

#[test]
fn defaults() {
    let p = Policy::from_config(None);
    assert_eq!(
        (p.parallelism, p.delay, p.monitor, p.start_first),
        (1, 0, 5 * SEC, false)
    );
    assert_eq!(p.failure_action, "pause");
    let p = Policy::from_config(Some(&config(0, 0, "", 0, 0.0, "")));
    assert_eq!(
        (p.parallelism, p.monitor, p.failure_action.as_str()),
        (0, 5 * SEC, "pause")
    );
}

#[test]
fn rolls_one_at_a_time_stop_first() {
    let mut sim = service(3, None);
    new_image(&mut sim, "nginx:2");
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Updating));
    assert_eq!(sim.update_message(), "update in progress");
    assert_eq!(
        sim.service.update_status.as_ref().unwrap().started_at,
        Some(sim.now)
    );
    // One slot: old told to stop, new waits for it.
    assert_eq!(sim.last.create.len(), 1);
    assert_eq!(sim.last.create[0].desired_state, TaskState::Ready);
    assert_eq!(sim.last.update.len(), 1);
    assert_eq!(sim.last.update[0].desired_state, TaskState::Shutdown);
    let mut seen = Vec::new();
    for _ in 0..12 {
        round(&mut sim);
        seen.push(count_image(&sim, "nginx:2"));
        let old_and_new = sim.active().len();
        assert!(
            old_and_new <= 3,
            "stop-first never runs more than the replicas"
        );
    }
    assert_eq!(count_image(&sim, "nginx:2"), 3);
    assert!(
        seen.windows(2).all(|w| w[1] <= w[0] + 1),
        "one slot at a time: {seen:?}"
    );
    // Completes after the monitor period.
    assert_eq!(sim.update_state(), Some(UpdateState::Updating));
    let wake = sim.last.wake_at.expect("wakes for the monitor");
    sim.now = wake;
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Completed));
    assert_eq!(sim.update_message(), "update completed");
    assert_eq!(
        sim.service.update_status.as_ref().unwrap().completed_at,
        Some(sim.now)
    );
    assert!(sim.pass().is_empty());
}

#[test]
fn parallelism_two() {
    let mut sim = service(4, Some(config(2, 0, "pause", SEC, 0.0, "stop-first")));
    new_image(&mut sim, "nginx:2");
    sim.pass();
    assert_eq!(sim.last.create.len(), 2);
    round(&mut sim);
    round(&mut sim);
    assert_eq!(count_image(&sim, "nginx:2"), 2, "first batch of two");
    round(&mut sim);
    assert_eq!(sim.last.create.len(), 2, "second batch of two");
    round(&mut sim);
    round(&mut sim);
    assert_eq!(count_image(&sim, "nginx:2"), 4);
}

#[test]
fn parallelism_zero_is_all_at_once() {
    let mut sim = service(5, Some(config(0, 0, "pause", SEC, 0.0, "")));
    new_image(&mut sim, "nginx:2");
    sim.pass();
    assert_eq!(sim.last.create.len(), 5);
}

#[test]
fn delay_between_batches() {
    let mut sim = service(
        2,
        Some(config(1, 10 * SEC, "pause", SEC, 0.0, "stop-first")),
    );
    new_image(&mut sim, "nginx:2");
    for _ in 0..4 {
        round(&mut sim);
    }
    assert_eq!(
        count_image(&sim, "nginx:2"),
        1,
        "second slot waits for the delay"
    );
    let wake = sim.last.wake_at.expect("wake after the delay");
    assert!(wake > sim.now);
    sim.now = wake;
    for _ in 0..4 {
        round(&mut sim);
    }
    assert_eq!(count_image(&sim, "nginx:2"), 2);
    // Monitor is shorter than the delay: completion comes delay + 1s
    // after the last task started.
    let last_start = sim
        .tasks
        .iter()
        .filter_map(|t| sim.running_since.get(&t.id))
        .max()
        .copied()
        .unwrap();
    while let Some(wake) = sim.last.wake_at {
        sim.now = wake;
        sim.pass();
    }
    assert_eq!(sim.update_state(), Some(UpdateState::Completed));
    assert_eq!(sim.now, last_start.add_nanos(11 * SEC));
}

#[test]
fn start_first_overlaps() {
    let mut sim = service(2, Some(config(1, 0, "pause", SEC, 0.0, "start-first")));
    new_image(&mut sim, "nginx:2");
    sim.pass();
    assert_eq!(sim.last.create.len(), 1);
    assert_eq!(
        sim.last.create[0].desired_state,
        TaskState::Running,
        "starts at once"
    );
    assert!(sim.last.update.is_empty(), "the old task keeps running");
    sim.place();
    sim.agents();
    assert_eq!(count_image(&sim, "nginx:2"), 1);
    assert_eq!(count_image(&sim, "nginx"), 2, "both run for a moment");
    sim.pass();
    let stopped: Vec<_> = sim
        .last
        .update
        .iter()
        .filter(|t| t.desired_state == TaskState::Shutdown)
        .collect();
    assert_eq!(stopped.len(), 1, "old one stops once the new one runs");
    for _ in 0..6 {
        round(&mut sim);
    }
    assert_eq!(image_of_running(&sim), vec!["nginx:2", "nginx:2"]);
}

fn fail_newest(sim: &mut Sim) -> String {
    let id = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running)
        .max_by_key(|t| (t.meta.created_at, t.id.clone()))
        .map(|t| t.id.clone())
        .unwrap();
    sim.set_state(&id, TaskState::Failed);
    id
}

#[test]
fn failure_pauses() {
    let mut sim = service(3, None);
    new_image(&mut sim, "broken");
    round(&mut sim);
    round(&mut sim);
    let failed = fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Paused));
    assert_eq!(
        sim.update_message(),
        format!("update paused due to failure or early termination of task {failed}")
    );
    // Paused: no more slots are replaced (the failed one restarts in place).
    let before = sim
        .tasks
        .iter()
        .filter(|t| t.spec.container_spec.as_ref().unwrap().image == "broken")
        .count();
    for _ in 0..5 {
        sim.advance(10 * SEC);
        round(&mut sim);
    }
    let after_tasks: Vec<_> = sim
        .tasks
        .iter()
        .filter(|t| t.spec.container_spec.as_ref().unwrap().image == "broken")
        .collect();
    assert!(
        after_tasks.iter().all(|t| t.slot == sim.task(&failed).slot),
        "only the failed slot, {before}"
    );
    assert_eq!(count_image(&sim, "nginx"), 2);
}

#[test]
fn failure_after_monitor_does_not_count() {
    let mut sim = service(2, Some(config(1, 0, "pause", 2 * SEC, 0.0, "stop-first")));
    new_image(&mut sim, "nginx:2");
    round(&mut sim);
    round(&mut sim);
    sim.advance(3 * SEC);
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Updating));
}

#[test]
fn continue_ignores_failures() {
    let mut sim = service(2, Some(config(1, 0, "continue", SEC, 0.0, "stop-first")));
    new_image(&mut sim, "nginx:2");
    round(&mut sim);
    round(&mut sim);
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Updating));
}

#[test]
fn failure_ratio_tolerates_some() {
    let mut sim = service(4, Some(config(4, 0, "pause", 10 * SEC, 0.5, "stop-first")));
    new_image(&mut sim, "nginx:2");
    round(&mut sim);
    round(&mut sim);
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(
        sim.update_state(),
        Some(UpdateState::Updating),
        "1 of 4 is not over 0.5"
    );
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(
        sim.update_state(),
        Some(UpdateState::Updating),
        "2 of 4 is not over 0.5"
    );
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Paused));
}

#[test]
fn failure_rolls_back() {
    let mut s = replicated("web", 2);
    s.update_config = Some(config(1, 0, "rollback", 5 * SEC, 0.0, "stop-first"));
    let mut sim = Sim::new(s, 2);
    sim.settle();
    new_image(&mut sim, "broken");
    round(&mut sim);
    round(&mut sim);
    let failed = fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::RollbackStarted));
    assert_eq!(
        sim.update_message(),
        format!("update rolled back due to failure or early termination of task {failed}")
    );
    assert_eq!(
        sim.service
            .spec
            .task_template
            .container_spec
            .as_ref()
            .unwrap()
            .image,
        "nginx"
    );
    assert!(sim.service.previous_spec.is_none());
    for _ in 0..10 {
        sim.advance(SEC);
        round(&mut sim);
    }
    assert_eq!(image_of_running(&sim), vec!["nginx", "nginx"]);
    sim.advance(10 * SEC);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::RollbackCompleted));
    assert_eq!(sim.update_message(), "rollback completed");
}

#[test]
fn manual_rollback() {
    let mut sim = service(2, None);
    new_image(&mut sim, "nginx:2");
    for _ in 0..8 {
        round(&mut sim);
    }
    sim.advance(10 * SEC);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Completed));
    sim.service = rollback_service(&sim.service, sim.now).unwrap();
    assert_eq!(sim.update_state(), Some(UpdateState::RollbackStarted));
    assert_eq!(sim.update_message(), "manually requested rollback");
    assert_eq!(
        sim.service
            .previous_spec
            .as_ref()
            .unwrap()
            .task_template
            .container_spec
            .as_ref()
            .unwrap()
            .image,
        "nginx:2"
    );
    for _ in 0..8 {
        round(&mut sim);
    }
    assert_eq!(image_of_running(&sim), vec!["nginx", "nginx"]);
    sim.advance(10 * SEC);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::RollbackCompleted));
}

#[test]
fn rollback_failure_pauses_rollback() {
    let mut sim = service(2, None);
    new_image(&mut sim, "nginx:2");
    for _ in 0..8 {
        round(&mut sim);
    }
    sim.advance(10 * SEC);
    sim.pass();
    sim.service = rollback_service(&sim.service, sim.now).unwrap();
    round(&mut sim);
    round(&mut sim);
    let failed = fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::RollbackPaused));
    assert_eq!(
        sim.update_message(),
        format!("rollback paused due to failure or early termination of task {failed}")
    );
}

#[test]
fn rollback_uses_rollback_config() {
    let mut s = replicated("web", 4);
    s.rollback_config = Some(config(0, 0, "pause", SEC, 0.0, "stop-first"));
    let mut sim = Sim::new(s, 4);
    sim.settle();
    let mut s2 = sim.service.spec.clone();
    s2.task_template.force_update = 1;
    sim.set_spec(s2);
    for _ in 0..12 {
        round(&mut sim);
    }
    sim.advance(10 * SEC);
    sim.pass();
    sim.service = rollback_service(&sim.service, sim.now).unwrap();
    sim.pass();
    assert_eq!(
        sim.last.create.len(),
        4,
        "rollback parallelism 0 replaces all"
    );
}

#[test]
fn no_update_without_change() {
    let mut sim = service(2, None);
    let same = sim.service.spec.clone();
    sim.set_spec(same);
    sim.pass();
    assert!(sim.service.update_status.is_none());
    assert!(sim.last.is_empty());
}

#[test]
fn force_update_replaces_everything() {
    let mut sim = service(3, Some(config(0, 0, "pause", SEC, 0.0, "")));
    let mut s = sim.service.spec.clone();
    s.task_template.force_update += 1;
    sim.set_spec(s);
    sim.pass();
    assert_eq!(sim.last.create.len(), 3);
}

#[test]
fn global_update() {
    let mut s = spec("agent", "agent:1");
    s.mode.global = Some(Default::default());
    let mut sim = Sim::new(s, 3);
    sim.settle();
    new_image(&mut sim, "agent:2");
    for _ in 0..12 {
        round(&mut sim);
    }
    assert_eq!(
        image_of_running(&sim),
        vec!["agent:2", "agent:2", "agent:2"]
    );
    let nodes: std::collections::BTreeSet<_> = sim
        .tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running)
        .map(|t| t.node_id.clone())
        .collect();
    assert_eq!(nodes.len(), 3, "each node keeps its task");
}

#[test]
fn ops_errors() {
    let sim = service(1, None);
    let e = rollback_service(&sim.service, sim.now).unwrap_err();
    assert_eq!(e.to_string(), "service svc does not have a previous spec");
    assert_eq!(e.http_status(), 400);
    let mut s = sim.service.spec.clone();
    s.mode.replicated = None;
    s.mode.global = Some(Default::default());
    let e = crate::updater::apply_service_update(&sim.service, s, sim.now).unwrap_err();
    assert_eq!(e.to_string(), "service mode change is not allowed");
}

#[test]
fn update_resets_status_and_keeps_previous() {
    let mut sim = service(1, None);
    new_image(&mut sim, "nginx:2");
    assert!(sim.service.update_status.is_none());
    assert_eq!(
        sim.service
            .previous_spec
            .as_ref()
            .unwrap()
            .task_template
            .container_spec
            .as_ref()
            .unwrap()
            .image,
        "nginx"
    );
}

#[test]
fn completed_update_stays_completed() {
    let mut sim = service(2, None);
    new_image(&mut sim, "nginx:2");
    for _ in 0..8 {
        round(&mut sim);
    }
    sim.advance(10 * SEC);
    sim.pass();
    let status = sim.service.update_status.clone();
    assert_eq!(sim.update_state(), Some(UpdateState::Completed));
    sim.advance(60 * SEC);
    assert!(sim.pass().is_empty());
    assert_eq!(sim.service.update_status, status);
}

#[test]
fn global_start_first() {
    let mut s = spec("agent", "agent:1");
    s.mode.global = Some(Default::default());
    s.update_config = Some(config(0, 0, "pause", SEC, 0.0, "start-first"));
    let mut sim = Sim::new(s, 2);
    sim.settle();
    new_image(&mut sim, "agent:2");
    sim.pass();
    assert_eq!(sim.last.create.len(), 2);
    assert!(
        sim.last
            .create
            .iter()
            .all(|t| t.desired_state == TaskState::Running && !t.node_id.is_empty())
    );
    assert!(sim.last.update.is_empty());
    for _ in 0..4 {
        round(&mut sim);
    }
    assert_eq!(image_of_running(&sim), vec!["agent:2", "agent:2"]);
}

#[test]
fn scale_during_update_uses_new_spec() {
    let mut sim = service(2, None);
    new_image(&mut sim, "nginx:2");
    sim.pass();
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(3) });
    sim.pass();
    let slot3 = sim.in_slot(3);
    assert_eq!(slot3.len(), 1);
    assert_eq!(
        slot3[0].spec.container_spec.as_ref().unwrap().image,
        "nginx:2"
    );
}

#[test]
fn paused_update_resumes_with_a_new_spec() {
    let mut sim = service(2, None);
    new_image(&mut sim, "broken");
    round(&mut sim);
    round(&mut sim);
    fail_newest(&mut sim);
    sim.pass();
    assert_eq!(sim.update_state(), Some(UpdateState::Paused));
    new_image(&mut sim, "nginx:3");
    assert!(sim.service.update_status.is_none());
    for _ in 0..10 {
        sim.advance(SEC);
        round(&mut sim);
    }
    assert_eq!(image_of_running(&sim), vec!["nginx:3", "nginx:3"]);
}

#[test]
fn stored_mode_has_dockerd_defaults() {
    let mut s = spec("j", "x");
    s.mode.replicated_job = Some(crate::model::ReplicatedJob {
        max_concurrent: Some(4),
        total_completions: None,
    });
    let svc =
        crate::updater::create_service("id".into(), s, crate::model::Timestamp::zero()).unwrap();
    assert_eq!(
        svc.spec
            .mode
            .replicated_job
            .as_ref()
            .unwrap()
            .total_completions,
        Some(4)
    );
    assert!(svc.job_status.is_some());
    let mut s = spec("r", "x");
    s.mode.replicated = Some(Default::default());
    let svc =
        crate::updater::create_service("id".into(), s, crate::model::Timestamp::zero()).unwrap();
    assert_eq!(svc.spec.mode.replicated.as_ref().unwrap().replicas, Some(1));
    assert!(svc.job_status.is_none());
}
