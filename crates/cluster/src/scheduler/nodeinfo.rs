//! What the scheduler tracks per node while it places tasks: resources
//! left, host ports taken, active tasks overall and per service. Built
//! once from the assigned tasks, then updated by each placement.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{
    DiscreteGenericResource, GenericResource, NamedGenericResource, Node, PortConfig, Task,
    TaskState,
};

/// A published host port: protocol and number.
pub(crate) type HostPort = (&'static str, u32);

pub(crate) fn host_port(p: &PortConfig) -> Option<HostPort> {
    if !p.is_host_published() {
        return None;
    }
    let proto = match p.protocol.to_ascii_lowercase().as_str() {
        "udp" => "udp",
        "sctp" => "sctp",
        _ => "tcp",
    };
    Some((proto, p.published_port))
}

/// User-defined resources a node still has: named items (a GPU's UUID)
/// or a count.
#[derive(Debug, Clone, Default)]
pub(crate) struct GenericPool {
    named: BTreeMap<String, Vec<String>>,
    discrete: BTreeMap<String, i64>,
}

impl GenericPool {
    fn from_resources(list: &[GenericResource]) -> Self {
        let mut pool = GenericPool::default();
        for r in list {
            if let Some(n) = &r.named_resource_spec {
                pool.named
                    .entry(n.kind.clone())
                    .or_default()
                    .push(n.value.clone());
            }
            if let Some(d) = &r.discrete_resource_spec {
                *pool.discrete.entry(d.kind.clone()).or_default() += d.value;
            }
        }
        pool
    }

    pub(crate) fn available(&self, kind: &str) -> i64 {
        self.named.get(kind).map_or(0, |v| v.len() as i64)
            + self.discrete.get(kind).copied().unwrap_or(0)
    }

    /// Takes `count` of `kind`, named items first, and says what was taken
    /// so the task can record it.
    pub(crate) fn claim(&mut self, kind: &str, mut count: i64, taken: &mut Vec<GenericResource>) {
        if let Some(names) = self.named.get_mut(kind) {
            while count > 0 {
                let Some(value) = names.pop() else { break };
                taken.push(GenericResource {
                    named_resource_spec: Some(NamedGenericResource {
                        kind: kind.to_string(),
                        value,
                    }),
                    discrete_resource_spec: None,
                });
                count -= 1;
            }
        }
        if count > 0 {
            *self.discrete.entry(kind.to_string()).or_default() -= count;
            taken.push(GenericResource {
                named_resource_spec: None,
                discrete_resource_spec: Some(DiscreteGenericResource {
                    kind: kind.to_string(),
                    value: count,
                }),
            });
        }
    }

    /// Removes what an already placed task holds.
    fn hold(&mut self, held: &[GenericResource]) {
        for r in held {
            if let Some(n) = &r.named_resource_spec
                && let Some(names) = self.named.get_mut(&n.kind)
            {
                names.retain(|v| v != &n.value);
            }
            if let Some(d) = &r.discrete_resource_spec {
                *self.discrete.entry(d.kind.clone()).or_default() -= d.value;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NodeInfo<'a> {
    pub node: &'a Node,
    pub ready: bool,
    pub nano_cpus: i64,
    pub memory: i64,
    pub generic: GenericPool,
    pub active: u32,
    pub by_service: HashMap<&'a str, u32>,
    pub host_ports: HashSet<HostPort>,
}

impl<'a> NodeInfo<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        let r = &node.description.resources;
        NodeInfo {
            node,
            ready: node.accepts_tasks(),
            nano_cpus: r.nano_cpus,
            memory: r.memory_bytes,
            generic: GenericPool::from_resources(&r.generic_resources),
            active: 0,
            by_service: HashMap::new(),
            host_ports: HashSet::new(),
        }
    }

    /// Accounts a task already on this node. Tasks that stopped hold
    /// nothing; tasks asked to stop still hold their resources and ports
    /// until they do, but no longer count for spreading (as swarmkit).
    pub(crate) fn add_existing(&mut self, task: &'a Task, ports: &[PortConfig]) {
        if task.status.state > TaskState::Running {
            return;
        }
        if let Some(res) = task.spec.reservations() {
            self.nano_cpus -= res.nano_cpus;
            self.memory -= res.memory_bytes;
        }
        self.generic.hold(&task.generic_resources);
        self.host_ports.extend(ports.iter().filter_map(host_port));
        if task.is_desired_active() {
            self.active += 1;
            *self.by_service.entry(task.service_id.as_str()).or_default() += 1;
        }
    }
}
