//! Spreading, placement preferences, determinism, and scale.

use super::*;

fn spread(descriptor: &str) -> TaskSpec {
    TaskSpec {
        placement: Some(PlacementSpec {
            preferences: vec![PlacementPreference {
                spread: Some(SpreadOver {
                    spread_descriptor: descriptor.into(),
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn spread_over_zones() {
    let nodes = vec![
        labeled("a1", "zone", "a"),
        labeled("b1", "zone", "b"),
        labeled("b2", "zone", "b"),
        labeled("b3", "zone", "b"),
    ];
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(4, "s", &spread("node.labels.zone"))),
    );
    let m = per_node(&nodes, &d);
    assert_eq!(m.get("a1"), Some(&2), "half the tasks in zone a");
    assert_eq!(
        m.get("b1").unwrap_or(&0) + m.get("b2").unwrap_or(&0) + m.get("b3").unwrap_or(&0),
        2
    );
    // Without the preference the four nodes get one each.
    let d = schedule(&nodes, &[], &plain(&tasks(4, "s", &TaskSpec::default())));
    assert!(per_node(&nodes, &d).values().all(|&c| c == 1));
}

#[test]
fn spread_counts_existing_tasks() {
    let nodes = vec![labeled("a1", "zone", "a"), labeled("b1", "zone", "b")];
    let spec = spread("node.labels.zone");
    let existing: Vec<Task> = (0..3)
        .map(|i| on(task(&format!("e{i}"), "s", &spec), "a1", TaskState::Running))
        .collect();
    let d = schedule(&nodes, &plain(&existing), &plain(&tasks(5, "s", &spec)));
    let m = per_node(&nodes, &d);
    assert_eq!(m.get("b1"), Some(&4));
    assert_eq!(m.get("a1"), Some(&1));
}

#[test]
fn spread_with_missing_labels_and_full_branches() {
    let mut nodes = vec![
        labeled("a1", "zone", "a"),
        labeled("b1", "zone", "b"),
        node("x"),
    ];
    nodes[1].description.resources.nano_cpus = CPU; // zone b takes one task only
    let mut spec = spread("node.labels.zone");
    spec.resources = reserve(CPU, 0).resources;
    let d = schedule(&nodes, &[], &plain(&tasks(6, "s", &spec)));
    let m = per_node(&nodes, &d);
    assert_eq!(m.get("b1"), Some(&1));
    assert_eq!(
        m.get("a1").unwrap() + m.get("x").unwrap(),
        5,
        "the others take the rest"
    );
    assert!(m.get("a1").unwrap().abs_diff(*m.get("x").unwrap()) <= 1);
}

#[test]
fn nested_preferences() {
    let mut nodes = Vec::new();
    for (id, dc, rack) in [
        ("n1", "d1", "r1"),
        ("n2", "d1", "r2"),
        ("n3", "d2", "r1"),
        ("n4", "d2", "r1"),
    ] {
        let mut n = labeled(id, "dc", dc);
        n.description
            .engine
            .labels
            .insert("rack".into(), rack.into());
        nodes.push(n);
    }
    let mut spec = spread("node.labels.dc");
    if let Some(p) = spec.placement.as_mut() {
        p.preferences.push(PlacementPreference {
            spread: Some(SpreadOver {
                spread_descriptor: "engine.labels.rack".into(),
            }),
        });
    }
    let d = schedule(&nodes, &[], &plain(&tasks(8, "s", &spec)));
    let m = per_node(&nodes, &d);
    assert_eq!(m.get("n1"), Some(&2));
    assert_eq!(m.get("n2"), Some(&2));
    assert_eq!(m.get("n3").unwrap() + m.get("n4").unwrap(), 4);
}

#[test]
fn unknown_spread_descriptor_is_ignored() {
    let nodes = vec![node("a"), node("b")];
    let d = schedule(
        &nodes,
        &[],
        &plain(&tasks(2, "s", &spread("node.hostname"))),
    );
    assert_eq!(
        per_node(&nodes, &d),
        HashMap::from([("a".into(), 1), ("b".into(), 1)])
    );
}

#[test]
fn deterministic() {
    let nodes: Vec<Node> = (0..20)
        .map(|i| labeled(&format!("n{i}"), "zone", ["a", "b", "c"][i % 3]))
        .collect();
    let pending = tasks(100, "s", &spread("node.labels.zone"));
    let a = schedule(&nodes, &[], &plain(&pending));
    let b = schedule(&nodes, &[], &plain(&pending));
    assert_eq!(a, b);
}

#[test]
fn fifty_thousand_tasks_on_a_thousand_nodes() {
    let nodes: Vec<Node> = (0..1000)
        .map(|i| labeled(&format!("node-{i:04}"), "zone", ["a", "b", "c", "d"][i % 4]))
        .collect();
    // 50 services of 1,000 tasks; every fifth spreads over zones, every
    // seventh reserves resources.
    let mut pending = Vec::with_capacity(50_000);
    for s in 0..50 {
        let mut spec = if s % 5 == 0 {
            spread("node.labels.zone")
        } else {
            TaskSpec::default()
        };
        if s % 7 == 0 {
            spec.resources = reserve(CPU / 10, 64 << 20).resources;
        }
        spec.force_update = s;
        pending.extend(tasks(1000, &format!("svc-{s:02}"), &spec));
    }
    let sched = plain(&pending);
    let start = std::time::Instant::now();
    let d = schedule(&nodes, &[], &sched);
    let elapsed = start.elapsed();
    println!(
        "placed {} tasks on {} nodes in {:?}: {:.0} tasks/s",
        d.placed.len(),
        nodes.len(),
        elapsed,
        d.placed.len() as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(d.placed.len(), 50_000);
    assert!(d.unplaced.is_empty());
    let mut total = vec![0usize; nodes.len()];
    let mut per_service: HashMap<&str, Vec<usize>> = HashMap::new();
    for p in &d.placed {
        total[p.node] += 1;
        per_service
            .entry(pending[p.task].service_id.as_str())
            .or_insert_with(|| vec![0; nodes.len()])[p.node] += 1;
    }
    assert!(total.iter().all(|&c| c == 50), "50 tasks per node");
    for counts in per_service.values() {
        assert!(
            counts.iter().all(|&c| c == 1),
            "each service one task per node"
        );
    }
}
