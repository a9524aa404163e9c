//! `network create|ls|inspect|rm|prune|connect|disconnect`.

use super::args::{
    InspectNames, NetworkCmd, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkLsArgs, NetworkRmArgs, PruneArgs,
};
use super::connect::{Client, q};
use super::containers::{inspect_each, kv_map, print_rows, sort_by_name};
use super::format::Val;
use super::{CmdResult, Failure, opts, prompt};
use hyper::Method;
use serde_json::{Value, json};

pub async fn network(client: &Client, cmd: NetworkCmd) -> CmdResult {
    match cmd {
        NetworkCmd::Create(a) => create(client, a).await,
        NetworkCmd::Ls(a) => ls(client, a).await,
        NetworkCmd::Inspect(a) => inspect(client, a).await,
        NetworkCmd::Rm(a) => rm(client, a).await,
        NetworkCmd::Prune(a) => prune(client, a).await,
        NetworkCmd::Connect(a) => connect(client, a).await,
        NetworkCmd::Disconnect(a) => disconnect(client, a).await,
    }
}

async fn create(client: &Client, a: NetworkCreateArgs) -> CmdResult {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        return Err(Failure::new(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let pools: Vec<Value> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut p = json!({ "Subnet": s });
            if let Some(g) = a.gateway.get(i) {
                p["Gateway"] = json!(g);
            }
            if let Some(r) = a.ip_range.get(i) {
                p["IPRange"] = json!(r);
            }
            p
        })
        .collect();
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "IPAM": { "Driver": "default", "Config": pools, "Options": {} },
        "Options": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = client.post_json("/networks/create", Some(&body)).await?;
    outln!("{}", v.get("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

async fn ls(client: &Client, a: NetworkLsArgs) -> CmdResult {
    let mut path = "/networks".to_string();
    if let Some(f) = opts::filters_json(&a.list.filter).map_err(|e| Failure::new(125, e))? {
        path.push_str(&format!("?filters={}", q(&f)));
    }
    let v = client.get_json(&path).await?;
    let mut nets: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    sort_by_name(&mut nets);
    let rows: Vec<Val> = nets
        .iter()
        .map(|n| {
            let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let id = s("Id");
            let id = if a.no_trunc {
                id
            } else {
                id.chars().take(12).collect()
            };
            let b = |k: &str| {
                n.get(k)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string()
            };
            let mut labels: Vec<String> = n
                .get("Labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            Val::Obj(vec![
                ("ID".into(), Val::Str(id)),
                ("Name".into(), Val::Str(s("Name"))),
                ("Driver".into(), Val::Str(s("Driver"))),
                ("Scope".into(), Val::Str(s("Scope"))),
                ("IPv6".into(), Val::Str(b("EnableIPv6"))),
                ("Internal".into(), Val::Str(b("Internal"))),
                ("Labels".into(), Val::Str(labels.join(","))),
                ("CreatedAt".into(), Val::Str(s("Created"))),
            ])
        })
        .collect();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.list.format.as_deref() {
            None | Some("") | Some("table") => {
                "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into()
            }
            Some("json") => "{{json .}}".into(),
            Some(f) => f.to_string(),
        }
    };
    let hdr = Val::Obj(
        [
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED AT"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    );
    print_rows(&fmt, &rows, &hdr)
}

async fn inspect(client: &Client, a: InspectNames) -> CmdResult {
    inspect_each(client, "/networks", &a.names, a.format.as_deref()).await
}

async fn rm(client: &Client, a: NetworkRmArgs) -> CmdResult {
    let mut code = 0;
    for n in &a.names {
        match client
            .call(Method::DELETE, &format!("/networks/{}", q(n)), None)
            .await
        {
            Ok(_) => outln!("{n}"),
            Err(e) if a.force && e.to_string().contains("not found") => {}
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    if code != 0 {
        // docker 28 ends a failed `network rm` with this line too.
        eprintln!("exit status {code}");
    }
    Ok(code)
}

async fn prune(client: &Client, a: PruneArgs) -> CmdResult {
    let warning = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";
    if !a.force && !prompt::confirm(warning) {
        return Err(prompt::cancelled("network prune"));
    }
    let mut path = "/networks/prune".to_string();
    if let Some(f) = opts::filters_json(&a.filter).map_err(|e| Failure::new(125, e))? {
        path.push_str(&format!("?filters={}", q(&f)));
    }
    let v = client.post_json(&path, None).await?;
    let deleted: Vec<String> = v
        .get("NetworksDeleted")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if !deleted.is_empty() {
        outln!("Deleted Networks:");
        for d in deleted {
            outln!("{d}");
        }
    }
    Ok(0)
}

async fn connect(client: &Client, a: NetworkConnectArgs) -> CmdResult {
    let mut endpoint = json!({});
    if !a.alias.is_empty() {
        endpoint["Aliases"] = json!(a.alias);
    }
    if let Some(ip) = &a.ip {
        endpoint["IPAMConfig"] = json!({ "IPv4Address": ip });
    }
    let body = json!({ "Container": a.container, "EndpointConfig": endpoint });
    client
        .call(
            Method::POST,
            &format!("/networks/{}/connect", q(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}

async fn disconnect(client: &Client, a: NetworkDisconnectArgs) -> CmdResult {
    let body = json!({ "Container": a.container, "Force": a.force });
    client
        .call(
            Method::POST,
            &format!("/networks/{}/disconnect", q(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}
