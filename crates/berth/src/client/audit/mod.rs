//! `berth audit`: the daemon and every running container against the CIS
//! Docker Benchmark items the API shows (see [`rules`]), through the
//! Docker API, so it audits dockerd as well as berth; and, for a daemon on
//! this host, the host items its files show (see [`host`]).

mod host;
mod rules;

use super::args::AuditArgs;
use super::connect::Client;
use super::{CmdResult, Failure};
use rules::Level;

pub async fn audit(client: &Client, a: AuditArgs) -> CmdResult {
    if !matches!(a.format.as_str(), "table" | "json") {
        return Err(Failure::new(
            1,
            format!("invalid --format {:?}: table or json", a.format),
        ));
    }
    let info = client.get_json("/info").await?;
    let running = client.get_json("/containers/json").await?;
    let mut containers = Vec::new();
    for c in running.as_array().into_iter().flatten() {
        let Some(id) = c.get("Id").and_then(|v| v.as_str()) else {
            continue;
        };
        // A container gone since the list is not a finding.
        if let Ok(v) = client.get_json(&format!("/containers/{id}/json")).await {
            containers.push(v);
        }
    }
    let mut findings = rules::audit(&info, &containers);
    if let (Some(socket), Some(root)) = (
        client.unix_socket(),
        info.get("DockerRootDir").and_then(|v| v.as_str()),
    ) {
        let config_dir = ["/etc/berth", "/etc/docker"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|d| d.is_dir())
            .unwrap_or_else(|| "/etc/berth".into());
        let paths = host::Paths {
            data_root: root.into(),
            socket: socket.into(),
            config_dir,
        };
        findings.extend(host::check(&host::Local, &paths));
    }
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    if a.format == "json" {
        let text =
            serde_json::to_string_pretty(&findings).map_err(|e| Failure::new(1, e.to_string()))?;
        outln!("{text}");
    } else {
        for f in &findings {
            let level = match f.level {
                Level::Pass => "PASS",
                Level::Warn => "WARN",
                Level::Info => "INFO",
            };
            let detail = if f.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", f.detail)
            };
            outln!("[{level}] {:<5} {:<24} {}{detail}", f.id, f.object, f.title);
            if f.level != Level::Pass && !f.fix.is_empty() {
                outln!("       fix: {}", f.fix);
            }
        }
        outln!();
        outln!(
            "{} items: {} PASS, {} WARN, {} INFO ({} running containers)",
            findings.len(),
            count(Level::Pass),
            count(Level::Warn),
            count(Level::Info),
            containers.len()
        );
    }
    Ok(if count(Level::Warn) > 0 {
        a.exit_code
    } else {
        0
    })
}
