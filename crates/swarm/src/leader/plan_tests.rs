//! The leader's pass on hand-made snapshots.

use cluster::model::{
    ContainerSpec, GlobalService, NodeState, Placement, ReplicatedService, RestartPolicy,
    ServiceSpec,
};

use super::*;

const SEC: i64 = 1_000_000_000;

fn t0() -> Timestamp {
    Timestamp::from_unix(1_800_000_000, 0)
}

fn node(id: &str, role: &str) -> Stored<Node> {
    let mut n = Node {
        id: id.into(),
        ..Default::default()
    };
    n.spec.role = role.into();
    n.spec.availability = "active".into();
    n.status.state = NodeState::Ready;
    n.description.hostname = format!("host-{id}");
    Stored {
        value: n,
        version: 1,
    }
}

fn service(id: &str, replicas: Option<u64>) -> Stored<Service> {
    let mut spec = ServiceSpec::default();
    spec.annotations.name = format!("svc-{id}");
    spec.task_template.container_spec = Some(ContainerSpec {
        image: "bb".into(),
        ..Default::default()
    });
    match replicas {
        Some(r) => {
            spec.mode.replicated = Some(ReplicatedService { replicas: Some(r) });
        }
        None => spec.mode.global = Some(GlobalService {}),
    }
    Stored {
        value: Service {
            id: id.into(),
            spec,
            ..Default::default()
        },
        version: 1,
    }
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("task{n}")
    }
}

fn snapshot<'a>(
    services: &'a [Stored<Service>],
    tasks: &'a [Stored<Task>],
    nodes: &'a [Stored<Node>],
    now: Timestamp,
) -> Snapshot<'a> {
    Snapshot {
        services,
        tasks,
        nodes,
        history_limit: 2,
        now,
    }
}

fn created(p: &Plan) -> Vec<Task> {
    p.writes.iter().filter_map(created_task).collect()
}

fn updated(p: &Plan) -> Vec<Task> {
    p.writes
        .iter()
        .filter_map(|w| match w {
            Write::Update { value, .. } => serde_json::from_value(value.clone()).ok(),
            _ => None,
        })
        .collect()
}

fn deleted(p: &Plan) -> Vec<String> {
    p.writes
        .iter()
        .filter_map(|w| match w {
            Write::Delete { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Applies a plan's writes to a snapshot's tasks.
fn apply(tasks: &mut Vec<Stored<Task>>, p: &Plan) {
    for w in &p.writes {
        match w {
            Write::Create { value, .. } => tasks.push(Stored {
                value: serde_json::from_value(value.clone()).unwrap(),
                version: 1,
            }),
            Write::Update { id, value, .. } => {
                let t = tasks.iter_mut().find(|t| &t.value.id == id).unwrap();
                t.value = serde_json::from_value(value.clone()).unwrap();
                t.version += 1;
            }
            Write::Delete { id, .. } => tasks.retain(|t| &t.value.id != id),
        }
    }
}

fn set_state(tasks: &mut [Stored<Task>], id: &str, state: TaskState, at: Timestamp) {
    let t = tasks.iter_mut().find(|t| t.value.id == id).unwrap();
    t.value.status.state = state;
    t.value.status.timestamp = at;
}

#[test]
fn replicas_are_created_and_spread_over_nodes() {
    let services = [service("s", Some(4))];
    let nodes = [node("a", "manager"), node("b", "worker")];
    let p = plan(&snapshot(&services, &[], &nodes, t0()), &mut ids());
    let tasks = created(&p);
    assert_eq!(tasks.len(), 4);
    let slots: Vec<u64> = tasks.iter().map(|t| t.slot).collect();
    assert_eq!(slots, [1, 2, 3, 4]);
    assert!(tasks.iter().all(|t| t.status.state == TaskState::Assigned));
    assert!(tasks.iter().all(|t| t.desired_state == TaskState::Running));
    let on_a = tasks.iter().filter(|t| t.node_id == "a").count();
    assert_eq!(on_a, 2, "spread evenly");
    assert_eq!(tasks[0].spec, services[0].value.spec.task_template);
}

#[test]
fn a_converged_service_needs_no_writes() {
    let services = [service("s", Some(2))];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &p);
    let again = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    assert!(again.writes.is_empty(), "{:?}", again.writes);
}

#[test]
fn scaling_down_shuts_the_highest_slots() {
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let p = plan(
        &snapshot(&[service("s", Some(3))], &tasks, &nodes, t0()),
        &mut ids(),
    );
    apply(&mut tasks, &p);
    let p = plan(
        &snapshot(&[service("s", Some(1))], &tasks, &nodes, t0()),
        &mut ids(),
    );
    let mut down: Vec<u64> = updated(&p)
        .iter()
        .filter(|t| t.desired_state == TaskState::Shutdown)
        .map(|t| t.slot)
        .collect();
    down.sort();
    assert_eq!(down, [2, 3]);
    assert!(created(&p).is_empty());
}

#[test]
fn an_ended_task_is_replaced_after_the_restart_delay() {
    let services = [service("s", Some(1))];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    set_state(&mut tasks, "task1", TaskState::Failed, t0());
    // Too early: nothing yet, but the leader is told when to look again.
    let early = plan(
        &snapshot(&services, &tasks, &nodes, t0().add_nanos(SEC)),
        &mut ids(),
    );
    assert!(created(&early).is_empty());
    assert_eq!(early.wake_in_nanos, Some(4 * SEC));
    let later = t0().add_nanos(5 * SEC);
    let p = plan(&snapshot(&services, &tasks, &nodes, later), &mut || {
        "task9".into()
    });
    let new = created(&p);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].slot, 1);
    assert!(
        updated(&p)
            .iter()
            .any(|t| t.id == "task1" && t.desired_state == TaskState::Shutdown)
    );
}

#[test]
fn restart_conditions_and_attempts() {
    let nodes = [node("a", "manager")];
    let mut svc = service("s", Some(1));
    svc.value.spec.task_template.restart_policy = Some(RestartPolicy {
        condition: "on-failure".into(),
        delay: Some(0),
        max_attempts: Some(2),
        window: None,
    });
    let services = [svc];
    let mut tasks = Vec::new();
    let mut next_id = ids();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut next_id);
    apply(&mut tasks, &first);
    // A clean exit is not a failure: on-failure leaves it.
    set_state(&mut tasks, "task1", TaskState::Complete, t0());
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut next_id);
    assert!(created(&p).is_empty());

    // Failures restart: MaxAttempts restarts after the first run.
    let mut last = "task1".to_string();
    for _ in 0..2 {
        set_state(&mut tasks, &last, TaskState::Failed, t0());
        let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut next_id);
        assert_eq!(created(&p).len(), 1);
        apply(&mut tasks, &p);
        last = created(&p)[0].id.clone();
    }
    set_state(&mut tasks, &last, TaskState::Failed, t0());
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut next_id);
    assert!(created(&p).is_empty(), "two restarts used");
}

#[test]
fn tasks_leave_a_down_node_and_constraints_hold() {
    let services = [{
        let mut s = service("s", Some(2));
        s.value.spec.task_template.placement = Some(Placement {
            constraints: vec!["node.role==worker".into()],
            ..Default::default()
        });
        s
    }];
    let mut nodes = vec![
        node("m", "manager"),
        node("w1", "worker"),
        node("w2", "worker"),
    ];
    let mut tasks = Vec::new();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    assert!(tasks.iter().all(|t| t.value.node_id != "m"));
    nodes[1].value.status.state = NodeState::Down;
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut || {
        "t-new".into()
    });
    let new = created(&p);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].node_id, "w2");
}

#[test]
fn a_task_that_fits_nowhere_waits_pending_with_the_reason() {
    let services = [{
        let mut s = service("s", Some(1));
        s.value.spec.task_template.placement = Some(Placement {
            constraints: vec!["node.labels.zone==eu".into()],
            ..Default::default()
        });
        s
    }];
    let mut nodes = vec![node("a", "manager")];
    let mut tasks = Vec::new();
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    let t = &created(&p)[0];
    assert_eq!(t.status.state, TaskState::Pending);
    assert_eq!(
        t.status.err,
        "no suitable node (scheduling constraints not satisfied on 1 node)"
    );
    apply(&mut tasks, &p);
    nodes[0]
        .value
        .spec
        .annotations
        .labels
        .insert("zone".into(), "eu".into());
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    let placed = updated(&p);
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].node_id, "a");
    assert_eq!(placed[0].status.state, TaskState::Assigned);
}

#[test]
fn global_services_run_one_task_per_eligible_node() {
    let services = [service("g", None)];
    let mut nodes = vec![node("a", "manager"), node("b", "worker")];
    nodes[1].value.spec.availability = "drain".into();
    let p = plan(&snapshot(&services, &[], &nodes, t0()), &mut ids());
    let tasks = created(&p);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].node_id, "a");
    assert_eq!(tasks[0].slot, 0);
}

#[test]
fn a_spec_change_replaces_tasks_and_removed_services_lose_theirs() {
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let mut services = vec![service("s", Some(1))];
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    services[0].value.spec.task_template.force_update = 1;
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut || {
        "t2".into()
    });
    assert_eq!(created(&p).len(), 1);
    assert_eq!(created(&p)[0].spec.force_update, 1);
    apply(&mut tasks, &p);
    // The service goes: its tasks shut down, and once stopped are forgotten.
    let p = plan(&snapshot(&[], &tasks, &nodes, t0()), &mut ids());
    assert!(
        updated(&p)
            .iter()
            .all(|t| t.desired_state == TaskState::Shutdown)
    );
    apply(&mut tasks, &p);
    for t in tasks.clone() {
        set_state(&mut tasks, &t.value.id, TaskState::Shutdown, t0());
    }
    let p = plan(&snapshot(&[], &tasks, &nodes, t0()), &mut ids());
    let mut gone = deleted(&p);
    gone.sort();
    assert_eq!(gone, ["t2", "task1"]);
}

#[test]
fn history_keeps_the_newest_ended_tasks_per_slot() {
    let services = [service("s", Some(1))];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let mut n = 0;
    let mut next_id = move || {
        n += 1;
        format!("t{n}")
    };
    let mut now = t0();
    let first = plan(&snapshot(&services, &tasks, &nodes, now), &mut next_id);
    apply(&mut tasks, &first);
    for _ in 0..4 {
        let live = tasks
            .iter()
            .find(|t| t.value.desired_state == TaskState::Running)
            .unwrap()
            .value
            .id
            .clone();
        set_state(&mut tasks, &live, TaskState::Failed, now);
        now = now.add_nanos(10 * SEC);
        let p = plan(&snapshot(&services, &tasks, &nodes, now), &mut next_id);
        apply(&mut tasks, &p);
    }
    let ended = tasks
        .iter()
        .filter(|t| t.value.status.state.is_terminal())
        .count();
    assert_eq!(ended, 2, "history limit");
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t.value.desired_state == TaskState::Running)
            .count(),
        1
    );
}
