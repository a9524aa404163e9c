//! `volume create|ls|inspect|rm|prune`.

use super::args::{
    InspectNames, VolumeCmd, VolumeCreateArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use super::connect::{Client, q, version_lt};
use super::containers::{inspect_each, kv_map, print_rows, sort_by_name};
use super::format::Val;
use super::{CmdResult, Failure, opts, prompt};
use hyper::Method;
use serde_json::{Value, json};

pub async fn volume(client: &Client, cmd: VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => create(client, a).await,
        VolumeCmd::Ls(a) => ls(client, a).await,
        VolumeCmd::Inspect(a) => inspect(client, a).await,
        VolumeCmd::Rm(a) => rm(client, a).await,
        VolumeCmd::Prune(a) => prune(client, a).await,
    }
}

async fn create(client: &Client, a: VolumeCreateArgs) -> CmdResult {
    if a.name.is_some() && a.name_flag.is_some() {
        return Err(Failure::new(
            1,
            "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
        ));
    }
    let name = a.name.or(a.name_flag).unwrap_or_default();
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = client.post_json("/volumes/create", Some(&body)).await?;
    outln!("{}", v.get("Name").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

async fn ls(client: &Client, a: VolumeLsArgs) -> CmdResult {
    let mut path = "/volumes".to_string();
    if let Some(f) = opts::filters_json(&a.list.filter).map_err(|e| Failure::new(125, e))? {
        path.push_str(&format!("?filters={}", q(&f)));
    }
    let v = client.get_json(&path).await?;
    let mut vols: Vec<Value> = v
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    sort_by_name(&mut vols);
    let rows: Vec<Val> = vols
        .iter()
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let mut labels: Vec<String> = v
                .get("Labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            let usage = |k: &str| {
                v.pointer(&format!("/UsageData/{k}"))
                    .and_then(Value::as_i64)
            };
            Val::Obj(vec![
                ("Driver".into(), Val::Str(s("Driver"))),
                ("Labels".into(), Val::Str(labels.join(","))),
                (
                    "Links".into(),
                    Val::Str(
                        usage("RefCount")
                            .map(|n| n.to_string())
                            .unwrap_or("N/A".into()),
                    ),
                ),
                ("Mountpoint".into(), Val::Str(s("Mountpoint"))),
                ("Name".into(), Val::Str(s("Name"))),
                ("Scope".into(), Val::Str(s("Scope"))),
                (
                    "Size".into(),
                    Val::Str(
                        usage("Size")
                            .filter(|n| *n >= 0)
                            .map(|n| super::format::human_size(n as f64, 4))
                            .unwrap_or("N/A".into()),
                    ),
                ),
            ])
        })
        .collect();
    let fmt = if a.quiet {
        "{{.Name}}".to_string()
    } else {
        match a.list.format.as_deref() {
            None | Some("") | Some("table") => "table {{.Driver}}\t{{.Name}}".into(),
            Some("json") => "{{json .}}".into(),
            Some(f) => f.to_string(),
        }
    };
    let hdr = Val::Obj(
        [
            ("Driver", "DRIVER"),
            ("Labels", "LABELS"),
            ("Links", "LINKS"),
            ("Mountpoint", "MOUNTPOINT"),
            ("Name", "VOLUME NAME"),
            ("Scope", "SCOPE"),
            ("Size", "SIZE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    );
    print_rows(&fmt, &rows, &hdr)
}

async fn inspect(client: &Client, a: InspectNames) -> CmdResult {
    inspect_each(client, "/volumes", &a.names, a.format.as_deref()).await
}

async fn rm(client: &Client, a: VolumeRmArgs) -> CmdResult {
    let mut code = 0;
    for n in &a.names {
        match client
            .call(
                Method::DELETE,
                &format!("/volumes/{}?force={}", q(n), a.force),
                None,
            )
            .await
        {
            Ok(_) => outln!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(client: &Client, a: VolumePruneArgs) -> CmdResult {
    let anonymous_only = !version_lt(client.api_version(), "1.42");
    if a.all && !anonymous_only {
        return Err(Failure::new(
            1,
            format!(
                "\"--all\" requires API version 1.42, but the Docker daemon API version is {}",
                client.api_version()
            ),
        ));
    }
    let warning = if anonymous_only && !a.all {
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
    };
    if !a.prune.force && !prompt::confirm(warning) {
        return Err(prompt::cancelled("volume prune"));
    }
    let (reclaimed, text) = prune_volumes(client, a.all && anonymous_only, &a.prune.filter).await?;
    if !text.is_empty() {
        outln!("{text}");
    }
    prompt::print_reclaimed(reclaimed);
    Ok(0)
}

/// POST /volumes/prune: the space reclaimed and docker's report text.
pub async fn prune_volumes(
    client: &Client,
    all: bool,
    filters: &[String],
) -> Result<(u64, String), Failure> {
    let mut f = filters.to_vec();
    if all {
        f.push("all=true".into());
    }
    let mut path = "/volumes/prune".to_string();
    if let Some(fj) = opts::filters_json(&f).map_err(|e| Failure::new(125, e))? {
        path.push_str(&format!("?filters={}", q(&fj)));
    }
    let v = client.post_json(&path, None).await?;
    let mut text = String::new();
    let deleted = v
        .get("VolumesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        text.push_str("Deleted Volumes:\n");
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
