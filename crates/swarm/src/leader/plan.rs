//! One reconcile pass of the leader, as a pure function of the cluster's
//! objects and the time: which tasks to create, which to place on which
//! node, which to shut down and which old ones to forget. The writes go
//! to the store in one transaction; a lost race just means another pass.
//!
//! This pass covers what a single-host swarm needs first — replicated and
//! global services, restarts with the task's restart policy, stop-first
//! replacement of outdated tasks, spread placement with constraints, task
//! history — and is where the cluster crate's full orchestrators, scheduler
//! and rolling updater plug in as they land.

use std::collections::{BTreeMap, HashMap};

use cluster::model::{ModeKind, Node, Service, Task, TaskSpec, TaskState, TaskStatus, Timestamp};

use crate::store::{Kind, Stored, Write};

/// Everything a pass reads.
pub struct Snapshot<'a> {
    pub services: &'a [Stored<Service>],
    pub tasks: &'a [Stored<Task>],
    pub nodes: &'a [Stored<Node>],
    pub history_limit: usize,
    pub now: Timestamp,
}

/// What a pass decided, and when it wants to run again (a restart delay
/// that has not passed yet), in nanoseconds from `now`.
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub wake_in_nanos: Option<i64>,
}

/// swarmkit's default restart delay.
const DEFAULT_RESTART_DELAY: i64 = 5_000_000_000;

pub fn plan(s: &Snapshot<'_>, new_id: &mut dyn FnMut() -> String) -> Plan {
    let mut p = Planner {
        s,
        writes: Vec::new(),
        changed: HashMap::new(),
        wake: None,
    };
    p.orchestrate(new_id);
    p.schedule();
    p.prune_history();
    let mut writes = p.writes;
    for (id, (version, task)) in p.changed {
        if let Ok(value) = serde_json::to_value(&task) {
            writes.push(Write::Update {
                kind: Kind::Task,
                id,
                version,
                value,
            });
        }
    }
    Plan {
        writes,
        wake_in_nanos: p.wake,
    }
}

struct Planner<'a> {
    s: &'a Snapshot<'a>,
    writes: Vec<Write>,
    /// Existing tasks changed by this pass: id → (version read, new value).
    changed: HashMap<String, (i64, Task)>,
    wake: Option<i64>,
}

impl Planner<'_> {
    fn node(&self, id: &str) -> Option<&Node> {
        self.s.nodes.iter().map(|n| &n.value).find(|n| n.id == id)
    }

    fn current(&self, stored: &Stored<Task>) -> Task {
        self.changed
            .get(&stored.value.id)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| stored.value.clone())
    }

    fn change(&mut self, stored: &Stored<Task>, f: impl FnOnce(&mut Task)) {
        let mut t = self.current(stored);
        f(&mut t);
        t.meta.updated_at = self.s.now;
        self.changed
            .insert(stored.value.id.clone(), (stored.version, t));
    }

    fn shutdown(&mut self, stored: &Stored<Task>) {
        if self.current(stored).desired_state < TaskState::Shutdown {
            self.change(stored, |t| t.desired_state = TaskState::Shutdown);
        }
    }

    fn wake_in(&mut self, nanos: i64) {
        self.wake = Some(self.wake.map_or(nanos, |w| w.min(nanos)));
    }

    fn orchestrate(&mut self, new_id: &mut dyn FnMut() -> String) {
        let services: HashMap<&str, &Service> = self
            .s
            .services
            .iter()
            .map(|s| (s.value.id.as_str(), &s.value))
            .collect();
        // Tasks of services that are gone stop, whatever they do.
        let orphans: Vec<&Stored<Task>> = self
            .s
            .tasks
            .iter()
            .filter(|t| !services.contains_key(t.value.service_id.as_str()))
            .collect();
        for t in orphans {
            self.shutdown(t);
        }
        for svc in self.s.services.iter().map(|s| &s.value) {
            let tasks: Vec<&Stored<Task>> = self
                .s
                .tasks
                .iter()
                .filter(|t| t.value.service_id == svc.id)
                .collect();
            match svc.spec.mode.kind() {
                ModeKind::Replicated { replicas } => self.replicated(svc, replicas, &tasks, new_id),
                ModeKind::Global => self.global(svc, &tasks, new_id),
                // Jobs need completion counting; refused at create until then.
                ModeKind::ReplicatedJob { .. } | ModeKind::GlobalJob => {}
            }
        }
    }

    /// Slot by slot: one live task each, replaced when it ended (restart
    /// policy), when its node is gone, or when the service's spec changed.
    fn replicated(
        &mut self,
        svc: &Service,
        replicas: u64,
        tasks: &[&Stored<Task>],
        new_id: &mut dyn FnMut() -> String,
    ) {
        let mut slots: BTreeMap<u64, Vec<&Stored<Task>>> = BTreeMap::new();
        for t in tasks {
            slots.entry(t.value.slot).or_default().push(t);
        }
        for slot in 1..=replicas {
            let in_slot = slots.remove(&slot).unwrap_or_default();
            self.keep_one(svc, slot, "", &in_slot, new_id);
        }
        // Slots past the replica count: scale down.
        for (_, rest) in slots {
            for t in rest {
                self.shutdown(t);
            }
        }
    }

    /// One task per node that may run it.
    fn global(
        &mut self,
        svc: &Service,
        tasks: &[&Stored<Task>],
        new_id: &mut dyn FnMut() -> String,
    ) {
        let mut by_node: BTreeMap<&str, Vec<&Stored<Task>>> = BTreeMap::new();
        for t in tasks {
            by_node.entry(t.value.node_id.as_str()).or_default().push(t);
        }
        let eligible: Vec<String> = self
            .s
            .nodes
            .iter()
            .map(|n| &n.value)
            .filter(|n| n.accepts_tasks() && constraints_hold(&svc.spec.task_template, n))
            .map(|n| n.id.clone())
            .collect();
        for node in &eligible {
            let here = by_node.remove(node.as_str()).unwrap_or_default();
            self.keep_one(svc, 0, node, &here, new_id);
        }
        for (_, rest) in by_node {
            for t in rest {
                self.shutdown(t);
            }
        }
    }

    /// Keeps exactly one live task among `tasks` (one slot or one node).
    fn keep_one(
        &mut self,
        svc: &Service,
        slot: u64,
        node: &str,
        tasks: &[&Stored<Task>],
        new_id: &mut dyn FnMut() -> String,
    ) {
        let template = &svc.spec.task_template;
        let mut live: Vec<&Stored<Task>> = tasks
            .iter()
            .copied()
            .filter(|t| self.current(t).desired_state <= TaskState::Running)
            .collect();
        live.sort_by_key(|t| std::cmp::Reverse(t.value.meta.created_at));
        // Extra live tasks (a lost race, a node back from down): the newest stays.
        for extra in live.iter().skip(1) {
            self.shutdown(extra);
        }
        let Some(task) = live.first().copied() else {
            if self.restart_allowed(svc, tasks) {
                self.create(svc, slot, node, new_id);
            }
            return;
        };
        let t = self.current(task);
        let node_down = !t.node_id.is_empty()
            && self
                .node(&t.node_id)
                .is_none_or(|n| n.is_invalid_for_tasks());
        if t.spec != *template || node_down {
            // Stop-first replacement; the new task waits for nothing.
            self.shutdown(task);
            self.create(svc, slot, node, new_id);
            return;
        }
        if t.status.state.is_terminal() {
            // It ended on its own: the restart policy decides.
            self.shutdown(task);
            if self.restart_allowed(svc, tasks) {
                let delay = restart_delay(template);
                let ended = t.status.timestamp;
                let waited = self.s.now.nanos_since(&ended);
                if waited >= delay {
                    self.create(svc, slot, node, new_id);
                } else {
                    // Back next pass, once the delay has passed.
                    self.changed.remove(&task.value.id);
                    self.wake_in(delay - waited);
                }
            }
        }
    }

    /// `RestartPolicy`: condition none/on-failure/any and MaxAttempts, the
    /// restarts allowed after the first run (counting the slot's ended tasks
    /// within `Window`, all of them without one).
    fn restart_allowed(&self, svc: &Service, tasks: &[&Stored<Task>]) -> bool {
        let policy = svc
            .spec
            .task_template
            .restart_policy
            .clone()
            .unwrap_or_default();
        let ended: Vec<Task> = tasks
            .iter()
            .map(|t| self.current(t))
            .filter(|t| t.status.state.is_terminal())
            .collect();
        let last = ended
            .iter()
            .max_by(|a, b| a.status.timestamp.cmp(&b.status.timestamp));
        match policy.condition.as_str() {
            "none" if last.is_some() => return false,
            "on-failure" if last.is_some_and(|t| !t.status.state.is_failure()) => return false,
            _ => {}
        }
        match policy.max_attempts {
            Some(max) if max > 0 => {
                let window = policy.window.unwrap_or(0);
                let counted = ended
                    .iter()
                    .filter(|t| {
                        window <= 0 || self.s.now.nanos_since(&t.status.timestamp) <= window
                    })
                    .count() as u64;
                counted <= max
            }
            _ => true,
        }
    }

    fn create(&mut self, svc: &Service, slot: u64, node: &str, new_id: &mut dyn FnMut() -> String) {
        let mut task = Task {
            id: new_id(),
            spec: svc.spec.task_template.clone(),
            service_id: svc.id.clone(),
            slot,
            node_id: node.to_string(),
            desired_state: TaskState::Running,
            status: TaskStatus {
                timestamp: self.s.now,
                state: TaskState::New,
                message: "created".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        task.meta.created_at = self.s.now;
        task.meta.updated_at = self.s.now;
        if let Ok(value) = serde_json::to_value(&task) {
            self.writes.push(Write::Create {
                kind: Kind::Task,
                id: task.id.clone(),
                value,
            });
        }
    }

    /// Places new tasks: nodes that accept tasks and meet the constraints,
    /// fewest tasks of the service first, then fewest tasks overall.
    fn schedule(&mut self) {
        let mut load: HashMap<String, (usize, HashMap<String, usize>)> = HashMap::new();
        for t in self.s.tasks.iter().map(|t| &t.value) {
            if t.desired_state <= TaskState::Running && !t.node_id.is_empty() {
                let e = load.entry(t.node_id.clone()).or_default();
                e.0 += 1;
                *e.1.entry(t.service_id.clone()).or_default() += 1;
            }
        }
        let mut placed = Vec::new();
        for w in &mut self.writes {
            let Write::Create { value, .. } = w else {
                continue;
            };
            let Ok(mut task) = serde_json::from_value::<Task>(value.clone()) else {
                continue;
            };
            if !task.node_id.is_empty() {
                // Global tasks come with their node.
                task.status.state = TaskState::Assigned;
                task.status.message = "scheduler assigned task to node".into();
            } else {
                let candidates: Vec<&Node> = self
                    .s
                    .nodes
                    .iter()
                    .map(|n| &n.value)
                    .filter(|n| n.accepts_tasks() && constraints_hold(&task.spec, n))
                    .collect();
                let best = candidates.into_iter().min_by_key(|n| {
                    let l = load.get(&n.id);
                    (
                        l.and_then(|l| l.1.get(&task.service_id))
                            .copied()
                            .unwrap_or(0),
                        l.map(|l| l.0).unwrap_or(0),
                        n.id.clone(),
                    )
                });
                match best {
                    Some(n) => {
                        task.node_id = n.id.clone();
                        task.status.state = TaskState::Assigned;
                        task.status.message = "scheduler assigned task to node".into();
                        let e = load.entry(n.id.clone()).or_default();
                        e.0 += 1;
                        *e.1.entry(task.service_id.clone()).or_default() += 1;
                    }
                    None => {
                        task.status.state = TaskState::Pending;
                        task.status.message = "pending task scheduling".into();
                        task.status.err = format!(
                            "no suitable node ({})",
                            unsuitable(&task.spec, self.s.nodes)
                        );
                    }
                }
            }
            if let Ok(v) = serde_json::to_value(&task) {
                *value = v;
            }
            placed.push(task.id.clone());
        }
        // Pending tasks from earlier passes get another chance.
        let pending: Vec<&Stored<Task>> = self
            .s
            .tasks
            .iter()
            .filter(|t| {
                t.value.status.state == TaskState::Pending
                    && t.value.node_id.is_empty()
                    && t.value.desired_state <= TaskState::Running
            })
            .collect();
        for stored in pending {
            let task = self.current(stored);
            if task.desired_state > TaskState::Running {
                continue;
            }
            let best = self
                .s
                .nodes
                .iter()
                .map(|n| &n.value)
                .filter(|n| n.accepts_tasks() && constraints_hold(&task.spec, n))
                .min_by_key(|n| load.get(&n.id).map(|l| l.0).unwrap_or(0));
            if let Some(n) = best {
                let id = n.id.clone();
                let now = self.s.now;
                self.change(stored, |t| {
                    t.node_id = id;
                    t.status.state = TaskState::Assigned;
                    t.status.message = "scheduler assigned task to node".into();
                    t.status.err.clear();
                    t.status.timestamp = now;
                });
            }
        }
    }

    /// Keeps `history_limit` ended tasks per slot (per node for global
    /// services), forgetting older ones, and forgets every task of a removed
    /// service once it has stopped.
    fn prune_history(&mut self) {
        let live_services: Vec<&str> = self
            .s
            .services
            .iter()
            .map(|s| s.value.id.as_str())
            .collect();
        let mut groups: BTreeMap<(String, u64, String), Vec<Task>> = BTreeMap::new();
        for stored in self.s.tasks {
            let t = self.current(stored);
            let done = t.desired_state > TaskState::Running
                && (t.status.state.is_terminal()
                    || t.node_id.is_empty()
                    || t.status.state < TaskState::Assigned);
            if !done {
                continue;
            }
            if !live_services.contains(&t.service_id.as_str()) {
                self.forget(&t.id);
                continue;
            }
            let node = if t.slot == 0 {
                t.node_id.clone()
            } else {
                String::new()
            };
            groups
                .entry((t.service_id.clone(), t.slot, node))
                .or_default()
                .push(t);
        }
        for (_, mut ended) in groups {
            if ended.len() <= self.s.history_limit {
                continue;
            }
            ended.sort_by_key(|t| t.meta.created_at);
            let excess = ended.len() - self.s.history_limit;
            for t in ended.into_iter().take(excess) {
                self.forget(&t.id);
            }
        }
    }

    fn forget(&mut self, id: &str) {
        self.changed.remove(id);
        self.writes.push(Write::Delete {
            kind: Kind::Task,
            id: id.to_string(),
            name: None,
        });
    }
}

fn restart_delay(spec: &TaskSpec) -> i64 {
    spec.restart_policy
        .as_ref()
        .and_then(|p| p.delay)
        .unwrap_or(DEFAULT_RESTART_DELAY)
}

/// `node.id`, `node.hostname`, `node.role`, `node.platform.os|arch`,
/// `node.labels.*` and `engine.labels.*` with `==`/`!=`.
pub fn constraints_hold(spec: &TaskSpec, node: &Node) -> bool {
    spec.constraints().iter().all(|c| constraint_holds(c, node))
}

fn constraint_holds(c: &str, node: &Node) -> bool {
    let (key, want, equal) = match (c.split_once("=="), c.split_once("!=")) {
        (Some((k, v)), _) => (k.trim(), v.trim(), true),
        (None, Some((k, v))) => (k.trim(), v.trim(), false),
        (None, None) => return false,
    };
    let role = if node.spec.role.is_empty() {
        "worker".to_string()
    } else {
        node.spec.role.clone()
    };
    let have: Option<String> = match key.to_ascii_lowercase().as_str() {
        "node.id" => Some(node.id.clone()),
        "node.hostname" => Some(node.description.hostname.clone()),
        "node.role" => Some(role),
        "node.platform.os" => Some(node.description.platform.os.clone()),
        "node.platform.arch" => Some(node.description.platform.architecture.clone()),
        k => {
            if let Some(label) = key.strip_prefix("node.labels.") {
                node.spec.annotations.labels.get(label).cloned()
            } else if let Some(label) = key.strip_prefix("engine.labels.") {
                node.description.engine.labels.get(label).cloned()
            } else {
                tracing::debug!("unknown constraint key {k}");
                None
            }
        }
    };
    let matches = have.is_some_and(|h| h.eq_ignore_ascii_case(want));
    matches == equal
}

fn unsuitable(spec: &TaskSpec, nodes: &[Stored<Node>]) -> String {
    let mut not_ready = 0;
    let mut constrained = 0;
    for n in nodes.iter().map(|n| &n.value) {
        if !n.accepts_tasks() {
            not_ready += 1;
        } else if !constraints_hold(spec, n) {
            constrained += 1;
        }
    }
    let mut parts = Vec::new();
    if constrained > 0 {
        parts.push(format!(
            "scheduling constraints not satisfied on {constrained} node{}",
            if constrained == 1 { "" } else { "s" }
        ));
    }
    if not_ready > 0 {
        parts.push(format!(
            "{not_ready} node{} not available for new tasks",
            if not_ready == 1 { "" } else { "s" }
        ));
    }
    parts.join("; ")
}

/// For tests and the leader: the JSON of a created task.
pub fn created_task(w: &Write) -> Option<Task> {
    match w {
        Write::Create { value, .. } => serde_json::from_value::<Task>(value.clone()).ok(),
        _ => None,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
