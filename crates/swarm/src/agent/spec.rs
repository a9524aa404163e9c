//! A task's container as the engine's create request, the way dockerd's
//! swarm executor builds it (daemon/cluster/executor/container): the
//! service's `ContainerSpec` mapped onto `Config`/`HostConfig`, the
//! `com.docker.swarm.*` labels, no restart policy (the orchestrator
//! restarts tasks, not the engine), and host-mode published ports.
//!
//! Both sides are Docker's wire JSON, so the mapping is written over JSON
//! values: a field the model gains later passes through here unchanged in
//! meaning, and the engine parses the result with its API-create rules.

use serde_json::{Map, Value, json};

pub use crate::labels::{NODE_ID_LABEL, SERVICE_ID_LABEL, TASK_ID_LABEL, TaskIdentity};

/// The create body (`POST /containers/create`) for a task whose `Spec` is
/// `task_spec` (a `TaskSpec` as JSON) and whose endpoint publishes `ports`
/// (`PortConfig`s as JSON; only `PublishMode: host` ones are bound here).
pub fn create_body(task_spec: &Value, ports: &[Value], id: &TaskIdentity<'_>) -> Value {
    let empty = Value::Object(Map::new());
    let cs = task_spec.get("ContainerSpec").unwrap_or(&empty);
    let mut config = Map::new();
    let mut host = Map::new();

    copy(cs, "Image", &mut config, "Image");
    copy(cs, "Hostname", &mut config, "Hostname");
    copy(cs, "Env", &mut config, "Env");
    copy(cs, "Dir", &mut config, "WorkingDir");
    copy(cs, "User", &mut config, "User");
    copy(cs, "Command", &mut config, "Entrypoint");
    copy(cs, "Args", &mut config, "Cmd");
    copy(cs, "TTY", &mut config, "Tty");
    copy(cs, "OpenStdin", &mut config, "OpenStdin");
    copy(cs, "StopSignal", &mut config, "StopSignal");
    copy(cs, "Healthcheck", &mut config, "Healthcheck");
    // The service's container labels, then swarm's own (which win, as in dockerd).
    let mut labels = cs
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.extend(id.labels());
    config.insert("Labels".into(), Value::Object(labels));

    copy(cs, "ReadOnly", &mut host, "ReadonlyRootfs");
    copy(cs, "Init", &mut host, "Init");
    copy(cs, "Sysctls", &mut host, "Sysctls");
    copy(cs, "CapabilityAdd", &mut host, "CapAdd");
    copy(cs, "CapabilityDrop", &mut host, "CapDrop");
    copy(cs, "Ulimits", &mut host, "Ulimits");
    copy(cs, "OomScoreAdj", &mut host, "OomScoreAdj");
    copy(cs, "Groups", &mut host, "GroupAdd");
    copy(cs, "Isolation", &mut host, "Isolation");
    copy(cs, "Mounts", &mut host, "Mounts");
    if let Some(dns) = cs.get("DNSConfig") {
        copy(dns, "Nameservers", &mut host, "Dns");
        copy(dns, "Search", &mut host, "DnsSearch");
        copy(dns, "Options", &mut host, "DnsOptions");
    }
    if let Some(hosts) = cs.get("Hosts").and_then(Value::as_array) {
        host.insert("ExtraHosts".into(), Value::Array(extra_hosts(hosts)));
    }
    if let Some(limits) = task_spec.pointer("/Resources/Limits") {
        copy(limits, "NanoCPUs", &mut host, "NanoCpus");
        copy(limits, "MemoryBytes", &mut host, "Memory");
        copy(limits, "Pids", &mut host, "PidsLimit");
    }
    if let Some(driver) = task_spec.get("LogDriver").filter(|d| d.is_object()) {
        host.insert(
            "LogConfig".into(),
            json!({
                "Type": driver.get("Name").cloned().unwrap_or(Value::String(String::new())),
                "Config": driver.get("Options").cloned().unwrap_or(json!({})),
            }),
        );
    }
    if let Some(runtime) = task_spec.pointer("/ContainerSpec/Runtime") {
        host.insert("Runtime".into(), runtime.clone());
    }
    let (exposed, bindings) = host_ports(ports);
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
        host.insert("PortBindings".into(), Value::Object(bindings));
    }
    host.insert("NetworkMode".into(), Value::String("default".into()));
    host.insert("RestartPolicy".into(), json!({ "Name": "no" }));

    config.insert("HostConfig".into(), Value::Object(host));
    Value::Object(config)
}

/// The local bridge a node's tasks on overlay networks reach the outside
/// through (dockerd's name). Its ports are isolated from each other: tasks
/// meet only on their overlays.
pub const GATEWAY_BRIDGE: &str = "docker_gwbridge";

/// Puts the container on the task's overlay networks (its
/// `NetworksAttachments`, each with the address the leader gave it and the
/// spec's aliases), the first one as its network mode, and on
/// [`GATEWAY_BRIDGE`] for its default route unless every overlay is
/// internal. A task without any keeps the node's default network.
pub fn attach_networks(body: &mut Value, task: &Value) {
    let Some(attachments) = task
        .get("NetworksAttachments")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    else {
        return;
    };
    let aliases_of = |id: &str| -> Value {
        task.pointer("/Spec/Networks")
            .and_then(Value::as_array)
            .and_then(|nets| {
                nets.iter()
                    .find(|n| n.get("Target").and_then(Value::as_str) == Some(id))
            })
            .and_then(|n| n.get("Aliases").cloned())
            .unwrap_or_else(|| json!([]))
    };
    let mut endpoints = Map::new();
    let mut first = None;
    for a in attachments {
        let Some(name) = a.pointer("/Network/Spec/Name").and_then(Value::as_str) else {
            continue;
        };
        let id = a
            .pointer("/Network/ID")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ip = a
            .pointer("/Addresses/0")
            .and_then(Value::as_str)
            .and_then(|c| c.split('/').next())
            .unwrap_or("");
        first.get_or_insert_with(|| name.to_string());
        endpoints.insert(
            name.to_string(),
            json!({ "IPAMConfig": { "IPv4Address": ip }, "Aliases": aliases_of(id) }),
        );
    }
    let Some(first) = first else {
        return;
    };
    let egress = attachments.iter().any(|a| {
        !a.pointer("/Network/Spec/Internal")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    });
    if egress {
        endpoints.insert(GATEWAY_BRIDGE.to_string(), json!({}));
    }
    if let Some(hc) = body.get_mut("HostConfig").and_then(Value::as_object_mut) {
        hc.insert("NetworkMode".into(), Value::String(first));
    }
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "NetworkingConfig".into(),
            json!({ "EndpointsConfig": endpoints }),
        );
    }
}

fn copy(from: &Value, key: &str, to: &mut Map<String, Value>, as_key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(as_key.into(), v.clone());
    }
}

/// Swarm's hosts entries are `IP NAME [ALIASES…]` (the hosts-file order);
/// the engine takes `NAME:IP`, one per name.
fn extra_hosts(hosts: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for line in hosts.iter().filter_map(Value::as_str) {
        let mut fields = line.split_whitespace();
        if let Some(ip) = fields.next() {
            for name in fields {
                out.push(Value::String(format!("{name}:{ip}")));
            }
        }
    }
    out
}

/// `ExposedPorts` and `PortBindings` for the ports published in host mode.
fn host_ports(ports: &[Value]) -> (Map<String, Value>, Map<String, Value>) {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for p in ports {
        if p.get("PublishMode").and_then(Value::as_str) != Some("host") {
            continue;
        }
        let Some(target) = p.get("TargetPort").and_then(Value::as_u64) else {
            continue;
        };
        let proto = p
            .get("Protocol")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("tcp");
        let key = format!("{target}/{proto}");
        let published = p
            .get("PublishedPort")
            .and_then(Value::as_u64)
            .filter(|p| *p != 0)
            .map(|p| p.to_string())
            .unwrap_or_default();
        exposed.insert(key.clone(), json!({}));
        let entry = bindings
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(json!({ "HostIp": "", "HostPort": published }));
        }
    }
    (exposed, bindings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u64) -> TaskIdentity<'static> {
        TaskIdentity {
            task_id: "t1",
            service_id: "s1",
            service_name: "web",
            node_id: "n1",
            slot,
        }
    }

    #[test]
    fn overlay_attachments_become_the_containers_networks() {
        let task = json!({
            "Spec": {"Networks": [{"Target": "n2", "Aliases": ["api"]}]},
            "NetworksAttachments": [
                {"Network": {"ID": "n1", "Spec": {"Name": "front"}}, "Addresses": ["10.0.1.3/24"]},
                {"Network": {"ID": "n2", "Spec": {"Name": "back"}}, "Addresses": ["10.0.2.7/24"]}
            ]
        });
        let mut body = create_body(&json!({}), &[], &id(1));
        attach_networks(&mut body, &task);
        assert_eq!(body["HostConfig"]["NetworkMode"], "front");
        let eps = &body["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["front"]["IPAMConfig"]["IPv4Address"], "10.0.1.3");
        assert_eq!(eps["back"]["IPAMConfig"]["IPv4Address"], "10.0.2.7");
        assert_eq!(eps["back"]["Aliases"], json!(["api"]));
        assert_eq!(eps[GATEWAY_BRIDGE], json!({}), "the way out");
        let mut plain = create_body(&json!({}), &[], &id(1));
        attach_networks(&mut plain, &json!({}));
        assert_eq!(plain["HostConfig"]["NetworkMode"], "default");
        assert!(plain.get("NetworkingConfig").is_none());
    }

    #[test]
    fn names_follow_dockerd() {
        assert_eq!(id(2).container_name(), "web.2.t1");
        assert_eq!(id(0).container_name(), "web.n1.t1");
    }

    #[test]
    fn the_container_spec_maps_onto_config_and_host_config() {
        let spec = json!({
            "ContainerSpec": {
                "Image": "bb:latest",
                "Labels": {"a": "b", "com.docker.swarm.task.id": "forged"},
                "Command": ["/bin/sh"],
                "Args": ["-c", "top"],
                "Env": ["A=1"],
                "Dir": "/w",
                "User": "1000",
                "Hostname": "h",
                "TTY": true,
                "ReadOnly": true,
                "Init": false,
                "Hosts": ["10.0.0.1 db db.local"],
                "DNSConfig": {"Nameservers": ["1.1.1.1"], "Search": ["x"]},
                "Mounts": [{"Type": "tmpfs", "Target": "/t"}],
                "CapabilityAdd": ["NET_ADMIN"],
                "StopSignal": "SIGINT"
            },
            "Resources": {"Limits": {"NanoCPUs": 500000000, "MemoryBytes": 1048576}},
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m"}}
        });
        let body = create_body(&spec, &[], &id(1));
        assert_eq!(body["Image"], "bb:latest");
        assert_eq!(body["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(body["Cmd"], json!(["-c", "top"]));
        assert_eq!(body["WorkingDir"], "/w");
        assert_eq!(body["Tty"], true);
        assert_eq!(body["StopSignal"], "SIGINT");
        assert_eq!(body["Labels"]["a"], "b");
        assert_eq!(body["Labels"]["com.docker.swarm.task.id"], "t1");
        assert_eq!(body["Labels"]["com.docker.swarm.task.name"], "web.1.t1");
        let h = &body["HostConfig"];
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["ExtraHosts"], json!(["db:10.0.0.1", "db.local:10.0.0.1"]));
        assert_eq!(h["Dns"], json!(["1.1.1.1"]));
        assert_eq!(h["DnsSearch"], json!(["x"]));
        assert_eq!(h["NanoCpus"], 500000000);
        assert_eq!(h["Memory"], 1048576);
        assert_eq!(h["LogConfig"]["Type"], "json-file");
        assert_eq!(h["LogConfig"]["Config"]["max-size"], "1m");
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["RestartPolicy"]["Name"], "no");
        assert_eq!(h["NetworkMode"], "default");
        assert_eq!(h["Mounts"][0]["Target"], "/t");
    }

    #[test]
    fn only_host_mode_ports_are_bound_on_the_node() {
        let ports = [
            json!({"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}),
            json!({"Protocol": "udp", "TargetPort": 53, "PublishMode": "host"}),
            json!({"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 443, "PublishMode": "ingress"}),
        ];
        let body = create_body(&json!({}), &ports, &id(1));
        assert_eq!(
            body["HostConfig"]["PortBindings"],
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "", "HostPort": ""}]
            })
        );
        assert_eq!(body["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    }

    #[test]
    fn an_empty_spec_still_names_the_task() {
        let body = create_body(&json!({}), &[], &id(0));
        assert_eq!(body["Labels"]["com.docker.swarm.task.name"], "web.n1.t1");
        assert!(body.get("Image").is_none());
    }
}
