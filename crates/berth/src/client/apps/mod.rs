//! `berth app create|ls|info|rm` (`/berth/v1/apps`), and `berth
//! app-receive`, which the apps' pre-receive hooks run.

mod deploy;
mod files;

use hyper::Method;
use serde_json::{Value, json};

use super::args::AppCmd;
use super::connect::{Client, q};
use super::{CmdResult, Failure};

pub use deploy::receive;
use deploy::roll_out;
use router::rollout::{Plan, current_version, rollback_target};

fn bad_answer(e: serde_json::Error) -> Failure {
    Failure::new(1, format!("bad answer from daemon: {e}"))
}

pub async fn app(client: &Client, cmd: AppCmd) -> CmdResult {
    match cmd {
        AppCmd::Create { name, domains } => {
            let body = json!({"Name": name, "Domains": domains});
            let v = client.post_json("/berth/v1/apps", Some(&body)).await?;
            outln!("Created app {name}");
            outln!("  domains: {}", join(&v["App"]["Domains"]));
            outln!(
                "  push to: git push {} main",
                v["Remote"].as_str().unwrap_or_default()
            );
        }
        AppCmd::Ls => {
            let b = client.call(Method::GET, "/berth/v1/apps", None).await?;
            let apps: Vec<Value> = serde_json::from_slice(&b).map_err(bad_answer)?;
            outln!("{:<24} {:<12} {}", "NAME", "RELEASE", "DOMAINS");
            for a in apps {
                outln!(
                    "{:<24} {:<12} {}",
                    a["name"].as_str().unwrap_or_default(),
                    a["current"].as_str().unwrap_or("-"),
                    join(&a["domains"])
                );
            }
        }
        AppCmd::Info { name } => {
            let v = client
                .get_json(&format!("/berth/v1/apps/{}", q(&name)))
                .await?;
            let app = &v["App"];
            outln!("Name:     {}", app["name"].as_str().unwrap_or_default());
            outln!("Remote:   {}", v["Remote"].as_str().unwrap_or_default());
            outln!("HTTP:     <api-url>/berth/v1/apps/{name}/git");
            outln!("Branch:   {}", app["branch"].as_str().unwrap_or_default());
            outln!("Domains:  {}", join(&app["domains"]));
            if let Some(r) = app["registry"].as_str() {
                match app["registry_user"].as_str() {
                    Some(u) => outln!("Registry: {r} (as {u})"),
                    None => outln!("Registry: {r}"),
                }
            }
            let current = current_version(app);
            let release = router::rollout::release(app, current).map(|r| {
                format!(
                    "v{} {} ({})",
                    r["version"],
                    r["rev"].as_str().unwrap_or(""),
                    r["image"].as_str().unwrap_or("")
                )
            });
            outln!(
                "Release:  {}",
                release.unwrap_or_else(|| "none (push to deploy)".into())
            );
            outln!("Processes:");
            for s in v["Services"].as_array().into_iter().flatten() {
                outln!(
                    "  {:<8} {:<10} {:<10} {} (service, {}/{} running)",
                    s["Process"].as_str().unwrap_or_default(),
                    s["Release"].as_str().unwrap_or_default(),
                    s["Image"].as_str().unwrap_or_default(),
                    s["Name"].as_str().unwrap_or_default(),
                    s["Running"],
                    s["Replicas"]
                );
            }
            for c in v["Containers"].as_array().into_iter().flatten() {
                outln!(
                    "  {:<8} {:<10} {:<10} {}",
                    c["Process"].as_str().unwrap_or_default(),
                    c["Release"].as_str().unwrap_or_default(),
                    c["State"].as_str().unwrap_or_default(),
                    c["Name"].as_str().unwrap_or_default()
                );
            }
        }
        AppCmd::Rm { name } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/berth/v1/apps/{}", q(&name)),
                    None,
                )
                .await?;
            outln!("Removed app {name}");
        }
        AppCmd::Releases { name } => releases(client, &name).await?,
        AppCmd::Rollback { name, release } => rollback(client, &name, release.as_deref()).await?,
        AppCmd::Restart { name } => redeploy(client, &name, true).await?,
        AppCmd::Config { name } => {
            let v = app_json(client, &name).await?;
            for (k, val) in v["App"]["config"].as_object().into_iter().flatten() {
                outln!("{k}={}", val.as_str().unwrap_or_default());
            }
        }
        AppCmd::ConfigSet { name, pairs } => {
            let mut set = serde_json::Map::new();
            for p in &pairs {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| Failure::new(1, format!("{p:?}: expected KEY=VALUE")))?;
                set.insert(k.to_string(), Value::String(v.to_string()));
            }
            change(client, &name, "config", &json!({"Set": set})).await?;
            redeploy(client, &name, false).await?;
        }
        AppCmd::ConfigUnset { name, keys } => {
            change(client, &name, "config", &json!({"Unset": keys})).await?;
            redeploy(client, &name, false).await?;
        }
        AppCmd::DomainsAdd { name, domains } => {
            let v = change(client, &name, "domains", &json!({"Add": domains})).await?;
            outln!("{name}: {}", join(&v["domains"]));
        }
        AppCmd::DomainsRemove { name, domains } => {
            let v = change(client, &name, "domains", &json!({"Remove": domains})).await?;
            outln!("{name}: {}", join(&v["domains"]));
        }
        AppCmd::PsScale { name, scale } => {
            let mut counts = serde_json::Map::new();
            for s in &scale {
                let (k, n) = s
                    .split_once('=')
                    .and_then(|(k, n)| Some((k, n.parse::<u32>().ok()?)))
                    .ok_or_else(|| {
                        Failure::new(1, format!("{s:?}: expected TYPE=COUNT, e.g. web=3"))
                    })?;
                counts.insert(k.to_string(), json!(n));
            }
            change(client, &name, "scale", &Value::Object(counts)).await?;
            redeploy(client, &name, false).await?;
        }
        AppCmd::RegistrySet {
            name,
            registry,
            username,
            password_stdin,
        } => {
            let mut req = json!({"Registry": registry});
            if let Some(user) = username {
                req["Username"] = json!(user);
                req["Password"] = json!(read_password(password_stdin)?);
            }
            let v = change(client, &name, "registry", &req).await?;
            match v["registry"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => {
                    let who = v["registry_user"]
                        .as_str()
                        .map_or(String::new(), |u| format!(", logged in as {u}"));
                    outln!("{name}: images go to {r} when it runs as swarm services{who}")
                }
                None => outln!("{name}: no registry"),
            }
        }
        AppCmd::Logs { name, follow } => logs(client, &name, follow).await?,
    }
    Ok(0)
}

/// The password `--password-stdin` reads: stdin up to its end, without the
/// line end, as docker login reads it.
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    if !from_stdin {
        return Err(Failure::new(1, "a registry login needs --password-stdin"));
    }
    let mut password = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut password)
        .map_err(|e| Failure::new(1, format!("reading the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::new(1, "the password on stdin is empty"));
    }
    Ok(password)
}

async fn app_json(client: &Client, name: &str) -> Result<Value, Failure> {
    Ok(client
        .get_json(&format!("/berth/v1/apps/{}", q(name)))
        .await?)
}

async fn change(client: &Client, name: &str, what: &str, body: &Value) -> Result<Value, Failure> {
    Ok(client
        .post_json(&format!("/berth/v1/apps/{}/{what}", q(name)), Some(body))
        .await?)
}

/// Runs a recorded release again, with the config it ran with, as a new
/// release: `release` (3 or v3), else the one before the current.
async fn rollback(client: &Client, name: &str, release: Option<&str>) -> Result<(), Failure> {
    let v = app_json(client, name).await?;
    let target = rollback_target(&v["App"], release).map_err(|e| Failure::new(1, e))?;
    outln!(
        "-----> Rolling {name} back to v{} ({})",
        target["version"],
        target["image"].as_str().unwrap_or_default()
    );
    let plan = Plan::rollback(&target).map_err(|e| Failure::new(1, e))?;
    roll_out(client, name, &plan).await
}

/// New containers of the current release (with the app's config and
/// scale as they are now); without a release there is nothing to run yet.
/// `restart`: every process restarts even where nothing changed (a swarm
/// service's tasks are otherwise kept when only its replicas change).
async fn redeploy(client: &Client, name: &str, restart: bool) -> Result<(), Failure> {
    let v = app_json(client, name).await?;
    let current = current_version(&v["App"]);
    let Some(release) = router::rollout::release(&v["App"], current) else {
        outln!("{name} has no release yet: the change applies from the first push");
        return Ok(());
    };
    let mut plan = Plan::of(&release).map_err(|e| Failure::new(1, e))?;
    plan.restart = restart;
    roll_out(client, name, &plan).await
}

async fn releases(client: &Client, name: &str) -> Result<(), Failure> {
    let v = app_json(client, name).await?;
    let current = current_version(&v["App"]);
    outln!(
        "{:<2} {:<8} {:<28} {:<10} {:<25} {}",
        "",
        "RELEASE",
        "IMAGE",
        "REV",
        "CREATED",
        "DESCRIPTION"
    );
    for r in v["App"]["releases"].as_array().into_iter().flatten().rev() {
        let n = r["version"].as_u64().unwrap_or(0);
        let created = r["created"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        outln!(
            "{:<2} {:<8} {:<28} {:<10} {created:<25} {}",
            if n == current { "*" } else { "" },
            format!("v{n}"),
            r["image"].as_str().unwrap_or_default(),
            r["rev"].as_str().unwrap_or_default(),
            r["description"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

/// The current release's containers' logs, one after the other; `-f`
/// follows all of them at once (their lines interleaved as they come).
async fn logs(client: &Client, name: &str, follow: bool) -> Result<(), Failure> {
    let v = app_json(client, name).await?;
    let services: Vec<String> = v["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["ID"].as_str().map(str::to_string))
        .collect();
    if !services.is_empty() {
        // An app on a swarm manager: its services' logs, from every node.
        let all = services.iter().map(|id| service_logs(client, id, follow));
        for r in futures_util::future::join_all(all).await {
            r?;
        }
        return Ok(());
    }
    let current = v["App"]["current"].as_str().unwrap_or_default();
    let args: Vec<super::args::LogsArgs> = v["Containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["Release"] == current)
        .filter_map(|c| c["Id"].as_str())
        .map(|id| super::args::LogsArgs {
            follow,
            tail: "all".into(),
            since: None,
            until: None,
            timestamps: false,
            details: false,
            container: id.to_string(),
        })
        .collect();
    if follow {
        let all = args.into_iter().map(|a| super::containers::logs(client, a));
        for r in futures_util::future::join_all(all).await {
            r?;
        }
        return Ok(());
    }
    for a in args {
        super::containers::logs(client, a).await?;
    }
    Ok(())
}

/// One service's logs (its tasks' on every node), demultiplexed to this
/// process's stdout and stderr.
async fn service_logs(client: &Client, id: &str, follow: bool) -> Result<(), Failure> {
    let follow = if follow { "&follow=1" } else { "" };
    let resp = client
        .request(
            Method::GET,
            &format!(
                "/services/{}/logs?stdout=1&stderr=1&tail=all{follow}",
                q(id)
            ),
            super::connect::empty(),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = super::stream::Demux::default();
    while let Some(chunk) = super::connect::next_chunk(&mut body).await? {
        demux.feed(&chunk, &mut super::stream::write_std);
    }
    Ok(())
}

fn join(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
