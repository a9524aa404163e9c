//! /_ping, /version, /info, /events.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::{Event, parse_timestamp};
use serde_json::json;

use crate::query::{Filters, Params};
use crate::streams::channel_body;
use crate::{API_VERSION, ApiError, ApiResult, AppState, MIN_API_VERSION, version_string};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
}

/// The `Swarm` header tells the CLI which swarm commands to offer.
async fn ping(axum::Extension(swarm): axum::Extension<crate::swarm::SwarmState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (
                header::HeaderName::from_static("swarm"),
                swarm.ping_status().await,
            ),
        ],
        "OK",
    )
        .into_response()
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

async fn version() -> Json<serde_json::Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": { "Name": "berth Engine" },
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {
                "ApiVersion": version_string(API_VERSION),
                "MinAPIVersion": version_string(MIN_API_VERSION),
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel_version(),
            }
        }],
        "Version": v,
        "ApiVersion": version_string(API_VERSION),
        "MinAPIVersion": version_string(MIN_API_VERSION),
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    }))
}

fn cgroup_version() -> &'static str {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "2",
        _ => "1",
    }
}

/// dockerd's list: seccomp always, `name=userns` when remapping.
fn security_options(cfg: &engine::EngineConfig) -> Vec<&'static str> {
    let mut out = vec!["name=seccomp,profile=builtin"];
    if cfg.userns_remap.is_some() {
        out.push("name=userns");
    }
    out
}

async fn info(
    State(engine): State<AppState>,
    axum::Extension(swarm): axum::Extension<crate::swarm::SwarmState>,
    warnings: Option<axum::Extension<crate::listen::Warnings>>,
) -> ApiResult<Json<serde_json::Value>> {
    let warnings = warnings.map(|w| w.0.0).unwrap_or_default();
    let swarm_info = swarm.info().await;
    use engine::model::Status;
    let containers = engine.containers();
    let count = |s: Status| containers.iter().filter(|c| c.state.status == s).count();
    let images = engine.list_images()?.len();
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|kb| kb.parse::<u64>().ok())
                })
        })
        .unwrap_or(0)
        * 1024;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Json(json!({
        "ID": "",
        "Containers": containers.len(),
        "ContainersRunning": count(Status::Running),
        "ContainersPaused": count(Status::Paused),
        "ContainersStopped": count(Status::Exited) + count(Status::Created),
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlayfs"]],
        "Plugins": { "Volume": [], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"] },
        "MemoryLimit": false,
        "SwapLimit": false,
        "CpuCfsPeriod": false,
        "CpuCfsQuota": false,
        "CPUShares": false,
        "CPUSet": false,
        "PidsLimit": false,
        "IPv4Forwarding": false,
        "Debug": false,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": "Linux",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&engine.registries()),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total,
        "DockerRootDir": engine.config().data_root,
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": engine.config().runtimes.list(&engine.config().exe).into_iter()
            .map(|(name, path)| (name, serde_json::json!({ "path": path })))
            .collect::<serde_json::Map<_, _>>(),
        "DefaultRuntime": engine.config().runtimes.default_name(),
        "Swarm": swarm_info,
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": security_options(engine.config()),
        "Warnings": warnings,
    })))
}

fn event_matches(f: &Filters, e: &Event) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    f.any("type", |t| t == e.kind)
        && f.any("event", |a| {
            e.action == a || e.action.starts_with(&format!("{a}:"))
        })
        && f.any("container", |c| {
            e.kind == "container" && (e.actor.id.starts_with(c) || attr("name") == c)
        })
        && f.any("image", |i| {
            attr("image") == i || (e.kind == "image" && (e.actor.id == i || attr("name") == i))
        })
        && f.labels_match("label", &e.actor.attributes)
}

async fn events(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["type", "event", "container", "image", "label", "scope"])?;
    let ts = |key: &str| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        match params.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_timestamp(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
        }
    };
    let since = ts("since")?.map(|t| t.timestamp_nanos_opt().unwrap_or(0));
    let until = ts("until")?;
    let (history, mut live) = engine.subscribe_events();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let until_nanos = until.map(|u| u.timestamp_nanos_opt().unwrap_or(i64::MAX));
        let send = |e: &Event| -> Option<Bytes> {
            if since.is_some_and(|s| e.time_nano < s)
                || until_nanos.is_some_and(|u| e.time_nano > u)
            {
                return None;
            }
            event_matches(&filters, e).then(|| {
                Bytes::from(format!(
                    "{}\n",
                    serde_json::to_string(e).unwrap_or_default()
                ))
            })
        };
        // Without `since`, only events from now on are streamed, as dockerd does.
        if since.is_some() {
            for e in &history {
                if let Some(b) = send(e)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
            }
        }
        let deadline = until.map(|u| {
            let left = (u - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::Instant::now() + left
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            match next.await {
                None => return,
                Some(Ok(e)) => {
                    if let Some(b) = send(&e)
                        && tx.send(b).await.is_err()
                    {
                        return;
                    }
                }
                Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Some(Err(_)) => return,
            }
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error))
}

/// Docker reports GOARCH names.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// dockerd's `RegistryConfig`: Docker Hub with its mirrors (shown with a
/// trailing slash, as dockerd normalizes them) and each insecure registry.
fn registry_config(r: &engine::Registries) -> serde_json::Value {
    let mirrors: Vec<String> = r
        .mirrors
        .iter()
        .map(|m| format!("{}/", m.trim_end_matches('/')))
        .collect();
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        serde_json::json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
    );
    for name in &r.insecure {
        index.insert(
            name.clone(),
            serde_json::json!({"Name": name, "Mirrors": [], "Secure": false, "Official": false}),
        );
    }
    serde_json::json!({
        "IndexConfigs": index,
        "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
        "Mirrors": mirrors,
    })
}
