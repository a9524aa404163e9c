//! The pieces of a service's conversion, each compose form to its API
//! shape: labels and `KEY=value` pairs, durations, commands, healthchecks,
//! resources, update configs, ports, mounts, secret and config references.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ComposeError;
use super::NAMESPACE;
use super::model::{
    FileRef, Healthcheck, MapOrList, Port, Resource, Scalar, ServiceVolume, StrOrList, UpdateConfig,
};

pub(super) fn bad(msg: impl Into<String>) -> ComposeError {
    ComposeError(msg.into())
}

pub(super) fn labels(
    stack: &str,
    extra: Option<&MapOrList>,
    path: &str,
) -> Result<Map<String, Value>, ComposeError> {
    let mut out: Map<String, Value> = pairs(extra, path)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.unwrap_or_default())))
        .collect();
    out.insert(NAMESPACE.into(), json!(stack));
    Ok(out)
}

/// `KEY: value` or `KEY=value` entries; a value may be absent (`KEY`).
pub(super) fn pairs(
    m: Option<&MapOrList>,
    path: &str,
) -> Result<Vec<(String, Option<String>)>, ComposeError> {
    let Some(m) = m else {
        return Ok(Vec::new());
    };
    match m {
        MapOrList::List(l) => Ok(l
            .iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (e.clone(), None),
            })
            .collect()),
        MapOrList::Map(m) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_yaml::Value::Null => None,
                    serde_yaml::Value::String(s) => Some(s.clone()),
                    serde_yaml::Value::Bool(b) => Some(b.to_string()),
                    serde_yaml::Value::Number(n) => Some(n.to_string()),
                    _ => {
                        return Err(bad(format!(
                            "{path}.{k} must be a string, number, boolean or null"
                        )));
                    }
                };
                Ok((k.clone(), s))
            })
            .collect(),
    }
}

pub(super) fn duration(v: &Option<String>, path: &str) -> Result<Option<i64>, ComposeError> {
    v.as_deref()
        .map(|s| gounits::parse_duration(s).map_err(|e| bad(format!("{path}: {e}"))))
        .transpose()
}

/// A command: a list as it is, a string split as a shell would (the CLI's
/// `shellwords`).
pub(super) fn command(
    c: &Option<StrOrList>,
    path: &str,
) -> Result<Option<Vec<String>>, ComposeError> {
    match c {
        None => Ok(None),
        Some(StrOrList::List(l)) => Ok(Some(l.clone())),
        Some(StrOrList::Str(s)) => shell_words(s)
            .map(Some)
            .ok_or_else(|| bad(format!("{path}: unterminated quote in {s:?}"))),
    }
}

fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

pub(super) fn healthcheck(hc: &Healthcheck, path: &str) -> Result<Value, ComposeError> {
    if hc.disable == Some(true) {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let mut out = json!({});
    match &hc.test {
        None => {}
        Some(StrOrList::Str(s)) => out["Test"] = json!(["CMD-SHELL", s]),
        Some(StrOrList::List(l)) => {
            if !matches!(
                l.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                return Err(bad(format!(
                    "{path}.test: a list starts with CMD, CMD-SHELL or NONE"
                )));
            }
            out["Test"] = json!(l);
        }
    }
    for (key, v, name) in [
        ("Interval", &hc.interval, "interval"),
        ("Timeout", &hc.timeout, "timeout"),
        ("StartPeriod", &hc.start_period, "start_period"),
        ("StartInterval", &hc.start_interval, "start_interval"),
    ] {
        if let Some(d) = duration(v, &format!("{path}.{name}"))? {
            out[key] = json!(d);
        }
    }
    if let Some(r) = hc.retries {
        out["Retries"] = json!(r);
    }
    Ok(out)
}

pub(super) fn resource(r: &Resource, path: &str, limits: bool) -> Result<Value, ComposeError> {
    let mut out = json!({});
    if let Some(c) = &r.cpus {
        let cpus = match c {
            serde_yaml::Value::Number(n) => n.as_f64(),
            serde_yaml::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|c| c.is_finite() && *c >= 0.0)
        .ok_or_else(|| {
            bad(format!(
                "{path}.cpus: {c:?} is not a number of CPUs, e.g. \"0.5\""
            ))
        })?;
        out["NanoCPUs"] = json!((cpus * 1e9).round() as i64);
    }
    if let Some(m) = &r.memory {
        let bytes = match m {
            serde_yaml::Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
            serde_yaml::Value::String(s) => gounits::ram_in_bytes(s).ok(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("{path}.memory: {m:?} is not a size, e.g. 512M")))?;
        out["MemoryBytes"] = json!(bytes);
    }
    if let Some(p) = r.pids {
        if !limits {
            return Err(bad(format!("{path}.pids: only a limit")));
        }
        out["Pids"] = json!(p);
    }
    Ok(out)
}

pub(super) fn update_config(u: &UpdateConfig, path: &str) -> Result<Value, ComposeError> {
    let mut out = json!({ "Parallelism": u.parallelism.unwrap_or(1) });
    if let Some(d) = duration(&u.delay, &format!("{path}.delay"))? {
        out["Delay"] = json!(d);
    }
    if let Some(d) = duration(&u.monitor, &format!("{path}.monitor"))? {
        out["Monitor"] = json!(d);
    }
    if let Some(a) = &u.failure_action {
        if !["continue", "pause", "rollback"].contains(&a.as_str()) {
            return Err(bad(format!(
                "{path}.failure_action: unknown action {a:?} (continue, pause or rollback)"
            )));
        }
        out["FailureAction"] = json!(a);
    }
    if let Some(r) = u.max_failure_ratio {
        out["MaxFailureRatio"] = json!(r);
    }
    if let Some(o) = &u.order {
        if !["stop-first", "start-first"].contains(&o.as_str()) {
            return Err(bad(format!(
                "{path}.order: unknown order {o:?} (stop-first or start-first)"
            )));
        }
        out["Order"] = json!(o);
    }
    Ok(out)
}

/// Compose's port forms to `PortConfig`s (a range gives several).
pub(super) fn port(p: &Port, path: &str) -> Result<Vec<Value>, ComposeError> {
    let config = |target: u32, published: Option<u32>, protocol: &str, mode: &str| {
        let mut v = json!({"TargetPort": target, "Protocol": protocol, "PublishMode": mode});
        if let Some(p) = published {
            v["PublishedPort"] = json!(p);
        }
        v
    };
    let check_proto = |proto: &str| -> Result<(), ComposeError> {
        if ["tcp", "udp", "sctp"].contains(&proto) {
            Ok(())
        } else {
            Err(bad(format!(
                "{path}: unknown protocol {proto:?} (tcp, udp or sctp)"
            )))
        }
    };
    match p {
        Port::Long(l) => {
            let proto = l.protocol.as_deref().unwrap_or("tcp");
            check_proto(proto)?;
            let mode = l.mode.as_deref().unwrap_or("ingress");
            if !["ingress", "host"].contains(&mode) {
                return Err(bad(format!(
                    "{path}.mode: unknown mode {mode:?} (ingress or host)"
                )));
            }
            let published = match &l.published {
                None => None,
                Some(Scalar::Num(n)) => Some(
                    u32::try_from(*n)
                        .ok()
                        .filter(|n| *n <= 65535)
                        .ok_or_else(|| bad(format!("{path}.published: {n} is not a port")))?,
                ),
                Some(Scalar::Str(s)) => Some(parse_port(s, &format!("{path}.published"))?),
            };
            Ok(vec![config(u32::from(l.target), published, proto, mode)])
        }
        Port::Short(s) => {
            let s = match s {
                Scalar::Num(n) => n.to_string(),
                Scalar::Str(s) => s.clone(),
            };
            let (spec, proto) = s.split_once('/').unwrap_or((&s, "tcp"));
            check_proto(proto)?;
            let parts: Vec<&str> = spec.split(':').collect();
            let (published, target) = match parts.as_slice() {
                [t] => (None, *t),
                [p, t] => (Some(*p), *t),
                [_, _, _] => {
                    return Err(bad(format!(
                        "{path}: {s:?}: a host IP is not supported by swarm services (ingress publishes on every node)"
                    )));
                }
                _ => {
                    return Err(bad(format!(
                        "{path}: {s:?} is not [PUBLISHED:]TARGET[/PROTOCOL]"
                    )));
                }
            };
            let targets = port_range(target, path)?;
            let published = published.map(|p| port_range(p, path)).transpose()?;
            if let Some(p) = &published
                && p.len() != targets.len()
            {
                return Err(bad(format!("{path}: {s:?}: the ranges differ in length")));
            }
            Ok(targets
                .iter()
                .enumerate()
                .map(|(i, t)| config(*t, published.as_ref().map(|p| p[i]), proto, "ingress"))
                .collect())
        }
    }
}

fn parse_port(s: &str, path: &str) -> Result<u32, ComposeError> {
    s.parse::<u32>()
        .ok()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| bad(format!("{path}: {s:?} is not a port (1-65535)")))
}

fn port_range(s: &str, path: &str) -> Result<Vec<u32>, ComposeError> {
    match s.split_once('-') {
        None => Ok(vec![parse_port(s, path)?]),
        Some((a, b)) => {
            let (a, b) = (parse_port(a, path)?, parse_port(b, path)?);
            if a > b {
                return Err(bad(format!("{path}: {s:?} is an empty range")));
            }
            Ok((a..=b).collect())
        }
    }
}

/// A service's volume to a `Mount`.
pub(super) fn mount(
    v: &ServiceVolume,
    path: &str,
    volumes: &BTreeMap<String, (String, Option<Value>)>,
) -> Result<Value, ComposeError> {
    let (kind, source, target, read_only, nocopy) = match v {
        ServiceVolume::Short(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [t] => (None, *t, None),
                [s, t] => (Some(*s), *t, None),
                [s, t, m] => (Some(*s), *t, Some(*m)),
                _ => return Err(bad(format!("{path}: {s:?} is not [SOURCE:]TARGET[:MODE]"))),
            };
            let read_only = match mode {
                None | Some("rw") => false,
                Some("ro") => true,
                Some(m) => return Err(bad(format!("{path}: unknown mode {m:?} (ro or rw)"))),
            };
            let kind = match source {
                Some(s) if s.starts_with(['/', '.', '~']) => "bind",
                _ => "volume",
            };
            (
                kind.to_string(),
                source.map(str::to_string),
                target.to_string(),
                read_only,
                false,
            )
        }
        ServiceVolume::Long(l) => (
            l.kind.clone(),
            l.source.clone(),
            l.target.clone(),
            l.read_only.unwrap_or(false),
            l.volume.as_ref().and_then(|v| v.nocopy).unwrap_or(false),
        ),
    };
    if !target.starts_with('/') {
        return Err(bad(format!(
            "{path}: the target {target:?} is not an absolute path"
        )));
    }
    let mut m = json!({"Type": kind, "Target": target, "ReadOnly": read_only});
    match kind.as_str() {
        "bind" => {
            let src = source.ok_or_else(|| bad(format!("{path}: a bind mount needs a source")))?;
            if !src.starts_with('/') {
                return Err(bad(format!(
                    "{path}: the relative path {src:?} cannot be resolved from a browser: give an absolute path on the nodes"
                )));
            }
            m["Source"] = json!(src);
        }
        "volume" => {
            if let Some(src) = source {
                let (real, opts) = volumes.get(&src).ok_or_else(|| {
                    bad(format!(
                        "{path}: undefined volume {src:?}: declare it under the top-level volumes:"
                    ))
                })?;
                m["Source"] = json!(real);
                let mut opts = opts.clone().unwrap_or_else(|| json!({}));
                if nocopy {
                    opts["NoCopy"] = json!(true);
                }
                m["VolumeOptions"] = opts;
            }
        }
        "tmpfs" => {}
        other => {
            return Err(bad(format!(
                "{path}.type: unknown type {other:?} (volume, bind or tmpfs)"
            )));
        }
    }
    Ok(m)
}

/// A service's secrets or configs to `SecretReference`/`ConfigReference`s.
pub(super) fn file_refs(
    refs: &[FileRef],
    kind: &str,
    path: &str,
    known: &BTreeMap<String, String>,
    dir: &str,
) -> Result<Vec<Value>, ComposeError> {
    let key = if kind == "secrets" {
        "SecretName"
    } else {
        "ConfigName"
    };
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let (source, target, uid, gid, mode) = match r {
                FileRef::Short(s) => (s.clone(), None, None, None, None),
                FileRef::Long(l) => (
                    l.source.clone(),
                    l.target.clone(),
                    l.uid.clone(),
                    l.gid.clone(),
                    l.mode
                        .as_ref()
                        .map(|m| file_mode(m, &format!("{path}.{kind}[{i}].mode")))
                        .transpose()?,
                ),
            };
            let real = known.get(&source).ok_or_else(|| {
                bad(format!(
                    "{path}.{kind}[{i}]: undefined {} {source:?}: declare it under the top-level {kind}:",
                    &kind[..kind.len() - 1]
                ))
            })?;
            let target = target.unwrap_or_else(|| source.clone());
            let file = if target.starts_with('/') {
                target
            } else {
                format!("{dir}{target}")
            };
            Ok(json!({
                key: real,
                "File": {
                    "Name": file,
                    "UID": uid.unwrap_or_else(|| "0".into()),
                    "GID": gid.unwrap_or_else(|| "0".into()),
                    "Mode": mode.unwrap_or(0o444),
                },
            }))
        })
        .collect()
}

/// A file mode: YAML 1.1 reads `0440` as octal (the CLI's loader does); a
/// plain number is taken as it is.
fn file_mode(m: &Scalar, path: &str) -> Result<u32, ComposeError> {
    match m {
        Scalar::Num(n) => u32::try_from(*n).map_err(|_| bad(format!("{path}: {n} is not a mode"))),
        Scalar::Str(s) => {
            let digits = s
                .strip_prefix("0o")
                .or_else(|| s.strip_prefix('0'))
                .unwrap_or(s);
            u32::from_str_radix(digits, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| bad(format!("{path}: {s:?} is not an octal mode, e.g. 0440")))
        }
    }
}
