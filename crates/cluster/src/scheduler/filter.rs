//! swarmkit's filter pipeline for one group of identical tasks: ready,
//! resources, plugins, constraints, platform, host ports, max replicas, in
//! that order. A node is charged to the first filter it fails; the counts
//! make the "no suitable node (…)" explanation.

use super::nodeinfo::{HostPort, NodeInfo, host_port};
use crate::constraint::{self, Constraint};
use crate::model::{Platform, PortConfig, Task};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Ready = 0,
    Resources = 1,
    Plugin = 2,
    Constraint = 3,
    Platform = 4,
    HostPort = 5,
    MaxReplicas = 6,
}

pub(crate) const FILTERS: usize = 7;

impl Failure {
    fn explain(self, nodes: usize) -> String {
        let plural = |one: &str, many: &str| {
            if nodes == 1 {
                one.to_string()
            } else {
                many.replace("{}", &nodes.to_string())
            }
        };
        match self {
            Failure::Ready => plural(
                "1 node not available for new tasks",
                "{} nodes not available for new tasks",
            ),
            Failure::Resources => plural(
                "insufficient resources on 1 node",
                "insufficient resources on {} nodes",
            ),
            Failure::Plugin => plural("missing plugin on 1 node", "missing plugin on {} nodes"),
            Failure::Constraint => plural(
                "scheduling constraints not satisfied on 1 node",
                "scheduling constraints not satisfied on {} nodes",
            ),
            Failure::Platform => plural(
                "unsupported platform on 1 node",
                "unsupported platform on {} nodes",
            ),
            Failure::HostPort => plural(
                "host-mode port already in use on 1 node",
                "host-mode port already in use on {} nodes",
            ),
            Failure::MaxReplicas => "max replicas per node limit exceed".to_string(),
        }
    }

    const ALL: [Failure; FILTERS] = [
        Failure::Ready,
        Failure::Resources,
        Failure::Plugin,
        Failure::Constraint,
        Failure::Platform,
        Failure::HostPort,
        Failure::MaxReplicas,
    ];
}

/// Most frequent failure first; equal counts keep the pipeline's order.
pub(crate) fn explain(counts: &[usize; FILTERS]) -> String {
    let mut order: Vec<Failure> = Failure::ALL
        .iter()
        .copied()
        .filter(|f| counts[*f as usize] > 0)
        .collect();
    order.sort_by_key(|f| std::cmp::Reverse(counts[*f as usize]));
    order
        .iter()
        .map(|f| f.explain(counts[*f as usize]))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The plugins a task needs on its node.
#[derive(Debug, Default)]
struct PluginNeeds {
    volume: Vec<String>,
    network: Vec<String>,
    log: Option<String>,
}

pub(crate) struct GroupFilter<'a> {
    cpu: i64,
    memory: i64,
    generic: Vec<(String, i64)>,
    check_resources: bool,
    plugins: PluginNeeds,
    /// Unparsable constraints disable the filter, as in swarmkit (the
    /// spec was validated when written).
    constraints: Vec<Constraint>,
    platforms: &'a [Platform],
    pub(crate) host_ports: Vec<HostPort>,
    max_replicas: u64,
}

impl<'a> GroupFilter<'a> {
    pub(crate) fn new(task: &'a Task, ports: &[PortConfig]) -> Self {
        let spec = &task.spec;
        let (cpu, memory, generic) = match spec.reservations() {
            Some(r) => (
                r.nano_cpus,
                r.memory_bytes,
                r.generic_resources
                    .iter()
                    .filter_map(|g| {
                        g.discrete_resource_spec
                            .as_ref()
                            .map(|d| (d.kind.clone(), d.value))
                    })
                    .collect(),
            ),
            None => (0, 0, Vec::new()),
        };
        let check_resources = cpu != 0 || memory != 0 || !generic.is_empty();
        let mut plugins = PluginNeeds::default();
        if let Some(c) = &spec.container_spec {
            for m in &c.mounts {
                if m.type_ == "volume"
                    && let Some(d) = m
                        .volume_options
                        .as_ref()
                        .and_then(|v| v.driver_config.as_ref())
                    && !d.name.is_empty()
                    && d.name != "local"
                {
                    plugins.volume.push(d.name.clone());
                }
            }
        }
        for a in &task.networks_attachments {
            let name = &a.network.driver_state.name;
            if !name.is_empty() {
                plugins.network.push(name.clone());
            }
        }
        if let Some(l) = &spec.log_driver
            && !l.name.is_empty()
            && l.name != "none"
        {
            plugins.log = Some(l.name.clone());
        }
        let placement = spec.placement.as_ref();
        GroupFilter {
            cpu,
            memory,
            generic,
            check_resources,
            plugins,
            constraints: constraint::parse(spec.constraints()).unwrap_or_default(),
            platforms: placement.map_or(&[], |p| p.platforms.as_slice()),
            host_ports: ports.iter().filter_map(host_port).collect(),
            max_replicas: placement.map_or(0, |p| p.max_replicas),
        }
    }

    /// The whole pipeline; `service_tasks` is this service's active task
    /// count on the node.
    pub(crate) fn check(&self, n: &NodeInfo<'_>, service_tasks: u32) -> Result<(), Failure> {
        if !n.ready {
            return Err(Failure::Ready);
        }
        if !self.fits(n) {
            return Err(Failure::Resources);
        }
        if !self.plugins_present(n) {
            return Err(Failure::Plugin);
        }
        if !constraint::node_matches(&self.constraints, n.node) {
            return Err(Failure::Constraint);
        }
        if !self.platform_supported(n) {
            return Err(Failure::Platform);
        }
        self.check_dynamic_tail(n, service_tasks)
    }

    /// What a placement on this node can change: resources, ports, the
    /// per-node replica count.
    pub(crate) fn check_dynamic(
        &self,
        n: &NodeInfo<'_>,
        service_tasks: u32,
    ) -> Result<(), Failure> {
        if !self.fits(n) {
            return Err(Failure::Resources);
        }
        self.check_dynamic_tail(n, service_tasks)
    }

    fn check_dynamic_tail(&self, n: &NodeInfo<'_>, service_tasks: u32) -> Result<(), Failure> {
        if self.host_ports.iter().any(|p| n.host_ports.contains(p)) {
            return Err(Failure::HostPort);
        }
        if self.max_replicas > 0 && u64::from(service_tasks) >= self.max_replicas {
            return Err(Failure::MaxReplicas);
        }
        Ok(())
    }

    fn fits(&self, n: &NodeInfo<'_>) -> bool {
        !self.check_resources
            || (self.cpu <= n.nano_cpus
                && self.memory <= n.memory
                && self
                    .generic
                    .iter()
                    .all(|(kind, count)| n.generic.available(kind) >= *count))
    }

    pub(crate) fn reserve(&self, n: &mut NodeInfo<'_>) -> Vec<crate::model::GenericResource> {
        n.nano_cpus -= self.cpu;
        n.memory -= self.memory;
        n.host_ports.extend(self.host_ports.iter().copied());
        let mut taken = Vec::new();
        for (kind, count) in &self.generic {
            n.generic.claim(kind, *count, &mut taken);
        }
        taken
    }

    /// Volume and network plugins must be on the node; a log driver only
    /// when the node reports log plugins at all (built-in drivers are not
    /// listed by every engine).
    fn plugins_present(&self, n: &NodeInfo<'_>) -> bool {
        let plugins = &n.node.description.engine.plugins;
        if plugins.is_empty() {
            return true;
        }
        let has = |kind: &str, name: &str| -> (bool, bool) {
            let mut type_found = false;
            for p in plugins.iter().filter(|p| p.type_ == kind) {
                type_found = true;
                if p.name == name || p.name.strip_prefix(name) == Some(":latest") {
                    return (true, true);
                }
            }
            (type_found, false)
        };
        self.plugins.volume.iter().all(|v| has("Volume", v).1)
            && self.plugins.network.iter().all(|v| has("Network", v).1)
            && self.plugins.log.as_ref().is_none_or(|l| {
                let (type_found, exists) = has("Log", l);
                exists || !type_found
            })
    }

    fn platform_supported(&self, n: &NodeInfo<'_>) -> bool {
        if self.platforms.is_empty() {
            return true;
        }
        let node = &n.node.description.platform;
        let arch = |a: &str| match a {
            "x86_64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            other => other.to_string(),
        };
        let node_arch = arch(&node.architecture);
        self.platforms.iter().any(|p| {
            (p.architecture.is_empty() || arch(&p.architecture) == node_arch)
                && (p.os.is_empty() || p.os == node.os)
        })
    }
}
