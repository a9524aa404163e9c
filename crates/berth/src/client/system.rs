//! System commands: version, info and events.

use super::cli::{EventsArgs, FormatOnly};
use super::connect::{CLIENT_API_VERSION, Client, empty, next_chunk, q};
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
    println!("{out}");
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
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       {api_line}");
    println!(" OS/Arch:           {}/{}", std::env::consts::OS, go_arch());
    println!(" Context:           default");
    let s = server?;
    let g = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    println!();
    let platform = s
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    println!(
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
        println!(" Engine:");
        println!("  Version:          {}", g("Version"));
        println!(
            "  API version:      {} (minimum version {})",
            g("ApiVersion"),
            g("MinAPIVersion")
        );
        println!("  OS/Arch:          {}/{}", g("Os"), g("Arch"));
    }
    for c in components {
        let name = c.get("Name").and_then(Value::as_str).unwrap_or("");
        println!(" {name}:");
        println!(
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
                println!(
                    "  API version:      {} (minimum version {})",
                    d("ApiVersion"),
                    d("MinAPIVersion")
                );
                println!("  Go version:       {}", d("GoVersion"));
                println!("  Git commit:       {}", d("GitCommit"));
                println!("  Built:            {}", d("BuildTime"));
                println!("  OS/Arch:          {}/{}", d("Os"), d("Arch"));
                println!("  Experimental:     {}", d("Experimental"));
            } else {
                for k in order.iter().filter(|k| d.contains_key(**k)) {
                    println!("  {:<18}{}", format!("{k}:"), d[*k].as_str().unwrap_or(""));
                }
                for (k, v) in d.iter().filter(|(k, _)| !order.contains(&k.as_str())) {
                    println!("  {:<18}{}", format!("{k}:"), v.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(0)
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
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(" Context:    default");
    println!(" Debug Mode: false");
    println!();
    println!("Server:");
    println!(" Containers: {}", s("Containers"));
    println!("  Running: {}", s("ContainersRunning"));
    println!("  Paused: {}", s("ContainersPaused"));
    println!("  Stopped: {}", s("ContainersStopped"));
    println!(" Images: {}", s("Images"));
    println!(" Server Version: {}", s("ServerVersion"));
    println!(" Storage Driver: {}", s("Driver"));
    if let Some(st) = v.get("DriverStatus").and_then(Value::as_array) {
        for pair in st.iter().filter_map(Value::as_array) {
            if let [k, val] = pair.as_slice() {
                println!(
                    "  {}: {}",
                    k.as_str().unwrap_or(""),
                    val.as_str().unwrap_or("")
                );
            }
        }
    }
    println!(" Logging Driver: {}", s("LoggingDriver"));
    println!(" Cgroup Driver: {}", s("CgroupDriver"));
    println!(" Cgroup Version: {}", s("CgroupVersion"));
    println!(" Kernel Version: {}", s("KernelVersion"));
    println!(" Operating System: {}", s("OperatingSystem"));
    println!(" OSType: {}", s("OSType"));
    println!(" Architecture: {}", s("Architecture"));
    println!(" CPUs: {}", s("NCPU"));
    println!(
        " Total Memory: {}",
        super::format::human_size_binary(v.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0))
    );
    println!(" Name: {}", s("Name"));
    println!(" ID: {}", s("ID"));
    println!(" Docker Root Dir: {}", s("DockerRootDir"));
    println!(" Debug Mode: {}", s("Debug"));
    println!(" Experimental: {}", s("ExperimentalBuild"));
    println!(" Live Restore Enabled: {}", s("LiveRestoreEnabled"));
    if let Some(ws) = v.get("Warnings").and_then(Value::as_array) {
        println!();
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
    if let Some(f) = opts::filters_json(&a.filter).map_err(|e| Failure::new(125, e))? {
        query.push(format!("filters={}", q(&f)));
    }
    let tmpl = match a.format.as_deref() {
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
                println!("{line}");
            }
        }
        buf.drain(..consumed);
    }
    Ok(0)
}

fn val_to_json(v: &Val) -> Value {
    serde_json::from_str(&v.to_json(false)).unwrap_or(Value::Null)
}
