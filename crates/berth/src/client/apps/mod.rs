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
            let release = app["releases"]
                .as_array()
                .and_then(|r| r.iter().rev().find(|r| r["rev"] == app["current"]))
                .map(|r| {
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
    }
    Ok(0)
}

fn join(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
