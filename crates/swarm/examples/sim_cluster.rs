//! The control plane at scale, against a real etcd: 1,000 simulated nodes
//! (node records and heartbeats, no engines), one replicated service of
//! 50,000 tasks created through the control API, and the leader's loop
//! placing them. Reports the time until every task is written with its
//! node (tasks placed per second) and the etcd write rate (revisions per
//! second); then the simulated agents accept their tasks, each node
//! reporting its tasks running in one batch through the dispatcher's rule,
//! and the time until all run (converged) is reported, with the RSS of
//! this process (the manager's side) and of etcd. The phases are apart so
//! that the placement figure is the leader's alone; with `--concurrent`
//! the agents report while placement goes on (each watch event's tasks at
//! once), which on 2 cores shares the CPU and etcd's disk between both.
//!
//! `cargo run --release -p swarm --example sim_cluster [-- NODES TASKS] [--concurrent]`
//! (etcd from Debian's etcd-server on PATH; plain HTTP on loopback).

// A bench program: any failure ends it with the panic's message.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::model::{Node, NodeState, Resources, Task, TaskState};
use kvstore::suite::TestEtcd;
use kvstore::{KvStore, Op, WatchEvent};
use swarm::leader::LeaderLoop;
use swarm::manager::{Manager, SwarmRecord};
use swarm::seal::DataKey;
use swarm::store::{ClusterStore, Kind, TXN_MAX_OPS, Write};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(1000);
    let tasks = args.get(1).copied().unwrap_or(50_000);
    let concurrent = std::env::args().any(|a| a == "--concurrent");
    let etcd = TestEtcd::start().await;
    let kv: Arc<dyn KvStore> = Arc::new(etcd.store().await);
    let store = ClusterStore::new(kv.clone(), "bench");

    let data_key = DataKey::generate().unwrap();
    let mut record = SwarmRecord::new(Default::default(), "", &data_key).unwrap();
    record.swarm.cluster.spec = cluster::model::SwarmSpec::with_defaults();
    store
        .create(Kind::Swarm, "cluster", None, &record)
        .await
        .expect("swarm record");
    let writes: Vec<Write> = (0..nodes)
        .map(|i| {
            let mut n = Node {
                id: format!("sim{i:05}"),
                ..Default::default()
            };
            n.spec.role = "worker".into();
            n.spec.availability = "active".into();
            n.status.state = NodeState::Ready;
            n.description.hostname = format!("sim{i:05}");
            n.description.platform.os = "linux".into();
            n.description.platform.architecture = "x86_64".into();
            n.description.resources = Resources {
                nano_cpus: 8_000_000_000,
                memory_bytes: 32 << 30,
                ..Default::default()
            };
            Write::Create {
                kind: Kind::Node,
                id: n.id.clone(),
                value: serde_json::to_value(&n).unwrap(),
            }
        })
        .collect();
    assert!(store.apply(&writes).await.expect("nodes"));
    // The agents' heartbeats: one lease for all, kept alive by one task.
    let lease = kv.grant(Duration::from_secs(10)).await.unwrap();
    let beats: Vec<Op> = (0..nodes)
        .map(|i| {
            let id = format!("sim{i:05}");
            Op::put_with_lease(store.heartbeat_key(&id), id.into_bytes(), lease)
        })
        .collect();
    for chunk in beats.chunks(TXN_MAX_OPS) {
        kv.txn(vec![], chunk.to_vec(), vec![]).await.unwrap();
    }
    let keeper = {
        let kv = kv.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = kv.keep_alive(lease).await;
            }
        })
    };
    let mirror = swarm::mirror::Mirror::spawn(store.clone());
    let leader = LeaderLoop::spawn(store.clone(), mirror, "sim-manager".into());
    let manager = Manager::new(store.clone(), "sim-manager".into(), data_key);
    let start_rev = kv
        .range(&store.kind_prefix(Kind::Node))
        .await
        .unwrap()
        .revision;
    let mut watch = kv
        .watch(&store.kind_prefix(Kind::Task), start_rev + 1)
        .await
        .unwrap();

    let spec = serde_json::from_value(serde_json::json!({
        "Name": "bench",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest", "Args": ["top"]}},
        "Mode": {"Replicated": {"Replicas": tasks}}
    }))
    .unwrap();
    let t0 = Instant::now();
    manager.create_service(spec).await.expect("service create");

    // Placed: written with a node. Every put is a task as the leader left it.
    let mut placed = std::collections::HashSet::new();
    let mut placed_at = None;
    let mut running = std::collections::HashSet::new();
    let mut pending_status: Vec<(String, String)> = Vec::new();
    let mut last_rev = start_rev;
    while running.len() < tasks {
        let batch = tokio::time::timeout(Duration::from_secs(120), watch.next())
            .await
            .expect("no progress for 120 s")
            .expect("watch");
        for ev in batch {
            let WatchEvent::Put(kv) = ev else { continue };
            last_rev = last_rev.max(kv.mod_revision);
            let Ok(t) = serde_json::from_slice::<Task>(&kv.value) else {
                continue;
            };
            if !t.node_id.is_empty() && placed.insert(t.id.clone()) {
                pending_status.push((t.node_id.clone(), t.id.clone()));
            }
            if t.status.state == TaskState::Running {
                running.insert(t.id);
            }
        }
        if placed.len() == tasks && placed_at.is_none() {
            let took = t0.elapsed();
            placed_at = Some((took, last_rev));
            println!(
                "placed {tasks} tasks on {nodes} nodes in {:.2} s: {:.0} tasks/s, etcd {:.0} writes/s ({} revisions)",
                took.as_secs_f64(),
                tasks as f64 / took.as_secs_f64(),
                (last_rev - start_rev) as f64 / took.as_secs_f64(),
                last_rev - start_rev
            );
        }
        if placed_at.is_none() && !concurrent {
            continue;
        }
        // The simulated agents accept what they are given: each node
        // reports its tasks running in one batch, through the dispatcher's
        // forward-only rule, as an agent's report loop does.
        let mut by_node: std::collections::HashMap<String, Vec<swarm::agent::StatusUpdate>> =
            std::collections::HashMap::new();
        for (node, id) in std::mem::take(&mut pending_status) {
            by_node
                .entry(node)
                .or_default()
                .push(swarm::agent::StatusUpdate {
                    task_id: id,
                    status: serde_json::json!({
                        "Timestamp": "2026-01-01T00:00:00Z",
                        "State": "running",
                        "Message": "started"
                    }),
                });
        }
        for (node, updates) in by_node {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = swarm::dispatcher::apply_statuses(&store, &node, &updates).await {
                    eprintln!("node {node}: reporting {} statuses: {e}", updates.len());
                }
            });
        }
    }
    let all = t0.elapsed();
    println!(
        "all {tasks} reported running after {:.2} s ({:.0} status writes/s after placement)",
        all.as_secs_f64(),
        tasks as f64 / (all - placed_at.map_or(Duration::ZERO, |p| p.0)).as_secs_f64()
    );
    println!(
        "RSS: this process (manager side) {} MB, etcd {} MB",
        rss_mb(std::process::id()),
        etcd.member.pid().map_or(0, rss_mb)
    );
    drop(leader);
    keeper.abort();
}

fn rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
