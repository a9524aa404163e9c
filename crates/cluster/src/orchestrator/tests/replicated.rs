//! Replicated services: slots, scaling, idempotence, node loss.

use crate::model::{NodeState, TaskState};
use crate::testutil::*;

#[test]
fn creates_one_task_per_slot() {
    let mut sim = Sim::new(replicated("web", 3), 3);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 3);
    let mut slots: Vec<u64> = c.create.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, vec![1, 2, 3]);
    for t in &c.create {
        assert_eq!(t.desired_state, TaskState::Running);
        assert_eq!(t.status.state, TaskState::New);
        assert_eq!(t.status.message, "created");
        assert_eq!(t.service_id, "svc");
        assert_eq!(t.spec, sim.service.spec.task_template);
        assert_eq!(t.id.len(), 25);
        assert_eq!(t.meta.created_at, sim.now);
    }
    assert!(c.update.is_empty() && c.delete.is_empty() && c.service.is_none());
}

#[test]
fn second_pass_changes_nothing() {
    let mut sim = Sim::new(replicated("web", 3), 3);
    sim.settle();
    assert_eq!(sim.running(), 3);
    assert!(sim.pass().is_empty());
    assert!(sim.last.wake_at.is_none());
}

#[test]
fn default_is_one_replica() {
    let mut s = spec("one", "busybox");
    s.mode.replicated = Some(Default::default());
    let mut sim = Sim::new(s, 2);
    assert_eq!(sim.pass().create.len(), 1);
}

#[test]
fn zero_replicas() {
    let mut sim = Sim::new(replicated("web", 0), 2);
    assert!(sim.pass().is_empty());
}

#[test]
fn scale_up_fills_next_slots() {
    let mut sim = Sim::new(replicated("web", 2), 3);
    sim.settle();
    let mut s = sim.service.spec.clone();
    s.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(5) });
    sim.service.spec = s;
    let c = sim.pass().clone();
    let mut slots: Vec<u64> = c.create.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, vec![3, 4, 5]);
    assert!(c.update.is_empty(), "a scale is no update");
}

#[test]
fn scale_down_removes_highest_slots() {
    let mut sim = Sim::new(replicated("web", 5), 5);
    sim.settle();
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(3) });
    let c = sim.pass().clone();
    let mut removed: Vec<u64> = c
        .update
        .iter()
        .filter(|t| t.desired_state == TaskState::Remove)
        .map(|t| t.slot)
        .collect();
    removed.sort();
    assert_eq!(removed, vec![4, 5]);
    assert!(c.create.is_empty());
    // Once they stopped they are deleted.
    sim.agents();
    let c = sim.pass().clone();
    assert_eq!(c.delete.len(), 2);
    assert_eq!(sim.tasks.len(), 3);
    assert!(sim.pass().is_empty());
}

#[test]
fn scale_down_keeps_running_tasks() {
    let mut sim = Sim::new(replicated("web", 3), 3);
    sim.settle();
    // Slot 1's task is still starting (replaced, say); slots 2 and 3 run.
    let id = sim.in_slot(1)[0].id.clone();
    sim.set_state(&id, TaskState::Starting);
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(2) });
    let c = sim.pass().clone();
    let removed: Vec<u64> = c
        .update
        .iter()
        .filter(|t| t.desired_state == TaskState::Remove)
        .map(|t| t.slot)
        .collect();
    assert_eq!(removed, vec![1]);
}

#[test]
fn scale_down_balances_nodes() {
    let mut sim = Sim::new(replicated("web", 4), 2);
    sim.settle();
    // Put slots 1, 2, 3 on n1 and 4 on n2.
    for t in &mut sim.tasks {
        t.node_id = if t.slot == 4 {
            "n2".into()
        } else {
            "n1".into()
        };
    }
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(2) });
    let c = sim.pass().clone();
    let mut removed: Vec<u64> = c
        .update
        .iter()
        .filter(|t| t.desired_state == TaskState::Remove)
        .map(|t| t.slot)
        .collect();
    removed.sort();
    assert_eq!(removed, vec![2, 3], "n1 keeps one, n2 keeps its one");
}

#[test]
fn scale_to_zero_and_back() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(0) });
    sim.settle();
    assert!(sim.tasks.is_empty());
    sim.service.spec.mode.replicated = Some(crate::model::ReplicatedService { replicas: Some(2) });
    sim.settle();
    assert_eq!(sim.running(), 2);
}

#[test]
fn down_node_tasks_move() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    let on_n1: Vec<String> = sim
        .tasks
        .iter()
        .filter(|t| t.node_id == "n1")
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(on_n1.len(), 1);
    sim.nodes[0].status.state = NodeState::Down;
    let c = sim.pass().clone();
    let stopped: Vec<&str> = c.update.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(stopped, vec![on_n1[0].as_str()]);
    assert_eq!(c.update[0].desired_state, TaskState::Shutdown);
    assert_eq!(c.create.len(), 1);
    let new = &c.create[0];
    assert_eq!(new.slot, sim.task(&on_n1[0]).slot);
    // A dead node is not a failing task: no restart delay, no waiting for
    // the old task (unlike swarmkit, whose delay is most of its failover).
    assert_eq!(new.desired_state, TaskState::Running);
    sim.place();
    assert_eq!(sim.task(&new.id).node_id, "n2");
}

#[test]
fn drained_node_tasks_move_at_once() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    sim.nodes[0].spec.availability = "drain".into();
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    let new = c.create[0].id.clone();
    // No delay on drain, but the replacement waits for the old task.
    assert_eq!(sim.task(&new).desired_state, TaskState::Ready);
    sim.agents();
    sim.pass();
    assert_eq!(sim.task(&new).desired_state, TaskState::Running);
    sim.settle();
    assert!(
        sim.tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .all(|t| t.node_id == "n2")
    );
    assert_eq!(sim.running(), 2);
}

#[test]
fn node_coming_back_keeps_moved_tasks_stopped() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    sim.nodes[0].status.state = NodeState::Down;
    sim.pass();
    sim.advance(5 * SEC);
    sim.settle();
    sim.nodes[0].status.state = NodeState::Ready;
    sim.agents();
    sim.settle();
    assert_eq!(sim.running(), 2);
    assert!(
        sim.tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .all(|t| t.node_id == "n2")
    );
    assert_eq!(sim.active().len(), 2);
}

#[test]
fn unknown_node_counts_as_gone() {
    let mut sim = Sim::new(replicated("web", 1), 1);
    sim.settle();
    sim.nodes.clear();
    let c = sim.pass().clone();
    assert_eq!(c.update[0].desired_state, TaskState::Shutdown);
    assert_eq!(c.create.len(), 1);
}

#[test]
fn pending_tasks_are_left_alone() {
    let mut sim = Sim::new(replicated("web", 2), 0);
    sim.pass();
    sim.place();
    assert!(sim.tasks.iter().all(|t| t.status.err == "no suitable node"));
    assert!(sim.pass().is_empty());
}

#[test]
fn paused_node_keeps_its_tasks() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    sim.nodes[0].spec.availability = "pause".into();
    assert!(sim.pass().is_empty());
}

#[test]
fn disconnected_node_is_not_down() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    sim.nodes[0].status.state = NodeState::Disconnected;
    assert!(sim.pass().is_empty());
}

#[test]
fn same_result_for_same_input() {
    let run = || {
        let mut sim = Sim::new(replicated("web", 4), 3);
        sim.settle();
        sim.nodes[1].status.state = NodeState::Down;
        sim.pass().clone()
    };
    assert_eq!(run(), run());
}

#[test]
fn tasks_keep_their_ids_and_specs_through_passes() {
    let mut sim = Sim::new(replicated("web", 3), 3);
    sim.settle();
    let before: Vec<(String, u64)> = sim.tasks.iter().map(|t| (t.id.clone(), t.slot)).collect();
    for _ in 0..3 {
        sim.advance(60 * SEC);
        sim.settle();
    }
    let after: Vec<(String, u64)> = sim.tasks.iter().map(|t| (t.id.clone(), t.slot)).collect();
    assert_eq!(before, after);
}

#[test]
fn many_replicas_on_few_nodes() {
    let mut sim = Sim::new(replicated("web", 50), 4);
    sim.settle();
    assert_eq!(sim.running(), 50);
    let mut per_node = std::collections::HashMap::new();
    for t in &sim.tasks {
        *per_node.entry(t.node_id.clone()).or_insert(0) += 1;
    }
    assert!(
        per_node.values().all(|&c| c == 12 || c == 13),
        "{per_node:?}"
    );
    let mut slots: Vec<u64> = sim.tasks.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, (1..=50).collect::<Vec<_>>());
}

#[test]
fn all_nodes_down_then_back() {
    let mut sim = Sim::new(replicated("web", 2), 2);
    sim.settle();
    for n in &mut sim.nodes {
        n.status.state = NodeState::Down;
    }
    sim.pass();
    sim.advance(5 * SEC);
    sim.settle();
    assert_eq!(sim.active().len(), 2, "replacements wait unplaced");
    assert!(sim.active().iter().all(|t| t.node_id.is_empty()));
    for n in &mut sim.nodes {
        n.status.state = NodeState::Ready;
    }
    sim.agents();
    sim.settle();
    assert_eq!(sim.running(), 2);
    assert_eq!(sim.active().len(), 2);
}
