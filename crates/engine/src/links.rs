//! Legacy links (`--link NAME[:ALIAS]`): the linked container's address in
//! /etc/hosts under the alias, and, on the default bridge, its name, ports
//! and environment as `ALIAS_*` variables, as dockerd gives them.

use std::net::Ipv4Addr;

use crate::model::{ContainerRecord, Status};
use crate::model::{ModeKind, mode_kind};
use crate::{Engine, EngineError, Result};

/// One stored link: "/child:/parent/alias".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub child: String,
    pub alias: String,
}

impl Link {
    fn parse_stored(s: &str) -> Option<Link> {
        let (child, path) = s.split_once(':')?;
        let alias = path.rsplit('/').next()?;
        Some(Link {
            child: child.trim_start_matches('/').to_string(),
            alias: alias.to_string(),
        })
    }
}

/// A link as the client gives it ("web", "web:db", "/web:/me/db") in the
/// stored form "/web:/me/db".
pub(crate) fn normalize(me: &str, spec: &str) -> Result<(String, String)> {
    let (child, alias) = match spec.split_once(':') {
        Some((c, a)) => (c, a.rsplit('/').next().unwrap_or(a)),
        None => (spec, spec),
    };
    let child = child.trim_start_matches('/');
    let alias = alias.trim_start_matches('/');
    if child.is_empty() || alias.is_empty() {
        return Err(EngineError::InvalidParameter(format!(
            "invalid link specification: {spec}"
        )));
    }
    Ok((child.to_string(), format!("/{child}:/{me}/{alias}")))
}

/// Docker's variable prefix for an alias: upper case, `-` and `.` as `_`.
fn env_prefix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// The variables a link gives on the default bridge.
pub(crate) fn env_for(me: &str, link: &Link, ip: Ipv4Addr, child: &ContainerRecord) -> Vec<String> {
    let p = env_prefix(&link.alias);
    let mut env = vec![format!("{p}_NAME=/{me}/{}", link.alias)];
    let mut ports: Vec<(u16, String)> = child
        .config
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(k, _)| {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        })
        .collect();
    ports.sort();
    if let Some((port, proto)) = ports.first() {
        env.push(format!("{p}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &ports {
        let key = format!("{p}_PORT_{port}_{}", proto.to_ascii_uppercase());
        env.push(format!("{key}={proto}://{ip}:{port}"));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={port}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    for e in child.config.env.iter().flatten() {
        if let Some((k, v)) = e.split_once('=')
            && k != "HOME"
            && k != "PATH"
        {
            env.push(format!("{p}_ENV_{k}={v}"));
        }
    }
    env
}

/// Every link of the container, as declared: HostConfig.Links, then the
/// endpoints' (`network connect --link`).
pub(crate) fn declared(record: &ContainerRecord) -> Vec<Link> {
    let endpoint_links = record.networks.values().flat_map(|e| &e.links);
    record
        .host_config
        .links
        .iter()
        .flatten()
        .filter_map(|s| Link::parse_stored(s))
        .chain(endpoint_links.filter_map(|spec| {
            let (_, stored) = normalize(&record.name, spec).ok()?;
            Link::parse_stored(&stored)
        }))
        .collect()
}

impl Engine {
    /// Create-time: every linked container exists and the network mode can
    /// carry links; returns the links in their stored form.
    pub(crate) fn check_links(
        &self,
        me: &str,
        network_mode: &str,
        links: &[String],
    ) -> Result<Vec<String>> {
        if !links.is_empty()
            && matches!(
                mode_kind(network_mode),
                ModeKind::Host | ModeKind::None | ModeKind::Container(_)
            )
        {
            return Err(EngineError::InvalidParameter(
                "Conflicting options: links and the network mode".into(),
            ));
        }
        links
            .iter()
            .map(|spec| {
                let (child, stored) = normalize(me, spec)?;
                self.container(&child)?;
                Ok(stored)
            })
            .collect()
    }

    /// Start-time: each linked container (which must run) and the address
    /// this container reaches it at: on a network they share, the default
    /// bridge first.
    pub(crate) fn resolve_links(
        &self,
        record: &ContainerRecord,
    ) -> Result<Vec<(Link, Ipv4Addr, ContainerRecord)>> {
        let mut out = Vec::new();
        for link in declared(record) {
            let child = self.container(&link.child)?;
            let (status, state, child_record) = {
                let inner = child.lock();
                (
                    inner.state.status,
                    inner.state.network.clone(),
                    inner.record.clone(),
                )
            };
            if !matches!(status, Status::Running | Status::Paused) {
                return Err(EngineError::Conflict(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    link.child, record.name, link.alias
                )));
            }
            let shared = state
                .endpoints
                .iter()
                .filter(|(net, _)| record.networks.contains_key(*net))
                .min_by_key(|(net, _)| net.as_str() != "bridge")
                .or_else(|| state.endpoints.iter().next());
            if let Some((_, ep)) = shared {
                out.push((link, ep.ip, child_record));
            }
        }
        Ok(out)
    }

    /// The /etc/hosts lines of this container's links ("IP alias id name").
    pub(crate) fn link_hosts(&self, record: &ContainerRecord) -> Vec<String> {
        self.resolve_links(record)
            .unwrap_or_default()
            .into_iter()
            .map(|(link, ip, child)| {
                let mut names = vec![link.alias.clone()];
                for n in [child.id[..12].to_string(), child.name.clone()] {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                format!("{ip}\t{}", names.join(" "))
            })
            .collect()
    }

    /// The `ALIAS_*` variables of this container's links on the default bridge.
    pub(crate) fn link_env(&self, record: &ContainerRecord) -> Result<Vec<String>> {
        if mode_kind(&record.host_config.network_mode) != ModeKind::Default {
            return Ok(Vec::new());
        }
        Ok(self
            .resolve_links(record)?
            .iter()
            .flat_map(|(link, ip, child)| env_for(&record.name, link, *ip, child))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_normalize_as_dockerd_stores_them() {
        assert_eq!(normalize("me", "web").unwrap().1, "/web:/me/web");
        assert_eq!(normalize("me", "web:db").unwrap().1, "/web:/me/db");
        assert_eq!(normalize("me", "/web:/me/db").unwrap().1, "/web:/me/db");
        assert!(normalize("me", ":x").is_err());
        let l = Link::parse_stored("/web:/me/db").unwrap();
        assert_eq!((l.child.as_str(), l.alias.as_str()), ("web", "db"));
    }

    #[test]
    fn link_variables_name_ports_and_env() {
        let child: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "0123456789abcdef", "name": "web", "created": "2026-01-01T00:00:00Z",
            "config": {"Image": "x", "Env": ["FOO=1", "PATH=/bin", "HOME=/root"],
                       "ExposedPorts": {"80/tcp": {}, "53/udp": {}}},
            "host_config": {}, "image_name": "x", "image_id": "x", "path": "x", "args": [],
            "log_path": "/x", "hostname_path": "/x", "hosts_path": "/x", "resolv_conf_path": "/x"
        }))
        .unwrap();
        let link = Link {
            child: "web".into(),
            alias: "my-db".into(),
        };
        let env = env_for("me", &link, Ipv4Addr::new(172, 17, 0, 2), &child);
        assert_eq!(
            env,
            vec![
                "MY_DB_NAME=/me/my-db",
                "MY_DB_PORT=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_80_TCP=tcp://172.17.0.2:80",
                "MY_DB_PORT_80_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_80_TCP_PORT=80",
                "MY_DB_PORT_80_TCP_PROTO=tcp",
                "MY_DB_ENV_FOO=1",
            ]
        );
    }
}
