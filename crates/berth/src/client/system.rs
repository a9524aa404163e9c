//! System commands: version, info, events, df and prune.

use super::args::{DfArgs, SystemPruneArgs};
use super::args::{EventsArgs, FormatOnly};
use super::connect::{CLIENT_API_VERSION, Client, ClientError, empty, next_chunk, q};
use super::format::{Template, Val};
use super::{CmdResult, Failure, opts};
use hyper::Method;
use serde_json::{Value, json};

fn render(fmt: &str, v: &Value) -> CmdResult {
    let f = fmt.replace("\\t", "\t").replace("\\n", "\n");
    let t = Template::parse(&f).map_err(|e| Failure::new(1, e.to_string()))?;
    let out = t
        .render(&Val::from(v))
        .map_err(|e| Failure::new(1, e.to_string()))?;
    outln!("{out}");
    Ok(0)
}

pub async fn version(client: &Client, a: FormatOnly) -> CmdResult {
    let client_info = json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": client.api_version(),
        "DefaultAPIVersion": CLIENT_API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    });
    let server = client.get_json("/version").await;
    let data = json!({"Client": client_info, "Server": server.as_ref().ok()});
    if let Some(f) = &a.format {
        return render(f, &data);
    }
    let api_line = if client.api_version() == CLIENT_API_VERSION {
        client.api_version().to_string()
    } else {
        format!(
            "{} (downgraded from {CLIENT_API_VERSION})",
            client.api_version()
        )
    };
    outln!("Client:");
    outln!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    outln!(" API version:       {api_line}");
    outln!(" OS/Arch:           {}/{}", std::env::consts::OS, go_arch());
    outln!(" Context:           default");
    let s = server?;
    let g = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    outln!();
    let platform = s
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    outln!(
        "Server:{}",
        if platform.is_empty() {
            String::new()
        } else {
            format!(" {platform}")
        }
    );
    let components = s
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if components.is_empty() {
        outln!(" Engine:");
        outln!("  Version:          {}", g("Version"));
        outln!(
            "  API version:      {} (minimum version {})",
            g("ApiVersion"),
            g("MinAPIVersion")
        );
        outln!("  OS/Arch:          {}/{}", g("Os"), g("Arch"));
    }
    for c in components {
        let name = c.get("Name").and_then(Value::as_str).unwrap_or("");
        outln!(" {name}:");
        outln!(
            "  Version:          {}",
            c.get("Version").and_then(Value::as_str).unwrap_or("")
        );
        if let Some(d) = c.get("Details").and_then(Value::as_object) {
            let order = [
                "ApiVersion",
                "MinAPIVersion",
                "GoVersion",
                "GitCommit",
                "BuildTime",
                "Os",
                "Arch",
                "Experimental",
                "KernelVersion",
            ];
            if name == "Engine" {
                let d = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                outln!(
                    "  API version:      {} (minimum version {})",
                    d("ApiVersion"),
                    d("MinAPIVersion")
                );
                outln!("  Go version:       {}", d("GoVersion"));
                outln!("  Git commit:       {}", d("GitCommit"));
                outln!("  Built:            {}", ansic(&d("BuildTime")));
                outln!("  OS/Arch:          {}/{}", d("Os"), d("Arch"));
                outln!("  Experimental:     {}", d("Experimental"));
            } else {
                for k in order.iter().filter(|k| d.contains_key(**k)) {
                    outln!("  {:<18}{}", format!("{k}:"), d[*k].as_str().unwrap_or(""));
                }
                for (k, v) in d.iter().filter(|(k, _)| !order.contains(&k.as_str())) {
                    outln!("  {:<18}{}", format!("{k}:"), v.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(0)
}

/// docker prints build times in Go's ANSIC layout.
fn ansic(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn info(client: &Client, a: FormatOnly) -> CmdResult {
    let v = client.get_json("/info").await?;
    if let Some(f) = &a.format {
        return render(
            f,
            &json!({"ClientInfo": {"Debug": false, "Context": "default"}, "ServerErrors": null})
                .as_object()
                .map(|o| {
                    let mut m = v.as_object().cloned().unwrap_or_default();
                    m.extend(o.clone());
                    Value::Object(m)
                })
                .unwrap_or(v.clone()),
        );
    }
    let s = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    outln!("Client:");
    outln!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    outln!(" Context:    default");
    outln!(" Debug Mode: false");
    outln!();
    outln!("Server:");
    outln!(" Containers: {}", s("Containers"));
    outln!("  Running: {}", s("ContainersRunning"));
    outln!("  Paused: {}", s("ContainersPaused"));
    outln!("  Stopped: {}", s("ContainersStopped"));
    outln!(" Images: {}", s("Images"));
    outln!(" Server Version: {}", s("ServerVersion"));
    outln!(" Storage Driver: {}", s("Driver"));
    if let Some(st) = v.get("DriverStatus").and_then(Value::as_array) {
        for pair in st.iter().filter_map(Value::as_array) {
            if let [k, val] = pair.as_slice() {
                outln!(
                    "  {}: {}",
                    k.as_str().unwrap_or(""),
                    val.as_str().unwrap_or("")
                );
            }
        }
    }
    outln!(" Logging Driver: {}", s("LoggingDriver"));
    outln!(" Cgroup Driver: {}", s("CgroupDriver"));
    outln!(" Cgroup Version: {}", s("CgroupVersion"));
    outln!(" Kernel Version: {}", s("KernelVersion"));
    outln!(" Operating System: {}", s("OperatingSystem"));
    outln!(" OSType: {}", s("OSType"));
    outln!(" Architecture: {}", s("Architecture"));
    outln!(" CPUs: {}", s("NCPU"));
    outln!(
        " Total Memory: {}",
        super::format::human_size_binary(v.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0))
    );
    outln!(" Name: {}", s("Name"));
    outln!(" ID: {}", s("ID"));
    outln!(" Docker Root Dir: {}", s("DockerRootDir"));
    outln!(" Debug Mode: {}", s("Debug"));
    outln!(" Experimental: {}", s("ExperimentalBuild"));
    outln!(" Live Restore Enabled: {}", s("LiveRestoreEnabled"));
    if let Some(ws) = v.get("Warnings").and_then(Value::as_array) {
        outln!();
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// docker's default event line: time, type, action, actor and sorted attributes.
fn pretty_event(e: &Value) -> String {
    use chrono::TimeZone;
    let mut out = String::new();
    let nanos = e
        .get("timeNano")
        .and_then(Value::as_i64)
        .filter(|n| *n != 0);
    let nanos = nanos.or_else(|| {
        e.get("time")
            .and_then(Value::as_i64)
            .map(|s| s * 1_000_000_000)
    });
    if let Some(n) = nanos {
        let t = chrono::Local.timestamp_nanos(n);
        let mut ts = t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
        if ts.ends_with("+00:00") {
            ts.truncate(ts.len() - 6);
            ts.push('Z');
        }
        out.push_str(&ts);
        out.push(' ');
    }
    let g = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("");
    out.push_str(&format!(
        "{} {} {}",
        g("/Type"),
        g("/Action"),
        g("/Actor/ID")
    ));
    if let Some(attrs) = e
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
    {
        let mut kv: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        out.push_str(&format!(" ({})", kv.join(", ")));
    }
    out
}

pub async fn events(client: &Client, a: EventsArgs) -> CmdResult {
    let mut query = Vec::new();
    for (name, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let t = opts::timestamp(v).map_err(|e| Failure::new(1, e))?;
            query.push(format!("{name}={}", q(&t)));
        }
    }
    if let Some(f) = opts::filters_json(&a.list.filter).map_err(|e| Failure::new(125, e))? {
        query.push(format!("filters={}", q(&f)));
    }
    let tmpl = match a.list.format.as_deref() {
        None | Some("") => None,
        Some("json") => {
            Some(Template::parse("{{json .}}").map_err(|e| Failure::new(1, e.to_string()))?)
        }
        Some(f) => Some(
            Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))
                .map_err(|e| Failure::new(1, e.to_string()))?,
        ),
    };
    let resp = client
        .request(
            Method::GET,
            &format!("/events?{}", query.join("&")),
            empty(),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        let mut consumed = 0;
        {
            let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Val>();
            while let Some(Ok(v)) = de.next() {
                consumed = de.byte_offset();
                let line = match &tmpl {
                    Some(t) => t.render(&v).map_err(|e| Failure::new(1, e.to_string()))?,
                    None => pretty_event(&val_to_json(&v)),
                };
                outln!("{line}");
            }
        }
        buf.drain(..consumed);
    }
    Ok(0)
}

fn val_to_json(v: &Val) -> Value {
    serde_json::from_str(&v.to_json(false)).unwrap_or(Value::Null)
}

fn pct(reclaimable: i64, total: i64) -> String {
    let h = super::format::human_size(reclaimable as f64, 4);
    if total > 0 {
        format!("{h} ({}%)", reclaimable * 100 / total)
    } else {
        h
    }
}

fn df_row(kind: &str, total: usize, active: usize, size: i64, reclaimable: String) -> Val {
    Val::Obj(vec![
        ("Active".into(), Val::Str(active.to_string())),
        ("Reclaimable".into(), Val::Str(reclaimable)),
        (
            "Size".into(),
            Val::Str(super::format::human_size(size as f64, 4)),
        ),
        ("TotalCount".into(), Val::Str(total.to_string())),
        ("Type".into(), Val::str(kind)),
    ])
}

/// docker's `system df` summary (formatter/disk_usage.go).
pub async fn df(client: &Client, a: DfArgs) -> CmdResult {
    let v = client.get_json("/system/df").await?;
    let arr = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let int = |x: &Value, p: &str| x.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let images = arr("Images");
    let layers = v.get("LayersSize").and_then(Value::as_i64).unwrap_or(0);
    let used: i64 = images
        .iter()
        .filter(|i| int(i, "/Containers") != 0)
        .filter(|i| int(i, "/Size") != -1 && int(i, "/SharedSize") != -1)
        .map(|i| int(i, "/Size") - int(i, "/SharedSize"))
        .sum();
    let containers = arr("Containers");
    let active_c = |c: &Value| {
        let s = c.get("State").and_then(Value::as_str).unwrap_or("");
        s.contains("running") || s.contains("paused") || s.contains("restarting")
    };
    let c_size: i64 = containers.iter().map(|c| int(c, "/SizeRw")).sum();
    let c_recl: i64 = containers
        .iter()
        .filter(|c| !active_c(c))
        .map(|c| int(c, "/SizeRw"))
        .sum();
    let volumes = arr("Volumes");
    let v_size: i64 = volumes
        .iter()
        .map(|x| int(x, "/UsageData/Size"))
        .filter(|s| *s != -1)
        .sum();
    let v_recl: i64 = volumes
        .iter()
        .filter(|x| int(x, "/UsageData/RefCount") == 0)
        .map(|x| int(x, "/UsageData/Size"))
        .filter(|s| *s != -1)
        .sum();
    let cache = arr("BuildCache");
    let flag = |x: &Value, k: &str| x.get(k).and_then(Value::as_bool).unwrap_or(false);
    let b_size: i64 = cache
        .iter()
        .filter(|b| !flag(b, "Shared"))
        .map(|b| int(b, "/Size"))
        .sum();
    let b_recl: i64 = cache
        .iter()
        .filter(|b| !flag(b, "Shared") && !flag(b, "InUse"))
        .map(|b| int(b, "/Size"))
        .sum();
    let rows = vec![
        df_row(
            "Images",
            images.len(),
            images.iter().filter(|i| int(i, "/Containers") > 0).count(),
            layers,
            pct(layers - used, layers),
        ),
        df_row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| active_c(c)).count(),
            c_size,
            pct(c_recl, c_size),
        ),
        df_row(
            "Local Volumes",
            volumes.len(),
            volumes
                .iter()
                .filter(|x| int(x, "/UsageData/RefCount") > 0)
                .count(),
            v_size,
            pct(v_recl, v_size),
        ),
        df_row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| flag(b, "InUse")).count(),
            b_size,
            super::format::human_size(b_recl as f64, 4),
        ),
    ];
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => {
            "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".to_string()
        }
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    let hdr = Val::Obj(
        [
            ("Active", "ACTIVE"),
            ("Reclaimable", "RECLAIMABLE"),
            ("Size", "SIZE"),
            ("TotalCount", "TOTAL"),
            ("Type", "TYPE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    );
    super::containers::print_rows(&fmt, &rows, &hdr)
}

/// An optional prune endpoint: daemons without it (501/404) are skipped.
async fn prune_optional(
    client: &Client,
    path: &str,
    list_key: &str,
    title: &str,
) -> Result<(u64, String), Failure> {
    let v = match client.post_json(path, None).await {
        Ok(v) => v,
        Err(ClientError::Daemon {
            status: 404 | 501, ..
        }) => return Ok((0, String::new())),
        Err(e) => return Err(e.into()),
    };
    let mut text = String::new();
    let items = v
        .get(list_key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !items.is_empty() {
        text.push_str(title);
        text.push('\n');
        for i in items.iter().filter_map(Value::as_str) {
            text.push_str(i);
            text.push('\n');
        }
    }
    Ok((
        v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0),
        text,
    ))
}

pub async fn prune(client: &Client, a: SystemPruneArgs) -> CmdResult {
    if !a.prune.force {
        let mut warnings = vec![
            "all stopped containers",
            "all networks not used by at least one container",
        ];
        if a.volumes {
            warnings.push("all anonymous volumes not used by at least one container");
        }
        warnings.push(if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        });
        warnings.push(if a.all {
            "all build cache"
        } else {
            "unused build cache"
        });
        let mut msg = "WARNING! This will remove:".to_string();
        for w in warnings {
            msg.push_str(&format!("\n  - {w}"));
        }
        msg.push('\n');
        if !a.prune.filter.is_empty() {
            msg.push_str("\n  Items to be pruned will be filtered with:");
            for f in &a.prune.filter {
                msg.push_str(&format!("\n  - {f}"));
            }
            msg.push('\n');
        }
        msg.push_str("\nAre you sure you want to continue?");
        if !super::prompt::confirm(&msg) {
            return Err(super::prompt::cancelled("system prune"));
        }
    }
    let filters = opts::filters_json(&a.prune.filter).map_err(|e| Failure::new(125, e))?;
    let fq = filters
        .as_ref()
        .map(|f| format!("?filters={}", q(f)))
        .unwrap_or_default();
    let mut total = 0;
    let mut outputs = Vec::new();
    outputs.push(super::containers::prune_containers(client, &a.prune.filter).await?);
    outputs.push(
        prune_optional(
            client,
            &format!("/networks/prune{fq}"),
            "NetworksDeleted",
            "Deleted Networks:",
        )
        .await?,
    );
    if a.volumes {
        outputs.push(super::volumes::prune_volumes(client, false, &a.prune.filter).await?);
    }
    outputs.push(super::images::prune_images(client, a.all, &a.prune.filter).await?);
    let bq = if a.all { "?all=1" } else { "" };
    outputs.push(
        prune_optional(
            client,
            &format!("/build/prune{bq}"),
            "CachesDeleted",
            "Deleted build cache objects:",
        )
        .await?,
    );
    for (n, text) in outputs {
        total += n;
        if !text.is_empty() {
            outln!("{text}");
        }
    }
    super::prompt::print_reclaimed(total);
    Ok(0)
}

/// `docker system dial-stdio`: stdin to the daemon, the daemon to stdout.
/// What `docker -H ssh://host` runs on the far side, speaking HTTP through it.
pub async fn dial_stdio(client: &Client) -> CmdResult {
    use tokio::io::AsyncWriteExt;
    let conn = client.dial().await?;
    let (mut from_daemon, mut to_daemon) = tokio::io::split(conn);
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut to_daemon).await;
        // The client finished sending: half-close, so the daemon still
        // answers what it was asked (a hijacked attach ends this way).
        let _ = to_daemon.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy(&mut from_daemon, &mut stdout).await;
    let _ = stdout.flush().await;
    match copied {
        Ok(_) => Ok(0),
        Err(e) => Err(Failure::new(1, format!("dial-stdio: {e}"))),
    }
}
