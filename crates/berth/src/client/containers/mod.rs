//! Container commands: run, create, start, stop, restart, kill, rm, ps, logs,
//! inspect, exec and wait.

mod manage;
mod ps;
mod run;

pub use manage::{
    attach, diff, natural_less, pause, port, prune, prune_containers, rename, stats, top, update,
};
pub use ps::{print_rows, ps};
pub use run::{create_cmd, exec, run, start};

use super::args::{Containers, InspectArgs, KillArgs, LogsArgs, RmArgs, StopArgs};
use super::connect::{Client, ClientError, empty, next_chunk, q};
use super::format::{self, Template, Val};
use super::stream::{self, Demux};
use super::{CmdResult, Failure, opts};
use hyper::Method;
use serde_json::Value;

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

pub async fn wait(client: &Client, a: Containers) -> CmdResult {
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
    for n in &a.target.names {
        match inspect_one(client, n, a.kind.as_deref(), a.size).await {
            Ok(b) => raws.push(b),
            Err(f) => errors.push(f),
        }
    }
    print_inspect(&raws, a.target.format.as_deref())?;
    let code = if errors.is_empty() { 0 } else { 1 };
    for e in errors {
        if let Some(m) = e.message {
            eprintln!("{m}");
        }
    }
    Ok(code)
}

/// `volume inspect` / `network inspect`: GET `<prefix>/<name>` for each
/// name, print what was found, report the rest, exit 1 if any was missing.
pub async fn inspect_each(
    client: &super::connect::Client,
    prefix: &str,
    names: &[String],
    fmt: Option<&str>,
) -> super::CmdResult {
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match client
            .call(
                hyper::Method::GET,
                &format!("{prefix}/{}", super::connect::q(n)),
                None,
            )
            .await
        {
            Ok(b) => raws.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    print_inspect(&raws, fmt)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// Sorts API objects by their `Name` in docker's natural order.
pub fn sort_by_name(items: &mut [serde_json::Value]) {
    let name = |v: &serde_json::Value| {
        v.get("Name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    items.sort_by(|x, y| {
        let (a, b) = (name(x), name(y));
        if natural_less(&a, &b) {
            std::cmp::Ordering::Less
        } else if natural_less(&b, &a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

/// `k=v` flags (labels, driver options) as a JSON object.
pub fn kv_map(items: &[String]) -> serde_json::Map<String, serde_json::Value> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i, ""));
            (k.to_string(), serde_json::json!(v))
        })
        .collect()
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
