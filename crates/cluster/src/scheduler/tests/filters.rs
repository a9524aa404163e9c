//! Filters, their explanations, resources, plugins, preassigned tasks.

use super::*;

#[test]
fn spreads_one_per_node() {
    let nodes = vec![node("a"), node("b"), node("c")];
    let pending = tasks(3, "s", &TaskSpec::default());
    let d = schedule(&nodes, &[], &plain(&pending));
    assert!(d.unplaced.is_empty());
    let m = per_node(&nodes, &d);
    assert_eq!(m.len(), 3);
    assert!(m.values().all(|&c| c == 1));
}

#[test]
fn prefers_fewest_of_service_then_fewest_overall() {
    let nodes = vec![node("a"), node("b"), node("c")];
    let spec = TaskSpec::default();
    // a: one task of s; b: three tasks of other; c: one task of other.
    let existing = vec![
        on(task("e1", "s", &spec), "a", TaskState::Running),
        on(task("e2", "o", &spec), "b", TaskState::Running),
        on(task("e3", "o", &spec), "b", TaskState::Running),
        on(task("e4", "o", &spec), "b", TaskState::Running),
        on(task("e5", "o", &spec), "c", TaskState::Running),
    ];
    let pending = tasks(2, "s", &spec);
    let d = schedule(&nodes, &plain(&existing), &plain(&pending));
    let m = per_node(&nodes, &d);
    assert_eq!(m.get("c"), Some(&1), "no s task and fewest overall");
    assert_eq!(m.get("b"), Some(&1), "then the other node without s");
    let pending = tasks(4, "s", &spec);
    let d = schedule(&nodes, &plain(&existing), &plain(&pending));
    let m = per_node(&nodes, &d);
    // Service counts end 2/1/2: ties on the service count go to the node
    // with fewer tasks overall, so b (busy with o) gets the fewest.
    assert_eq!(m.get("a"), Some(&1));
    assert_eq!(m.get("b"), Some(&1));
    assert_eq!(m.get("c"), Some(&2));
}

#[test]
fn unavailable_nodes() {
    let mut nodes = vec![node("a"), node("b"), node("c")];
    nodes[0].spec.availability = "drain".into();
    nodes[1].spec.availability = "pause".into();
    nodes[2].status.state = NodeState::Down;
    let pending = tasks(2, "s", &TaskSpec::default());
    let d = schedule(&nodes, &[], &plain(&pending));
    assert!(d.placed.is_empty());
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (3 nodes not available for new tasks)"; 2]
    );
    let one = vec![nodes[0].clone()];
    let d = schedule(&one, &[], &plain(&pending[..1]));
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (1 node not available for new tasks)"]
    );
}

#[test]
fn no_nodes_at_all() {
    let pending = tasks(1, "s", &TaskSpec::default());
    let d = schedule(&[], &[], &plain(&pending));
    assert_eq!(reasons(&d), vec!["no suitable node"]);
}

#[test]
fn resources_are_reserved() {
    let nodes = vec![node("a"), node("b")];
    let pending = tasks(10, "s", &reserve(CPU, GB));
    let d = schedule(&nodes, &[], &plain(&pending));
    assert_eq!(d.placed.len(), 8, "4 CPUs per node");
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 4), ("b".into(), 4)])
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (insufficient resources on 2 nodes)"; 2]
    );
}

#[test]
fn existing_reservations_count() {
    let nodes = vec![node("a")];
    let existing = vec![on(
        task("e", "o", &reserve(3 * CPU, 0)),
        "a",
        TaskState::Running,
    )];
    let pending = tasks(2, "s", &reserve(CPU, 0));
    let d = schedule(&nodes, &plain(&existing), &plain(&pending));
    assert_eq!(d.placed.len(), 1);
    // A stopped task frees its reservation.
    let stopped = vec![on(
        task("e", "o", &reserve(3 * CPU, 0)),
        "a",
        TaskState::Failed,
    )];
    let d = schedule(&nodes, &plain(&stopped), &plain(&pending));
    assert_eq!(d.placed.len(), 2);
    // A task asked to stop still holds it until it stops.
    let mut stopping = on(
        task("e", "o", &reserve(3 * CPU, 0)),
        "a",
        TaskState::Running,
    );
    stopping.desired_state = TaskState::Shutdown;
    let d = schedule(&nodes, &plain(&[stopping]), &plain(&pending));
    assert_eq!(d.placed.len(), 1);
}

#[test]
fn memory_reservations() {
    let nodes = vec![node("a")];
    let d = schedule(&nodes, &[], &plain(&tasks(3, "s", &reserve(0, 3 * GB))));
    assert_eq!(d.placed.len(), 2);
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (insufficient resources on 1 node)"]
    );
}

#[test]
fn mixed_reasons_sorted_by_count() {
    let mut nodes = vec![node("a"), node("b"), node("c"), node("d")];
    nodes[0].description.resources.nano_cpus = 0;
    nodes[1].description.resources.nano_cpus = 0;
    nodes[2].spec.role = "manager".into();
    nodes[3].spec.availability = "drain".into();
    let mut spec = reserve(CPU, 0);
    spec.placement = constrained(&["node.role==manager"]).placement;
    nodes[2].description.resources.nano_cpus = 0;
    let d = schedule(&nodes, &[], &plain(&tasks(1, "s", &spec)));
    assert_eq!(
        reasons(&d),
        vec![
            "no suitable node (insufficient resources on 3 nodes; 1 node not available for new tasks)"
        ]
    );
    nodes[2].description.resources.nano_cpus = 4 * CPU;
    nodes[2].spec.role = "worker".into();
    let d = schedule(&nodes, &[], &plain(&tasks(1, "s", &spec)));
    assert_eq!(
        reasons(&d),
        vec![
            "no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks; scheduling constraints not satisfied on 1 node)"
        ]
    );
}

#[test]
fn the_brief_example() {
    let mut nodes = vec![node("a"), node("b"), node("c")];
    nodes[0].description.resources.memory_bytes = GB;
    nodes[1].description.resources.memory_bytes = GB;
    nodes[2]
        .spec
        .annotations
        .labels
        .insert("zone".into(), "b".into());
    let mut spec = reserve(0, 2 * GB);
    spec.placement = constrained(&["node.labels.zone==a"]).placement;
    let d = schedule(&nodes, &[], &plain(&tasks(1, "s", &spec)));
    assert_eq!(
        reasons(&d),
        vec![
            "no suitable node (insufficient resources on 2 nodes; scheduling constraints not satisfied on 1 node)"
        ]
    );
}

#[test]
fn constraints_pick_nodes() {
    let nodes = vec![
        labeled("a", "zone", "x"),
        labeled("b", "zone", "y"),
        labeled("c", "zone", "x"),
    ];
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(4, "s", &constrained(&["node.labels.zone==x"]))),
    );
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 2), ("c".into(), 2)])
    );
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(1, "s", &constrained(&["node.labels.zone==z"]))),
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (scheduling constraints not satisfied on 3 nodes)"]
    );
}

#[test]
fn bad_constraints_are_ignored() {
    let nodes = vec![node("a")];
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(1, "s", &constrained(&["nonsense"]))),
    );
    assert_eq!(d.placed.len(), 1);
}

#[test]
fn platforms() {
    let mut nodes = vec![node("a"), node("b")];
    nodes[1].description.platform = Platform {
        architecture: "aarch64".into(),
        os: "linux".into(),
    };
    let spec = |arch: &str, os: &str| TaskSpec {
        placement: Some(PlacementSpec {
            platforms: vec![Platform {
                architecture: arch.into(),
                os: os.into(),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = schedule(&nodes, &[], &plain(&tasks(2, "s", &spec("amd64", "linux"))));
    assert_eq!(per_node(&nodes, &d), HashMap::from([("a".into(), 2)]));
    let d = schedule(&nodes, &[], &plain(&tasks(2, "s", &spec("arm64", ""))));
    assert_eq!(per_node(&nodes, &d), HashMap::from([("b".into(), 2)]));
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(1, "s", &spec("amd64", "windows"))),
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (unsupported platform on 2 nodes)"]
    );
    let d = schedule(&nodes, &[], &plain(&tasks(2, "s", &spec("", ""))));
    assert_eq!(d.placed.len(), 2);
}

fn host_port(port: u32) -> Vec<PortConfig> {
    vec![PortConfig {
        protocol: "tcp".into(),
        target_port: 80,
        published_port: port,
        publish_mode: "host".into(),
        ..Default::default()
    }]
}

#[test]
fn host_ports_one_per_node() {
    let nodes = vec![node("a"), node("b")];
    let ports = host_port(8080);
    let pending = tasks(3, "s", &TaskSpec::default());
    let sched: Vec<SchedTask<'_>> = pending.iter().map(|t| SchedTask::new(t, &ports)).collect();
    let d = schedule(&nodes, &[], &sched);
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 1), ("b".into(), 1)])
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (host-mode port already in use on 2 nodes)"]
    );
    // Taken by another service's running task.
    let existing = [on(
        task("e", "o", &TaskSpec::default()),
        "a",
        TaskState::Running,
    )];
    let ex: Vec<SchedTask<'_>> = existing.iter().map(|t| SchedTask::new(t, &ports)).collect();
    let d = schedule(&nodes, &ex, &sched[..2]);
    assert_eq!(per_node(&nodes, &d), HashMap::from([("b".into(), 1)]));
    // Other protocol or ingress mode: no conflict.
    let mut udp = host_port(8080);
    udp[0].protocol = "udp".into();
    let pu: Vec<SchedTask<'_>> = pending.iter().map(|t| SchedTask::new(t, &udp)).collect();
    let d = schedule(&nodes, &ex, &pu[..2]);
    assert_eq!(d.placed.len(), 2);
    let mut ingress = host_port(8080);
    ingress[0].publish_mode = "ingress".into();
    let pi: Vec<SchedTask<'_>> = pending
        .iter()
        .map(|t| SchedTask::new(t, &ingress))
        .collect();
    assert_eq!(schedule(&nodes, &ex, &pi).placed.len(), 3);
}

#[test]
fn max_replicas_per_node() {
    let nodes = vec![node("a"), node("b")];
    let spec = TaskSpec {
        placement: Some(PlacementSpec {
            max_replicas: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = schedule(&nodes, &[], &plain(&tasks(5, "s", &spec)));
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 2), ("b".into(), 2)])
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (max replicas per node limit exceed)"]
    );
    let existing = vec![on(task("e", "s", &spec), "a", TaskState::Running)];
    let d = schedule(&nodes, &plain(&existing), &plain(&tasks(3, "s", &spec)));
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 1), ("b".into(), 2)])
    );
}

#[test]
fn generic_resources() {
    let mut nodes = vec![node("a"), node("b")];
    nodes[0].description.resources.generic_resources = vec![
        GenericResource {
            named_resource_spec: Some(NamedGenericResource {
                kind: "gpu".into(),
                value: "GPU-1".into(),
            }),
            discrete_resource_spec: None,
        },
        GenericResource {
            named_resource_spec: Some(NamedGenericResource {
                kind: "gpu".into(),
                value: "GPU-2".into(),
            }),
            discrete_resource_spec: None,
        },
    ];
    nodes[1].description.resources.generic_resources = vec![GenericResource {
        named_resource_spec: None,
        discrete_resource_spec: Some(DiscreteGenericResource {
            kind: "gpu".into(),
            value: 1,
        }),
    }];
    let spec = TaskSpec {
        resources: Some(ResourceRequirements {
            reservations: Some(Resources {
                generic_resources: vec![GenericResource {
                    named_resource_spec: None,
                    discrete_resource_spec: Some(DiscreteGenericResource {
                        kind: "gpu".into(),
                        value: 1,
                    }),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pending = tasks(4, "s", &spec);
    let d = schedule(&nodes, &[], &plain(&pending));
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 2), ("b".into(), 1)])
    );
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (insufficient resources on 2 nodes)"]
    );
    let mut named: Vec<String> = d
        .placed
        .iter()
        .filter_map(|p| {
            p.generic_resources[0]
                .named_resource_spec
                .as_ref()
                .map(|n| n.value.clone())
        })
        .collect();
    named.sort();
    assert_eq!(named, vec!["GPU-1", "GPU-2"]);
    // A running task holding GPU-1 leaves one named GPU on a.
    let mut holder = on(task("h", "o", &spec), "a", TaskState::Running);
    holder.generic_resources = vec![nodes[0].description.resources.generic_resources[0].clone()];
    let d = schedule(&nodes[..1], &plain(&[holder]), &plain(&pending[..2]));
    assert_eq!(d.placed.len(), 1);
    assert_eq!(
        d.placed[0].generic_resources[0]
            .named_resource_spec
            .as_ref()
            .unwrap()
            .value,
        "GPU-2"
    );
}

#[test]
fn log_driver_plugins() {
    let mut nodes = vec![node("a"), node("b")];
    for n in &mut nodes {
        n.description.engine.plugins = vec![crate::model::node::PluginDescription {
            type_: "Log".into(),
            name: "json-file".into(),
        }];
    }
    nodes[1]
        .description
        .engine
        .plugins
        .push(crate::model::node::PluginDescription {
            type_: "Log".into(),
            name: "gelf:latest".into(),
        });
    let spec = TaskSpec {
        log_driver: Some(crate::model::Driver {
            name: "gelf".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = schedule(&nodes, &[], &plain(&tasks(2, "s", &spec)));
    assert_eq!(per_node(&nodes, &d), HashMap::from([("b".into(), 2)]));
    nodes[1].description.engine.plugins.pop();
    let d = schedule(&nodes, &[], &plain(&tasks(1, "s", &spec)));
    assert_eq!(
        reasons(&d),
        vec!["no suitable node (missing plugin on 2 nodes)"]
    );
}

#[test]
fn preassigned_tasks_are_checked_on_their_node() {
    let mut nodes = vec![node("a"), node("b")];
    nodes[1].spec.availability = "drain".into();
    let mut t1 = task("g1", "g", &TaskSpec::default());
    t1.node_id = "a".into();
    let mut t2 = task("g2", "g", &TaskSpec::default());
    t2.node_id = "b".into();
    let mut t3 = task("g3", "g", &TaskSpec::default());
    t3.node_id = "gone".into();
    let pending = vec![t1, t2, t3];
    let d = schedule(&nodes, &[], &plain(&pending));
    assert_eq!(
        d.placed,
        vec![Placement {
            task: 0,
            node: 0,
            generic_resources: vec![]
        }]
    );
    assert_eq!(
        d.unplaced,
        vec![
            Unplaced {
                task: 1,
                reason: "no suitable node (1 node not available for new tasks)".into()
            },
            Unplaced {
                task: 2,
                reason: "no suitable node".into()
            },
        ]
    );
}

#[test]
fn groups_by_spec() {
    let nodes = vec![node("a"), node("b")];
    let mut pending = tasks(2, "s", &constrained(&["node.hostname==a"]));
    pending.extend(
        tasks(2, "s", &constrained(&["node.hostname==b"]))
            .into_iter()
            .map(|mut t| {
                t.id.push('x');
                t
            }),
    );
    let d = schedule(&nodes, &[], &plain(&pending));
    for p in &d.placed {
        let want = if p.task < 2 { "a" } else { "b" };
        assert_eq!(nodes[p.node].id, want);
    }
    assert_eq!(d.placed.len(), 4);
}

#[test]
fn apply_writes_assignment_and_errors() {
    let nodes = vec![node("a")];
    let pending = tasks(3, "s", &reserve(2 * CPU, 0));
    let d = schedule(&nodes, &[], &plain(&pending));
    let now = Timestamp::from_unix(1000, 5);
    let out = d.apply(&nodes, &plain(&pending), now);
    assert_eq!(out.len(), 3);
    let assigned: Vec<&Task> = out
        .iter()
        .filter(|t| t.status.state == TaskState::Assigned)
        .collect();
    assert_eq!(assigned.len(), 2);
    assert!(assigned.iter().all(|t| t.node_id == "a"
        && t.status.message == ASSIGNED_MESSAGE
        && t.status.timestamp == now));
    let left = out
        .iter()
        .find(|t| t.status.state == TaskState::Pending)
        .unwrap();
    assert_eq!(
        left.status.err,
        "no suitable node (insufficient resources on 1 node)"
    );
    assert!(left.node_id.is_empty());
}

#[test]
fn tasks_desired_to_stop_are_skipped() {
    let nodes = vec![node("a")];
    let mut pending = tasks(2, "s", &TaskSpec::default());
    pending[0].desired_state = TaskState::Shutdown;
    let d = schedule(&nodes, &[], &plain(&pending));
    assert_eq!(d.placed.len(), 1);
    assert_eq!(d.placed[0].task, 1);
    assert!(d.unplaced.is_empty());
}

#[test]
fn job_tasks_are_placed() {
    let nodes = vec![node("a")];
    let mut pending = tasks(1, "s", &TaskSpec::default());
    pending[0].desired_state = TaskState::Complete;
    assert_eq!(schedule(&nodes, &[], &plain(&pending)).placed.len(), 1);
}
