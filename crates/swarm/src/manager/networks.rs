//! Swarm-scoped (overlay) networks: `docker network create -d overlay` on a
//! manager. The network is the cluster's: its subnet comes from the swarm's
//! default address pool (`--default-addr-pool`, `SubnetSize`), its VXLAN
//! id is unique in the cluster, and both are fixed here, once, in the
//! stored object. Addresses on it are handed out by the leader
//! (`leader::alloc`); nodes build their copy of it when a task needs it.

use std::collections::BTreeMap;

use cluster::model::{
    Driver, IpamConfig, IpamOptions, Meta, Network, NetworkSpec, Service, ServiceSpec,
};
use ipnet::Ipv4Net;

use super::{Manager, lookup};
use crate::error::{ErrorKind, Result, SwarmError};
use crate::store::{Guards, Kind, Marker, StoreError};

/// The driver state option that carries the segment id (dockerd's name).
pub const VXLAN_ID_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";
/// Segment ids below this are left alone (swarmkit starts at 4096, the
/// first one being the ingress network's).
const FIRST_VNI: u32 = 4096;
/// `--opt encrypted`: IPsec between nodes, which berth does not do.
const ENCRYPTED_OPTION: &str = "encrypted";

fn invalid(desc: impl std::fmt::Display) -> SwarmError {
    SwarmError::new(
        ErrorKind::InvalidArgument,
        format!("rpc error: code = InvalidArgument desc = {desc}"),
    )
}

/// The segment id a stored network carries.
pub fn vni_of(n: &Network) -> Option<u32> {
    n.driver_state
        .options
        .get(VXLAN_ID_OPTION)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
}

/// The first IPv4 subnet and gateway of a stored network.
pub fn ipv4_config(n: &Network) -> Option<(Ipv4Net, std::net::Ipv4Addr)> {
    let c = n.ipam_options.as_ref()?.configs.first()?;
    let subnet: Ipv4Net = c.subnet.parse().ok()?;
    let gateway = c.gateway.parse().ok()?;
    Some((subnet, gateway))
}

impl Manager {
    pub async fn networks(&self) -> Result<Vec<Network>> {
        let (all, _) = self.store.list::<Network>(Kind::Network).await?;
        let mut out: Vec<Network> = all
            .into_iter()
            .map(|s| {
                let mut n = s.value;
                n.meta.version.index = s.version as u64;
                n
            })
            .collect();
        out.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
        Ok(out)
    }

    pub async fn network(&self, id_or_name: &str) -> Result<Network> {
        let all = self.networks().await?;
        let n = lookup::one(
            &all,
            id_or_name,
            "network",
            |n| &n.id,
            |n| n.spec.annotations.name.as_str(),
        )?;
        Ok(n.clone())
    }

    /// `POST /networks/create` with driver `overlay`: the new network's id.
    pub async fn create_network(&self, mut spec: NetworkSpec) -> Result<String> {
        let name = spec.annotations.name.clone();
        if name.is_empty() {
            return Err(invalid("name must be valid as a DNS name component"));
        }
        let driver = spec.driver_configuration.get_or_insert_with(|| Driver {
            name: "overlay".into(),
            ..Default::default()
        });
        if driver.name.is_empty() {
            driver.name = "overlay".into();
        }
        if driver.name != "overlay" {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "rpc error: code = InvalidArgument desc = driver {} cannot be used in swarm scope",
                    driver.name
                ),
            ));
        }
        if driver.options.contains_key(ENCRYPTED_OPTION) {
            return Err(SwarmError::not_implemented(
                "encrypted overlay networks (--opt encrypted): berth does not encrypt VXLAN traffic",
            ));
        }
        if spec.ipv6_enabled {
            return Err(SwarmError::not_implemented("IPv6 on overlay networks"));
        }
        if spec.ingress {
            if let Some(other) = self.networks().await?.into_iter().find(|n| n.spec.ingress) {
                return Err(SwarmError::new(
                    ErrorKind::Conflict,
                    format!(
                        "rpc error: code = AlreadyExists desc = ingress network ({}) is already present",
                        other.id
                    ),
                ));
            }
            if spec.internal {
                return Err(invalid("ingress network cannot be internal"));
            }
        }
        let mtu_ok = driver
            .options
            .get(network::OPT_MTU)
            .is_none_or(|m| m.parse::<u32>().is_ok_and(|m| (68..=65_535).contains(&m)));
        if !mtu_ok {
            return Err(invalid(format!(
                "invalid MTU {:?}",
                driver.options.get(network::OPT_MTU)
            )));
        }
        let record = self.swarm_record().await?;
        let info = &record.swarm.cluster;
        let others = self.networks().await?;
        let (subnet, gateway, range) =
            choose_subnet(&spec, &others, &info.default_addr_pool, info.subnet_size)?;
        let first = if spec.ingress {
            FIRST_VNI
        } else {
            FIRST_VNI + 1
        };
        let vni = (first..)
            .find(|v| !others.iter().any(|n| vni_of(n) == Some(*v)))
            .unwrap_or(first);
        let mut options = BTreeMap::new();
        options.insert(VXLAN_ID_OPTION.to_string(), vni.to_string());
        spec.scope = "swarm".into();
        let id = crate::pki::new_id();
        let now = super::now();
        let ipam_driver = spec
            .ipam_options
            .as_ref()
            .map(|o| o.driver.clone())
            .filter(|d| !d.name.is_empty())
            .unwrap_or_else(|| Driver {
                name: "default".into(),
                ..Default::default()
            });
        let network = Network {
            id: id.clone(),
            meta: Meta {
                created_at: now,
                updated_at: now,
                ..Default::default()
            },
            spec,
            driver_state: Driver {
                name: "overlay".into(),
                options,
            },
            ipam_options: Some(IpamOptions {
                driver: ipam_driver,
                configs: vec![IpamConfig {
                    subnet: subnet.to_string(),
                    range,
                    gateway: gateway.to_string(),
                }],
            }),
        };
        match self
            .store
            .create(Kind::Network, &id, Some(&name), &network)
            .await
        {
            Ok(_) => Ok(id),
            Err(StoreError::NameConflict { .. }) => Err(SwarmError::new(
                ErrorKind::Conflict,
                format!("network with name {name} already exists"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Refused while a service's spec refers to the network; the check and
    /// the removal hold together against a service written in between.
    pub async fn remove_network(&self, id_or_name: &str) -> Result<()> {
        let target = self.network(id_or_name).await?;
        let name = target.spec.annotations.name.as_str();
        for _ in 0..super::blobs::RACE_RETRIES {
            let seen = self.store.marker(Marker::ServiceReferences).await?;
            let (services, _) = self.store.list::<Service>(Kind::Service).await?;
            if target.spec.ingress
                && let Some(user) = services
                    .iter()
                    .map(|s| &s.value)
                    .find(|s| publishes_ingress(&s.spec))
            {
                return Err(SwarmError::new(
                    ErrorKind::Conflict,
                    format!(
                        "rpc error: code = FailedPrecondition desc = ingress network cannot be removed because service {} depends on it",
                        user.id
                    ),
                ));
            }
            let user = services
                .iter()
                .map(|s| &s.value)
                .find(|s| network_targets(&s.spec).any(|t| t == target.id));
            if let Some(user) = user {
                return Err(SwarmError::new(
                    ErrorKind::Conflict,
                    format!(
                        "rpc error: code = FailedPrecondition desc = network {} is in use by service {}",
                        target.id, user.id
                    ),
                ));
            }
            let guards = Guards::default().unchanged(&self.store, Marker::ServiceReferences, seen);
            match self
                .store
                .delete_guarded(Kind::Network, &target.id, Some(name), guards)
                .await
            {
                Err(StoreError::Raced { .. }) => continue,
                Err(StoreError::NotFound { .. }) => {
                    return Err(SwarmError::not_found("network", id_or_name));
                }
                other => return Ok(other?),
            }
        }
        Err(StoreError::Raced {
            kind: Kind::Network,
        }
        .into())
    }

    /// A service spec's network targets as ids (the CLI sends names, the
    /// API shows ids, as dockerd resolves them), each one a swarm network.
    pub(super) async fn resolve_networks(&self, spec: &mut ServiceSpec) -> Result<()> {
        if spec.task_template.networks.is_empty() && spec.networks.is_empty() {
            return Ok(());
        }
        // The deprecated service-level field means the same thing.
        if spec.task_template.networks.is_empty() {
            spec.task_template.networks = std::mem::take(&mut spec.networks);
        }
        let all = self.networks().await?;
        let mut seen = Vec::new();
        for attachment in &mut spec.task_template.networks {
            let n = lookup::one(
                &all,
                &attachment.target,
                "network",
                |n| &n.id,
                |n| n.spec.annotations.name.as_str(),
            )
            .map_err(|_| {
                SwarmError::new(
                    ErrorKind::NotFound,
                    format!("network {} not found", attachment.target),
                )
            })?;
            if seen.contains(&n.id) {
                return Err(invalid(format!(
                    "duplicate network attachment {}",
                    n.spec.annotations.name
                )));
            }
            seen.push(n.id.clone());
            attachment.target = n.id.clone();
        }
        Ok(())
    }

    /// Ports published through the routing mesh need the ingress network.
    pub(super) async fn check_ingress(&self, spec: &ServiceSpec) -> Result<()> {
        if publishes_ingress(spec) && ingress_of(&self.networks().await?).is_none() {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                "rpc error: code = FailedPrecondition desc = service needs ingress network, but no ingress network is present",
            ));
        }
        Ok(())
    }

    /// Guards that keep the spec's networks existing until it is written.
    pub(super) fn network_guards(&self, spec: &ServiceSpec, guards: Guards) -> Guards {
        network_targets(spec).fold(guards, |g, id| g.exists(&self.store, Kind::Network, id))
    }
}

/// Whether a service publishes a port through the routing mesh.
pub fn publishes_ingress(spec: &ServiceSpec) -> bool {
    spec.endpoint_spec
        .as_ref()
        .is_some_and(|e| e.ports.iter().any(|p| p.publish_mode != "host"))
}

/// The `ingress` network `swarm init` makes, as dockerd's: the pool's
/// first subnet, segment 4096.
pub fn default_ingress(pools: &[String], size: u32) -> Result<Network> {
    let spec = NetworkSpec {
        annotations: cluster::model::Annotations {
            name: "ingress".into(),
            ..Default::default()
        },
        ingress: true,
        scope: "swarm".into(),
        ..Default::default()
    };
    let (subnet, gateway, _) = choose_subnet(&spec, &[], pools, size)?;
    let mut options = BTreeMap::new();
    options.insert(VXLAN_ID_OPTION.to_string(), FIRST_VNI.to_string());
    let now = super::now();
    Ok(Network {
        id: crate::pki::new_id(),
        meta: Meta {
            created_at: now,
            updated_at: now,
            ..Default::default()
        },
        spec: NetworkSpec {
            driver_configuration: Some(Driver::default()),
            ipam_options: Some(IpamOptions::default()),
            ..spec
        },
        driver_state: Driver {
            name: "overlay".into(),
            options,
        },
        ipam_options: Some(IpamOptions {
            driver: Driver {
                name: "default".into(),
                ..Default::default()
            },
            configs: vec![IpamConfig {
                subnet: subnet.to_string(),
                range: String::new(),
                gateway: gateway.to_string(),
            }],
        }),
    })
}

/// The cluster's ingress network, if it has one.
pub fn ingress_of<'a>(networks: impl IntoIterator<Item = &'a Network>) -> Option<&'a Network> {
    networks.into_iter().find(|n| n.spec.ingress)
}

/// The network ids a service spec attaches its tasks to.
pub fn network_targets(spec: &ServiceSpec) -> impl Iterator<Item = &str> {
    spec.task_template
        .networks
        .iter()
        .chain(&spec.networks)
        .map(|n| n.target.as_str())
}

/// The subnet, gateway and range of a new network: the one asked for,
/// if it overlaps no other swarm network, else the first free one of the
/// swarm's pools.
fn choose_subnet(
    spec: &NetworkSpec,
    others: &[Network],
    pools: &[String],
    size: u32,
) -> Result<(Ipv4Net, std::net::Ipv4Addr, String)> {
    let in_use: Vec<(String, Ipv4Net)> = others
        .iter()
        .filter_map(|n| Some((n.spec.annotations.name.clone(), ipv4_config(n)?.0)))
        .collect();
    let asked = spec.ipam_options.as_ref().and_then(|o| o.configs.first());
    if let Some(c) = asked.filter(|c| !c.subnet.is_empty()) {
        let subnet: Ipv4Net = c
            .subnet
            .parse()
            .map_err(|_| invalid(format!("invalid subnet {}", c.subnet)))?;
        let subnet = subnet.trunc();
        if in_use
            .iter()
            .any(|(_, o)| o.contains(&subnet.network()) || subnet.contains(&o.network()))
        {
            return Err(invalid(
                "invalid pool request: Pool overlaps with other one on this address space",
            ));
        }
        let gateway = if c.gateway.is_empty() {
            first_host(subnet)
        } else {
            let g: std::net::Ipv4Addr = c
                .gateway
                .parse()
                .map_err(|_| invalid(format!("invalid gateway address {}", c.gateway)))?;
            if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() {
                return Err(invalid(format!(
                    "gateway address {g} is not within subnet {subnet}"
                )));
            }
            g
        };
        if !c.range.is_empty() {
            let r: Ipv4Net = c
                .range
                .parse()
                .map_err(|_| invalid(format!("invalid ip range {}", c.range)))?;
            if !subnet.contains(&r) {
                return Err(invalid(format!(
                    "ip range {r} is not within subnet {subnet}"
                )));
            }
        }
        return Ok((subnet, gateway, c.range.clone()));
    }
    let size = if size == 0 { 24 } else { size } as u8;
    let pools: Vec<network::AddressPool> = pools
        .iter()
        .filter_map(|p| p.parse().ok())
        .map(|base| network::AddressPool { base, size })
        .collect();
    let pools = if pools.is_empty() {
        vec![network::AddressPool {
            base: "10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!()),
            size,
        }]
    } else {
        pools
    };
    // The pool's first subnet is the ingress network's in dockerd's
    // swarms (10.0.0.0/24): kept free for it.
    let mut taken: Vec<Ipv4Net> = in_use.iter().map(|(_, n)| *n).collect();
    if !spec.ingress
        && let Some(first) = pools
            .first()
            .and_then(|p| p.base.subnets(p.size).ok()?.next())
    {
        taken.push(first);
    }
    let subnet = network::allocate_subnet(&pools, &taken).map_err(|_| {
        SwarmError::new(
            ErrorKind::Unavailable,
            "rpc error: code = ResourceExhausted desc = could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
        )
    })?;
    Ok((subnet, first_host(subnet), String::new()))
}

fn first_host(subnet: Ipv4Net) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, subnet: &str, vni: u32) -> Network {
        let mut options = BTreeMap::new();
        options.insert(VXLAN_ID_OPTION.to_string(), vni.to_string());
        Network {
            id: format!("id-{name}"),
            spec: NetworkSpec {
                annotations: cluster::model::Annotations {
                    name: name.into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            driver_state: Driver {
                name: "overlay".into(),
                options,
            },
            ipam_options: Some(IpamOptions {
                configs: vec![IpamConfig {
                    subnet: subnet.into(),
                    gateway: first_host(subnet.parse().unwrap()).to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn asking(subnet: &str, gateway: &str) -> NetworkSpec {
        NetworkSpec {
            ipam_options: Some(IpamOptions {
                configs: vec![IpamConfig {
                    subnet: subnet.into(),
                    gateway: gateway.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn subnets_come_from_the_pool_after_the_ingress_one() {
        let pools = vec!["10.0.0.0/8".to_string()];
        let (s, g, _) = choose_subnet(&NetworkSpec::default(), &[], &pools, 24).unwrap();
        assert_eq!(
            (s.to_string(), g.to_string()),
            ("10.0.1.0/24".into(), "10.0.1.1".into())
        );
        let others = [net("a", "10.0.1.0/24", 4097)];
        let (s, _, _) = choose_subnet(&NetworkSpec::default(), &others, &pools, 24).unwrap();
        assert_eq!(s.to_string(), "10.0.2.0/24");
        let (s, _, _) =
            choose_subnet(&NetworkSpec::default(), &[], &["10.20.0.0/16".into()], 26).unwrap();
        assert_eq!(s.to_string(), "10.20.0.64/26");
    }

    #[test]
    fn asked_subnets_must_not_overlap_and_hold_their_gateway() {
        let others = [net("a", "10.0.1.0/24", 4097)];
        let e = choose_subnet(&asking("10.0.0.0/16", ""), &others, &[], 24).unwrap_err();
        assert!(e.message.contains("Pool overlaps"), "{}", e.message);
        let e = choose_subnet(&asking("10.0.1.128/25", ""), &others, &[], 24).unwrap_err();
        assert!(e.message.contains("Pool overlaps"), "{}", e.message);
        let e = choose_subnet(&asking("10.9.0.0/24", "10.8.0.1"), &others, &[], 24).unwrap_err();
        assert!(e.message.contains("not within subnet"), "{}", e.message);
        let (s, g, _) =
            choose_subnet(&asking("10.9.0.0/24", "10.9.0.254"), &others, &[], 24).unwrap();
        assert_eq!(
            (s.to_string(), g.to_string()),
            ("10.9.0.0/24".into(), "10.9.0.254".into())
        );
    }

    #[test]
    fn the_default_ingress_takes_the_pools_first_subnet() {
        let n = default_ingress(&["10.0.0.0/8".into()], 24).unwrap();
        assert_eq!(ipv4_config(&n).unwrap().0.to_string(), "10.0.0.0/24");
        assert_eq!(vni_of(&n), Some(4096));
        assert!(n.spec.ingress);
        // Other networks keep away from it.
        let (s, _, _) =
            choose_subnet(&NetworkSpec::default(), &[], &["10.0.0.0/8".into()], 24).unwrap();
        assert_eq!(s.to_string(), "10.0.1.0/24");
    }

    #[test]
    fn segment_ids_are_read_back() {
        assert_eq!(vni_of(&net("a", "10.0.1.0/24", 4100)), Some(4100));
        assert_eq!(vni_of(&Network::default()), None);
    }
}
