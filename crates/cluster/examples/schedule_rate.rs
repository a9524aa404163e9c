//! Reports the scheduler's placement rate: 50,000 pending tasks of 50
//! services on 1,000 nodes, some spread over zones, some with reservations.
//! Run with `cargo run --release -p cluster --example schedule_rate`.

use std::time::Instant;

use cluster::model::{
    Node, NodeState, Placement, PlacementPreference, ResourceRequirements, Resources, SpreadOver,
    Task, TaskSpec, TaskState,
};
use cluster::scheduler::{SchedTask, schedule};

fn main() {
    let nodes: Vec<Node> = (0..1000)
        .map(|i| {
            let mut n = Node {
                id: format!("node-{i:04}"),
                ..Default::default()
            };
            n.status.state = NodeState::Ready;
            n.spec.availability = "active".into();
            n.description.resources = Resources {
                nano_cpus: 64_000_000_000,
                memory_bytes: 256 << 30,
                ..Default::default()
            };
            n.spec
                .annotations
                .labels
                .insert("zone".into(), format!("z{}", i % 4));
            n
        })
        .collect();
    let mut pending = Vec::with_capacity(50_000);
    for s in 0..50u64 {
        let mut spec = TaskSpec {
            force_update: s,
            ..Default::default()
        };
        if s % 5 == 0 {
            spec.placement = Some(Placement {
                preferences: vec![PlacementPreference {
                    spread: Some(SpreadOver {
                        spread_descriptor: "node.labels.zone".into(),
                    }),
                }],
                ..Default::default()
            });
        }
        if s % 7 == 0 {
            spec.resources = Some(ResourceRequirements {
                reservations: Some(Resources {
                    nano_cpus: 100_000_000,
                    memory_bytes: 64 << 20,
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        for i in 0..1000 {
            pending.push(Task {
                id: format!("task-{s}-{i}"),
                service_id: format!("svc-{s}"),
                spec: spec.clone(),
                desired_state: TaskState::Running,
                ..Default::default()
            });
        }
    }
    let sched: Vec<SchedTask<'_>> = pending.iter().map(SchedTask::plain).collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let d = schedule(&nodes, &[], &sched);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(d.placed.len(), pending.len());
        best = best.min(secs);
    }
    println!(
        "{} tasks on {} nodes: best of 5 {:.1} ms, {:.0} tasks/s",
        pending.len(),
        nodes.len(),
        best * 1000.0,
        pending.len() as f64 / best
    );
    // One task per spec: the worst case for grouping.
    for (i, t) in pending.iter_mut().enumerate() {
        t.spec.force_update = i as u64;
    }
    let sched: Vec<SchedTask<'_>> = pending.iter().take(20_000).map(SchedTask::plain).collect();
    let start = Instant::now();
    let d = schedule(&nodes, &[], &sched);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} tasks with distinct specs: {:.1} ms, {:.0} tasks/s",
        d.placed.len(),
        secs * 1000.0,
        d.placed.len() as f64 / secs
    );
}
