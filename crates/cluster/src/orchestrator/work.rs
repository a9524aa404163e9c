//! The working copy a reconcile pass edits: the service's tasks, the ones
//! it creates, which it changed or deleted, and when it wants to run
//! again. At the end it becomes the `Changes` the leader writes.

use std::collections::HashMap;

use crate::ids::IdSource;
use crate::model::{Node, Service, Task, TaskState, Timestamp};

use super::Changes;

pub(crate) struct Ctx<'a> {
    pub now: Timestamp,
    pub nodes: HashMap<&'a str, &'a Node>,
    pub all_nodes: &'a [Node],
    pub retention: i64,
    pub running_since: &'a HashMap<String, Timestamp>,
}

impl Ctx<'_> {
    /// Down, drained or gone: tasks there must move (swarmkit's `InvalidNode`).
    pub fn node_invalid(&self, node_id: &str) -> bool {
        self.nodes
            .get(node_id)
            .is_none_or(|n| n.is_invalid_for_tasks())
    }

    pub fn node(&self, node_id: &str) -> Option<&Node> {
        self.nodes.get(node_id).copied()
    }

    /// When a task started running: what the leader saw, else the status
    /// time of a task that is running now.
    pub fn started_at(&self, t: &Task) -> Option<Timestamp> {
        self.running_since
            .get(&t.id)
            .copied()
            .or_else(|| (t.status.state == TaskState::Running).then_some(t.status.timestamp))
    }
}

pub(crate) struct Work<'i> {
    pub service: Service,
    pub service_changed: bool,
    pub tasks: Vec<Task>,
    original: usize,
    changed: Vec<bool>,
    deleted: Vec<bool>,
    wake_at: Option<Timestamp>,
    ids: &'i mut dyn IdSource,
}

impl<'i> Work<'i> {
    pub fn new(service: &Service, tasks: &[Task], ids: &'i mut dyn IdSource) -> Self {
        Work {
            service: service.clone(),
            service_changed: false,
            tasks: tasks.to_vec(),
            original: tasks.len(),
            changed: vec![false; tasks.len()],
            deleted: vec![false; tasks.len()],
            wake_at: None,
            ids,
        }
    }

    pub fn new_id(&mut self) -> String {
        self.ids.new_id()
    }

    /// Indices of tasks not deleted.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.tasks.len()).filter(|&i| !self.deleted[i])
    }

    pub fn is_deleted(&self, i: usize) -> bool {
        self.deleted[i]
    }

    pub fn add(&mut self, task: Task) -> usize {
        self.tasks.push(task);
        self.changed.push(true);
        self.deleted.push(false);
        self.tasks.len() - 1
    }

    /// Desired states only move forward; an earlier one is ignored.
    pub fn set_desired(&mut self, i: usize, state: TaskState, now: Timestamp) {
        if self.tasks[i].desired_state < state {
            self.tasks[i].desired_state = state;
            self.tasks[i].meta.updated_at = now;
            self.changed[i] = true;
        }
    }

    /// Starting a task that waited (desired `ready`) is the one move back.
    pub fn start(&mut self, i: usize, state: TaskState, now: Timestamp) {
        if self.tasks[i].desired_state != state {
            self.tasks[i].desired_state = state;
            self.tasks[i].meta.updated_at = now;
            self.changed[i] = true;
        }
    }

    pub fn delete(&mut self, i: usize) {
        self.deleted[i] = true;
    }

    pub fn wake(&mut self, at: Timestamp) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    pub fn into_changes(self) -> Changes {
        let mut changes = Changes {
            wake_at: self.wake_at,
            ..Default::default()
        };
        for (i, t) in self.tasks.into_iter().enumerate() {
            let created = i >= self.original;
            match (created, self.deleted[i], self.changed[i]) {
                (true, false, _) => changes.create.push(t),
                (false, true, _) => changes.delete.push(t.id),
                (false, false, true) => changes.update.push(t),
                _ => {}
            }
        }
        if self.service_changed {
            changes.service = Some(self.service);
        }
        changes
    }
}
