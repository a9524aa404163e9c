//! Services the HTTP router of every node sends requests to: those whose
//! labels ask for a route (`berth.http.host`, as containers' labels do),
//! with each of their tasks' address on one overlay network of theirs,
//! the *routed network*. Every node gets a leg on each routed network (an
//! address the leader gives it, see [`crate::leader`]), so its router,
//! in the host's namespace, reaches the tasks wherever they run. The
//! router balances over the tasks itself (its retries, ejection and
//! metrics are per backend): the VIP would hide them.

use std::collections::{BTreeMap, BTreeSet};

use cluster::model::{Service, Task, TaskState};
use serde::{Deserialize, Serialize};

/// The label that asks for a route; the router reads the others.
pub const HOST_LABEL: &str = "berth.http.host";
const LABEL_PREFIX: &str = "berth.http.";
/// An app's service (berth's apps on a swarm manager): routers keep its
/// route labels though another of their apps may claim its domains.
const APP_LABEL: &str = "berth.app";

/// One routed service as a node's router sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutedService {
    pub id: String,
    pub name: String,
    /// Its creation, in nanoseconds: the oldest source of a route gives
    /// the route's options, as the oldest container does.
    pub created: i64,
    /// Its `berth.http.*` labels, and `berth.app` when it is an app's.
    pub labels: BTreeMap<String, String>,
    /// The TCP ports its endpoint names (target ports): the router's
    /// default port when there is one, as a container's exposed port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Why it cannot be routed beyond its labels' own checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    pub tasks: Vec<RoutedTask>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutedTask {
    pub id: String,
    /// Its container's name (`<service>.<slot>.<task id>`).
    pub name: String,
    /// Its address on the routed network.
    pub addr: String,
    /// Running (healthy, when it has a health check: a task only reaches
    /// `running` once healthy; an unhealthy one fails), wanted running,
    /// on a node that is up.
    pub serving: bool,
}

/// What routes read of the cluster.
pub trait Source {
    fn services(&self) -> Vec<&Service>;
    fn network_is_ingress(&self, id: &str) -> Option<bool>;
    /// The ingress network's id, if the cluster has one.
    fn ingress(&self) -> Option<&str>;
    fn tasks_on(&self, network: &str) -> Vec<&Task>;
    fn node_ready(&self, node: &str) -> bool;
}

/// Whether the service asks the router for a route.
pub fn is_routed(s: &Service) -> bool {
    s.spec.annotations.labels.contains_key(HOST_LABEL)
}

/// The network a routed service's tasks are reached on: its first overlay
/// network besides the ingress one, else the ingress network (`ingress`,
/// its id) when it publishes through the routing mesh (its tasks are on
/// it, and every node has a leg there already).
pub fn routed_network(
    s: &Service,
    is_ingress: impl Fn(&str) -> Option<bool>,
    ingress: Option<&str>,
) -> Option<String> {
    crate::manager::network_targets(&s.spec)
        .find(|n| is_ingress(n) == Some(false))
        .or(ingress.filter(|_| crate::manager::publishes_ingress(&s.spec)))
        .map(str::to_string)
}

/// The networks the routed services use: every node has a leg on each.
pub fn routed_networks<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    is_ingress: impl Fn(&str) -> Option<bool>,
    ingress: Option<&str>,
) -> BTreeSet<String> {
    services
        .into_iter()
        .filter(|s| is_routed(s))
        .filter_map(|s| routed_network(s, &is_ingress, ingress))
        .collect()
}

/// Every routed service with its tasks, sorted by id.
pub fn routes(src: &dyn Source) -> Vec<RoutedService> {
    let mut out: Vec<RoutedService> = src
        .services()
        .into_iter()
        .filter(|s| is_routed(s))
        .map(|s| route_of(s, src))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn route_of(s: &Service, src: &dyn Source) -> RoutedService {
    let labels = s
        .spec
        .annotations
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with(LABEL_PREFIX) || *k == APP_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut ports: Vec<u16> = s
        .spec
        .endpoint_spec
        .iter()
        .flat_map(|e| &e.ports)
        .filter(|p| p.protocol_or_default() == "tcp")
        .filter_map(|p| u16::try_from(p.target_port).ok())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let mut route = RoutedService {
        id: s.id.clone(),
        name: s.spec.annotations.name.clone(),
        created: s
            .meta
            .created_at
            .0
            .timestamp_nanos_opt()
            .unwrap_or_default(),
        labels,
        ports,
        refused: None,
        tasks: Vec::new(),
    };
    let Some(network) = routed_network(s, |n| src.network_is_ingress(n), src.ingress()) else {
        route.refused = Some(
            "a routed service needs an overlay network its tasks are reached on \
             (service create --network NAME, or a port published through the routing mesh)"
                .into(),
        );
        return route;
    };
    let network = network.as_str();
    for t in src.tasks_on(network) {
        if t.service_id != s.id || t.node_id.is_empty() || t.status.state.is_terminal() {
            continue;
        }
        let Some(addr) = t
            .networks_attachments
            .iter()
            .find(|a| a.network.id == network)
            .and_then(|a| a.addresses.first())
        else {
            continue;
        };
        route.tasks.push(RoutedTask {
            id: t.id.clone(),
            name: crate::labels::TaskIdentity {
                task_id: &t.id,
                service_id: &t.service_id,
                service_name: &route.name,
                node_id: &t.node_id,
                slot: t.slot,
            }
            .container_name(),
            addr: addr.split('/').next().unwrap_or(addr).to_string(),
            serving: t.status.serving()
                && t.desired_state <= TaskState::Running
                && src.node_ready(&t.node_id),
        });
    }
    route.tasks.sort_by(|a, b| a.id.cmp(&b.id));
    route
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::model::{Network, NetworkAttachment, NetworkAttachmentConfig};

    struct Fake {
        services: Vec<Service>,
        tasks: Vec<Task>,
        down: Vec<&'static str>,
    }

    impl Source for Fake {
        fn services(&self) -> Vec<&Service> {
            self.services.iter().collect()
        }
        fn ingress(&self) -> Option<&str> {
            Some("ingress")
        }
        fn network_is_ingress(&self, id: &str) -> Option<bool> {
            match id {
                "ingress" => Some(true),
                "ovl" | "other" => Some(false),
                _ => None,
            }
        }
        fn tasks_on(&self, network: &str) -> Vec<&Task> {
            self.tasks
                .iter()
                .filter(|t| {
                    t.networks_attachments
                        .iter()
                        .any(|a| a.network.id == network)
                })
                .collect()
        }
        fn node_ready(&self, node: &str) -> bool {
            !self.down.contains(&node)
        }
    }

    fn service(id: &str, labels: &[(&str, &str)], networks: &[&str]) -> Service {
        let mut s = Service {
            id: id.into(),
            ..Default::default()
        };
        s.spec.annotations.name = format!("svc-{id}");
        s.spec.annotations.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.spec.task_template.networks = networks
            .iter()
            .map(|n| NetworkAttachmentConfig {
                target: n.to_string(),
                ..Default::default()
            })
            .collect();
        s
    }

    fn task(id: &str, service: &str, node: &str, addr: &str, state: TaskState) -> Task {
        let mut t = Task {
            id: id.into(),
            service_id: service.into(),
            node_id: node.into(),
            slot: 1,
            desired_state: TaskState::Running,
            ..Default::default()
        };
        t.status.state = state;
        t.networks_attachments = vec![
            NetworkAttachment {
                network: Network {
                    id: "ingress".into(),
                    ..Default::default()
                },
                addresses: vec!["10.0.0.9/24".into()],
            },
            NetworkAttachment {
                network: Network {
                    id: "ovl".into(),
                    ..Default::default()
                },
                addresses: vec![format!("{addr}/24")],
            },
        ];
        t
    }

    #[test]
    fn the_routed_network_is_the_first_overlay_besides_ingress() {
        let s = service(
            "a",
            &[(HOST_LABEL, "a.test")],
            &["ingress", "nope", "ovl", "other"],
        );
        let fake = Fake {
            services: vec![
                s.clone(),
                service("b", &[("other", "x")], &["other"]),
                service("c", &[(HOST_LABEL, "c.test")], &["other"]),
            ],
            tasks: vec![],
            down: vec![],
        };
        let is_ingress = |n: &str| fake.network_is_ingress(n);
        assert_eq!(
            routed_network(&s, is_ingress, Some("ingress")).as_deref(),
            Some("ovl")
        );
        let nets = routed_networks(&fake.services, is_ingress, Some("ingress"));
        assert_eq!(
            nets.into_iter().collect::<Vec<_>>(),
            vec!["other", "ovl"],
            "b asks for no route"
        );
        // Without a network of its own: the mesh's, if it publishes there.
        let mut meshed = service("d", &[(HOST_LABEL, "d.test")], &[]);
        assert_eq!(routed_network(&meshed, is_ingress, Some("ingress")), None);
        meshed.spec.endpoint_spec = Some(cluster::model::EndpointSpec {
            mode: String::new(),
            ports: vec![cluster::model::PortConfig {
                target_port: 80,
                published_port: 8080,
                ..Default::default()
            }],
        });
        assert_eq!(
            routed_network(&meshed, is_ingress, Some("ingress")).as_deref(),
            Some("ingress")
        );
    }

    #[test]
    fn tasks_serve_when_running_wanted_and_on_a_node_that_is_up() {
        let mut leaving = task("t3", "a", "n1", "10.0.1.5", TaskState::Running);
        leaving.desired_state = TaskState::Shutdown;
        // Running still, its stop under way: reported unhealthy.
        let mut unhealthy = task("t7", "a", "n1", "10.0.1.9", TaskState::Running);
        unhealthy.status.message = cluster::model::UNHEALTHY.into();
        let fake = Fake {
            services: vec![
                service(
                    "a",
                    &[
                        (HOST_LABEL, "a.test"),
                        ("berth.http.port", "80"),
                        ("x", "y"),
                    ],
                    &["ovl"],
                ),
                service(
                    "b",
                    &[
                        (HOST_LABEL, "b.test"),
                        (APP_LABEL, "demo"),
                        ("berth.app.release", "v2"),
                    ],
                    &[],
                ),
            ],
            tasks: vec![
                task("t1", "a", "n1", "10.0.1.3", TaskState::Running),
                task("t2", "a", "n2", "10.0.1.4", TaskState::Running),
                leaving,
                task("t4", "a", "n1", "10.0.1.6", TaskState::Starting),
                task("t5", "a", "n1", "10.0.1.7", TaskState::Failed),
                task("t6", "other", "n1", "10.0.1.8", TaskState::Running),
                unhealthy,
            ],
            down: vec!["n2"],
        };
        let r = routes(&fake);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].labels.len(), 2, "only berth.http.*: {:?}", r[0].labels);
        // An app's service says so (the routers let it take the app's
        // domains), nothing more of its own labels.
        assert_eq!(r[1].labels.len(), 2, "{:?}", r[1].labels);
        assert_eq!(r[1].labels[APP_LABEL], "demo");
        let shown: Vec<(String, String, bool)> = r[0]
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.addr.clone(), t.serving))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("t1".into(), "10.0.1.3".into(), true),
                ("t2".into(), "10.0.1.4".into(), false),
                ("t3".into(), "10.0.1.5".into(), false),
                ("t4".into(), "10.0.1.6".into(), false),
                ("t7".into(), "10.0.1.9".into(), false),
            ]
        );
        assert_eq!(r[0].tasks[0].name, "svc-a.1.t1");
        assert!(r[0].refused.is_none());
        assert!(
            r[1].refused.as_deref().unwrap().contains("--network"),
            "{:?}",
            r[1].refused
        );
    }
}
