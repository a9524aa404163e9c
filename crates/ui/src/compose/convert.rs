//! The parsed file to the API's JSON bodies (what the docker CLI sends:
//! `NetworkCreate`, `ServiceSpec`, `SecretSpec`, `ConfigSpec`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::model::{Deploy, FileObject, MapOrList, Service, ServiceNetworks};
use super::parts::{
    bad, command, duration, file_refs, healthcheck, labels, mount, pairs, port, resource,
    update_config,
};
use super::{ComposeError, IMAGE, NAMESPACE, parse};

/// What a deploy creates or updates, in order, and what it only refers to.
#[derive(Debug, Default)]
pub struct Stack {
    pub name: String,
    /// `NetworkCreate` bodies (names `<stack>_<net>`).
    pub networks: Vec<Value>,
    /// Networks that must already exist (`external`).
    pub external_networks: Vec<String>,
    /// `SecretSpec` bodies of inline (`content:`) secrets.
    pub secrets: Vec<Value>,
    pub configs: Vec<Value>,
    /// Secrets and configs that must already exist.
    pub external_secrets: Vec<String>,
    pub external_configs: Vec<String>,
    /// `ServiceSpec` bodies.
    pub services: Vec<Value>,
    /// Keys that stacks ignore, as the CLI warns of them.
    pub warnings: Vec<String>,
}

/// The CLI's `validateStackName` and the names services and networks may take.
fn check_stack_name(name: &str) -> Result<(), ComposeError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok {
        return Err(bad(format!(
            "invalid stack name {name:?}: letters, digits, '_', '-' and '.', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// Compose's stacks file: the API objects of stack `name`.
pub fn convert(name: &str, text: &str) -> Result<Stack, ComposeError> {
    check_stack_name(name)?;
    let file = parse(text)?;
    if file.services.is_empty() {
        return Err(bad("services: a stack needs at least one service"));
    }
    let scoped = |n: &str| format!("{name}_{n}");
    let mut stack = Stack {
        name: name.to_string(),
        ..Stack::default()
    };

    // Networks: the ones declared, and `default` (created only when a
    // service uses it, as the CLI does).
    let mut net_names: BTreeMap<String, String> = BTreeMap::new();
    let mut net_bodies: BTreeMap<String, Value> = BTreeMap::new();
    for (key, net) in &file.networks {
        let path = format!("networks.{key}");
        let net = net.as_ref();
        if let Some(ext) = net.and_then(|n| n.external.as_ref())
            && ext.is_external()
        {
            let real = ext
                .name()
                .or(net.and_then(|n| n.name.as_deref()))
                .unwrap_or(key)
                .to_string();
            net_names.insert(key.clone(), real.clone());
            stack.external_networks.push(real);
            continue;
        }
        let real = net
            .and_then(|n| n.name.clone())
            .unwrap_or_else(|| scoped(key));
        let driver = net
            .and_then(|n| n.driver.clone())
            .unwrap_or_else(|| "overlay".into());
        let mut body = json!({
            "Name": real,
            "Driver": driver,
            "Scope": "swarm",
            "Labels": labels(name, net.and_then(|n| n.labels.as_ref()), &format!("{path}.labels"))?,
            "Attachable": net.and_then(|n| n.attachable).unwrap_or(false),
            "Internal": net.and_then(|n| n.internal).unwrap_or(false),
        });
        if let Some(n) = net {
            if !n.driver_opts.is_empty() {
                body["Options"] = json!(n.driver_opts);
            }
            if let Some(ipam) = &n.ipam {
                body["IPAM"] = json!({
                    "Driver": ipam.driver.clone().unwrap_or_else(|| "default".into()),
                    "Config": ipam.config.iter().map(|c| json!({"Subnet": c.subnet})).collect::<Vec<_>>(),
                });
            }
        }
        net_names.insert(key.clone(), real);
        net_bodies.insert(key.clone(), body);
    }
    if !net_names.contains_key("default") {
        net_names.insert("default".into(), scoped("default"));
    }

    // Volumes: the stack's named ones (`<stack>_<vol>`) and external ones.
    let mut volumes: BTreeMap<String, (String, Option<Value>)> = BTreeMap::new();
    for (key, vol) in &file.volumes {
        let path = format!("volumes.{key}");
        let vol = vol.as_ref();
        if let Some(ext) = vol.and_then(|v| v.external.as_ref())
            && ext.is_external()
        {
            let real = ext
                .name()
                .or(vol.and_then(|v| v.name.as_deref()))
                .unwrap_or(key)
                .to_string();
            volumes.insert(key.clone(), (real, None));
            continue;
        }
        let real = vol
            .and_then(|v| v.name.clone())
            .unwrap_or_else(|| scoped(key));
        let mut opts = json!({
            "Labels": labels(name, vol.and_then(|v| v.labels.as_ref()), &format!("{path}.labels"))?,
        });
        if let Some(v) = vol
            && (v.driver.is_some() || !v.driver_opts.is_empty())
        {
            opts["DriverConfig"] = json!({
                "Name": v.driver.clone().unwrap_or_else(|| "local".into()),
                "Options": v.driver_opts,
            });
        }
        volumes.insert(key.clone(), (real, Some(opts)));
    }

    let secrets = file_objects(name, "secrets", &file.secrets, &mut stack)?;
    let configs = file_objects(name, "configs", &file.configs, &mut stack)?;

    let mut used_nets = std::collections::BTreeSet::new();
    for (svc_name, svc) in &file.services {
        let path = format!("services.{svc_name}");
        let ignored = svc.ignored();
        if !ignored.is_empty() {
            stack.warnings.push(format!(
                "{path}: ignoring unsupported options: {}",
                ignored.join(", ")
            ));
        }
        let spec = service(
            name,
            svc_name,
            svc,
            &path,
            &Refs {
                networks: &net_names,
                volumes: &volumes,
                secrets: &secrets,
                configs: &configs,
            },
            &mut used_nets,
        )?;
        stack.services.push(spec);
    }
    for key in &used_nets {
        if let Some(body) = net_bodies.remove(key) {
            stack.networks.push(body);
        } else if key == "default" && !file.networks.contains_key("default") {
            stack.networks.push(json!({
                "Name": scoped("default"),
                "Driver": "overlay",
                "Scope": "swarm",
                "Labels": {NAMESPACE: name},
                "Attachable": false,
                "Internal": false,
            }));
        }
    }
    // Declared but unused networks are still created, as the CLI does.
    stack.networks.extend(net_bodies.into_values());
    Ok(stack)
}

/// Top-level secrets or configs: their real names by key. Inline ones
/// (`content:`) are created with the stack; files cannot come from a
/// browser.
fn file_objects(
    stack_name: &str,
    kind: &str,
    objects: &BTreeMap<String, FileObject>,
    stack: &mut Stack,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut names = BTreeMap::new();
    for (key, o) in objects {
        let path = format!("{kind}.{key}");
        if let Some(ext) = &o.external
            && ext.is_external()
        {
            let real = ext.name().or(o.name.as_deref()).unwrap_or(key).to_string();
            if kind == "secrets" {
                stack.external_secrets.push(real.clone());
            } else {
                stack.external_configs.push(real.clone());
            }
            names.insert(key.clone(), real);
            continue;
        }
        if let Some(f) = &o.file {
            return Err(bad(format!(
                "{path}.file ({f:?}): files cannot be read from a browser: give the data inline with content:, or create it with docker {} create and mark it external: true",
                &kind[..kind.len() - 1]
            )));
        }
        if o.environment.is_some() {
            return Err(bad(format!(
                "{path}.environment: not implemented: the dashboard has no environment to read; use content:"
            )));
        }
        let Some(content) = &o.content else {
            return Err(bad(format!(
                "{path}: one of content: or external: is needed"
            )));
        };
        let real = o
            .name
            .clone()
            .unwrap_or_else(|| format!("{stack_name}_{key}"));
        let body = json!({
            "Name": real,
            "Labels": labels(stack_name, o.labels.as_ref(), &format!("{path}.labels"))?,
            "Data": base64::engine::general_purpose::STANDARD.encode(content),
        });
        if kind == "secrets" {
            stack.secrets.push(body);
        } else {
            stack.configs.push(body);
        }
        names.insert(key.clone(), real);
    }
    Ok(names)
}

/// The names a service may refer to: declared key → real name.
struct Refs<'a> {
    networks: &'a BTreeMap<String, String>,
    volumes: &'a BTreeMap<String, (String, Option<Value>)>,
    secrets: &'a BTreeMap<String, String>,
    configs: &'a BTreeMap<String, String>,
}

fn service(
    stack: &str,
    svc_name: &str,
    svc: &Service,
    path: &str,
    refs: &Refs<'_>,
    used_nets: &mut std::collections::BTreeSet<String>,
) -> Result<Value, ComposeError> {
    if svc.env_file.is_some() {
        return Err(bad(format!(
            "{path}.env_file: files cannot be read from a browser: put the variables under environment:"
        )));
    }
    let image = svc
        .image
        .clone()
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| bad(format!("{path}.image is required (stacks do not build)")))?;
    let mut env: Vec<String> = Vec::new();
    for (k, v) in pairs(svc.environment.as_ref(), &format!("{path}.environment"))? {
        let v = v.ok_or_else(|| {
            bad(format!(
                "{path}.environment.{k}: a value is needed: the dashboard has no environment to take it from"
            ))
        })?;
        env.push(format!("{k}={v}"));
    }
    env.sort();
    let mut container = json!({
        "Image": image,
        "Labels": labels(stack, svc.labels.as_ref(), &format!("{path}.labels"))?,
    });
    let c = container
        .as_object_mut()
        .ok_or_else(|| bad("internal: container spec"))?;
    if let Some(cmd) = command(&svc.entrypoint, &format!("{path}.entrypoint"))? {
        c.insert("Command".into(), json!(cmd));
    }
    if let Some(args) = command(&svc.command, &format!("{path}.command"))? {
        c.insert("Args".into(), json!(args));
    }
    if !env.is_empty() {
        c.insert("Env".into(), json!(env));
    }
    for (key, v) in [
        ("Hostname", &svc.hostname),
        ("User", &svc.user),
        ("Dir", &svc.working_dir),
        ("StopSignal", &svc.stop_signal),
    ] {
        if let Some(v) = v {
            c.insert(key.into(), json!(v));
        }
    }
    if let Some(d) = duration(&svc.stop_grace_period, &format!("{path}.stop_grace_period"))? {
        c.insert("StopGracePeriod".into(), json!(d));
    }
    for (key, v) in [
        ("TTY", svc.tty),
        ("OpenStdin", svc.stdin_open),
        ("Init", svc.init),
        ("ReadOnly", svc.read_only),
    ] {
        if let Some(v) = v {
            c.insert(key.into(), json!(v));
        }
    }
    if let Some(hosts) = &svc.extra_hosts {
        // The API's "IP host" form, from compose's "host:IP" or "host=IP".
        let mut list = Vec::new();
        match hosts {
            MapOrList::List(l) => {
                for e in l {
                    let (h, ip) = e
                        .split_once(['=', ':'])
                        .ok_or_else(|| bad(format!("{path}.extra_hosts: {e:?} is not host:IP")))?;
                    list.push(format!("{ip} {h}"));
                }
            }
            MapOrList::Map(_) => {
                for (h, ip) in pairs(Some(hosts), &format!("{path}.extra_hosts"))? {
                    list.push(format!("{} {h}", ip.unwrap_or_default()));
                }
            }
        }
        c.insert("Hosts".into(), json!(list));
    }
    if let Some(hc) = &svc.healthcheck {
        c.insert(
            "Healthcheck".into(),
            healthcheck(hc, &format!("{path}.healthcheck"))?,
        );
    }
    let mounts = svc
        .volumes
        .iter()
        .enumerate()
        .map(|(i, v)| mount(v, &format!("{path}.volumes[{i}]"), refs.volumes))
        .collect::<Result<Vec<_>, _>>()?;
    if !mounts.is_empty() {
        c.insert("Mounts".into(), json!(mounts));
    }
    let secrets = file_refs(&svc.secrets, "secrets", path, refs.secrets, "/run/secrets/")?;
    if !secrets.is_empty() {
        c.insert("Secrets".into(), json!(secrets));
    }
    let configs = file_refs(&svc.configs, "configs", path, refs.configs, "/")?;
    if !configs.is_empty() {
        c.insert("Configs".into(), json!(configs));
    }

    // Networks: the ones named, each with the service's name as an alias.
    let mut nets: Vec<(String, Vec<String>)> = match &svc.networks {
        None => vec![("default".into(), Vec::new())],
        Some(ServiceNetworks::List(l)) => l.iter().map(|n| (n.clone(), Vec::new())).collect(),
        Some(ServiceNetworks::Map(m)) => m
            .iter()
            .map(|(n, o)| {
                (
                    n.clone(),
                    o.as_ref().map(|o| o.aliases.clone()).unwrap_or_default(),
                )
            })
            .collect(),
    };
    nets.sort();
    let mut networks = Vec::new();
    for (key, aliases) in nets {
        let real = refs.networks.get(&key).ok_or_else(|| {
            bad(format!(
                "service {svc_name} refers to undefined network {key}: invalid compose project"
            ))
        })?;
        used_nets.insert(key);
        let mut all = vec![svc_name.to_string()];
        all.extend(aliases);
        networks.push(json!({"Target": real, "Aliases": all}));
    }

    let deploy = svc.deploy.as_ref();
    let default_deploy = Deploy::default();
    let d = deploy.unwrap_or(&default_deploy);
    let dpath = format!("{path}.deploy");
    let mode = match d.mode.as_deref() {
        None | Some("replicated") => json!({"Replicated": {"Replicas": d.replicas.unwrap_or(1)}}),
        Some("global") => {
            if d.replicas.is_some() {
                return Err(bad(format!(
                    "{dpath}.replicas: replicas can only be used with replicated mode"
                )));
            }
            json!({"Global": {}})
        }
        Some(m) => {
            return Err(bad(format!(
                "{dpath}.mode: unknown mode {m:?} (replicated or global)"
            )));
        }
    };
    let mut task = json!({
        "ContainerSpec": container,
        "Networks": networks,
    });
    if let Some(p) = &d.placement {
        let mut placement = json!({ "Constraints": p.constraints });
        if !p.preferences.is_empty() {
            placement["Preferences"] = json!(
                p.preferences
                    .iter()
                    .map(|x| json!({"Spread": {"SpreadDescriptor": x.spread}}))
                    .collect::<Vec<_>>()
            );
        }
        if let Some(m) = p.max_replicas_per_node {
            placement["MaxReplicas"] = json!(m);
        }
        task["Placement"] = placement;
    }
    if let Some(r) = &d.resources {
        let mut res = json!({});
        if let Some(l) = &r.limits {
            res["Limits"] = resource(l, &format!("{dpath}.resources.limits"), true)?;
        }
        if let Some(l) = &r.reservations {
            res["Reservations"] = resource(l, &format!("{dpath}.resources.reservations"), false)?;
        }
        task["Resources"] = res;
    }
    if let Some(rp) = &d.restart_policy {
        let rpath = format!("{dpath}.restart_policy");
        let condition = match rp.condition.as_deref() {
            None => "any",
            Some(c @ ("none" | "on-failure" | "any")) => c,
            Some(c) => {
                return Err(bad(format!(
                    "{rpath}.condition: unknown condition {c:?} (none, on-failure or any)"
                )));
            }
        };
        let mut p = json!({ "Condition": condition });
        if let Some(v) = duration(&rp.delay, &format!("{rpath}.delay"))? {
            p["Delay"] = json!(v);
        }
        if let Some(v) = rp.max_attempts {
            p["MaxAttempts"] = json!(v);
        }
        if let Some(v) = duration(&rp.window, &format!("{rpath}.window"))? {
            p["Window"] = json!(v);
        }
        task["RestartPolicy"] = p;
    }
    let mut labels_svc = labels(stack, d.labels.as_ref(), &format!("{dpath}.labels"))?;
    labels_svc.insert(IMAGE.into(), json!(image));
    let mut spec = json!({
        "Name": format!("{stack}_{svc_name}"),
        "Labels": labels_svc,
        "TaskTemplate": task,
        "Mode": mode,
    });
    if let Some(u) = &d.update_config {
        spec["UpdateConfig"] = update_config(u, &format!("{dpath}.update_config"))?;
    }
    if let Some(u) = &d.rollback_config {
        spec["RollbackConfig"] = update_config(u, &format!("{dpath}.rollback_config"))?;
    }
    let endpoint_mode = match d.endpoint_mode.as_deref() {
        None => None,
        Some(m @ ("vip" | "dnsrr")) => Some(m),
        Some(m) => {
            return Err(bad(format!(
                "{dpath}.endpoint_mode: unknown mode {m:?} (vip or dnsrr)"
            )));
        }
    };
    let ports = svc
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| port(p, &format!("{path}.ports[{i}]")))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    if endpoint_mode.is_some() || !ports.is_empty() {
        let mut ep = json!({ "Mode": endpoint_mode.unwrap_or("vip") });
        if !ports.is_empty() {
            ep["Ports"] = json!(ports);
        }
        spec["EndpointSpec"] = ep;
    }
    Ok(spec)
}
