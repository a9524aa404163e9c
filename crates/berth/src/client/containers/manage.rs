//! Container management verbs: pause, unpause, update, rename, attach, top,
//! stats, port, diff and prune.

use super::super::args::{
    AttachArgs, Containers, DiffArgs, PortArgs, PruneArgs, RenameArgs, StatsArgs, TopArgs,
    UpdateArgs,
};
use super::super::connect::{Client, q};
use super::super::format::{self, Val};
use super::super::{CmdResult, Failure, opts, prompt, run_opts, stream};
use super::run::{attach_path, finish_wait, register_wait};
use super::{each, print_rows};
use hyper::Method;
use serde_json::Value;

pub async fn pause(client: &Client, a: Containers, verb: &str) -> CmdResult {
    each(client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/{verb}")
    })
    .await
}

pub async fn update(client: &Client, a: UpdateArgs) -> CmdResult {
    let mut body = run_opts::resources(&a.resources).map_err(|e| Failure::new(125, e))?;
    if let Some(r) = &a.restart {
        body.insert(
            "RestartPolicy".into(),
            opts::restart_policy(r).map_err(|e| Failure::new(125, e))?,
        );
    }
    if body.is_empty() {
        return Err(Failure::new(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    let mut code = 0;
    for c in &a.containers {
        match client
            .post_json(&format!("/containers/{}/update", q(c)), Some(&body))
            .await
        {
            Ok(v) => {
                if let Some(ws) = v.get("Warnings").and_then(Value::as_array) {
                    for w in ws.iter().filter_map(Value::as_str) {
                        eprintln!("{w}");
                    }
                }
                outln!("{c}");
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn rename(client: &Client, a: RenameArgs) -> CmdResult {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(Failure::new(1, "Error: new name cannot be blank"));
    }
    client
        .call(
            Method::POST,
            &format!("/containers/{}/rename?name={}", q(&a.container), q(new)),
            None,
        )
        .await
        .map_err(|e| {
            Failure::new(
                1,
                format!(
                    "{e}\nError: failed to rename container named {}",
                    a.container
                ),
            )
        })?;
    Ok(0)
}

pub async fn attach(client: &Client, a: AttachArgs) -> CmdResult {
    let inspect = client
        .get_json(&format!("/containers/{}/json", q(&a.container)))
        .await?;
    let state = |k: &str| {
        inspect
            .pointer(&format!("/State/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if !state("Running") {
        return Err(Failure::new(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state("Paused") {
        return Err(Failure::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state("Restarting") {
        return Err(Failure::new(
            1,
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    let id = inspect
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    let cfg = |k: &str| {
        inspect
            .pointer(&format!("/Config/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let tty = cfg("Tty");
    let stdin = cfg("OpenStdin") && !a.no_stdin;
    if stdin && tty && !stream::is_terminal(0) {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    let mut path = attach_path(&id, stdin, true, true);
    if let Some(k) = &a.detach_keys {
        path.push_str(&format!("&detachKeys={}", q(k)));
    }
    let raw = if tty && stdin {
        stream::RawTerminal::enable(0)
    } else {
        None
    };
    let io = client.hijack(&path, None).await?;
    let waiter = register_wait(client, &id, "").await;
    let proxy = (a.sig_proxy && !tty).then(|| stream::proxy_signals(client.clone(), id.clone()));
    let resize = if tty {
        stream::follow_resize(client.clone(), format!("/containers/{id}"))
    } else {
        None
    };
    let stdin_ended = stream::pump(io, stdin, tty).await;
    drop(raw);
    for t in [proxy, resize].into_iter().flatten() {
        t.abort();
    }
    // As docker, the end of our input ends the session and the exit status
    // is awaited; a stream ending on its own while the container runs on
    // was a detach (the daemon saw the detach keys).
    if stdin_ended {
        return Ok(finish_wait(client, &id, waiter).await);
    }
    // The output also ends when the container exits, a moment before the
    // daemon has recorded the exit: give the exit that moment before
    // calling it a detach.
    let mut waiter = waiter;
    match tokio::time::timeout(std::time::Duration::from_secs(2), &mut waiter).await {
        Ok(Ok(Ok(code))) => Ok(code),
        Ok(_) => Ok(client
            .get_json(&format!("/containers/{id}/json"))
            .await
            .ok()
            .and_then(|v| v.pointer("/State/ExitCode").and_then(Value::as_i64))
            .unwrap_or(125) as i32),
        Err(_) => {
            waiter.abort();
            Ok(0)
        }
    }
}

pub async fn top(client: &Client, a: TopArgs) -> CmdResult {
    let mut path = format!("/containers/{}/top", q(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", q(&a.ps_args.join(" "))));
    }
    let v = client.get_json(&path).await?;
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(&v["Titles"]).join("\t");
    text.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        text.push_str(&strs(p).join("\t"));
        text.push('\n');
    }
    out!("{}", format::tabwrite(&text, 20, 3));
    Ok(0)
}

/// docker's `calculateCPUPercentUnix`.
fn cpu_percent(v: &Value) -> f64 {
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let cpu_delta =
        f("/cpu_stats/cpu_usage/total_usage") - f("/precpu_stats/cpu_usage/total_usage");
    let sys_delta = f("/cpu_stats/system_cpu_usage") - f("/precpu_stats/system_cpu_usage");
    let mut online = f("/cpu_stats/online_cpus");
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache that could be dropped: the rule
/// the daemon's `container_memory_working_set_bytes` uses too.
fn mem_usage(v: &Value) -> f64 {
    let usage = v
        .pointer("/memory_stats/usage")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let stat: std::collections::BTreeMap<String, u64> = v
        .pointer("/memory_stats/stats")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    runtime::cgstats::working_set(usage, &stat) as f64
}

fn stats_row(v: &Value, given: &str, no_trunc: bool) -> Val {
    let id = v.get("id").and_then(Value::as_str).unwrap_or("");
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/');
    let mem = mem_usage(v);
    let limit = v
        .pointer("/memory_stats/limit")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = v.get("networks").and_then(Value::as_object) {
        for n in nets.values() {
            rx += n.get("rx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
            tx += n.get("tx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = e.get("value").and_then(Value::as_f64).unwrap_or(0.0);
        match e
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            .as_deref()
        {
            Some("read") => rd += n,
            Some("write") => wr += n,
            _ => {}
        }
    }
    let pids = v
        .pointer("/pids_stats/current")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let hs = |x: f64| format::human_size(x, 3);
    Val::Obj(vec![
        (
            "BlockIO".into(),
            Val::Str(format!("{} / {}", hs(rd), hs(wr))),
        ),
        (
            "CPUPerc".into(),
            Val::Str(format!("{:.2}%", cpu_percent(v))),
        ),
        ("Container".into(), Val::str(given)),
        (
            "ID".into(),
            Val::Str(if no_trunc {
                id.to_string()
            } else {
                id.chars().take(12).collect()
            }),
        ),
        ("MemPerc".into(), Val::Str(format!("{mem_perc:.2}%"))),
        (
            "MemUsage".into(),
            Val::Str(format!(
                "{} / {}",
                format::human_size_binary(mem),
                format::human_size_binary(limit)
            )),
        ),
        ("Name".into(), Val::str(name)),
        ("NetIO".into(), Val::Str(format!("{} / {}", hs(rx), hs(tx)))),
        ("PIDs".into(), Val::Str(pids.to_string())),
    ])
}

fn stats_header() -> Val {
    Val::Obj(
        [
            ("BlockIO", "BLOCK I/O"),
            ("CPUPerc", "CPU %"),
            ("Container", "CONTAINER"),
            ("ID", "CONTAINER ID"),
            ("MemPerc", "MEM %"),
            ("MemUsage", "MEM USAGE / LIMIT"),
            ("Name", "NAME"),
            ("NetIO", "NET I/O"),
            ("PIDs", "PIDS"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    )
}

/// One sample of a container, or its zero row when it is not running.
async fn sample(client: &Client, c: &str) -> Result<Value, Failure> {
    let v = client
        .get_json(&format!("/containers/{}/stats?stream=0", q(c)))
        .await?;
    Ok(v)
}

pub async fn stats(client: &Client, a: StatsArgs) -> CmdResult {
    let named = !a.containers.is_empty();
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".to_string(),
        Some("json") => "{{json .}}".to_string(),
        Some(f) => f.to_string(),
    };
    loop {
        let targets: Vec<String> = if named {
            a.containers.clone()
        } else {
            let list = client
                .get_json(&format!(
                    "/containers/json{}",
                    if a.all { "?all=1" } else { "" }
                ))
                .await?;
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("Id").and_then(Value::as_str))
                .map(|s| s.chars().take(12).collect())
                .collect()
        };
        let samples =
            futures_util::future::join_all(targets.iter().map(|c| sample(client, c))).await;
        let mut rows = Vec::new();
        let mut code = 0;
        for (c, s) in targets.iter().zip(samples) {
            match s {
                Ok(v) => rows.push(stats_row(&v, c, a.no_trunc)),
                Err(f) if named => {
                    if let Some(m) = f.message {
                        eprintln!("{m}");
                    }
                    code = 1;
                }
                Err(_) => {}
            }
        }
        if !a.no_stream {
            // docker redraws the table in place.
            out!("\x1b[2J\x1b[H");
        }
        print_rows(&fmt, &rows, &stats_header())?;
        if a.no_stream {
            return Ok(code);
        }
        if named && rows.is_empty() {
            return Ok(code);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Go's `sortorder.NaturalLess`: digit runs compare as numbers.
pub fn natural_less(a: &str, b: &str) -> bool {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for ch in s.chars() {
            let d = ch.is_ascii_digit();
            match out.last_mut() {
                Some((ld, t)) if *ld == d => t.push(ch),
                _ => out.push((d, ch.to_string())),
            }
        }
        out
    };
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, ta), (db, tb)) in ca.iter().zip(cb.iter()) {
        if *da && *db {
            let (na, nb) = (ta.trim_start_matches('0'), tb.trim_start_matches('0'));
            if na.len() != nb.len() {
                return na.len() < nb.len();
            }
            if na != nb {
                return na < nb;
            }
        } else if ta != tb {
            return ta < tb;
        }
    }
    ca.len() < cb.len()
}

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

pub async fn port(client: &Client, a: PortArgs) -> CmdResult {
    let v = client
        .get_json(&format!("/containers/{}/json", q(&a.container)))
        .await?;
    let ports = v
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let frontends = |k: &str| -> Vec<String> {
        ports
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| {
                join_host_port(
                    f.get("HostIp").and_then(Value::as_str).unwrap_or(""),
                    f.get("HostPort").and_then(Value::as_str).unwrap_or(""),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    if let Some(p) = &a.port {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port.parse::<u16>().is_err() {
            return Err(Failure::new(
                1,
                format!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": invalid syntax"
                ),
            ));
        }
        out = frontends(&format!("{port}/{proto}"));
        if out.is_empty() {
            return Err(Failure::new(
                1,
                format!("Error: No public port '{p}' published for {}", a.container),
            ));
        }
    } else {
        for k in ports.keys() {
            for f in frontends(k) {
                out.push(format!("{k} -> {f}"));
            }
        }
    }
    out.sort_by(|x, y| {
        if natural_less(x, y) {
            std::cmp::Ordering::Less
        } else if natural_less(y, x) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    if !out.is_empty() {
        outln!("{}", out.join("\n"));
    }
    Ok(0)
}

pub async fn diff(client: &Client, a: DiffArgs) -> CmdResult {
    let v = client
        .get_json(&format!("/containers/{}/changes", q(&a.container)))
        .await?;
    for c in v.as_array().into_iter().flatten() {
        let kind = match c.get("Kind").and_then(Value::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        outln!(
            "{kind} {}",
            c.get("Path").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(0)
}

pub async fn prune(client: &Client, a: PruneArgs) -> CmdResult {
    if !a.force
        && !prompt::confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Err(prompt::cancelled("container prune"));
    }
    let (reclaimed, text) = prune_containers(client, &a.filter).await?;
    if !text.is_empty() {
        outln!("{text}");
    }
    prompt::print_reclaimed(reclaimed);
    Ok(0)
}

/// POST /containers/prune: the space reclaimed and docker's report text.
pub async fn prune_containers(
    client: &Client,
    filters: &[String],
) -> Result<(u64, String), Failure> {
    let mut path = "/containers/prune".to_string();
    if let Some(f) = opts::filters_json(filters).map_err(|e| Failure::new(125, e))? {
        path.push_str(&format!("?filters={}", q(&f)));
    }
    let v = client.post_json(&path, None).await?;
    let mut text = String::new();
    let deleted = v
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        text.push_str("Deleted Containers:\n");
        for d in deleted.iter().filter_map(Value::as_str) {
            text.push_str(d);
            text.push('\n');
        }
    }
    Ok((
        v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn natural_order_compares_numbers() {
        assert!(natural_less(
            "80/tcp -> 0.0.0.0:8080",
            "443/tcp -> 0.0.0.0:8443"
        ));
        assert!(natural_less("9/tcp", "10/tcp"));
        assert!(natural_less("a", "ab"));
    }

    #[test]
    fn cpu_and_memory_like_docker() {
        let v = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 1000, "stats": {"total_inactive_file": 200}, "limit": 4000},
        });
        assert!((cpu_percent(&v) - 40.0).abs() < 1e-9);
        assert_eq!(mem_usage(&v), 800.0);
        let r = stats_row(&v, "c", false);
        assert_eq!(r.get("MemPerc").unwrap().as_str(), Some("20.00%"));
        assert_eq!(r.get("MemUsage").unwrap().as_str(), Some("800B / 3.906KiB"));
    }
}
