//! A small cluster simulator for tests: it runs reconcile passes, applies
//! their changes as the leader would, and plays the scheduler and agents
//! (placing pending tasks, moving states) with a clock it controls.

use std::collections::HashMap;

use crate::ids::SequentialIds;
use crate::model::{
    ContainerSpec, Node, NodeState, Platform, Resources, RestartPolicy, Service, ServiceSpec,
    SwarmSpec, Task, TaskSpec, TaskState, Timestamp,
};
use crate::orchestrator::{Changes, ServiceSnapshot, reconcile_service};
use crate::scheduler::{SchedTask, schedule};

pub const SEC: i64 = 1_000_000_000;

pub fn node(id: &str) -> Node {
    let mut n = Node {
        id: id.into(),
        ..Default::default()
    };
    n.status.state = NodeState::Ready;
    n.spec.availability = "active".into();
    n.spec.role = "worker".into();
    n.description.hostname = id.into();
    n.description.platform = Platform {
        architecture: "x86_64".into(),
        os: "linux".into(),
    };
    n.description.resources = Resources {
        nano_cpus: 8 * SEC,
        memory_bytes: 16 << 30,
        ..Default::default()
    };
    n
}

pub fn spec(name: &str, image: &str) -> ServiceSpec {
    let mut s = ServiceSpec::default();
    s.annotations.name = name.into();
    s.task_template = TaskSpec {
        container_spec: Some(ContainerSpec {
            image: image.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    s
}

pub fn replicated(name: &str, replicas: u64) -> ServiceSpec {
    let mut s = spec(name, "nginx");
    s.mode.replicated = Some(crate::model::ReplicatedService {
        replicas: Some(replicas),
    });
    s
}

pub fn restart_policy(
    condition: &str,
    delay: i64,
    max: Option<u64>,
    window: Option<i64>,
) -> RestartPolicy {
    RestartPolicy {
        condition: condition.into(),
        delay: Some(delay),
        max_attempts: max,
        window,
    }
}

pub struct Sim {
    pub service: Service,
    pub tasks: Vec<Task>,
    pub nodes: Vec<Node>,
    pub cluster: SwarmSpec,
    pub running_since: HashMap<String, Timestamp>,
    pub ids: SequentialIds,
    pub now: Timestamp,
    pub last: Changes,
}

impl Sim {
    pub fn new(spec: ServiceSpec, nodes: usize) -> Sim {
        let now = Timestamp::from_unix(1_796_338_211, 0);
        let service = crate::updater::create_service("svc".into(), spec, now)
            .unwrap_or_else(|e| panic!("{e}"));
        Sim {
            service,
            tasks: Vec::new(),
            nodes: (1..=nodes).map(|i| node(&format!("n{i}"))).collect(),
            cluster: SwarmSpec::with_defaults(),
            running_since: HashMap::new(),
            ids: SequentialIds::new("t"),
            now,
            last: Changes::default(),
        }
    }

    pub fn advance(&mut self, nanos: i64) {
        self.now = self.now.add_nanos(nanos);
    }

    /// One reconcile pass, applied.
    pub fn pass(&mut self) -> &Changes {
        let snap = ServiceSnapshot {
            service: &self.service,
            tasks: &self.tasks,
            nodes: &self.nodes,
            cluster: &self.cluster,
            running_since: &self.running_since,
        };
        let changes = reconcile_service(&snap, self.now, &mut self.ids);
        for t in &changes.update {
            if let Some(old) = self.tasks.iter_mut().find(|o| o.id == t.id) {
                *old = t.clone();
            }
        }
        self.tasks.retain(|t| !changes.delete.contains(&t.id));
        self.tasks.extend(changes.create.iter().cloned());
        if let Some(s) = &changes.service {
            self.service = s.clone();
        }
        self.last = changes;
        &self.last
    }

    /// The scheduler: places every unplaced task with state below assigned.
    pub fn place(&mut self) {
        let pending: Vec<Task> = self
            .tasks
            .iter()
            .filter(|t| {
                t.status.state < TaskState::Assigned && t.desired_state <= TaskState::Complete
            })
            .cloned()
            .collect();
        let assigned: Vec<Task> = self
            .tasks
            .iter()
            .filter(|t| t.status.state >= TaskState::Assigned)
            .cloned()
            .collect();
        let p: Vec<SchedTask<'_>> = pending.iter().map(SchedTask::plain).collect();
        let a: Vec<SchedTask<'_>> = assigned.iter().map(SchedTask::plain).collect();
        let d = schedule(&self.nodes, &a, &p);
        for t in d.apply(&self.nodes, &p, self.now) {
            if let Some(old) = self.tasks.iter_mut().find(|o| o.id == t.id) {
                *old = t;
            }
        }
    }

    /// The agents: assigned tasks desired to run start; tasks desired to
    /// stop stop. Tasks on down nodes do not move.
    pub fn agents(&mut self) {
        let now = self.now;
        let down: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.status.state == NodeState::Down)
            .map(|n| n.id.clone())
            .collect();
        for t in &mut self.tasks {
            if down.contains(&t.node_id) {
                continue;
            }
            let s = t.status.state;
            if t.desired_state > TaskState::Complete && s <= TaskState::Running {
                t.status.state = TaskState::Shutdown;
                t.status.timestamp = now;
                t.status.message = "shutdown".into();
            } else if t.desired_state >= TaskState::Running
                && t.desired_state <= TaskState::Complete
                && (TaskState::Assigned..TaskState::Running).contains(&s)
            {
                t.status.state = TaskState::Running;
                t.status.timestamp = now;
                t.status.message = "started".into();
                self.running_since.insert(t.id.clone(), now);
            }
        }
    }

    /// Reconcile, schedule and run until nothing changes (bounded).
    pub fn settle(&mut self) {
        for _ in 0..20 {
            let before = self.tasks.clone();
            let service_before = self.service.clone();
            self.pass();
            self.place();
            self.agents();
            if before == self.tasks && service_before == self.service {
                return;
            }
        }
    }

    pub fn set_state(&mut self, id: &str, state: TaskState) {
        let now = self.now;
        if let Some(t) = self.tasks.iter_mut().find(|t| t.id == id) {
            t.status.state = state;
            t.status.timestamp = now;
        }
    }

    pub fn task(&self, id: &str) -> &Task {
        self.tasks
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no task {id}"))
    }

    /// Tasks desired to run (or complete), by slot.
    pub fn active(&self) -> Vec<&Task> {
        let mut v: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|t| t.desired_state <= TaskState::Complete)
            .collect();
        v.sort_by_key(|t| (t.slot, t.node_id.clone()));
        v
    }

    pub fn running(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .count()
    }

    pub fn in_slot(&self, slot: u64) -> Vec<&Task> {
        self.tasks.iter().filter(|t| t.slot == slot).collect()
    }

    pub fn set_spec(&mut self, spec: ServiceSpec) {
        self.service = crate::updater::apply_service_update(&self.service, spec, self.now)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn update_state(&self) -> Option<crate::model::UpdateState> {
        self.service.update_status.as_ref().and_then(|u| u.state)
    }

    pub fn update_message(&self) -> String {
        self.service
            .update_status
            .as_ref()
            .map(|u| u.message.clone())
            .unwrap_or_default()
    }
}
