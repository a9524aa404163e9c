//! Global services: one task per qualifying node.

use crate::model::{NodeState, Placement, TaskState};
use crate::testutil::*;

fn global(nodes: usize) -> Sim {
    let mut s = spec("agent", "agent");
    s.mode.global = Some(Default::default());
    Sim::new(s, nodes)
}

fn nodes_with_active(sim: &Sim) -> Vec<String> {
    let mut v: Vec<String> = sim.active().iter().map(|t| t.node_id.clone()).collect();
    v.sort();
    v
}

#[test]
fn one_task_per_node() {
    let mut sim = global(3);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 3);
    assert!(
        c.create
            .iter()
            .all(|t| t.slot == 0 && t.desired_state == TaskState::Running)
    );
    assert_eq!(nodes_with_active(&sim), vec!["n1", "n2", "n3"]);
    sim.settle();
    assert_eq!(sim.running(), 3);
    assert!(sim.pass().is_empty());
}

#[test]
fn skips_down_drained_and_unmatched_nodes() {
    let mut sim = global(4);
    sim.nodes[0].status.state = NodeState::Down;
    sim.nodes[1].spec.availability = "drain".into();
    sim.nodes[3]
        .spec
        .annotations
        .labels
        .insert("role".into(), "edge".into());
    sim.service.spec.task_template.placement = Some(Placement {
        constraints: vec!["node.labels.role!=edge".into()],
        ..Default::default()
    });
    sim.pass();
    assert_eq!(nodes_with_active(&sim), vec!["n3"]);
}

#[test]
fn paused_nodes_keep_but_get_nothing_new() {
    let mut sim = global(2);
    sim.settle();
    sim.nodes[0].spec.availability = "pause".into();
    assert!(sim.pass().is_empty());
    sim.nodes.push(node("n3"));
    sim.nodes.push(node("n4"));
    sim.nodes[3].spec.availability = "pause".into();
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].node_id, "n3");
}

#[test]
fn node_leaving_stops_its_task() {
    let mut sim = global(3);
    sim.settle();
    sim.nodes[1].spec.availability = "drain".into();
    let c = sim.pass().clone();
    assert_eq!(c.update.len(), 1);
    assert_eq!(c.update[0].node_id, "n2");
    assert_eq!(c.update[0].desired_state, TaskState::Shutdown);
    assert!(c.create.is_empty(), "global tasks do not move");
    sim.nodes.remove(2);
    let c = sim.pass().clone();
    assert_eq!(c.update.len(), 1);
    assert_eq!(c.update[0].node_id, "n3");
}

#[test]
fn node_back_gets_a_new_task() {
    let mut sim = global(2);
    sim.settle();
    sim.nodes[1].status.state = NodeState::Down;
    sim.settle();
    sim.nodes[1].status.state = NodeState::Ready;
    sim.settle();
    assert_eq!(sim.running(), 2);
    assert_eq!(nodes_with_active(&sim), vec!["n1", "n2"]);
}

#[test]
fn failed_task_restarts_on_its_node() {
    let mut sim = global(2);
    sim.settle();
    let id = sim
        .tasks
        .iter()
        .find(|t| t.node_id == "n1")
        .map(|t| t.id.clone())
        .unwrap();
    sim.set_state(&id, TaskState::Failed);
    let c = sim.pass().clone();
    assert_eq!(c.create.len(), 1);
    assert_eq!(c.create[0].node_id, "n1");
    assert_eq!(c.create[0].desired_state, TaskState::Ready);
    sim.advance(5 * SEC);
    sim.settle();
    assert_eq!(sim.running(), 2);
}

#[test]
fn constraint_change_moves_nothing_but_stops_unmatched() {
    let mut sim = global(2);
    sim.settle();
    sim.nodes[0]
        .spec
        .annotations
        .labels
        .insert("zone".into(), "a".into());
    let mut s = sim.service.spec.clone();
    s.task_template.placement = Some(Placement {
        constraints: vec!["node.labels.zone==a".into()],
        ..Default::default()
    });
    sim.set_spec(s);
    let c = sim.pass().clone();
    let stopped: Vec<&str> = c
        .update
        .iter()
        .filter(|t| t.desired_state == TaskState::Shutdown)
        .map(|t| t.node_id.as_str())
        .collect();
    assert_eq!(stopped, vec!["n2"]);
    assert!(
        c.create.is_empty(),
        "n1's task only changed placement and still matches"
    );
}

#[test]
fn history_is_per_node() {
    let mut sim = global(2);
    sim.cluster.orchestration.task_history_retention_limit = Some(2);
    sim.settle();
    for _ in 0..4 {
        let id = sim
            .tasks
            .iter()
            .find(|t| t.node_id == "n1" && t.status.state == TaskState::Running)
            .map(|t| t.id.clone())
            .unwrap();
        sim.set_state(&id, TaskState::Failed);
        sim.pass();
        sim.advance(5 * SEC);
        sim.settle();
    }
    assert_eq!(sim.tasks.iter().filter(|t| t.node_id == "n1").count(), 2);
    assert_eq!(sim.tasks.iter().filter(|t| t.node_id == "n2").count(), 1);
}
