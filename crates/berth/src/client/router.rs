//! `berth router ls`: the daemon's HTTP routes (`GET /berth/v1/routes`).

use hyper::Method;
use serde_json::Value;

use super::args::RouterCmd;
use super::connect::Client;
use super::{CmdResult, Failure};

pub async fn router(client: &Client, cmd: RouterCmd) -> CmdResult {
    let RouterCmd::Ls { format } = cmd;
    if !matches!(format.as_str(), "table" | "json") {
        return Err(Failure::new(
            1,
            format!("invalid --format {format:?}: table or json"),
        ));
    }
    let body = client.call(Method::GET, "/berth/v1/routes", None).await?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(1, format!("bad answer from daemon: {e}")))?;
    if format == "json" {
        let text = serde_json::to_string_pretty(&v).map_err(|e| Failure::new(1, e.to_string()))?;
        outln!("{text}");
        return Ok(0);
    }
    outln!("{}", table(&v).trim_end());
    Ok(0)
}

/// One line per backend (a route without one shows `-`), then the refusals.
fn table(v: &Value) -> String {
    let mut out = format!(
        "{:<32} {:<16} {:<24} {:<22} {}\n",
        "HOST", "PATH", "CONTAINER", "BACKEND", "STATE"
    );
    for r in v["routes"].as_array().into_iter().flatten() {
        let (host, path) = (
            r["host"].as_str().unwrap_or(""),
            r["path"].as_str().unwrap_or(""),
        );
        let backends = r["backends"].as_array().cloned().unwrap_or_default();
        if backends.is_empty() {
            out.push_str(&format!(
                "{host:<32} {path:<16} {:<24} {:<22} no healthy backend\n",
                "-", "-"
            ));
        }
        for b in backends {
            let state = if b["ejected"].as_bool() == Some(true) {
                "ejected"
            } else {
                "up"
            };
            out.push_str(&format!(
                "{host:<32} {path:<16} {:<24} {:<22} {state} ({} requests)\n",
                b["container"].as_str().unwrap_or(""),
                b["addr"].as_str().unwrap_or(""),
                b["requests"]
            ));
        }
    }
    for e in v["errors"].as_array().into_iter().flatten() {
        // Containers as before; a swarm service says so.
        let kind = match e["kind"].as_str() {
            Some("service") => "service ",
            _ => "",
        };
        out.push_str(&format!(
            "REFUSED {kind}{}: label {}={:?}: {}\n",
            e["container"].as_str().unwrap_or(""),
            e["label"].as_str().unwrap_or(""),
            e["value"].as_str().unwrap_or(""),
            e["reason"].as_str().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_backends_empty_routes_and_refusals() {
        let v = serde_json::json!({
            "routes": [
                {"host": "a.test", "path": "/", "backends": [
                    {"container": "web1", "addr": "10.0.0.2:80", "ejected": false, "requests": 3}
                ]},
                {"host": "b.test", "path": "/api", "backends": []}
            ],
            "errors": [
                {"container": "bad", "label": "berth.http.port", "value": "x", "reason": "a port number 1-65535"},
                {"kind": "service", "container": "svc", "label": "berth.http.host", "value": "x_", "reason": "bad"}
            ]
        });
        let t = table(&v);
        assert!(
            t.contains("web1") && t.contains("10.0.0.2:80") && t.contains("up (3 requests)"),
            "{t}"
        );
        assert!(t.contains("no healthy backend"), "{t}");
        assert!(
            t.contains("REFUSED bad: label berth.http.port=\"x\""),
            "{t}"
        );
        assert!(t.contains("REFUSED service svc: label"), "{t}");
    }
}
