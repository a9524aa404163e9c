//! The allocator's step of a pass: addresses on overlay networks, handed
//! out by the leader alone (so no two managers can give one address twice)
//! and kept in the objects themselves: a service's VIP per network in its
//! `Endpoint.VirtualIPs`, a task's address in its `NetworksAttachments`.
//! What is in use is read from those objects at the start of each pass:
//! a task that reached a terminal state, a service removed or a network
//! dropped from a spec frees its addresses with no bookkeeping of its own.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use cluster::model::{
    Endpoint, EndpointVirtualIp, Network, NetworkAttachment, Node, PortConfig, Service, Task,
};
use ipnet::Ipv4Net;

use crate::store::Stored;

/// One network's addresses.
struct Pool {
    network: Network,
    subnet: Ipv4Net,
    /// Where task and VIP addresses come from (`--ip-range`, else the subnet).
    range: Ipv4Net,
    used: BTreeSet<Ipv4Addr>,
    /// Allocation goes round the range from here, so an address freed a
    /// moment ago is the last to be handed out again (a stale forwarding
    /// or DNS entry elsewhere has time to go).
    cursor: u32,
}

impl Pool {
    fn take(&mut self) -> Option<Ipv4Addr> {
        let first = u32::from(self.range.network()) + 1;
        let last = u32::from(self.range.broadcast()).saturating_sub(1);
        if last < first {
            return None;
        }
        let span = last - first + 1;
        let start = self.cursor.clamp(first, last);
        for i in 0..span {
            let a = Ipv4Addr::from(first + (start - first + i) % span);
            if self.used.insert(a) {
                self.cursor = u32::from(a) + 1;
                return Some(a);
            }
        }
        None
    }

    fn cidr(&self, a: Ipv4Addr) -> String {
        format!("{a}/{}", self.subnet.prefix_len())
    }
}

/// dockerd's range for ingress ports published without a number.
const DYNAMIC_PORTS: std::ops::RangeInclusive<u32> = 30000..=32767;

pub struct Allocator {
    pools: HashMap<String, Pool>,
    /// The ingress network's id, if the cluster has one.
    ingress: Option<String>,
    /// (protocol, published port) of every ingress port in use.
    ports: BTreeSet<(String, u32)>,
}

fn parse_addr(cidr: &str) -> Option<Ipv4Addr> {
    cidr.split('/').next()?.parse().ok()
}

impl Allocator {
    /// The pools as the stored objects leave them.
    pub fn new(
        networks: &[Stored<Network>],
        services: &[Stored<Service>],
        tasks: &[Stored<Task>],
        nodes: &[Stored<Node>],
    ) -> Allocator {
        let ingress =
            crate::manager::ingress_of(networks.iter().map(|n| &n.value)).map(|n| n.id.clone());
        let mut pools: HashMap<String, Pool> = networks
            .iter()
            .filter_map(|n| {
                let (subnet, gateway) = crate::manager::ipv4_config(&n.value)?;
                let range = n
                    .value
                    .ipam_options
                    .as_ref()
                    .and_then(|o| o.configs.first())
                    .and_then(|c| c.range.parse().ok())
                    .unwrap_or(subnet);
                let mut used = BTreeSet::new();
                used.insert(gateway);
                Some((
                    n.value.id.clone(),
                    Pool {
                        network: n.value.clone(),
                        subnet,
                        range,
                        used,
                        cursor: 0,
                    },
                ))
            })
            .collect();
        let mut hold = |net: &str, cidr: &str| {
            if let (Some(p), Some(a)) = (pools.get_mut(net), parse_addr(cidr)) {
                p.used.insert(a);
                p.cursor = p.cursor.max(u32::from(a) + 1);
            }
        };
        let mut ports = BTreeSet::new();
        for s in services {
            for v in &s.value.endpoint.virtual_ips {
                hold(&v.network_id, &v.addr);
            }
            for p in &s.value.endpoint.ports {
                if p.publish_mode != "host" && p.published_port != 0 {
                    ports.insert((p.protocol_or_default().to_string(), p.published_port));
                }
            }
        }
        for n in nodes {
            for a in &n.value.attachments {
                for cidr in &a.addresses {
                    hold(&a.network.id, cidr);
                }
            }
        }
        for t in tasks.iter().map(|t| &t.value) {
            if t.status.state.is_terminal() {
                continue;
            }
            for a in &t.networks_attachments {
                for cidr in &a.addresses {
                    hold(&a.network.id, cidr);
                }
            }
        }
        Allocator {
            pools,
            ingress,
            ports,
        }
    }

    /// The endpoint `service` should carry now, when it differs from
    /// what it has: a VIP per network in `vip` mode (the ingress network's
    /// first when it publishes through the routing mesh; kept once given),
    /// none in `dnsrr` mode, and its published ports with a number for each
    /// ingress port published without one (kept once given).
    pub fn endpoint(&mut self, service: &Service) -> Option<Endpoint> {
        let spec = service.spec.endpoint_spec.clone().unwrap_or_default();
        let dnsrr = spec.mode == "dnsrr";
        let mut targets: Vec<&str> = Vec::new();
        if crate::manager::publishes_ingress(&service.spec)
            && let Some(ingress) = &self.ingress
        {
            targets.push(ingress);
        }
        targets.extend(crate::manager::network_targets(&service.spec));
        let mut vips = Vec::new();
        if !dnsrr {
            for target in targets {
                if let Some(have) = service
                    .endpoint
                    .virtual_ips
                    .iter()
                    .find(|v| v.network_id == target)
                {
                    vips.push(have.clone());
                    continue;
                }
                let Some(pool) = self.pools.get_mut(target) else {
                    continue;
                };
                if let Some(a) = pool.take() {
                    vips.push(EndpointVirtualIp {
                        network_id: target.to_string(),
                        addr: pool.cidr(a),
                    });
                }
            }
        }
        let mut ports = Vec::new();
        for p in &spec.ports {
            let mut p = p.clone();
            if p.protocol.is_empty() {
                p.protocol = "tcp".into();
            }
            if p.publish_mode.is_empty() {
                p.publish_mode = "ingress".into();
            }
            if p.publish_mode == "ingress" && p.published_port == 0 {
                let given = service.endpoint.ports.iter().find(|q| {
                    q.target_port == p.target_port
                        && q.protocol_or_default() == p.protocol
                        && q.publish_mode == "ingress"
                });
                p.published_port = match given {
                    Some(q) => q.published_port,
                    None => self.free_port(&p),
                };
            }
            ports.push(p);
        }
        let next = Endpoint {
            spec,
            ports,
            virtual_ips: vips,
        };
        (next != service.endpoint).then_some(next)
    }

    fn free_port(&mut self, p: &PortConfig) -> u32 {
        let proto = p.protocol_or_default().to_string();
        let found = DYNAMIC_PORTS
            .clone()
            .find(|n| !self.ports.contains(&(proto.clone(), *n)))
            .unwrap_or(0);
        self.ports.insert((proto, found));
        found
    }

    /// A node's legs: its address on the ingress network and on each
    /// network in `routed` (see [`crate::routes`]), given once and kept;
    /// a leg on a network no routed service uses any more is dropped
    /// (its address freed). Its attachments as they should be, when they
    /// differ from what it has.
    pub fn node_attachments(
        &mut self,
        node: &Node,
        routed: &BTreeSet<String>,
    ) -> Option<Vec<NetworkAttachment>> {
        let wanted: Vec<String> = self
            .ingress
            .iter()
            .chain(routed.iter().filter(|n| Some(*n) != self.ingress.as_ref()))
            .filter(|n| self.pools.contains_key(*n))
            .cloned()
            .collect();
        let mut out: Vec<NetworkAttachment> = node
            .attachments
            .iter()
            .filter(|a| wanted.contains(&a.network.id))
            .cloned()
            .collect();
        for net in &wanted {
            if out.iter().any(|a| a.network.id == *net) {
                continue;
            }
            let Some(pool) = self.pools.get_mut(net) else {
                continue;
            };
            let Some(a) = pool.take() else {
                continue;
            };
            out.push(NetworkAttachment {
                network: pool.network.clone(),
                addresses: vec![pool.cidr(a)],
            });
        }
        (out != node.attachments).then_some(out)
    }

    /// Gives a new task its address on each network of its spec; the
    /// reason when it cannot (it then waits, as swarmkit's do).
    /// `ingress`: its service publishes through the routing mesh (the
    /// task is then on the ingress network too, first).
    pub fn attach_task(&mut self, t: &mut Task, ingress: bool) -> Result<(), String> {
        if !t.networks_attachments.is_empty() {
            return Ok(());
        }
        let mut targets: Vec<String> = Vec::new();
        if ingress && let Some(id) = &self.ingress {
            targets.push(id.clone());
        }
        targets.extend(t.spec.networks.iter().map(|n| n.target.clone()));
        if targets.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for target in &targets {
            let Some(pool) = self.pools.get_mut(target) else {
                self.release(&out);
                return Err(format!("network {target} not found"));
            };
            let Some(a) = pool.take() else {
                let name = pool.network.spec.annotations.name.clone();
                self.release(&out);
                return Err(format!("no addresses left on network {name}"));
            };
            out.push(NetworkAttachment {
                network: pool.network.clone(),
                addresses: vec![pool.cidr(a)],
            });
        }
        t.networks_attachments = out;
        Ok(())
    }

    fn release(&mut self, attachments: &[NetworkAttachment]) {
        for a in attachments {
            if let Some(pool) = self.pools.get_mut(&a.network.id) {
                for cidr in &a.addresses {
                    if let Some(addr) = parse_addr(cidr) {
                        pool.used.remove(&addr);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::model::{
        Driver, IpamConfig, IpamOptions, NetworkAttachmentConfig, NetworkSpec, TaskSpec, TaskState,
    };

    fn stored<T>(value: T) -> Stored<T> {
        Stored { version: 1, value }
    }

    fn network(id: &str, subnet: &str, gateway: &str) -> Stored<Network> {
        stored(Network {
            id: id.into(),
            spec: NetworkSpec::default(),
            driver_state: Driver::default(),
            ipam_options: Some(IpamOptions {
                configs: vec![IpamConfig {
                    subnet: subnet.into(),
                    gateway: gateway.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn task_on(net: &str) -> Task {
        Task {
            spec: TaskSpec {
                networks: vec![NetworkAttachmentConfig {
                    target: net.into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn service_on(net: &str) -> Service {
        let mut s = Service::default();
        s.spec.task_template.networks = vec![NetworkAttachmentConfig {
            target: net.into(),
            ..Default::default()
        }];
        s
    }

    #[test]
    fn vips_and_task_addresses_are_distinct_and_skip_the_gateway() {
        let nets = [network("n1", "10.0.1.0/24", "10.0.1.1")];
        let mut a = Allocator::new(&nets, &[], &[], &[]);
        let vips = a.endpoint(&service_on("n1")).unwrap().virtual_ips;
        assert_eq!(vips[0].addr, "10.0.1.2/24");
        let mut t1 = task_on("n1");
        let mut t2 = task_on("n1");
        a.attach_task(&mut t1, false).unwrap();
        a.attach_task(&mut t2, false).unwrap();
        assert_eq!(t1.networks_attachments[0].addresses, vec!["10.0.1.3/24"]);
        assert_eq!(t2.networks_attachments[0].addresses, vec!["10.0.1.4/24"]);
        assert_eq!(t1.networks_attachments[0].network.id, "n1");
    }

    #[test]
    fn what_objects_hold_stays_taken_and_terminal_tasks_free_theirs() {
        let nets = [network("n1", "10.0.1.0/29", "10.0.1.1")];
        let mut held = task_on("n1");
        held.networks_attachments = vec![NetworkAttachment {
            network: nets[0].value.clone(),
            addresses: vec!["10.0.1.2/29".into()],
        }];
        let mut gone = held.clone();
        gone.networks_attachments[0].addresses = vec!["10.0.1.3/29".into()];
        gone.status.state = TaskState::Shutdown;
        let mut svc = service_on("n1");
        svc.endpoint.virtual_ips = vec![EndpointVirtualIp {
            network_id: "n1".into(),
            addr: "10.0.1.4/29".into(),
        }];
        let mut a = Allocator::new(
            &nets,
            &[stored(svc.clone())],
            &[stored(held), stored(gone)],
            &[],
        );
        assert_eq!(a.endpoint(&svc), None, "a VIP once given stays");
        let mut got = Vec::new();
        loop {
            let mut t = task_on("n1");
            match a.attach_task(&mut t, false) {
                Ok(()) => got.push(t.networks_attachments[0].addresses[0].clone()),
                Err(e) => {
                    assert_eq!(e, "no addresses left on network ");
                    break;
                }
            }
        }
        // .5 and .6 after the cursor, then the freed .3; never .1 (gateway), .2, .4.
        assert_eq!(got, vec!["10.0.1.5/29", "10.0.1.6/29", "10.0.1.3/29"]);
    }

    #[test]
    fn nodes_get_a_leg_per_routed_network_once_and_lose_it_with_the_route() {
        let mut ingress = network("ing", "10.0.0.0/24", "10.0.0.1");
        ingress.value.spec.ingress = true;
        let nets = [ingress, network("n1", "10.0.1.0/24", "10.0.1.1")];
        let mut a = Allocator::new(&nets, &[], &[], &[]);
        let routed: BTreeSet<String> = ["n1".to_string(), "gone".to_string()].into();
        let mut node = Node::default();
        node.attachments = a.node_attachments(&node, &routed).unwrap();
        let shown = |n: &Node| -> Vec<(String, String)> {
            n.attachments
                .iter()
                .map(|a| (a.network.id.clone(), a.addresses.join(",")))
                .collect()
        };
        assert_eq!(
            shown(&node),
            vec![
                ("ing".to_string(), "10.0.0.2/24".to_string()),
                ("n1".to_string(), "10.0.1.2/24".to_string())
            ],
            "an unknown network gets no leg"
        );
        // Kept as given, by this pass and by the next one's allocator.
        assert_eq!(a.node_attachments(&node, &routed), None);
        let stored_node = stored(node.clone());
        let mut next = Allocator::new(&nets, &[], &[], std::slice::from_ref(&stored_node));
        assert_eq!(next.node_attachments(&node, &routed), None);
        let mut t = task_on("n1");
        next.attach_task(&mut t, false).unwrap();
        assert_eq!(t.networks_attachments[0].addresses, vec!["10.0.1.3/24"]);
        // No routed service on n1 any more: its leg goes, ingress stays.
        let left = next.node_attachments(&node, &BTreeSet::new()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].network.id, "ing");
    }

    #[test]
    fn dnsrr_services_have_no_vip_and_unknown_networks_wait() {
        let nets = [network("n1", "10.0.1.0/24", "10.0.1.1")];
        let mut a = Allocator::new(&nets, &[], &[], &[]);
        let mut svc = service_on("n1");
        svc.spec.endpoint_spec = Some(cluster::model::EndpointSpec {
            mode: "dnsrr".into(),
            ports: vec![],
        });
        svc.endpoint.spec = svc.spec.endpoint_spec.clone().unwrap();
        assert_eq!(a.endpoint(&svc), None);
        svc.endpoint.virtual_ips = vec![EndpointVirtualIp {
            network_id: "n1".into(),
            addr: "10.0.1.9/24".into(),
        }];
        assert_eq!(
            a.endpoint(&svc).map(|e| e.virtual_ips),
            Some(vec![]),
            "switching to dnsrr drops the VIP"
        );
        let mut t = task_on("nope");
        assert_eq!(
            a.attach_task(&mut t, false).unwrap_err(),
            "network nope not found"
        );
        assert!(t.networks_attachments.is_empty());
    }
}
