//! Translation of command-line options into API values: the create body of
//! `run`/`create`, filters, timestamps and image references.

use super::args::RunArgs;
use serde_json::{Map, Value, json};

/// `-e KEY` takes KEY from our environment (dropped when unset), like docker.
pub fn env_list(env: &[String], files: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("open {f}: {e}"))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            push_env(&mut out, line);
        }
    }
    for e in env {
        push_env(&mut out, e);
    }
    Ok(out)
}

fn push_env(out: &mut Vec<String>, item: &str) {
    if item.contains('=') {
        out.push(item.to_string());
    } else if let Ok(v) = std::env::var(item) {
        out.push(format!("{item}={v}"));
    }
}

fn string_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
            None => (l.to_string(), Value::String(String::new())),
        })
        .collect()
}

/// `[ip:][hostPort:]containerPort[/proto]`, with the port ranges docker allows.
fn parse_publish(
    spec: &str,
    exposed: &mut Map<String, Value>,
    bindings: &mut Map<String, Value>,
) -> Result<(), String> {
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = if addr.starts_with('[') {
        // [v6]:host:container
        let end = addr
            .find(']')
            .ok_or_else(|| format!("invalid IP address: {spec}"))?;
        let mut v = vec![&addr[1..end]];
        v.extend(addr[end + 1..].trim_start_matches(':').split(':'));
        v
    } else {
        addr.split(':').collect()
    };
    let (ip, host, cont) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(format!("invalid port format for --publish: {spec}")),
    };
    let ports = expand_range(cont).ok_or_else(|| format!("invalid containerPort: {cont}"))?;
    let hosts = if host.is_empty() {
        vec![String::new(); ports.len()]
    } else {
        let h = expand_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))?;
        if h.len() == ports.len() {
            h.iter().map(u16::to_string).collect()
        } else if ports.len() == 1 {
            vec![host.to_string()]
        } else {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {spec}"
            ));
        }
    };
    for (p, h) in ports.iter().zip(hosts) {
        let key = format!("{p}/{proto}");
        exposed.insert(key.clone(), json!({}));
        let entry = bindings.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(a) = entry {
            a.push(json!({"HostIp": ip, "HostPort": h}));
        }
    }
    Ok(())
}

fn expand_range(s: &str) -> Option<Vec<u16>> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then(|| (a..=b).collect())
        }
        None => Some(vec![s.parse().ok()?]),
    }
}

/// The body of `POST /containers/create` as the docker CLI builds it.
pub fn create_body(a: &RunArgs, image: &str, cmd: &[String]) -> Result<Value, String> {
    let attach_stdin = a.interactive && !a.detach;
    let (mut out, mut err) = (!a.detach, !a.detach);
    let mut stdin = attach_stdin;
    if !a.attach.is_empty() {
        if a.detach {
            return Err("Conflicting options: -a and -d".into());
        }
        out = false;
        err = false;
        stdin = false;
        for s in &a.attach {
            match s.to_lowercase().as_str() {
                "stdin" => stdin = true,
                "stdout" => out = true,
                "stderr" => err = true,
                other => {
                    return Err(format!(
                        "invalid argument \"{other}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                    ));
                }
            }
        }
    }
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for p in &a.publish {
        parse_publish(p, &mut exposed, &mut bindings)?;
    }
    for e in &a.expose {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        for p in
            expand_range(port).ok_or_else(|| format!("invalid range format for --expose: {e}"))?
        {
            exposed.insert(format!("{p}/{proto}"), json!({}));
        }
    }
    // Absolute paths without a source are anonymous volumes, the rest binds.
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &a.volume {
        if v.starts_with('/') && !v.contains(':') {
            volumes.insert(v.clone(), json!({}));
        } else {
            binds.push(Value::String(v.clone()));
        }
    }
    let mut labels = string_map(&a.label);
    labels.sort_keys();
    let entrypoint = a.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            json!([""])
        } else {
            json!([e])
        }
    });
    let restart = match a.restart.as_deref() {
        None | Some("") => json!({"Name": "no", "MaximumRetryCount": 0}),
        Some(r) => restart_policy(r)?,
    };
    let mut host = json!({
        "Binds": if binds.is_empty() { Value::Null } else { Value::Array(binds) },
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": a.rm,
        "Privileged": a.privileged,
        "ReadonlyRootfs": a.read_only,
        "CapAdd": if a.cap_add.is_empty() { Value::Null } else { json!(a.cap_add) },
        "CapDrop": if a.cap_drop.is_empty() { Value::Null } else { json!(a.cap_drop) },
        "ExtraHosts": if a.add_host.is_empty() { Value::Null } else { json!(a.add_host) },
        "Dns": a.dns,
    });
    // The docker CLI names the daemon's default network "default".
    let network = a.network.as_deref().unwrap_or("default");
    host["NetworkMode"] = json!(network);
    if a.publish_all {
        host["PublishAllPorts"] = json!(true);
    }
    if !a.dns_search.is_empty() {
        host["DnsSearch"] = json!(a.dns_search);
    }
    if !a.dns_option.is_empty() {
        host["DnsOptions"] = json!(a.dns_option);
    }
    if a.init {
        host["Init"] = json!(true);
    }
    super::run_opts::host_extras(a, &mut host)?;
    let mut body = json!({
        "Hostname": a.hostname.clone().unwrap_or_default(),
        "Domainname": a.domainname.clone().unwrap_or_default(),
        "User": a.process.user.clone().unwrap_or_default(),
        "AttachStdin": stdin,
        "AttachStdout": out,
        "AttachStderr": err,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": a.interactive && stdin,
        "Env": env_list(&a.process.env, &a.process.env_file)?,
        "Cmd": if cmd.is_empty() { Value::Null } else { json!(cmd) },
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": a.process.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "Labels": labels,
        "ExposedPorts": exposed,
        "HostConfig": host,
    });
    if let Some(s) = &a.stop_signal {
        body["StopSignal"] = json!(s);
    }
    if let Some(t) = a.stop_timeout {
        body["StopTimeout"] = json!(t);
    }
    if let Some(h) = super::run_opts::healthcheck(a)? {
        body["Healthcheck"] = h;
    }
    if !a.network_alias.is_empty() || a.ip.is_some() {
        let mut endpoint = json!({});
        if !a.network_alias.is_empty() {
            endpoint["Aliases"] = json!(a.network_alias);
        }
        if let Some(ip) = &a.ip {
            endpoint["IPAMConfig"] = json!({ "IPv4Address": ip });
        }
        body["NetworkingConfig"] = json!({ "EndpointsConfig": { network: endpoint } });
    }
    Ok(body)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn restart_policy(r: &str) -> Result<Value, String> {
    let (name, count) = r.split_once(':').unwrap_or((r, "0"));
    let count: i64 = count
        .parse()
        .map_err(|_| format!("invalid restart policy {r}"))?;
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

/// go-units `RAMInBytes`: "64m", "1.5g", "512MiB"-like sizes in binary units.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    gounits::ram_in_bytes(s).map_err(|e| e.to_string())
}

/// `--filter k=v` flags in the docker CLI's wire form `{"k":{"v":true}}`.
pub fn filters_json(filters: &[String]) -> Result<Option<String>, String> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut m: Map<String, Value> = Map::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
        let entry = m
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| json!({}));
        entry[v.to_string()] = json!(true);
    }
    Ok(Some(serde_json::to_string(&m).expect("map serializes")))
}

/// Go's `time.ParseDuration`, in seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    gounits::parse_duration(s).ok().map(|ns| ns as f64 / 1e9)
}

/// docker's `timetypes.GetTimestamp`: a duration before now, a unix time or
/// an RFC 3339 date, answered as "seconds.nanoseconds".
pub fn timestamp(value: &str) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    // As docker's GetTimestamp: "0" is a unix time, not a duration.
    if let Some(d) = parse_go_duration(value).filter(|_| value != "0") {
        let t = now - d;
        let secs = t.floor();
        return Ok(format!("{}.{:09}", secs as i64, ((t - secs) * 1e9) as u64));
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(value)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            use chrono::TimeZone;
            let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M"))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
                })?;
            Ok::<_, chrono::ParseError>(
                chrono::Local
                    .from_local_datetime(&naive)
                    .single()
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .unwrap_or_else(|| naive.and_utc()),
            )
        })
        .map_err(|_| format!("failed to parse value as time or duration: \"{value}\""))?;
    Ok(format!(
        "{}.{:09}",
        parsed.timestamp(),
        parsed.timestamp_subsec_nanos()
    ))
}

/// `name[:tag]` split at the tag colon (not a registry port).
pub fn split_tag(r: &str) -> (&str, Option<&str>) {
    let base = r.split('@').next().unwrap_or(r);
    match base.rfind(':') {
        Some(i) if !base[i..].contains('/') => (&base[..i], Some(&base[i + 1..])),
        _ => (base, None),
    }
}

/// The fully qualified repository name docker sends (`docker.io/library/x`).
pub fn normalize_name(name: &str) -> String {
    match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name.to_string()
        }
        Some(_) => format!("docker.io/{name}"),
    }
}

/// `busybox` → `busybox:latest`, as docker prints references.
pub fn familiar_tagged(r: &str) -> String {
    if r.contains('@') {
        return r.to_string();
    }
    match split_tag(r) {
        (_, Some(_)) => r.to_string(),
        (n, None) => format!("{n}:latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let (mut e, mut b) = (Map::new(), Map::new());
        parse_publish("127.0.0.1:8080:80/udp", &mut e, &mut b).unwrap();
        parse_publish("9000-9001:90-91", &mut e, &mut b).unwrap();
        parse_publish("443", &mut e, &mut b).unwrap();
        assert_eq!(
            b["80/udp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(b["91/tcp"], json!([{"HostIp": "", "HostPort": "9001"}]));
        assert_eq!(b["443/tcp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert!(e.contains_key("90/tcp"));
    }

    #[test]
    fn filters_use_docker_wire_form() {
        let f = filters_json(&["name=a".into(), "name=b".into(), "status=exited".into()]).unwrap();
        let v: Value = serde_json::from_str(&f.unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"name": {"a": true, "b": true}, "status": {"exited": true}})
        );
    }

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("10x"), None);
        assert_eq!(timestamp("1700000000.5").unwrap(), "1700000000.5");
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z").unwrap(),
            "1700000000.000000000"
        );
        assert!(timestamp("yesterday").is_err());
    }

    #[test]
    fn references() {
        assert_eq!(
            split_tag("localhost:5000/a:b"),
            ("localhost:5000/a", Some("b"))
        );
        assert_eq!(split_tag("localhost:5000/a"), ("localhost:5000/a", None));
        assert_eq!(normalize_name("busybox"), "docker.io/library/busybox");
        assert_eq!(normalize_name("me/app"), "docker.io/me/app");
        assert_eq!(familiar_tagged("busybox"), "busybox:latest");
    }

    #[test]
    fn sizes_are_binary() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert!(ram_in_bytes("12q").is_err());
    }
}
