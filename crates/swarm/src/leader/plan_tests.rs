//! The leader's pass on hand-made snapshots.

use cluster::model::{
    ContainerSpec, GlobalService, NodeState, Placement, ReplicatedService, ServiceSpec,
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

fn ids() -> cluster::ids::SequentialIds {
    cluster::ids::SequentialIds::new("task")
}

fn snapshot<'a>(
    services: &'a [Stored<Service>],
    tasks: &'a [Stored<Task>],
    nodes: &'a [Stored<Node>],
    now: Timestamp,
) -> Snapshot<'a> {
    static SPEC: std::sync::OnceLock<SwarmSpec> = std::sync::OnceLock::new();
    static SINCE: std::sync::OnceLock<HashMap<String, Timestamp>> = std::sync::OnceLock::new();
    Snapshot {
        services,
        tasks,
        nodes,
        networks: &[],
        cluster: SPEC.get_or_init(SwarmSpec::with_defaults),
        running_since: SINCE.get_or_init(HashMap::new),
        now,
    }
}

fn created_task(w: &Write) -> Option<Task> {
    match w {
        Write::Create { value, .. } => serde_json::from_value(value.clone()).ok(),
        _ => None,
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

/// The agents: assigned tasks desired to run are running, tasks desired
/// to stop have stopped.
fn agents(tasks: &mut [Stored<Task>]) {
    for t in tasks.iter_mut() {
        let s = t.value.status.state;
        if t.value.desired_state > TaskState::Complete && s <= TaskState::Running {
            t.value.status.state = TaskState::Shutdown;
        } else if t.value.desired_state == TaskState::Running
            && (TaskState::Assigned..TaskState::Running).contains(&s)
        {
            t.value.status.state = TaskState::Running;
        }
    }
}

#[test]
fn replicas_are_created_placed_and_spread() {
    let services = [service("s", Some(4))];
    let nodes = [node("a", "manager"), node("b", "worker")];
    let p = plan(&snapshot(&services, &[], &nodes, t0()), &mut ids());
    let tasks = created(&p);
    assert_eq!(tasks.len(), 4);
    let mut slots: Vec<u64> = tasks.iter().map(|t| t.slot).collect();
    slots.sort();
    assert_eq!(slots, [1, 2, 3, 4]);
    assert!(
        tasks.iter().all(|t| t.status.state == TaskState::Assigned),
        "{tasks:?}"
    );
    assert_eq!(
        tasks.iter().filter(|t| t.node_id == "a").count(),
        2,
        "spread evenly"
    );
    assert_eq!(tasks[0].spec, services[0].value.spec.task_template);
}

#[test]
fn a_converged_service_needs_no_writes() {
    let services = [service("s", Some(2))];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    agents(&mut tasks);
    let again = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    assert!(again.writes.is_empty(), "{:?}", again.writes);
}

#[test]
fn updates_carry_the_version_they_were_read_at() {
    let services = [service("s", Some(1))];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    agents(&mut tasks);
    tasks[0].version = 41;
    let gone: [Stored<Service>; 0] = [];
    let p = plan(&snapshot(&gone, &tasks, &nodes, t0()), &mut ids());
    match &p.writes[..] {
        [Write::Update { version, .. }] => assert_eq!(*version, 41),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tasks_of_a_removed_service_stop_then_are_forgotten() {
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let first = plan(
        &snapshot(&[service("s", Some(2))], &tasks, &nodes, t0()),
        &mut ids(),
    );
    apply(&mut tasks, &first);
    agents(&mut tasks);
    let p = plan(&snapshot(&[], &tasks, &nodes, t0()), &mut ids());
    let down = updated(&p);
    assert_eq!(down.len(), 2);
    assert!(down.iter().all(|t| t.desired_state == TaskState::Shutdown));
    apply(&mut tasks, &p);
    agents(&mut tasks);
    let p = plan(&snapshot(&[], &tasks, &nodes, t0()), &mut ids());
    assert_eq!(deleted(&p).len(), 2);
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
    assert!(
        t.status
            .err
            .contains("scheduling constraints not satisfied on 1 node"),
        "{}",
        t.status.err
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
}

#[test]
fn tasks_leave_a_down_node() {
    let services = [service("s", Some(2))];
    let mut nodes = vec![node("w1", "worker"), node("w2", "worker")];
    let mut tasks = Vec::new();
    let first = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &first);
    agents(&mut tasks);
    nodes[0].value.status.state = NodeState::Down;
    let later = t0().add_nanos(60 * SEC);
    let mut all = Vec::new();
    let mut tasks2 = tasks.clone();
    let mut more = cluster::ids::SequentialIds::new("again");
    for _ in 0..3 {
        let p = plan(&snapshot(&services, &tasks2, &nodes, later), &mut more);
        all.extend(created(&p));
        apply(&mut tasks2, &p);
        agents(&mut tasks2);
    }
    assert!(
        !all.is_empty(),
        "a replacement for the task on the down node"
    );
    assert!(all.iter().all(|t| t.node_id != "w1"), "{all:?}");
}

#[test]
fn scaled_down_tasks_go_once_stopped() {
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let first = plan(
        &snapshot(&[service("s", Some(3))], &tasks, &nodes, t0()),
        &mut ids(),
    );
    apply(&mut tasks, &first);
    agents(&mut tasks);
    let mut deleted_total = Vec::new();
    for _ in 0..4 {
        let p = plan(
            &snapshot(&[service("s", Some(1))], &tasks, &nodes, t0()),
            &mut ids(),
        );
        deleted_total.extend(deleted(&p));
        apply(&mut tasks, &p);
        agents(&mut tasks);
    }
    assert_eq!(deleted_total.len(), 2, "{tasks:?}");
    assert_eq!(tasks.len(), 1);
}

#[test]
fn a_service_that_depends_on_another_is_placed_once_that_one_runs() {
    let mut web = service("web", Some(1));
    web.value.spec.annotations.labels.insert(
        crate::leader::depends::DEPENDS_ON_LABEL.into(),
        "svc-db:healthy".into(),
    );
    let services = [service("db", Some(1)), web];
    let nodes = [node("a", "manager")];
    let mut tasks = Vec::new();
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &p);
    let state = |tasks: &[Stored<Task>], svc: &str| {
        let t = tasks.iter().find(|t| t.value.service_id == svc).unwrap();
        (t.value.status.state, t.value.status.message.clone())
    };
    assert_eq!(state(&tasks, "db").0, TaskState::Assigned);
    assert_eq!(
        state(&tasks, "web"),
        (
            TaskState::Pending,
            "waiting for svc-db to be healthy (berth.depends-on)".into()
        )
    );
    // The next pass, db still starting: web still waits, nothing to write.
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    assert!(updated(&p).is_empty(), "{:?}", p.writes);
    agents(&mut tasks);
    assert_eq!(state(&tasks, "db").0, TaskState::Running);
    let p = plan(&snapshot(&services, &tasks, &nodes, t0()), &mut ids());
    apply(&mut tasks, &p);
    assert_eq!(state(&tasks, "web").0, TaskState::Assigned);
}
