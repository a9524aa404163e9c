//! Service specs on create and update: dockerd's conversion checks, then
//! swarmkit's `validateServiceSpec`, then the update-only rules (no mode
//! change, no rename) and the checks against other services, secrets and
//! configs.

use std::collections::{HashMap, HashSet};

use super::{go_quote, is_valid_dns_name, reference::valid_image_reference};
use crate::constraint;
use crate::error::{ClusterError, ErrorKind, Result};
use crate::model::{
    ContainerSpec, EndpointSpec, HealthConfig, Limit, Mount, PortConfig, Resources, RestartPolicy,
    Service, ServiceSpec, TaskSpec, UpdateConfig,
};

const MIN_HEALTH_DURATION: i64 = 1_000_000; // 1ms

fn dockerd(message: String) -> ClusterError {
    ClusterError::dockerd(ErrorKind::InvalidArgument, message)
}

fn invalid(message: impl Into<String>) -> ClusterError {
    ClusterError::invalid(message)
}

/// Everything `POST /services/create` checks on the spec alone. The name
/// must already be set: dockerd draws a random one for an empty name
/// before this point.
pub fn validate_service_spec(spec: &ServiceSpec) -> Result<()> {
    convert_checks(spec)?;
    swarmkit_checks(spec)
}

/// `POST /services/{id}/update`: the new spec's own checks, then what may
/// not change.
pub fn validate_service_update(current: &Service, spec: &ServiceSpec) -> Result<()> {
    validate_service_spec(spec)?;
    let old = &current.spec;
    if (!spec.networks.is_empty() || !old.networks.is_empty())
        && spec.networks != old.networks
        && spec.task_template.networks == old.task_template.networks
    {
        return Err(ClusterError::swarmkit(
            ErrorKind::Unimplemented,
            "networks must be migrated to TaskSpec before being changed",
        ));
    }
    if std::mem::discriminant(&old.mode.kind()) != std::mem::discriminant(&spec.mode.kind()) {
        return Err(ClusterError::swarmkit(
            ErrorKind::Unimplemented,
            "service mode change is not allowed",
        ));
    }
    if old.annotations.name != spec.annotations.name {
        return Err(ClusterError::swarmkit(
            ErrorKind::Unimplemented,
            "renaming services is not supported",
        ));
    }
    Ok(())
}

/// The errors dockerd raises while converting the API spec to swarmkit's.
fn convert_checks(spec: &ServiceSpec) -> Result<()> {
    if spec.mode.members_set() > 1 {
        return Err(dockerd("must specify only one service mode".into()));
    }
    if let Some(ep) = &spec.endpoint_spec
        && !matches!(ep.mode.as_str(), "" | "vip" | "dnsrr")
    {
        return Err(dockerd(format!(
            "invalid resolution mode: {}",
            go_quote(&ep.mode)
        )));
    }
    let task = &spec.task_template;
    if let Some(rp) = &task.restart_policy
        && !matches!(rp.condition.as_str(), "" | "none" | "on-failure" | "any")
    {
        return Err(dockerd(format!(
            "invalid RestartCondition: {}",
            go_quote(&rp.condition)
        )));
    }
    if let Some(r) = &task.resources
        && r.swap_bytes.is_some()
        && r.limits.as_ref().is_none_or(|l| l.memory_bytes == 0)
    {
        return Err(dockerd(
            "memory swap provided, but no memory-limit was set".into(),
        ));
    }
    if let Some(c) = &task.container_spec {
        for m in &c.mounts {
            convert_mount(m)?;
        }
        for r in &c.configs {
            match (&r.file, &r.runtime) {
                (None, None) => return Err(dockerd("either File or Runtime should be set".into())),
                (Some(_), Some(_)) => {
                    return Err(dockerd("cannot specify both File and Runtime".into()));
                }
                _ => {}
            }
        }
    }
    for (config, _) in [
        (&spec.update_config, "update"),
        (&spec.rollback_config, "rollback"),
    ] {
        if let Some(u) = config {
            if !matches!(
                u.failure_action.as_str(),
                "" | "pause" | "continue" | "rollback"
            ) {
                return Err(dockerd(format!(
                    "unrecognized update failure action {}",
                    u.failure_action
                )));
            }
            if !matches!(u.order.as_str(), "" | "stop-first" | "start-first") {
                return Err(dockerd(format!("unrecognized update order {}", u.order)));
            }
        }
    }
    Ok(())
}

fn convert_mount(m: &Mount) -> Result<()> {
    if !matches!(
        m.type_.as_str(),
        "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image"
    ) {
        return Err(dockerd(format!(
            "invalid MountType: {}",
            go_quote(&m.type_)
        )));
    }
    if let Some(b) = &m.bind_options
        && !matches!(
            b.propagation.as_str(),
            "" | "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave"
        )
    {
        return Err(dockerd(format!(
            "invalid MountPropagation: {}",
            go_quote(&b.propagation)
        )));
    }
    Ok(())
}

fn swarmkit_checks(spec: &ServiceSpec) -> Result<()> {
    validate_annotations(&spec.annotations.name)?;
    validate_task_spec(&spec.task_template)?;
    validate_mode(spec)?;
    if spec.mode.kind().is_job() {
        if spec.update_config.is_some() {
            return Err(invalid("Jobs may not have an update config"));
        }
    } else if let Some(u) = &spec.update_config {
        validate_update(u)?;
    }
    if let Some(ep) = &spec.endpoint_spec {
        validate_endpoint(ep)?;
    }
    Ok(())
}

pub(crate) fn validate_annotations(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("meta: name must be provided"));
    }
    if !is_valid_dns_name(name) {
        return Err(invalid("name must be valid as a DNS name component"));
    }
    if name.len() > 63 {
        return Err(invalid("name must be 63 characters or fewer"));
    }
    Ok(())
}

/// swarmkit checks these with signed integers; a `uint64` past `i64::MAX`
/// is how a "negative" count arrives.
fn validate_mode(spec: &ServiceSpec) -> Result<()> {
    let m = &spec.mode;
    if let Some(r) = &m.replicated
        && r.replicas.is_some_and(|n| n > i64::MAX as u64)
    {
        return Err(invalid("Number of replicas must be non-negative"));
    }
    if let Some(j) = &m.replicated_job {
        if j.max_concurrent.is_some_and(|n| n > i64::MAX as u64) {
            return Err(invalid("Maximum concurrent jobs must not be negative"));
        }
        if j.total_completions.is_some_and(|n| n > i64::MAX as u64) {
            return Err(invalid("Total completed jobs must not be negative"));
        }
    }
    Ok(())
}

fn validate_task_spec(t: &TaskSpec) -> Result<()> {
    if let Some(r) = &t.resources {
        if let Some(l) = &r.limits {
            validate_limit(l)?;
        }
        if let Some(res) = &r.reservations {
            validate_resources(res)?;
        }
    }
    if let Some(rp) = &t.restart_policy {
        validate_restart_policy(rp)?;
    }
    if let Some(p) = &t.placement {
        constraint::parse(&p.constraints)?;
    }
    if let Some(c) = &t.container_spec {
        validate_secret_refs(c)?;
        validate_config_refs(c)?;
    }
    match t.runtime.as_str() {
        "" | "container" => {
            let Some(c) = &t.container_spec else {
                return Err(invalid("TaskSpec: missing runtime"));
            };
            validate_container_spec(c)
        }
        "plugin" if t.plugin_spec.is_some() => Ok(()),
        "plugin" => Err(dockerd("plugin spec must be set".into())),
        other => Err(dockerd(format!(
            "unsupported runtime type: {}",
            go_quote(other)
        ))),
    }
}

fn check_cpu_mem(nano_cpus: i64, memory: i64) -> Result<()> {
    if nano_cpus != 0 && nano_cpus < 1_000_000 {
        return Err(invalid(format!(
            "invalid cpu value {}: Must be at least 0.001",
            go_float_g(nano_cpus as f64 / 1e9)
        )));
    }
    if memory != 0 && memory < 4 * 1024 * 1024 {
        return Err(invalid(format!(
            "invalid memory value {memory}: Must be at least 4MiB"
        )));
    }
    Ok(())
}

fn validate_limit(l: &Limit) -> Result<()> {
    check_cpu_mem(l.nano_cpus, l.memory_bytes)
}

fn validate_resources(r: &Resources) -> Result<()> {
    check_cpu_mem(r.nano_cpus, r.memory_bytes)
}

/// Go's `%g` for the small values in resource messages.
fn go_float_g(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let s = format!("{v:e}");
        // Rust writes "5e-7", Go "5e-07".
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{v}")
    }
}

fn validate_restart_policy(rp: &RestartPolicy) -> Result<()> {
    if rp.delay.is_some_and(|d| d < 0) {
        return Err(invalid("TaskSpec: restart-delay cannot be negative"));
    }
    if rp.window.is_some_and(|w| w < 0) {
        return Err(invalid("TaskSpec: restart-window cannot be negative"));
    }
    Ok(())
}

fn validate_container_spec(c: &ContainerSpec) -> Result<()> {
    if c.image.is_empty() {
        return Err(invalid("ContainerSpec: image reference must be provided"));
    }
    if !valid_image_reference(&c.image) {
        return Err(invalid(format!(
            "ContainerSpec: {} is not a valid repository/tag",
            go_quote(&c.image)
        )));
    }
    let mut targets = HashSet::new();
    for m in &c.mounts {
        if !targets.insert(m.target.as_str()) {
            return Err(invalid(format!(
                "ContainerSpec: duplicate mount point: {}",
                m.target
            )));
        }
    }
    if let Some(h) = &c.healthcheck {
        validate_health(h)?;
    }
    Ok(())
}

fn validate_health(h: &HealthConfig) -> Result<()> {
    for (value, field) in [
        (h.interval, "Interval"),
        (h.timeout, "Timeout"),
        (h.start_period, "StartPeriod"),
        (h.start_interval, "StartInterval"),
    ] {
        if value != 0 && value < MIN_HEALTH_DURATION {
            return Err(invalid(format!(
                "ContainerSpec: {field} in HealthConfig cannot be less than 1ms"
            )));
        }
    }
    if h.retries < 0 {
        return Err(invalid(
            "ContainerSpec: Retries in HealthConfig cannot be negative",
        ));
    }
    Ok(())
}

fn validate_secret_refs(c: &ContainerSpec) -> Result<()> {
    let mut targets: HashMap<&str, &str> = HashMap::new();
    for r in &c.secrets {
        if r.secret_id.is_empty() || r.secret_name.is_empty() {
            return Err(invalid("malformed secret reference"));
        }
        let Some(file) = &r.file else {
            return Err(invalid("malformed secret reference, no target provided"));
        };
        if file.name.is_empty() {
            return Err(invalid(
                "malformed file secret reference, invalid target file name provided",
            ));
        }
        if let Some(prev) = targets.insert(&file.name, &r.secret_name) {
            return Err(invalid(format!(
                "secret references '{prev}' and '{}' have a conflicting target: '{}'",
                r.secret_name, file.name
            )));
        }
    }
    Ok(())
}

fn validate_config_refs(c: &ContainerSpec) -> Result<()> {
    let cred_spec_config = c
        .privileges
        .as_ref()
        .and_then(|p| p.credential_spec.as_ref())
        .map(|cs| cs.config.as_str())
        .unwrap_or("");
    let mut cred_spec_found = false;
    let mut targets: HashMap<&str, &str> = HashMap::new();
    for r in &c.configs {
        if r.config_id.is_empty() || r.config_name.is_empty() {
            return Err(invalid("malformed config reference"));
        }
        if r.file.is_none() && r.runtime.is_none() {
            return Err(invalid("malformed config reference, no target provided"));
        }
        if let Some(file) = &r.file {
            if file.name.is_empty() {
                return Err(invalid(
                    "malformed file config reference, invalid target file name provided",
                ));
            }
            if let Some(prev) = targets.insert(&file.name, &r.config_name) {
                return Err(invalid(format!(
                    "config references '{prev}' and '{}' have a conflicting target: '{}'",
                    r.config_name, file.name
                )));
            }
        }
        if r.runtime.is_some() && r.config_id == cred_spec_config {
            cred_spec_found = true;
        }
    }
    if !cred_spec_config.is_empty() && !cred_spec_found {
        return Err(invalid(format!(
            "CredentialSpec references config '{cred_spec_config}', but that config isn't in config references with RuntimeTarget"
        )));
    }
    Ok(())
}

fn validate_update(u: &UpdateConfig) -> Result<()> {
    if u.delay < 0 {
        return Err(invalid("TaskSpec: update-delay cannot be negative"));
    }
    if u.monitor < 0 {
        return Err(invalid("TaskSpec: update-monitor cannot be negative"));
    }
    if !(0.0..=1.0).contains(&u.max_failure_ratio) {
        return Err(invalid(
            "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1",
        ));
    }
    Ok(())
}

/// Protocol and publish mode as swarmkit stores them: unknown text falls
/// back to the zero value (tcp, ingress).
fn port_key(p: &PortConfig) -> (&str, u32) {
    let proto = match p.protocol.to_ascii_lowercase().as_str() {
        "udp" => "udp",
        "sctp" => "sctp",
        _ => "tcp",
    };
    (proto, p.published_port)
}

fn is_host_mode(p: &PortConfig) -> bool {
    p.publish_mode.eq_ignore_ascii_case("host")
}

fn validate_endpoint(ep: &EndpointSpec) -> Result<()> {
    let mut seen = HashSet::new();
    for p in &ep.ports {
        if ep.mode == "dnsrr" && !is_host_mode(p) {
            return Err(invalid(
                "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
            ));
        }
        if p.published_port == 0 {
            continue;
        }
        if !seen.insert(port_key(p)) {
            return Err(invalid("EndpointSpec: duplicate published ports provided"));
        }
    }
    Ok(())
}

/// Published ports already taken by other services: an ingress port
/// conflicts with any use of the same port, a host-mode port only with an
/// ingress one. `service_id` is the service being updated (skipped).
pub fn check_port_conflicts<'a>(
    spec: &ServiceSpec,
    service_id: &str,
    services: impl IntoIterator<Item = &'a Service>,
) -> Result<()> {
    let Some(ep) = &spec.endpoint_spec else {
        return Ok(());
    };
    let mut ingress = HashSet::new();
    let mut host = HashSet::new();
    for p in ep.ports.iter().filter(|p| p.published_port != 0) {
        if is_host_mode(p) {
            host.insert(port_key(p));
        } else {
            ingress.insert(port_key(p));
        }
    }
    if ingress.is_empty() && host.is_empty() {
        return Ok(());
    }
    for svc in services {
        if !service_id.is_empty() && svc.id == service_id {
            continue;
        }
        let spec_ports = svc.spec.endpoint_spec.iter().flat_map(|e| e.ports.iter());
        for p in spec_ports
            .chain(svc.endpoint.ports.iter())
            .filter(|p| p.published_port != 0)
        {
            let key = port_key(p);
            let name = &svc.spec.annotations.name;
            if is_host_mode(p) {
                if ingress.contains(&key) {
                    return Err(invalid(format!(
                        "port '{}' is already in use by service '{name}' ({}) as a host-published port",
                        p.published_port, svc.id
                    )));
                }
            } else if ingress.contains(&key) || host.contains(&key) {
                return Err(invalid(format!(
                    "port '{}' is already in use by service '{name}' ({}) as an ingress port",
                    p.published_port, svc.id
                )));
            }
        }
    }
    Ok(())
}

fn not_found(kind: &str, missing: &[&str]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let noun = if missing.len() == 1 {
        kind.to_string()
    } else {
        format!("{kind}s")
    };
    Err(invalid(format!("{noun} not found: {}", missing.join(", "))))
}

/// Every referenced secret must exist under the referenced id and name;
/// `lookup` gives a secret's name by id.
pub fn check_secret_references(
    spec: &ServiceSpec,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let Some(c) = &spec.task_template.container_spec else {
        return Ok(());
    };
    let missing: Vec<&str> = c
        .secrets
        .iter()
        .filter(|r| lookup(&r.secret_id).as_deref() != Some(r.secret_name.as_str()))
        .map(|r| r.secret_name.as_str())
        .collect();
    not_found("secret", &missing)
}

/// As `check_secret_references`, for configs.
pub fn check_config_references(
    spec: &ServiceSpec,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let Some(c) = &spec.task_template.container_spec else {
        return Ok(());
    };
    let missing: Vec<&str> = c
        .configs
        .iter()
        .filter(|r| lookup(&r.config_id).as_deref() != Some(r.config_name.as_str()))
        .map(|r| r.config_name.as_str())
        .collect();
    not_found("config", &missing)
}
