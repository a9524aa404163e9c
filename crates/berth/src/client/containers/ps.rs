//! `ps`: docker's container table, `--format` templates and `{{json .}}`.

use super::super::args::PsArgs;
use super::super::connect::{Client, q};
use super::super::format::{self, Val};
use super::super::{CmdResult, Failure, opts};
use serde_json::Value;

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
        .list
        .format
        .as_deref()
        .is_some_and(|f| f.contains(".Size") || f.contains("json .") || f == "json");
    if a.size || (wants_size && !a.quiet) {
        query.push("size=1".into());
    }
    if let Some(f) = opts::filters_json(&a.list.filter).map_err(|e| Failure::new(125, e))? {
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
        if a.list.format.is_some() {
            eprintln!(
                "WARNING: Ignoring custom format, because both --format and --quiet are set."
            );
        }
        "{{.ID}}".to_string()
    } else {
        match a.list.format.as_deref() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
