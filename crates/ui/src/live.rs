//! Server-sent event streams for the pages: the engine's events, one
//! container's stats, and a CPU/memory summary of every running container
//! (the container list's live columns). Each relays a Docker API stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Response;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::docker;
use crate::state::Ui;

pub async fn events(State(ui): State<Arc<Ui>>) -> axum::response::Response {
    relay(docker::get(&ui, "/events").await)
}

pub async fn container_stats(
    State(ui): State<Arc<Ui>>,
    Path(id): Path<String>,
) -> axum::response::Response {
    relay(docker::get(&ui, &format!("/containers/{}/stats?stream=1", escape(&id))).await)
}

/// Every 2 s: `{"<id>": {"cpu": percent, "mem": bytes, "limit": bytes}}` for
/// the running containers.
pub async fn all_stats(State(ui): State<Arc<Ui>>) -> impl IntoResponse {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(2);
    tokio::spawn(async move {
        loop {
            let summary = summary(&ui).await;
            if tx
                .send(Ok(Event::default().data(summary.to_string())))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

async fn summary(ui: &Ui) -> Value {
    let Some(list) = json_body(docker::get(ui, "/containers/json").await).await else {
        return json!({});
    };
    let ids: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect();
    // Concurrently: each sample waits half a second for its CPU delta.
    let samples = futures_util::future::join_all(ids.iter().map(|id| async move {
        let doc =
            json_body(docker::get(ui, &format!("/containers/{id}/stats?stream=0")).await).await;
        (id.clone(), doc)
    }))
    .await;
    let mut out = serde_json::Map::new();
    for (id, doc) in samples {
        if let Some(d) = doc {
            out.insert(id, json!({ "cpu": cpu_percent(&d), "mem": d["memory_stats"]["usage"], "limit": d["memory_stats"]["limit"] }));
        }
    }
    Value::Object(out)
}

/// docker stats' CPU figure: the container's share of the host's CPU time
/// between two samples, times the CPUs (100% = one CPU busy).
pub fn cpu_percent(d: &Value) -> f64 {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let cpu = f(&d["cpu_stats"]["cpu_usage"]["total_usage"])
        - f(&d["precpu_stats"]["cpu_usage"]["total_usage"]);
    let sys = f(&d["cpu_stats"]["system_cpu_usage"]) - f(&d["precpu_stats"]["system_cpu_usage"]);
    let cpus = d["cpu_stats"]["online_cpus"]
        .as_f64()
        .unwrap_or(1.0)
        .max(1.0);
    if cpu > 0.0 && sys > 0.0 {
        cpu / sys * cpus * 100.0
    } else {
        0.0
    }
}

async fn json_body(r: Response<Body>) -> Option<Value> {
    if !r.status().is_success() {
        return None;
    }
    let b = axum::body::to_bytes(r.into_body(), 64 << 20).await.ok()?;
    serde_json::from_slice(&b).ok()
}

/// A Docker API stream of JSON lines as server-sent events, one per line;
/// an error answer passes through as it is.
fn relay(r: Response<Body>) -> axum::response::Response {
    if !r.status().is_success() {
        return r.into_response();
    }
    Sse::new(lines(r.into_body()).map(|l| Ok::<_, Infallible>(Event::default().data(l))))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn lines(body: Body) -> impl Stream<Item = String> {
    let mut chunks = body.into_data_stream();
    let (tx, rx) = mpsc::channel::<String>(16);
    tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Some(Ok(chunk)) = chunks.next().await {
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                if !line.is_empty() && tx.send(line).await.is_err() {
                    return;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// An id or name from a path, safe to splice into another path.
fn escape(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_as_docker_stats() {
        let d = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        });
        assert!((cpu_percent(&d) - 40.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&json!({})), 0.0);
    }

    #[test]
    fn escape_keeps_names_only() {
        assert_eq!(escape("web-1_a.b"), "web-1_a.b");
        assert_eq!(escape("../x?y=1"), "..xy1");
    }
}
