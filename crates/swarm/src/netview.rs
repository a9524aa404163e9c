//! What a node is told of the overlay networks its tasks use: the network
//! itself, and every task with an address on it (where it runs, whether it
//! serves) and every service attached to it (its VIP). Nodes program their
//! forwarding entries, resolvers and VIP balancing from this alone — the
//! cluster's state, pushed with the node's assignments, in place of
//! dockerd's gossip between nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use cluster::model::{Network, NetworkAttachment, Service, Task, TaskState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkView {
    pub network: Network,
    /// The swarm's VXLAN port.
    pub port: u32,
    /// This node's data-path address.
    pub local_addr: String,
    pub members: Vec<Member>,
    pub services: Vec<ServiceEntry>,
    /// This node's own address on it (CIDR), when it has a leg there: on
    /// the ingress network the source of the routing mesh's connections,
    /// on another the HTTP router's (see [`crate::routes`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_ip: String,
    /// On the ingress network: the ports published through the mesh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<Published>,
}

/// The service label that asks the routing mesh to keep its clients'
/// addresses (swarm masquerades them all): a node that runs tasks of the
/// service hands connections to them unchanged; a node without one
/// still masquerades to the others' (their answers would not come back
/// through it otherwise).
pub const PRESERVE_SOURCE_LABEL: &str = "berth.ingress.preserve-source";

/// A port of the routing mesh: answered on every node, sent to the
/// service's serving tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub protocol: String,
    pub published_port: u32,
    pub target_port: u32,
    /// The serving tasks' addresses on the ingress network.
    pub backends: Vec<String>,
    /// See [`PRESERVE_SOURCE_LABEL`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_source: bool,
}

/// A task with an address on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub service_id: String,
    /// Its container's name (`<service>.<slot>.<task id>`).
    pub name: String,
    pub addr: String,
    /// The data-path address of the node that runs it.
    pub node_addr: String,
    /// Running and wanted running (healthy, for tasks with a health check:
    /// a task only reaches `running` once healthy): what names and VIPs
    /// lead to.
    pub serving: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntry {
    pub id: String,
    pub name: String,
    /// The service's VIP on the network; empty in `dnsrr` mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vip: String,
}

/// Where the view's objects come from.
pub trait Source {
    fn network(&self, id: &str) -> Option<&Network>;
    fn tasks_on(&self, network: &str) -> Vec<&Task>;
    fn service(&self, id: &str) -> Option<&Service>;
    fn node_addr(&self, node: &str) -> Option<&str>;
    /// Whether the node is up: the tasks of a node that went down leave
    /// names and VIPs at once, before the orchestrator replaces them.
    fn node_ready(&self, node: &str) -> bool;
    fn data_path_port(&self) -> u32;
    /// Every node's (id, attachments).
    fn node_attachments(&self) -> Vec<(&str, &[NetworkAttachment])>;
    /// The services that publish through the routing mesh.
    fn meshed_services(&self) -> Vec<&Service>;
}

fn addr_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// The views of the networks `mine` (the node's tasks) are attached to.
pub fn views(node_id: &str, mine: &[Task], src: &dyn Source) -> Vec<NetworkView> {
    let mut wanted: BTreeSet<&str> = mine
        .iter()
        .filter(|t| !t.status.state.is_terminal())
        .flat_map(|t| t.networks_attachments.iter().map(|a| a.network.id.as_str()))
        .collect();
    // Every node with a leg in the ingress network answers its ports; a
    // leg in another network is its router's path to the tasks there.
    let legs = src.node_attachments();
    let own_legs: Vec<&NetworkAttachment> = legs
        .iter()
        .filter(|(n, _)| *n == node_id)
        .flat_map(|(_, a)| a.iter())
        .collect();
    for leg in &own_legs {
        wanted.insert(leg.network.id.as_str());
    }
    let local_addr = src.node_addr(node_id).unwrap_or_default().to_string();
    let port = match src.data_path_port() {
        0 => u32::from(network::overlay::DEFAULT_VXLAN_PORT),
        p => p,
    };
    let mut out = Vec::new();
    for id in wanted {
        let Some(network) = src.network(id) else {
            continue;
        };
        let mut members = Vec::new();
        let mut services: BTreeMap<String, ServiceEntry> = BTreeMap::new();
        for t in src.tasks_on(id) {
            if t.status.state.is_terminal() || t.node_id.is_empty() {
                continue;
            }
            let Some(attachment) = t.networks_attachments.iter().find(|a| a.network.id == id)
            else {
                continue;
            };
            let Some(addr) = attachment.addresses.first() else {
                continue;
            };
            let service = src.service(&t.service_id);
            let service_name = service.map_or("", |s| s.spec.annotations.name.as_str());
            let aliases = t
                .spec
                .networks
                .iter()
                .find(|n| n.target == id)
                .map(|n| n.aliases.clone())
                .unwrap_or_default();
            let attachment = crate::leader::plan::is_attachment(t);
            members.push(Member {
                service_id: t.service_id.clone(),
                // A container attached by hand answers to its own name.
                name: if attachment {
                    t.annotations.name.clone()
                } else {
                    crate::labels::TaskIdentity {
                        task_id: &t.id,
                        service_id: &t.service_id,
                        service_name,
                        node_id: &t.node_id,
                        slot: t.slot,
                    }
                    .container_name()
                },
                addr: addr_of(addr).to_string(),
                node_addr: src.node_addr(&t.node_id).unwrap_or_default().to_string(),
                serving: t.status.serving()
                    && t.desired_state <= TaskState::Running
                    && src.node_ready(&t.node_id),
                aliases,
            });
            if let Some(s) = service
                && !services.contains_key(&s.id)
            {
                let vip = s
                    .endpoint
                    .virtual_ips
                    .iter()
                    .find(|v| v.network_id == id)
                    .map(|v| addr_of(&v.addr).to_string())
                    .unwrap_or_default();
                services.insert(
                    s.id.clone(),
                    ServiceEntry {
                        id: s.id.clone(),
                        name: s.spec.annotations.name.clone(),
                        vip,
                    },
                );
            }
        }
        let mut node_ip = String::new();
        let mut published = Vec::new();
        // The nodes' legs are members too: the tasks answer them.
        for (node, attachments) in &legs {
            for a in attachments.iter().filter(|a| a.network.id == id) {
                if let Some(addr) = a.addresses.first() {
                    if *node == node_id {
                        node_ip = addr.clone();
                    }
                    members.push(Member {
                        service_id: String::new(),
                        name: String::new(),
                        addr: addr_of(addr).to_string(),
                        node_addr: src.node_addr(node).unwrap_or_default().to_string(),
                        serving: false,
                        aliases: Vec::new(),
                    });
                }
            }
        }
        if network.spec.ingress {
            for s in src.meshed_services() {
                let backends: Vec<String> = members
                    .iter()
                    .filter(|m| m.serving && m.service_id == s.id)
                    .map(|m| m.addr.clone())
                    .collect();
                let preserve = s
                    .spec
                    .annotations
                    .labels
                    .get(PRESERVE_SOURCE_LABEL)
                    .is_some_and(|v| v == "true");
                for p in s
                    .endpoint
                    .ports
                    .iter()
                    .filter(|p| p.publish_mode == "ingress")
                {
                    published.push(Published {
                        protocol: p.protocol_or_default().to_string(),
                        published_port: p.published_port,
                        target_port: p.target_port,
                        backends: backends.clone(),
                        preserve_source: preserve,
                    });
                }
            }
            published.sort_by(|a, b| {
                (a.published_port, &a.protocol).cmp(&(b.published_port, &b.protocol))
            });
        }
        members.sort_by(|a, b| a.addr.cmp(&b.addr));
        out.push(NetworkView {
            network: network.clone(),
            port,
            local_addr: local_addr.clone(),
            members,
            // No service discovery on the ingress network (as dockerd).
            services: if network.spec.ingress {
                Vec::new()
            } else {
                services.into_values().collect()
            },
            node_ip,
            published,
        });
    }
    out
}

/// What a node programs from a view: the other nodes' containers, the
/// names, the VIPs and their backends.
pub fn members(view: &NetworkView) -> engine::networking::OverlayMembers {
    let ip = |s: &str| s.parse::<Ipv4Addr>().ok();
    let mut m = engine::networking::OverlayMembers::default();
    for p in &view.members {
        if p.node_addr == view.local_addr {
            continue;
        }
        if let (Some(a), Some(vtep)) = (ip(&p.addr), ip(&p.node_addr)) {
            m.peers.push(network::Peer {
                ip: a,
                mac: network::mac_from_ip(a),
                vtep,
            });
        }
    }
    let mut names: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    fn add(names: &mut BTreeMap<String, Vec<IpAddr>>, name: &str, a: Ipv4Addr) {
        let e = names.entry(name.to_string()).or_default();
        if !e.contains(&IpAddr::V4(a)) {
            e.push(IpAddr::V4(a));
        }
    }
    for s in &view.services {
        let backends: Vec<Ipv4Addr> = view
            .members
            .iter()
            .filter(|p| p.serving && p.service_id == s.id)
            .filter_map(|p| ip(&p.addr))
            .collect();
        let tasks_name = format!("tasks.{}", s.name);
        names.entry(tasks_name.clone()).or_default();
        for b in &backends {
            add(&mut names, &tasks_name, *b);
        }
        match ip(&s.vip) {
            Some(vip) => {
                add(&mut names, &s.name, vip);
                m.vips.push(network::lb::VirtualService {
                    vip,
                    backends: backends.clone(),
                });
            }
            None => {
                names.entry(s.name.clone()).or_default();
                for b in &backends {
                    add(&mut names, &s.name, *b);
                }
            }
        }
    }
    for p in view
        .members
        .iter()
        .filter(|p| p.serving && !view.network.spec.ingress)
    {
        if let Some(a) = ip(&p.addr) {
            add(&mut names, &p.name, a);
            for alias in &p.aliases {
                add(&mut names, alias, a);
            }
        }
    }
    m.names = names;
    m
}

/// The routing mesh a view of the ingress network asks of this node: its
/// leg's address and the published ports.
pub fn mesh(view: &NetworkView) -> Option<((Ipv4Addr, u8), Vec<network::lb::MeshPort>)> {
    if !view.network.spec.ingress {
        return None;
    }
    let (ip, prefix) = view.node_ip.split_once('/')?;
    let leg = (ip.parse().ok()?, prefix.parse().ok()?);
    let here: BTreeSet<&str> = view
        .members
        .iter()
        .filter(|m| m.node_addr == view.local_addr)
        .map(|m| m.addr.as_str())
        .collect();
    let ports = view
        .published
        .iter()
        .filter_map(|p| {
            let local: Vec<&String> = p
                .backends
                .iter()
                .filter(|b| here.contains(b.as_str()))
                .collect();
            let keep_source = p.preserve_source && !local.is_empty();
            let backends = if keep_source {
                local
            } else {
                p.backends.iter().collect()
            };
            Some(network::lb::MeshPort {
                protocol: p.protocol.clone(),
                port: u16::try_from(p.published_port).ok()?,
                target: u16::try_from(p.target_port).ok()?,
                backends: backends.iter().filter_map(|b| b.parse().ok()).collect(),
                keep_source,
            })
        })
        .collect();
    Some((leg, ports))
}

/// The node's own leg on a network other than ingress (the ingress one
/// is the mesh's, see [`mesh`]): the HTTP router's path to the tasks of
/// the routed services there. None: the node has no leg there (any left
/// from before is removed).
pub fn leg(view: &NetworkView) -> Option<(Ipv4Addr, u8)> {
    if view.network.spec.ingress {
        return None;
    }
    let (ip, prefix) = view.node_ip.split_once('/')?;
    Some((ip.parse().ok()?, prefix.parse().ok()?))
}

/// The engine's definition of a viewed network on this node.
pub fn overlay_spec(view: &NetworkView) -> Option<engine::networking::OverlaySpec> {
    let n = &view.network;
    let (subnet, gateway) = crate::manager::ipv4_config(n)?;
    let local: Ipv4Addr = view.local_addr.parse().ok()?;
    let options = n
        .spec
        .driver_configuration
        .as_ref()
        .map(|d| d.options.clone())
        .unwrap_or_default();
    let mtu = options
        .get(network::OPT_MTU)
        .and_then(|m| m.parse().ok())
        .unwrap_or(1500 - network::overlay::VXLAN_OVERHEAD);
    let mut shown = options.clone();
    shown.extend(n.driver_state.options.clone());
    Some(engine::networking::OverlaySpec {
        id: n.id.clone(),
        name: n.spec.annotations.name.clone(),
        subnet,
        gateway,
        vni: crate::manager::vni_of(n)?,
        port: u16::try_from(view.port).ok()?,
        local,
        mtu,
        internal: n.spec.internal,
        attachable: n.spec.attachable,
        ingress: n.spec.ingress,
        labels: n.spec.annotations.labels.clone(),
        options: shown,
        created: n.meta.created_at.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(service: &str, name: &str, addr: &str, node: &str, serving: bool) -> Member {
        Member {
            service_id: service.into(),
            name: name.into(),
            addr: addr.into(),
            node_addr: node.into(),
            serving,
            aliases: vec![],
        }
    }

    fn view() -> NetworkView {
        NetworkView {
            network: Network::default(),
            port: 4789,
            local_addr: "10.77.0.1".into(),
            members: vec![
                member("s1", "web.1.a", "10.0.1.3", "10.77.0.2", true),
                member("s1", "web.2.b", "10.0.1.4", "10.77.0.3", false),
                member("s1", "web.3.c", "10.0.1.5", "10.77.0.1", true),
                member("s2", "db.1.d", "10.0.1.6", "10.77.0.2", true),
            ],
            services: vec![
                ServiceEntry {
                    id: "s1".into(),
                    name: "web".into(),
                    vip: "10.0.1.2".into(),
                },
                ServiceEntry {
                    id: "s2".into(),
                    name: "db".into(),
                    vip: String::new(),
                },
            ],
            node_ip: String::new(),
            published: Vec::new(),
        }
    }

    fn ips(m: &engine::networking::OverlayMembers, name: &str) -> Vec<String> {
        m.names
            .get(name)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn names_lead_to_vips_or_serving_tasks_only() {
        let m = members(&view());
        assert_eq!(ips(&m, "web"), vec!["10.0.1.2"]);
        assert_eq!(ips(&m, "tasks.web"), vec!["10.0.1.3", "10.0.1.5"]);
        assert_eq!(
            ips(&m, "db"),
            vec!["10.0.1.6"],
            "dnsrr: the tasks themselves"
        );
        assert_eq!(ips(&m, "web.1.a"), vec!["10.0.1.3"]);
        assert!(
            ips(&m, "web.2.b").is_empty(),
            "a task not running has no name"
        );
        assert_eq!(m.vips.len(), 1);
        assert_eq!(m.vips[0].backends.len(), 2);
    }

    #[test]
    fn peers_are_the_other_nodes_containers_serving_or_not() {
        let m = members(&view());
        let peers: Vec<String> = m
            .peers
            .iter()
            .map(|p| format!("{}@{}", p.ip, p.vtep))
            .collect();
        assert_eq!(
            peers,
            vec![
                "10.0.1.3@10.77.0.2",
                "10.0.1.4@10.77.0.3",
                "10.0.1.6@10.77.0.2"
            ]
        );
        assert_eq!(m.peers[0].mac, [0x02, 0x42, 10, 0, 1, 3]);
    }

    /// A cluster of nodes n1 (10.77.0.1) and n2 (10.77.0.2) with legs on
    /// overlay `ovl`, and one task of service s1 on n2.
    struct Legs {
        net: Network,
        task: Task,
        legs: Vec<(&'static str, Vec<NetworkAttachment>)>,
    }

    impl Source for Legs {
        fn network(&self, id: &str) -> Option<&Network> {
            (id == self.net.id).then_some(&self.net)
        }
        fn tasks_on(&self, network: &str) -> Vec<&Task> {
            if network == self.net.id {
                vec![&self.task]
            } else {
                vec![]
            }
        }
        fn service(&self, _: &str) -> Option<&Service> {
            None
        }
        fn node_addr(&self, node: &str) -> Option<&str> {
            match node {
                "n1" => Some("10.77.0.1"),
                "n2" => Some("10.77.0.2"),
                _ => None,
            }
        }
        fn node_ready(&self, _: &str) -> bool {
            true
        }
        fn data_path_port(&self) -> u32 {
            4789
        }
        fn node_attachments(&self) -> Vec<(&str, &[NetworkAttachment])> {
            self.legs.iter().map(|(n, a)| (*n, a.as_slice())).collect()
        }
        fn meshed_services(&self) -> Vec<&Service> {
            vec![]
        }
    }

    #[test]
    fn a_leg_brings_a_network_to_a_node_without_tasks_and_legs_are_peers() {
        let net = Network {
            id: "ovl".into(),
            ..Default::default()
        };
        let on_ovl = |addr: &str| {
            vec![NetworkAttachment {
                network: net.clone(),
                addresses: vec![addr.into()],
            }]
        };
        let mut task = Task {
            id: "t1".into(),
            service_id: "s1".into(),
            node_id: "n2".into(),
            ..Default::default()
        };
        task.status.state = TaskState::Running;
        task.networks_attachments = on_ovl("10.0.1.3/24");
        let src = Legs {
            net: net.clone(),
            task,
            legs: vec![
                ("n1", on_ovl("10.0.1.250/24")),
                ("n2", on_ovl("10.0.1.251/24")),
            ],
        };
        let v = views("n1", &[], &src);
        assert_eq!(v.len(), 1, "n1 runs no task, its leg brings the network");
        assert_eq!(leg(&v[0]), Some(("10.0.1.250".parse().unwrap(), 24)));
        let peers: Vec<String> = members(&v[0])
            .peers
            .iter()
            .map(|p| format!("{}@{}", p.ip, p.vtep))
            .collect();
        assert_eq!(
            peers,
            vec!["10.0.1.251@10.77.0.2", "10.0.1.3@10.77.0.2"],
            "the task answers n1's leg; n2's leg is reached too"
        );
        let without = Legs {
            legs: vec![("n2", on_ovl("10.0.1.251/24"))],
            ..src
        };
        assert!(
            views("n1", &[], &without).is_empty(),
            "no leg, no task: no copy"
        );
    }

    #[test]
    fn a_mesh_port_keeping_sources_goes_to_local_tasks_only_when_there_are_some() {
        let mut v = view();
        v.network.spec.ingress = true;
        v.node_ip = "10.0.1.250/24".into();
        let port = |n: u32, preserve_source| Published {
            protocol: "tcp".into(),
            published_port: n,
            target_port: 80,
            backends: vec!["10.0.1.3".into(), "10.0.1.5".into()],
            preserve_source,
        };
        v.published = vec![port(8080, false), port(8081, true)];
        let (leg, ports) = mesh(&v).unwrap();
        assert_eq!(leg, ("10.0.1.250".parse().unwrap(), 24));
        let show = |p: &network::lb::MeshPort| {
            let b: Vec<String> = p.backends.iter().map(ToString::to_string).collect();
            (p.port, b.join(","), p.keep_source)
        };
        assert_eq!(show(&ports[0]), (8080, "10.0.1.3,10.0.1.5".into(), false));
        assert_eq!(
            show(&ports[1]),
            (8081, "10.0.1.5".into(), true),
            "10.0.1.5 runs on this node (10.77.0.1)"
        );
        // A node without a task of the service still answers, masquerading.
        v.local_addr = "10.77.0.9".into();
        let (_, ports) = mesh(&v).unwrap();
        assert_eq!(show(&ports[1]), (8081, "10.0.1.3,10.0.1.5".into(), false));
    }
}
