//! Container commands: run, create, start, stop, restart, kill, rm, ps, logs,
//! inspect, exec and wait.

use super::cli::{
    ExecArgs, InspectArgs, KillArgs, LogsArgs, PsArgs, RmArgs, RunArgs, StartArgs, StopArgs,
    WaitArgs,
};
use super::connect::{self, Client, ClientError, empty, next_chunk, q, read_all};
use super::format::{self, Template, Val};
use super::stream::{self, Demux};
use super::{CmdResult, Failure, images, opts};
use hyper::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn run_usage(verb: &str, msg: &str) -> Failure {
    Failure::new(
        125,
        format!("berth: {msg}\n\nRun 'berth {verb} --help' for more information"),
    )
}

/// docker's mapping of start failures to exit statuses (126/127 as a shell).
fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") || msg.contains("exec format error") {
        126
    } else {
        125
    }
}

fn print_warnings(resp: &Value) {
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
}

/// POST /containers/create, pulling a missing image once like docker does.
async fn create(client: &Client, a: &RunArgs, verb: &str) -> Result<String, Failure> {
    let image = &a.args[0];
    if image.starts_with('-') {
        return Err(Failure::new(
            125,
            format!("unknown flag: {image}\nSee 'berth {verb} --help'."),
        ));
    }
    if a.tty && a.interactive && !stream::is_terminal(0) {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    let body = opts::create_body(a, image, &a.args[1..]).map_err(|e| run_usage(verb, &e))?;
    let path = match &a.name {
        Some(n) => format!("/containers/create?name={}", q(n)),
        None => "/containers/create".to_string(),
    };
    let resp = match client.post_json(&path, Some(&body)).await {
        Ok(r) => r,
        Err(ClientError::Daemon {
            status: 404,
            message,
        }) if message.to_lowercase().contains("image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                opts::familiar_tagged(image)
            );
            images::pull_image(client, image, true)
                .await
                .map_err(|e| run_usage(verb, &e))?;
            client
                .post_json(&path, Some(&body))
                .await
                .map_err(|e| run_usage(verb, &e.to_string()))?
        }
        Err(e) => return Err(run_usage(verb, &e.to_string())),
    };
    print_warnings(&resp);
    resp.get("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| run_usage(verb, "daemon returned no container ID"))
}

pub async fn create_cmd(client: &Client, a: RunArgs) -> CmdResult {
    let id = create(client, &a, "create").await?;
    outln!("{id}");
    Ok(0)
}

/// Registers a wait before the container starts, so a fast exit is not
/// missed; returns the task answering the exit status.
async fn register_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> tokio::task::JoinHandle<Result<i32, ClientError>> {
    let c = client.clone();
    let path = format!("/containers/{id}/wait?condition={condition}");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let resp = c.request(Method::POST, &path, empty(), None).await;
        let _ = tx.send(());
        let body = read_all(resp?).await?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| ClientError::Http(e.to_string()))?;
        if let Some(m) = v
            .pointer("/Error/Message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            eprintln!("berth: {m}");
        }
        Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0) as i32)
    });
    // A daemon may hold the headers until the exit; go on after a moment.
    let _ = connect::with_timeout(Duration::from_secs(2), rx).await;
    task
}

fn attach_path(id: &str, stdin: bool, stdout: bool, stderr: bool) -> String {
    let mut p = format!("/containers/{id}/attach?stream=1");
    for (on, name) in [(stdin, "stdin"), (stdout, "stdout"), (stderr, "stderr")] {
        if on {
            p.push_str(&format!("&{name}=1"));
        }
    }
    p
}

pub async fn run(client: &Client, a: RunArgs) -> CmdResult {
    let id = create(client, &a, "run").await?;
    if a.detach {
        client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
            .map_err(|e| {
                let m = e.to_string();
                Failure::new(
                    start_error_code(&m),
                    format!("berth: {m}\n\nRun 'berth run --help' for more information"),
                )
            })?;
        outln!("{id}");
        return Ok(0);
    }
    let inspect = client.get_json(&format!("/containers/{id}/json")).await?;
    let cfg = |k: &str| {
        inspect
            .pointer(&format!("/Config/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (stdin, stdout, stderr) = (cfg("AttachStdin"), cfg("AttachStdout"), cfg("AttachStderr"));
    let tty = cfg("Tty");
    // Raw mode before attaching: input sent early must not be cooked.
    let raw = if tty && stdin {
        stream::RawTerminal::enable(0)
    } else {
        None
    };
    let io = if stdin || stdout || stderr {
        Some(
            client
                .hijack(&attach_path(&id, stdin, stdout, stderr), None)
                .await
                .map_err(|e| run_usage("run", &e.to_string()))?,
        )
    } else {
        None
    };
    let condition = if a.rm { "removed" } else { "next-exit" };
    let waiter = register_wait(client, &id, condition).await;
    if let Err(e) = client
        .call(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        let m = e.to_string();
        waiter.abort();
        return Err(Failure::new(
            start_error_code(&m),
            format!("berth: {m}\n\nRun 'berth run --help' for more information"),
        ));
    }
    // With a tty, Ctrl-C travels through the pty, not as our signal.
    let proxy = (a.sig_proxy && !tty).then(|| stream::proxy_signals(client.clone(), id.clone()));
    let resize = if tty {
        stream::follow_resize(client.clone(), format!("/containers/{id}"))
    } else {
        None
    };
    if let Some(io) = io {
        stream::pump(io, stdin, tty).await;
    }
    drop(raw);
    let code = finish_wait(client, &id, waiter).await;
    for t in [proxy, resize].into_iter().flatten() {
        t.abort();
    }
    Ok(code)
}

async fn finish_wait(
    client: &Client,
    id: &str,
    waiter: tokio::task::JoinHandle<Result<i32, ClientError>>,
) -> i32 {
    match waiter.await {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            // The wait may fail once the container is gone; its state still knows.
            match client.get_json(&format!("/containers/{id}/json")).await {
                Ok(v) => v
                    .pointer("/State/ExitCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(125) as i32,
                Err(_) => {
                    eprintln!("berth: {e}");
                    125
                }
            }
        }
        Err(_) => 125,
    }
}

pub async fn start(client: &Client, a: StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                1,
                "Error: you cannot start and attach multiple containers at once",
            ));
        }
        let name = &a.containers[0];
        let inspect = client
            .get_json(&format!("/containers/{}/json", q(name)))
            .await?;
        let id = inspect
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let tty = inspect
            .pointer("/Config/Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stdin = a.interactive
            && inspect
                .pointer("/Config/OpenStdin")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let raw = if tty && stdin {
            stream::RawTerminal::enable(0)
        } else {
            None
        };
        let io = client
            .hijack(&attach_path(&id, stdin, true, true), None)
            .await?;
        let waiter = register_wait(client, &id, "next-exit").await;
        if let Err(e) = client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            waiter.abort();
            return Err(Failure::new(
                1,
                format!("{e}\nError: failed to start containers: {name}"),
            ));
        }
        let proxy = (!tty).then(|| stream::proxy_signals(client.clone(), id.clone()));
        let resize = if tty {
            stream::follow_resize(client.clone(), format!("/containers/{id}"))
        } else {
            None
        };
        stream::pump(io, stdin, tty).await;
        drop(raw);
        let code = finish_wait(client, &id, waiter).await;
        for t in [proxy, resize].into_iter().flatten() {
            t.abort();
        }
        return Ok(code);
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match client
            .call(Method::POST, &format!("/containers/{}/start", q(c)), None)
            .await
        {
            Ok(_) => outln!("{c}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(c.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        ))
    }
}

/// Applies one call to every container, printing each name that succeeded.
async fn each(
    client: &Client,
    names: &[String],
    method: Method,
    path: impl Fn(&str) -> String,
) -> CmdResult {
    let mut code = 0;
    for n in names {
        match client.call(method.clone(), &path(&q(n)), None).await {
            Ok(_) => outln!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn stop(client: &Client, a: StopArgs, restart: bool) -> CmdResult {
    let verb = if restart { "restart" } else { "stop" };
    let mut params = Vec::new();
    if let Some(t) = a.timeout {
        params.push(format!("t={t}"));
    }
    if let Some(s) = &a.signal {
        params.push(format!("signal={}", q(s)));
    }
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    each(client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/{verb}{query}")
    })
    .await
}

pub async fn kill(client: &Client, a: KillArgs) -> CmdResult {
    let query = a
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", q(s)))
        .unwrap_or_default();
    each(client, &a.containers, Method::POST, |c| {
        format!("/containers/{c}/kill{query}")
    })
    .await
}

pub async fn rm(client: &Client, a: RmArgs) -> CmdResult {
    let query = format!(
        "?force={}&v={}&link={}",
        a.force as u8, a.volumes as u8, a.link as u8
    );
    each(client, &a.containers, Method::DELETE, |c| {
        format!("/containers/{c}{query}")
    })
    .await
}

pub async fn wait(client: &Client, a: WaitArgs) -> CmdResult {
    let mut code = 0;
    for c in &a.containers {
        match client
            .post_json(&format!("/containers/{}/wait", q(c)), None)
            .await
        {
            Ok(v) => outln!(
                "{}",
                v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0)
            ),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// One `docker ps` row: the formatter context's fields as strings.
fn ps_row(c: &Value, trunc: bool) -> Val {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s("Id");
    let image = {
        let img = s("Image");
        if img.is_empty() {
            "<no image>".to_string()
        } else if trunc && img.starts_with("sha256:") {
            short_id(&img)
        } else if trunc && img.contains('@') {
            img.split('@').next().unwrap_or("").to_string()
        } else {
            img
        }
    };
    let command = format::go_quote(&s("Command"));
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let mut names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    if trunc && let Some(n) = names.iter().find(|n| !n.contains('/')).cloned() {
        names = vec![n];
    }
    let labels_map: Vec<(String, Val)> = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), Val::str(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default();
    let mut labels: Vec<String> = labels_map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.go_string()))
        .collect();
    labels.sort();
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.get("Driver").and_then(Value::as_str) == Some("local"))
        .count();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            let n = n
                .or_else(|| m.get("Source").and_then(Value::as_str))
                .unwrap_or("");
            if trunc {
                format::ellipsis(n, 15)
            } else {
                n.to_string()
            }
        })
        .collect();
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size_rw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let size_root = c.get("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
    let mut size = format::human_size(size_rw as f64, 3);
    if size_root > 0 {
        size = format!(
            "{size} (virtual {})",
            format::human_size(size_root as f64, 3)
        );
    }
    // Keys sorted: `{{json .}}` marshals the context as a Go map.
    Val::Obj(vec![
        (
            "Command".into(),
            Val::Str(if trunc {
                format::ellipsis(&command, 20)
            } else {
                command
            }),
        ),
        ("CreatedAt".into(), Val::Str(format::go_time(created))),
        (
            "ID".into(),
            Val::Str(if trunc { short_id(&id) } else { id }),
        ),
        ("Image".into(), Val::Str(image)),
        ("Label()".into(), Val::Obj(labels_map)),
        ("Labels".into(), Val::Str(labels.join(","))),
        ("LocalVolumes".into(), Val::Str(local_volumes.to_string())),
        ("Mounts".into(), Val::Str(mount_names.join(","))),
        ("Names".into(), Val::Str(names.join(","))),
        ("Networks".into(), Val::Str(networks.join(","))),
        ("Platform".into(), Val::Null),
        ("Ports".into(), Val::Str(ports_string(c))),
        (
            "RunningFor".into(),
            Val::Str(format!(
                "{} ago",
                format::human_duration(now_secs() - created)
            )),
        ),
        ("Size".into(), Val::Str(size)),
        ("State".into(), Val::Str(s("State"))),
        ("Status".into(), Val::Str(s("Status"))),
    ])
}

/// `0.0.0.0:8080->80/tcp, 443/tcp` as docker's DisplayablePorts prints them.
fn ports_string(c: &Value) -> String {
    let mut out: Vec<String> = c
        .get("Ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
                    let proto = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
                    match p
                        .get("PublicPort")
                        .and_then(Value::as_u64)
                        .filter(|n| *n != 0)
                    {
                        Some(public) => {
                            let ip = p.get("IP").and_then(Value::as_str).unwrap_or("");
                            let ip = if ip.contains(':') {
                                format!("[{ip}]")
                            } else {
                                ip.to_string()
                            };
                            format!("{ip}:{public}->{private}/{proto}")
                        }
                        None => format!("{private}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.dedup();
    out.join(", ")
}

fn header(pairs: &[(&str, &str)]) -> Val {
    Val::Obj(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Val::str(*v)))
            .collect(),
    )
}

pub async fn ps(client: &Client, a: PsArgs) -> CmdResult {
    let mut query = vec![];
    if a.all {
        query.push("all=1".to_string());
    }
    let limit = if a.latest { 1 } else { a.last };
    if limit > 0 {
        query.push(format!("limit={limit}"));
    }
    // Like docker, a template that shows sizes asks the daemon for them.
    let wants_size = a
        .format
        .as_deref()
        .is_some_and(|f| f.contains(".Size") || f.contains("json .") || f == "json");
    if a.size || (wants_size && !a.quiet) {
        query.push("size=1".into());
    }
    if let Some(f) = opts::filters_json(&a.filter).map_err(|e| Failure::new(125, e))? {
        query.push(format!("filters={}", q(&f)));
    }
    let list = client
        .get_json(&format!("/containers/json?{}", query.join("&")))
        .await?;
    let rows: Vec<Val> = list
        .as_array()
        .map(|l| l.iter().map(|c| ps_row(c, !a.no_trunc)).collect())
        .unwrap_or_default();
    let fmt = if a.quiet {
        if a.format.is_some() {
            eprintln!(
                "WARNING: Ignoring custom format, because both --format and --quiet are set."
            );
        }
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            None | Some("") | Some("table") => {
                let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
                if a.size {
                    f.push_str("\t{{.Size}}");
                }
                f
            }
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
        }
    };
    let hdr = header(&[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Platform", "PLATFORM"),
    ]);
    print_rows(&fmt, &rows, &hdr)
}

pub fn print_rows(fmt: &str, rows: &[Val], hdr: &Val) -> CmdResult {
    let spec = format::parse_format(fmt);
    let out =
        format::render_rows(&spec, rows, hdr, true).map_err(|e| Failure::new(1, e.to_string()))?;
    out!("{out}");
    Ok(0)
}

pub async fn logs(client: &Client, a: LogsArgs) -> CmdResult {
    let inspect = client
        .get_json(&format!("/containers/{}/json", q(&a.container)))
        .await?;
    let tty = inspect
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut query = format!("stdout=1&stderr=1&tail={}", q(&a.tail));
    if a.follow {
        query.push_str("&follow=1");
    }
    if a.timestamps {
        query.push_str("&timestamps=1");
    }
    if a.details {
        query.push_str("&details=1");
    }
    for (name, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let t = opts::timestamp(v).map_err(|e| Failure::new(1, e))?;
            query.push_str(&format!("&{name}={}", q(&t)));
        }
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/logs?{query}", q(&a.container)),
            empty(),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = Demux::default();
    while let Some(chunk) = next_chunk(&mut body).await? {
        if tty {
            stream::write_std(stream::Target::Stdout, &chunk);
        } else {
            demux.feed(&chunk, &mut stream::write_std);
        }
    }
    Ok(0)
}

/// One object's raw inspect JSON; without `--type`, the kinds are tried in
/// docker's order (container, image, network, volume).
async fn inspect_one(
    client: &Client,
    name: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<bytes::Bytes, Failure> {
    let n = q(name);
    let path = |k: &str| match k {
        "container" => Some(format!(
            "/containers/{n}/json{}",
            if size { "?size=1" } else { "" }
        )),
        "image" => Some(format!("/images/{n}/json")),
        "network" => Some(format!("/networks/{n}")),
        "volume" => Some(format!("/volumes/{n}")),
        _ => None,
    };
    match kind {
        Some(k) => {
            let p = path(k).ok_or_else(|| {
                Failure::new(1, format!("\"{k}\" is not a valid value for --type"))
            })?;
            Ok(client.call(Method::GET, &p, None).await?)
        }
        None => {
            for k in ["container", "image", "network", "volume"] {
                let p = path(k).expect("known kind");
                match client.call(Method::GET, &p, None).await {
                    Ok(b) => return Ok(b),
                    Err(ClientError::Daemon { status: 404, .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Failure::new(1, format!("Error: No such object: {name}")))
        }
    }
}

pub async fn inspect(client: &Client, a: InspectArgs) -> CmdResult {
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match inspect_one(client, n, a.kind.as_deref(), a.size).await {
            Ok(b) => raws.push(b),
            Err(f) => errors.push(f),
        }
    }
    print_inspect(&raws, a.format.as_deref())?;
    let code = if errors.is_empty() { 0 } else { 1 };
    for e in errors {
        if let Some(m) = e.message {
            eprintln!("{m}");
        }
    }
    Ok(code)
}

pub fn print_inspect(raws: &[bytes::Bytes], fmt: Option<&str>) -> Result<(), Failure> {
    if fmt == Some("json") {
        // docker's `--format json`: the array on one line.
        let all: Vec<String> = raws.iter().map(|r| format::compact_json(r)).collect();
        outln!("[{}]", all.join(","));
        return Ok(());
    }
    match fmt.filter(|f| !f.is_empty()) {
        None => {
            if raws.is_empty() {
                outln!("[]");
            } else {
                let mut all = b"[".to_vec();
                for (i, r) in raws.iter().enumerate() {
                    if i > 0 {
                        all.push(b',');
                    }
                    all.extend_from_slice(r);
                }
                all.push(b']');
                outln!("{}", format::indent_json(&all));
            }
        }
        Some(f) => {
            let f = f.replace("\\t", "\t").replace("\\n", "\n");
            let tmpl = Template::parse(&f).map_err(|e| Failure::new(1, e.to_string()))?;
            for r in raws {
                let v: Val = serde_json::from_slice(r)
                    .map_err(|e| Failure::new(1, format!("bad JSON from daemon: {e}")))?;
                let out = tmpl
                    .render(&v)
                    .map_err(|e| Failure::new(1, e.to_string()))?;
                outln!("{out}");
            }
        }
    }
    Ok(())
}

pub async fn exec(client: &Client, a: ExecArgs) -> CmdResult {
    let container = &a.args[0];
    if container.starts_with('-') {
        return Err(Failure::new(
            125,
            format!("unknown flag: {container}\nSee 'berth exec --help'."),
        ));
    }
    if a.tty && a.interactive && !stream::is_terminal(0) {
        return Err(Failure::new(1, "the input device is not a TTY"));
    }
    let env = opts::env_list(&a.env, &a.env_file).map_err(|e| Failure::new(125, e))?;
    let body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Detach": a.detach,
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": &a.args[1..],
    });
    let created = client
        .post_json(&format!("/containers/{}/exec", q(container)), Some(&body))
        .await?;
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(1, "daemon returned no exec ID"))?
        .to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        client
            .post_json(&format!("/exec/{id}/start"), Some(&start))
            .await?;
        return Ok(0);
    }
    let raw = if a.tty && a.interactive {
        stream::RawTerminal::enable(0)
    } else {
        None
    };
    let io = client
        .hijack(&format!("/exec/{id}/start"), Some(&start))
        .await?;
    let resize = if a.tty {
        stream::follow_resize(client.clone(), format!("/exec/{id}"))
    } else {
        None
    };
    stream::pump(io, a.interactive, a.tty).await;
    drop(raw);
    if let Some(r) = resize {
        r.abort();
    }
    // The stream can end a moment before the exit code is recorded.
    for _ in 0..50 {
        let v = client.get_json(&format!("/exec/{id}/json")).await?;
        if !v.get("Running").and_then(Value::as_bool).unwrap_or(false) {
            return Ok(v.get("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_shell_statuses() {
        assert_eq!(
            start_error_code("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("stat /x: no such file or directory"), 127);
        assert_eq!(
            start_error_code("exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(start_error_code("cgroup failure"), 125);
    }

    #[test]
    fn ps_row_truncates_like_docker() {
        let c = json!({
            "Id": "49a3b24b6ac4b84fec44911c688f788ab74d2e89dae47d7aaab02fbd2c268c7e",
            "Names": ["/c1"], "Image": "busybox", "Command": "sh -c 'echo hello world'",
            "Created": 0, "State": "running", "Status": "Up 1 second",
            "Labels": {"b": "2", "a": "1"},
            "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}],
        });
        let r = ps_row(&c, true);
        assert_eq!(r.get("ID").unwrap().as_str(), Some("49a3b24b6ac4"));
        assert_eq!(
            r.get("Command").unwrap().as_str(),
            Some("\"sh -c 'echo hello …")
        );
        assert_eq!(r.get("Labels").unwrap().as_str(), Some("a=1,b=2"));
        assert_eq!(
            r.get("Ports").unwrap().as_str(),
            Some("0.0.0.0:8080->80/tcp")
        );
        assert_eq!(r.get("Names").unwrap().as_str(), Some("c1"));
    }
}
