//! Engine objects rendered in Docker's JSON shapes.

use chrono::{DateTime, Utc};
use engine::ContainerView;
use engine::model::Status;
use serde_json::{Value, json};

/// Docker's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

/// What `rmi` and image prune answer for each removal.
pub fn delete_items(items: Vec<image::DeleteItem>) -> Vec<Value> {
    items
        .into_iter()
        .map(|item| match item {
            image::DeleteItem::Untagged(r) => json!({ "Untagged": r }),
            image::DeleteItem::Deleted(id) => json!({ "Deleted": id }),
        })
        .collect()
}

/// go-units' HumanDuration, which `docker ps` shows.
pub fn human_duration(d: chrono::Duration) -> String {
    gounits::human_duration(d.num_seconds())
}

pub fn status_line(v: &ContainerView) -> String {
    let now = Utc::now();
    match v.state.status {
        Status::Running => {
            let up = format!(
                "Up {}",
                human_duration(now - v.state.started_at.unwrap_or(now))
            );
            match v.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => format!("{up} (health: starting)"),
                Some(status) if !status.is_empty() => format!("{up} ({status})"),
                _ => up,
            }
        }
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(now - v.state.started_at.unwrap_or(now))
        ),
        Status::Exited => match v.state.finished_at {
            Some(f) => format!(
                "Exited ({}) {} ago",
                v.state.exit_code,
                human_duration(now - f)
            ),
            None => "Created".into(),
        },
        Status::Created => "Created".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            v.state.exit_code,
            human_duration(now - v.state.finished_at.unwrap_or(now))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

fn command(v: &ContainerView) -> String {
    std::iter::once(v.record.path.clone())
        .chain(v.record.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `NetworkSettings.Networks`: the configured networks, with addresses
/// while the container runs; host/none show their own name.
fn networks(v: &ContainerView) -> Value {
    let mut out = serde_json::Map::new();
    for (name, cfg) in &v.record.networks {
        out.insert(
            name.clone(),
            endpoint(Some(cfg), v.state.network.endpoints.get(name)),
        );
    }
    if out.is_empty() {
        match v.record.host_config.network_mode.as_str() {
            m if m.starts_with("container:") => {}
            "" | "default" => {
                out.insert("bridge".into(), endpoint(None, None));
            }
            m => {
                out.insert(m.to_string(), endpoint(None, None));
            }
        }
    }
    Value::Object(out)
}

fn endpoint(
    cfg: Option<&engine::networking::EndpointConfig>,
    ep: Option<&engine::networking::EndpointState>,
) -> Value {
    let text =
        |f: &dyn Fn(&engine::networking::EndpointState) -> String| ep.map(f).unwrap_or_default();
    json!({
        "IPAMConfig": cfg.filter(|c| c.ipv4_address.is_some() || c.ipv6_address.is_some() || !c.link_local_ips.is_empty()).map(|c| {
            let mut m = serde_json::Map::new();
            if let Some(ip) = c.ipv4_address {
                m.insert("IPv4Address".into(), json!(ip.to_string()));
            }
            if let Some(ip) = c.ipv6_address {
                m.insert("IPv6Address".into(), json!(ip.to_string()));
            }
            if !c.link_local_ips.is_empty() {
                m.insert("LinkLocalIPs".into(), json!(c.link_local_ips.iter().map(|i| i.to_string()).collect::<Vec<_>>()));
            }
            serde_json::Value::Object(m)
        }),
        "Links": cfg.filter(|c| !c.links.is_empty()).map(|c| c.links.clone()),
        "Aliases": cfg.filter(|c| !c.aliases.is_empty()).map(|c| c.aliases.clone()),
        // Running: the interface's; before that, what was asked for.
        "MacAddress": ep.map(|e| e.mac.clone())
            .or_else(|| cfg.and_then(|c| c.mac_address.clone()))
            .unwrap_or_default(),
        "DriverOpts": cfg.filter(|c| !c.driver_opts.is_empty()).map(|c| c.driver_opts.clone()),
        "NetworkID": cfg.map(|c| c.network_id.clone()).unwrap_or_default(),
        "EndpointID": text(&|e| e.endpoint_id.clone()),
        "Gateway": text(&|e| e.gateway.map(|g| g.to_string()).unwrap_or_default()),
        "IPAddress": text(&|e| e.ip.to_string()),
        "IPPrefixLen": ep.map(|e| e.prefix_len).unwrap_or(0),
        "IPv6Gateway": text(&|e| e.gateway6.map(|g| g.to_string()).unwrap_or_default()),
        "GlobalIPv6Address": text(&|e| e.ip6.map(|ip| ip.to_string()).unwrap_or_default()),
        "GlobalIPv6PrefixLen": ep.and_then(|e| e.ip6.map(|_| e.prefix_len6)).unwrap_or(0),
        "DNSNames": ep.map(|e| e.dns_names.clone()),
    })
}

/// `NetworkSettings.Ports`: exposed ports, with their host bindings while running.
fn ports(v: &ContainerView) -> Value {
    let running = matches!(v.state.status, Status::Running | Status::Paused);
    let mut out = serde_json::Map::new();
    if !running || !exposes_ports(v) {
        return Value::Object(out);
    }
    for key in v
        .record
        .config
        .exposed_ports
        .iter()
        .flatten()
        .map(|(k, _)| k)
    {
        out.insert(key.clone(), Value::Null);
    }
    for p in &v.state.network.ports {
        let entry = out.entry(p.key()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Value::Array(list) = entry {
            list.push(json!({
                "HostIp": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    Value::Object(out)
}

/// Whether the container's exposed ports are shown: dockerd takes them from
/// bridge endpoints, so a container only on macvlan/ipvlan shows none.
fn exposes_ports(v: &ContainerView) -> bool {
    let endpoints = &v.state.network.endpoints;
    endpoints.is_empty() || endpoints.values().any(|ep| ep.driver == "bridge")
}

/// `Ports` of `GET /containers/json`.
fn summary_ports(v: &ContainerView) -> Value {
    let mut list: Vec<Value> = v
        .state
        .network
        .ports
        .iter()
        .map(|p| {
            json!({
                "IP": p.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "PrivatePort": p.container_port,
                "PublicPort": p.host_port,
                "Type": p.proto.to_string(),
            })
        })
        .collect();
    let exposed = v.record.config.exposed_ports.iter().flatten();
    for key in exposed.filter(|_| exposes_ports(v)).map(|(k, _)| k) {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if !v
            .state
            .network
            .ports
            .iter()
            .any(|p| p.container_port == port && p.proto.to_string() == proto)
        {
            list.push(json!({"PrivatePort": port, "Type": proto}));
        }
    }
    Value::Array(list)
}

/// `Mounts` of inspect and ps.
fn mounts(v: &ContainerView) -> Value {
    use engine::mounts::MountKind;
    let list: Vec<Value> = v
        .record
        .mounts
        .iter()
        .map(|m| {
            let mut o = json!({ "Type": m.kind.as_str() });
            if let Some(name) = &m.name {
                o["Name"] = json!(name);
            }
            o["Source"] = json!(m.source);
            o["Destination"] = json!(m.destination);
            if m.kind == MountKind::Volume {
                o["Driver"] = json!("local");
            }
            o["Mode"] = json!(m.mode);
            o["RW"] = json!(m.rw);
            o["Propagation"] = json!(m.propagation);
            o
        })
        .collect();
    Value::Array(list)
}

/// An entry of `GET /containers/json`.
pub fn summary(v: &ContainerView) -> Value {
    json!({
        "Id": v.record.id,
        "Names": [format!("/{}", v.record.name)],
        "Image": v.record.image_name,
        "ImageID": v.record.image_id,
        "Command": command(v),
        "Created": v.record.created.timestamp(),
        "Ports": summary_ports(v),
        "Labels": v.record.config.labels.clone().unwrap_or_default(),
        "State": v.state.status.as_str(),
        "Status": status_line(v),
        "HostConfig": { "NetworkMode": v.record.host_config.network_mode },
        "NetworkSettings": { "Networks": networks(v) },
        "Mounts": mounts(v),
    })
}

/// `GET /containers/{id}/json`.
pub fn inspect(v: &ContainerView, upper_dir: &str) -> Value {
    let s = &v.state;
    let bridge = s.network.endpoints.get("bridge");
    let top = |f: &dyn Fn(&engine::networking::EndpointState) -> Value, zero: Value| {
        bridge.map(f).unwrap_or(zero)
    };
    json!({
        "Id": v.record.id,
        "Created": time(Some(v.record.created)),
        "Path": v.record.path,
        "Args": v.record.args,
        "State": {
            "Status": s.status.as_str(),
            "Running": s.status == Status::Running || s.status == Status::Paused,
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": time(s.started_at),
            "FinishedAt": time(s.finished_at),
            "Health": s.health.as_ref().map(|h| json!({
                "Status": h.status,
                "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|l| json!({
                    "Start": time(Some(l.start)),
                    "End": time(Some(l.end)),
                    "ExitCode": l.exit_code,
                    "Output": l.output,
                })).collect::<Vec<_>>(),
            })),
        },
        "Image": v.record.image_id,
        "ResolvConfPath": v.record.resolv_conf_path,
        "HostnamePath": v.record.hostname_path,
        "HostsPath": v.record.hosts_path,
        // As dockerd: json-file's path only; the local driver's and the
        // cache's layouts are not part of the API.
        "LogPath": match v.record.host_config.log_config.r#type.as_str() {
            "" | "json-file" => v.record.log_path.clone(),
            _ => std::path::PathBuf::new(),
        },
        "Name": format!("/{}", v.record.name),
        "RestartCount": s.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": v.record.host_config,
        "GraphDriver": { "Name": "overlay2", "Data": { "UpperDir": upper_dir } },
        "Mounts": mounts(v),
        "Config": v.record.config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": if s.network.sandbox.is_some() { v.record.id.clone() } else { String::new() },
            "SandboxKey": s.network.sandbox.clone().unwrap_or_default(),
            "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports(v), "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": top(&|e| json!(e.endpoint_id), json!("")),
            "Gateway": top(&|e| json!(e.gateway.map(|g| g.to_string()).unwrap_or_default()), json!("")),
            "GlobalIPv6Address": top(&|e| json!(e.ip6.map(|ip| ip.to_string()).unwrap_or_default()), json!("")),
            "GlobalIPv6PrefixLen": top(&|e| json!(e.ip6.map_or(0, |_| e.prefix_len6)), json!(0)),
            "IPAddress": top(&|e| json!(e.ip.to_string()), json!("")),
            "IPPrefixLen": top(&|e| json!(e.prefix_len), json!(0)),
            "IPv6Gateway": top(&|e| json!(e.gateway6.map(|g| g.to_string()).unwrap_or_default()), json!("")),
            "MacAddress": top(&|e| json!(e.mac), json!("")),
            "Networks": networks(v),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(
            human_duration(Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::seconds(1)), "1 second");
        assert_eq!(human_duration(Duration::seconds(42)), "42 seconds");
        assert_eq!(human_duration(Duration::seconds(90)), "About a minute");
        assert_eq!(human_duration(Duration::minutes(5)), "5 minutes");
        assert_eq!(human_duration(Duration::minutes(61)), "About an hour");
        assert_eq!(human_duration(Duration::hours(5)), "5 hours");
        assert_eq!(human_duration(Duration::days(3)), "3 days");
    }

    #[test]
    fn zero_time() {
        assert_eq!(time(None), "0001-01-01T00:00:00Z");
    }
}
