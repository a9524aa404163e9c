//! `run`/`create` flags for resources, mounts, security and health checks,
//! translated into HostConfig and Healthcheck as the docker CLI sends them.

use super::args::{Resources, RunArgs};
use super::opts::{parse_go_duration, ram_in_bytes};
use serde_json::{Map, Value, json};

/// The HostConfig fields of the resource flags `run`, `create` and `update`
/// share, in docker's units.
pub fn resources(r: &Resources) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    if let Some(m) = &r.memory {
        out.insert("Memory".into(), json!(ram_in_bytes(m)?));
    }
    if let Some(s) = &r.memory_swap {
        let v = if s == "-1" { -1 } else { ram_in_bytes(s)? };
        out.insert("MemorySwap".into(), json!(v));
    }
    if let Some(m) = &r.memory_reservation {
        out.insert("MemoryReservation".into(), json!(ram_in_bytes(m)?));
    }
    if let Some(c) = r.cpus {
        out.insert("NanoCpus".into(), json!((c * 1e9).round() as i64));
    }
    for (k, v) in [
        ("CpuShares", r.cpu_shares),
        ("CpuPeriod", r.cpu_period),
        ("CpuQuota", r.cpu_quota),
        ("PidsLimit", r.pids_limit),
    ] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [
        ("CpusetCpus", &r.cpuset_cpus),
        ("CpusetMems", &r.cpuset_mems),
    ] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    Ok(out)
}

/// Adds the resource, mount and security fields of `a` to a HostConfig.
pub fn host_extras(a: &RunArgs, host: &mut Value) -> Result<(), String> {
    let mut set = |k: &str, v: Value| {
        host[k] = v;
    };
    for (k, v) in resources(&a.resources)? {
        set(&k, v);
    }
    if let Some(s) = a.memory_swappiness {
        set("MemorySwappiness", json!(s));
    }
    if a.oom_kill_disable {
        set("OomKillDisable", json!(true));
    }
    if let Some(r) = &a.runtime {
        set("Runtime", json!(r));
    }
    if let Some(s) = &a.shm_size {
        set("ShmSize", json!(ram_in_bytes(s)?));
    }
    if !a.mount.is_empty() {
        let mounts = a
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<Vec<_>, _>>()?;
        set("Mounts", Value::Array(mounts));
    }
    if !a.tmpfs.is_empty() {
        let mut t = Map::new();
        for spec in &a.tmpfs {
            let (path, o) = spec.split_once(':').unwrap_or((spec, ""));
            t.insert(path.to_string(), json!(o));
        }
        set("Tmpfs", Value::Object(t));
    }
    if !a.security_opt.is_empty() {
        let opts = a
            .security_opt
            .iter()
            .map(|o| security_opt(o))
            .collect::<Result<Vec<_>, _>>()?;
        set("SecurityOpt", json!(opts));
    }
    if !a.ulimit.is_empty() {
        let u = a
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<Vec<_>, _>>()?;
        set("Ulimits", Value::Array(u));
    }
    if !a.device.is_empty() {
        let d = a
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<Vec<_>, _>>()?;
        set("Devices", Value::Array(d));
    }
    if !a.sysctl.is_empty() {
        let mut m = Map::new();
        for s in &a.sysctl {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                format!(
                    "invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not allowed"
                )
            })?;
            m.insert(k.to_string(), json!(v));
        }
        set("Sysctls", Value::Object(m));
    }
    if !a.group_add.is_empty() {
        set("GroupAdd", json!(a.group_add));
    }
    Ok(())
}

fn bool_value(v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_lowercase).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(o) => Err(format!("invalid value for readonly: {o}")),
    }
}

/// docker's `--mount` CSV: `type=bind,source=/a,target=/b,readonly`.
pub fn parse_mount(spec: &str) -> Result<Value, String> {
    let bad = |m: &str| format!("invalid argument \"{spec}\" for \"--mount\" flag: {m}");
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut vol_labels = Map::new();
    let mut drv_opts = Map::new();
    let mut tmpfs = Map::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v)),
            None => (field.trim().to_lowercase(), None),
        };
        let val =
            || v.ok_or_else(|| bad(&format!("invalid field '{field}' must be a key=value pair")));
        match k.as_str() {
            "type" => kind = val()?.to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(val()?));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val()?));
            }
            "readonly" | "ro" => {
                m.insert(
                    "ReadOnly".into(),
                    json!(bool_value(v).map_err(|e| bad(&e))?),
                );
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val()?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val()?));
            }
            "bind-nonrecursive" => {
                bind.insert(
                    "NonRecursive".into(),
                    json!(bool_value(v).map_err(|e| bad(&e))?),
                );
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(bool_value(v).map_err(|e| bad(&e))?));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(val()?));
            }
            "volume-label" => {
                let (lk, lv) = val()?.split_once('=').unwrap_or((val()?, ""));
                vol_labels.insert(lk.into(), json!(lv));
            }
            "volume-driver" => {
                vol.insert("DriverConfig".into(), json!({"Name": val()?}));
            }
            "volume-opt" => {
                let (ok, ov) = val()?.split_once('=').unwrap_or((val()?, ""));
                drv_opts.insert(ok.into(), json!(ov));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(ram_in_bytes(val()?)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(val()?, 8).map_err(|_| bad("invalid tmpfs-mode"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(bad(&format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    if !m.contains_key("Target") {
        return Err(bad("target is required"));
    }
    if !vol_labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(vol_labels));
    }
    if !drv_opts.is_empty() {
        let dc = vol
            .entry("DriverConfig")
            .or_insert_with(|| json!({"Name": ""}));
        dc["Options"] = Value::Object(drv_opts);
    }
    let mut out = Map::new();
    out.insert("Type".into(), json!(kind));
    out.extend(m);
    match kind.as_str() {
        "bind" if !bind.is_empty() => {
            out.insert("BindOptions".into(), Value::Object(bind));
        }
        "volume" if !vol.is_empty() => {
            out.insert("VolumeOptions".into(), Value::Object(vol));
        }
        "tmpfs" if !tmpfs.is_empty() => {
            out.insert("TmpfsOptions".into(), Value::Object(tmpfs));
        }
        "bind" | "volume" | "tmpfs" => {}
        other if !bind.is_empty() || !vol.is_empty() || !tmpfs.is_empty() => {
            return Err(bad(&format!("options do not apply to mount type {other}")));
        }
        _ => {}
    }
    Ok(Value::Object(out))
}

/// `seccomp=FILE` travels as the profile's JSON, as the docker CLI sends it.
fn security_opt(o: &str) -> Result<String, String> {
    if let Some(path) = o.strip_prefix("seccomp=")
        && path != "unconfined"
    {
        let text = std::fs::read(path)
            .map_err(|e| format!("opening seccomp profile ({path}) failed: {e}"))?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| format!("compacting json for seccomp profile ({path}) failed: {e}"))?;
        return Ok(format!("seccomp={v}"));
    }
    Ok(o.to_string())
}

/// `name=soft[:hard]`.
fn parse_ulimit(u: &str) -> Result<Value, String> {
    let bad =
        || format!("invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}");
    let (name, vals) = u.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let soft: i64 = soft.parse().map_err(|_| bad())?;
    let hard: i64 = hard.parse().map_err(|_| bad())?;
    if soft > hard {
        return Err(format!(
            "invalid argument \"{u}\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `host[:container][:perms]`.
fn parse_device(d: &str) -> Result<Value, String> {
    let is_perms = |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = d.split(':').collect();
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => {
            return Err(format!(
                "invalid argument \"{d}\" for \"--device\" flag: invalid device specification: {d}"
            ));
        }
    };
    Ok(json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms}))
}

fn duration_ns(flag: &str, v: &Option<String>) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(s) => {
            let secs = parse_go_duration(s).ok_or_else(|| {
                format!(
                    "invalid argument \"{s}\" for \"--{flag}\" flag: time: invalid duration \"{s}\""
                )
            })?;
            Ok((secs * 1e9).round() as i64)
        }
    }
}

/// The container's Healthcheck from `--health-*`, `None` when none is given.
pub fn healthcheck(a: &RunArgs) -> Result<Option<Value>, String> {
    let any = a.health_cmd.is_some()
        || a.health_interval.is_some()
        || a.health_timeout.is_some()
        || a.health_start_period.is_some()
        || a.health_start_interval.is_some()
        || a.health_retries.is_some();
    if a.no_healthcheck {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any {
        return Ok(None);
    }
    let test = match a.health_cmd.as_deref() {
        Some(c) if !c.is_empty() => json!(["CMD-SHELL", c]),
        _ => Value::Null,
    };
    let interval = duration_ns("health-interval", &a.health_interval)?;
    let timeout = duration_ns("health-timeout", &a.health_timeout)?;
    let start = duration_ns("health-start-period", &a.health_start_period)?;
    let start_interval = duration_ns("health-start-interval", &a.health_start_interval)?;
    let retries = a.health_retries.unwrap_or(0);
    for (name, v) in [
        ("--health-interval", interval),
        ("--health-timeout", timeout),
        ("--health-start-period", start),
        ("--health-start-interval", start_interval),
        ("--health-retries", retries),
    ] {
        if v < 0 {
            return Err(format!("{name} cannot be negative"));
        }
    }
    // docker's HealthConfig omits empty fields.
    let mut h = Map::new();
    if !test.is_null() {
        h.insert("Test".into(), test);
    }
    for (k, v) in [
        ("Interval", interval),
        ("Timeout", timeout),
        ("StartPeriod", start),
        ("StartInterval", start_interval),
        ("Retries", retries),
    ] {
        if v != 0 {
            h.insert(k.into(), json!(v));
        }
    }
    Ok(Some(Value::Object(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_ulimits_devices() {
        assert_eq!(
            parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap(),
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rshared"}})
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}})
        );
        assert!(parse_mount("type=bind,src=/a").is_err());
        assert_eq!(
            parse_ulimit("nofile=100:200").unwrap(),
            json!({"Name": "nofile", "Hard": 200, "Soft": 100})
        );
        assert!(parse_ulimit("nofile=300:200").is_err());
        assert_eq!(
            parse_device("/dev/null:/dev/n:r").unwrap(),
            json!({"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "r"})
        );
        assert_eq!(
            parse_device("/dev/fuse:rw").unwrap()["PathInContainer"],
            "/dev/fuse"
        );
    }
}
