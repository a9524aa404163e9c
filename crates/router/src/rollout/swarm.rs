//! An app's rollout on a swarm manager: each process type is a service
//! (`<app>-<process>`), so swarm places its tasks, restarts them and rolls
//! them over, while every node's router sends the app's domains to the
//! `web` service's serving tasks (its `berth.http.*` labels).
//!
//! A deploy updates each service's image, environment and replicas with a
//! start-first rolling update that rolls back by itself on a failed task,
//! and waits until every task of the new spec runs (healthy, when the
//! image has a HEALTHCHECK) before it records the release. CHECKS run
//! first on a one-task *check service* of the new release, straight to its
//! address from this manager: a failed check leaves the services as they
//! were, as a failed check on a single host leaves the old containers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    DockerApi, Plan, Say, environment, new_release, q, release_config, run_checks, web_port,
    with_web,
};
use crate::apps::{APP, PROCESS, RELEASE};
use crate::checks::{Checks, parse_checks};
use crate::labels::{HOST, PORT};

/// The overlay network every app's services join: the routers reach the
/// tasks through their leg on it, as containers share the default bridge.
pub const NETWORK: &str = "berth-apps";
/// The process label of the check service: not a Procfile type (those
/// are letters, digits, `-` and `_`), so no process of the app has it.
pub const CHECK: &str = ".check";
/// How long a service's update may take before the rollout rolls it back.
const CONVERGE: Duration = Duration::from_secs(180);
/// A task being replaced leaves the routes at once (its node's router
/// drains it) and gets this long to finish what it serves before SIGKILL:
/// the containers' drain and stop grace together.
const STOP_GRACE_NS: u64 = 5_000_000_000;
/// Failed tasks of the new spec that fail a deploy (swarm restarts a
/// crashing process; an update rolls back at the first).
const FAILURES: usize = 3;
/// Failures of a new task within this long roll the update back.
const MONITOR_NS: u64 = 3_000_000_000;

/// Whether `/info` describes a swarm manager (a worker, or a daemon outside
/// a swarm, runs apps as its own containers).
pub fn is_manager(info: &Value) -> bool {
    info["Swarm"]["LocalNodeState"] == "active" && info["Swarm"]["ControlAvailable"] == true
}

/// The service of an app's process type.
pub fn service_name(app: &str, process: &str) -> String {
    format!("{app}-{process}")
}

/// The check service of an app (`--` keeps it apart from process types').
fn check_name(app: &str) -> String {
    format!("{app}--check")
}

/// The host the check service is routed on, which nobody asks for: being
/// routed gives every node a leg on the apps' network, the manager's
/// included, so the CHECKS reach the task wherever it runs.
fn check_host(app: &str) -> String {
    format!("{app}.check.berth.invalid")
}

/// `filters=` of a list call.
fn filters(v: &Value) -> String {
    q(&v.to_string())
}

/// The app's services (by their `berth.app` label), the check service's
/// included.
pub async fn services_of<D: DockerApi>(api: &D, app: &str) -> Result<Vec<Value>, String> {
    let f = filters(&json!({ "label": [format!("{APP}={app}")] }));
    let all = api
        .call("GET", &format!("/services?filters={f}"), None)
        .await?;
    Ok(all.as_array().cloned().unwrap_or_default())
}

/// Removes every service of the app (`app rm`).
pub async fn remove_services<D: DockerApi>(api: &D, app: &str) -> Result<usize, String> {
    let services = services_of(api, app).await?;
    for s in &services {
        let id = s["ID"].as_str().unwrap_or_default();
        api.call("DELETE", &format!("/services/{}", q(id)), None)
            .await?;
    }
    Ok(services.len())
}

/// One process type's service, as this release wants it.
struct Want<'a> {
    app: &'a str,
    process: &'a str,
    label: &'a str,
    image: &'a str,
    env: &'a [String],
    cmd: Option<&'a str>,
    replicas: u64,
    network: &'a str,
    /// `berth.http.host` and `berth.http.port` (the web service).
    route: Option<(String, u16)>,
    force_update: u64,
    /// The app's registry credentials, for the nodes' pulls.
    registry_auth: Option<&'a str>,
}

impl Want<'_> {
    fn spec(&self, name: &str) -> Value {
        let mut labels = json!({APP: self.app, PROCESS: self.process, RELEASE: self.label});
        if let Some((hosts, port)) = &self.route {
            labels[HOST] = json!(hosts);
            labels[PORT] = json!(port.to_string());
        }
        let mut container = json!({
            "Image": self.image,
            "Env": self.env,
            "StopGracePeriod": STOP_GRACE_NS,
        });
        if let Some(cmd) = self.cmd {
            // As the containers' Cmd: the image's entrypoint stays.
            container["Args"] = json!(["/bin/sh", "-c", cmd]);
        }
        let mut template = json!({
            "ContainerSpec": container,
            "Networks": [{"Target": self.network}],
            "ForceUpdate": self.force_update,
        });
        if self.process == CHECK {
            // A check task that dies fails the check; it is not restarted.
            template["RestartPolicy"] = json!({"Condition": "none"});
        }
        json!({
            "Name": name,
            "Labels": labels,
            "TaskTemplate": template,
            "Mode": {"Replicated": {"Replicas": self.replicas}},
            "UpdateConfig": {
                "Parallelism": 1,
                "Order": "start-first",
                "FailureAction": "rollback",
                "Monitor": MONITOR_NS,
            },
            "RollbackConfig": {"Parallelism": 1, "Order": "start-first", "Monitor": MONITOR_NS},
        })
    }
}

/// What the rollout changed, to undo on a failure.
enum Done {
    Created(String),
    Updated(String),
}

/// The swarm counterpart of [`super::roll_out`], same plan and outcome.
pub async fn roll_out<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    name: &str,
    app: &Value,
    plan: &Plan,
    info: &Value,
) -> Result<(), String> {
    let version = app["releases"].as_array().map_or(0, Vec::len) + 1;
    let label = format!("v{version}");
    let checks = plan.checks.as_deref().map(parse_checks).transpose()?;
    let config = release_config(say, app, plan);
    let port = web_port(app, &config);
    let env = environment(&config);
    let mut processes = with_web(plan);
    // The web service first: the others follow a release that serves.
    processes.sort_by_key(|(k, _)| k != "web");
    let nodes = info["Swarm"]["Nodes"].as_u64().unwrap_or(1);
    let registry_auth = registry_auth(api, name, app).await?;
    let auth = registry_auth.as_deref();
    let image = publish(api, say, name, app, &plan.image, nodes, auth).await?;
    let network = ensure_network(api).await?;
    let existing = services_of(api, name).await?;
    let domains: Vec<&str> = app["domains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let want = |process: &'static str| Want {
        app: name,
        process,
        label: &label,
        image: &image,
        env: &env,
        cmd: None,
        replicas: 1,
        network: &network,
        route: None,
        force_update: 0,
        registry_auth: auth,
    };
    if let Some(c) = checks.as_ref().filter(|c| !c.checks.is_empty()) {
        let web_cmd = processes
            .iter()
            .find(|(k, _)| k == "web")
            .and_then(|(_, c)| c.as_deref());
        let check = Want {
            cmd: web_cmd,
            route: Some((check_host(name), port)),
            ..want(CHECK)
        };
        if let Err(e) = check_service(api, say, &check, &network, port, c).await {
            say(&format!(
                "!     Deploy of {} failed; the running release is unchanged",
                plan.rev
            ));
            return Err(e);
        }
    }
    let mut done = Vec::new();
    for (kind, cmd) in &processes {
        let sname = service_name(name, kind);
        let current = existing
            .iter()
            .find(|s| s["Spec"]["Name"] == sname.as_str());
        let force = current
            .and_then(|s| s["Spec"]["TaskTemplate"]["ForceUpdate"].as_u64())
            .unwrap_or(0);
        let w = Want {
            process: kind,
            cmd: cmd.as_deref(),
            replicas: app["scale"][kind.as_str()].as_u64().unwrap_or(1),
            route: (kind == "web").then(|| (domains.join(","), port)),
            force_update: force + u64::from(plan.restart),
            ..want("web")
        };
        let failed = match apply(api, say, &sname, current, &w).await {
            Ok(step) => {
                let id = match &step {
                    Done::Created(id) | Done::Updated(id) => id.clone(),
                };
                let created = matches!(step, Done::Created(_));
                done.push(step);
                match converge(api, say, &id, &sname).await {
                    Ok(()) => None,
                    // Swarm put this one back itself; a new one goes.
                    Err(f) if f.rolled_back && !created => {
                        done.pop();
                        Some(f.message)
                    }
                    Err(f) => Some(f.message),
                }
            }
            Err(e) => Some(e),
        };
        if let Some(message) = failed {
            undo_all(api, &done).await;
            say(&format!(
                "!     Deploy of {} failed; the running release is unchanged",
                plan.rev
            ));
            return Err(message);
        }
    }
    say(&format!("-----> Releasing {name} {label} ({image})"));
    let recorded = api
        .call(
            "POST",
            &format!("/berth/v1/apps/{}/releases", q(name)),
            Some(&new_release(app, plan, version, &image, &config)),
        )
        .await;
    if let Err(e) = recorded {
        undo_all(api, &done).await;
        return Err(e);
    }
    // Process types the release no longer has, and containers of releases
    // run before the node joined a swarm.
    for s in &existing {
        let process = s["Spec"]["Labels"][PROCESS].as_str().unwrap_or_default();
        if process != CHECK && !processes.iter().any(|(k, _)| k == process) {
            let id = s["ID"].as_str().unwrap_or_default();
            say(&format!(
                "-----> Removing service {}",
                s["Spec"]["Name"].as_str().unwrap_or_default()
            ));
            api.call("DELETE", &format!("/services/{}", q(id)), None)
                .await?;
        }
    }
    super::retire_old(api, say, name, &label).await?;
    let domain = domains.first().copied().unwrap_or_default();
    say(&format!(
        "=====> {name} {label} ({}) deployed: http://{domain}/",
        plan.rev
    ));
    Ok(())
}

/// Creates the service or updates it to `w`.
async fn apply<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    sname: &str,
    current: Option<&Value>,
    w: &Want<'_>,
) -> Result<Done, String> {
    let spec = w.spec(sname);
    match current {
        Some(s) => {
            let id = s["ID"].as_str().unwrap_or_default().to_string();
            let version = s["Version"]["Index"].as_u64().unwrap_or(0);
            say(&format!(
                "-----> Updating service {sname}: {} replica(s) of {} (start-first)",
                w.replicas, w.image
            ));
            api.call_as(
                "POST",
                &format!("/services/{}/update?version={version}", q(&id)),
                Some(&spec),
                w.registry_auth,
            )
            .await?;
            Ok(Done::Updated(id))
        }
        None => {
            say(&format!(
                "-----> Creating service {sname}: {} replica(s) of {}",
                w.replicas, w.image
            ));
            let v = api
                .call_as("POST", "/services/create", Some(&spec), w.registry_auth)
                .await?;
            Ok(Done::Created(
                v["ID"].as_str().unwrap_or_default().to_string(),
            ))
        }
    }
}

/// Puts back what the rollout changed: created services go, updated ones
/// get their previous spec.
async fn undo_all<D: DockerApi>(api: &D, done: &[Done]) {
    for step in done.iter().rev() {
        match step {
            Done::Created(id) => {
                let _ = api
                    .call("DELETE", &format!("/services/{}", q(id)), None)
                    .await;
            }
            Done::Updated(id) => {
                let Ok(s) = api.call("GET", &format!("/services/{}", q(id)), None).await else {
                    continue;
                };
                let version = s["Version"]["Index"].as_u64().unwrap_or(0);
                let _ = api
                    .call(
                        "POST",
                        &format!(
                            "/services/{}/update?version={version}&rollback=previous",
                            q(id)
                        ),
                        Some(&s["Spec"]),
                    )
                    .await;
            }
        }
    }
}

/// A failed update: why, and whether swarm already put the old spec back.
#[derive(Debug)]
struct Failed {
    message: String,
    rolled_back: bool,
}

/// What the tasks of a service say about its update.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Every task wanted running runs the current spec, as many as wanted.
    Converged,
    Pending,
    /// The update failed (swarm rolls it back, or did).
    Failed(String),
}

/// Reads a service and its tasks wanted running.
fn progress(service: &Value, tasks: &[Value]) -> Progress {
    let status = &service["UpdateStatus"];
    let state = status["State"].as_str().unwrap_or_default();
    if matches!(
        state,
        "paused" | "rollback_started" | "rollback_paused" | "rollback_completed"
    ) {
        let why = status["Message"].as_str().unwrap_or(state);
        let task_err = tasks
            .iter()
            .filter_map(|t| t["Status"]["Err"].as_str())
            .find(|e| !e.is_empty());
        return Progress::Failed(match task_err {
            Some(e) => format!("{why} ({e})"),
            None => why.to_string(),
        });
    }
    let template = &service["Spec"]["TaskTemplate"];
    let failures: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["Spec"] == *template)
        .filter(|t| matches!(t["Status"]["State"].as_str(), Some("failed" | "rejected")))
        .collect();
    if failures.len() >= FAILURES {
        let e = failures
            .iter()
            .filter_map(|t| t["Status"]["Err"].as_str())
            .find(|e| !e.is_empty())
            .unwrap_or("they exit");
        return Progress::Failed(format!("its new tasks keep failing: {e}"));
    }
    let want = service["Spec"]["Mode"]["Replicated"]["Replicas"]
        .as_u64()
        .unwrap_or(1);
    let wanted: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["DesiredState"] == "running")
        .collect();
    let current = wanted.iter().filter(|t| t["Spec"] == *template);
    let running = current
        .clone()
        .filter(|t| t["Status"]["State"] == "running")
        .count() as u64;
    let stale = wanted.iter().any(|t| t["Spec"] != *template);
    if running == want && !stale && state != "updating" && state != "rollback_started" {
        Progress::Converged
    } else {
        Progress::Pending
    }
}

/// Waits until the service's tasks all run its current spec; a failed
/// update is waited out until swarm rolled it back, so the old spec serves
/// when the rollout reports it.
async fn converge<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    id: &str,
    sname: &str,
) -> Result<(), Failed> {
    let fail = |message: String, rolled_back: bool| Failed {
        message,
        rolled_back,
    };
    let deadline = Instant::now() + CONVERGE;
    let mut failed: Option<String> = None;
    loop {
        let s = api
            .call("GET", &format!("/services/{}", q(id)), None)
            .await
            .map_err(|e| fail(e, false))?;
        let f = filters(&json!({"service": [id]}));
        let tasks = api
            .call("GET", &format!("/tasks?filters={f}"), None)
            .await
            .map_err(|e| fail(e, false))?;
        let tasks = tasks.as_array().cloned().unwrap_or_default();
        match (progress(&s, &tasks), &failed) {
            (Progress::Converged, None) => {
                say(&format!("       {sname}: every task runs the new spec"));
                return Ok(());
            }
            (Progress::Failed(why), None) => {
                say(&format!(
                    "       {sname}: the update failed ({why}); swarm rolls it back"
                ));
                failed = Some(why);
            }
            (_, Some(why)) if s["UpdateStatus"]["State"] != "rollback_started" => {
                let rolled_back = s["UpdateStatus"]["State"] == "rollback_completed";
                let message = if rolled_back {
                    format!("service {sname} failed to update and was rolled back: {why}")
                } else {
                    format!("service {sname} failed: {why}")
                };
                return Err(fail(message, rolled_back));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(fail(
                format!(
                    "service {sname}: its tasks did not all run the new spec within {CONVERGE:?}"
                ),
                false,
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The app's registry credentials (`registry:set --username`), when it
/// has a registry and they were given.
async fn registry_auth<D: DockerApi>(
    api: &D,
    name: &str,
    app: &Value,
) -> Result<Option<String>, String> {
    if app["registry_user"].as_str().is_none() {
        return Ok(None);
    }
    let v = api
        .call(
            "GET",
            &format!("/berth/v1/apps/{}/registry-auth", q(name)),
            None,
        )
        .await?;
    Ok(v["Auth"].as_str().map(str::to_string))
}

/// The app's image where every node can pull it: pushed to the app's
/// registry (`registry:set`) as `<registry>/<name>:<tag>`, with its
/// credentials when it has some. A one-node swarm runs the image it built.
async fn publish<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    name: &str,
    app: &Value,
    image: &str,
    nodes: u64,
    registry_auth: Option<&str>,
) -> Result<String, String> {
    let registry = app["registry"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(|r| r.trim_end_matches('/'));
    let Some(registry) = registry else {
        if nodes > 1 {
            return Err(format!(
                "app {name} runs as swarm services on {nodes} nodes, which pull its image \
                 from a registry: set one with `berth app registry:set {name} HOST[:PORT]`"
            ));
        }
        return Ok(image.to_string());
    };
    if image.starts_with(&format!("{registry}/")) {
        // A release published before (a rollback, a restart).
        return Ok(image.to_string());
    }
    let (repo, tag) = split_tag(image);
    let target = format!("{registry}/{repo}");
    api.call(
        "POST",
        &format!("/images/{image}/tag?repo={}&tag={}", q(&target), q(tag)),
        None,
    )
    .await?;
    say(&format!("-----> Pushing {target}:{tag}"));
    let out = api
        .call_as(
            "POST",
            &format!("/images/{target}/push?tag={}", q(tag)),
            None,
            registry_auth,
        )
        .await?;
    let lines = match out {
        Value::Array(a) => a,
        v => vec![v],
    };
    if let Some(e) = lines.iter().find_map(|l| l["error"].as_str()) {
        return Err(format!("pushing {target}:{tag}: {e}"));
    }
    Ok(format!("{target}:{tag}"))
}

/// `name:tag` → (`name`, `tag`); `latest` when it has none.
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// The apps' overlay network's id, made on first use.
async fn ensure_network<D: DockerApi>(api: &D) -> Result<String, String> {
    if let Ok(v) = api.call("GET", &format!("/networks/{NETWORK}"), None).await
        && let Some(id) = v["Id"].as_str()
    {
        return Ok(id.to_string());
    }
    let made = api
        .call(
            "POST",
            "/networks/create",
            Some(&json!({"Name": NETWORK, "Driver": "overlay", "CheckDuplicate": true})),
        )
        .await;
    match made {
        Ok(v) => Ok(v["Id"].as_str().unwrap_or_default().to_string()),
        // Another deploy made it meanwhile.
        Err(e) => api
            .call("GET", &format!("/networks/{NETWORK}"), None)
            .await
            .ok()
            .and_then(|v| v["Id"].as_str().map(str::to_string))
            .ok_or(e),
    }
}

/// Runs the new release's web process as a one-task service and its
/// CHECKS against that task's address; the service goes either way.
async fn check_service<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    w: &Want<'_>,
    network: &str,
    port: u16,
    checks: &Checks,
) -> Result<(), String> {
    let sname = check_name(w.app);
    // One left by an interrupted deploy.
    let _ = api
        .call("DELETE", &format!("/services/{}", q(&sname)), None)
        .await;
    say(&format!(
        "-----> Starting {sname} to run CHECKS on the new release"
    ));
    let v = api
        .call_as(
            "POST",
            "/services/create",
            Some(&w.spec(&sname)),
            w.registry_auth,
        )
        .await?;
    let id = v["ID"].as_str().unwrap_or_default().to_string();
    let result = async {
        let ip = check_task_address(api, &id, network).await?;
        if !reachable(&ip, port).await {
            say(&format!(
                "       {ip}:{port} is out of this manager's reach: the tasks' health decides"
            ));
            return Ok(());
        }
        run_checks(say, &ip, port, checks).await
    }
    .await;
    let _ = api
        .call("DELETE", &format!("/services/{}", q(&id)), None)
        .await;
    result
}

/// The running check task's address on the apps' network.
async fn check_task_address<D: DockerApi>(
    api: &D,
    id: &str,
    network: &str,
) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let f = filters(&json!({"service": [id]}));
    loop {
        let tasks = api
            .call("GET", &format!("/tasks?filters={f}"), None)
            .await?;
        for t in tasks.as_array().into_iter().flatten() {
            match t["Status"]["State"].as_str().unwrap_or_default() {
                "running" => {
                    if let Some(ip) = task_address(t, network) {
                        return Ok(ip);
                    }
                }
                "failed" | "rejected" | "complete" | "shutdown" => {
                    return Err(format!(
                        "the new release's web process did not keep running: {}",
                        t["Status"]["Err"]
                            .as_str()
                            .filter(|e| !e.is_empty())
                            .or(t["Status"]["Message"].as_str())
                            .unwrap_or("it exited")
                    ));
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err("the new release's web process was not running within 60s".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A task's address (without its prefix length) on `network`.
fn task_address(task: &Value, network: &str) -> Option<String> {
    task["NetworksAttachments"]
        .as_array()?
        .iter()
        .find(|a| a["Network"]["ID"] == network)?["Addresses"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .next()
}

/// Whether the task's port takes connections from here within 20 s (the
/// node's leg on the network comes a moment after the task).
async fn reachable(ip: &str, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await;
        if matches!(attempt, Ok(Ok(_))) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A swarm manager's API in memory: services converge at once (their
    /// tasks run the current spec), or an update fails and swarm rolls it
    /// back.
    #[derive(Default)]
    struct Fake {
        nodes: u64,
        /// Every update fails and is rolled back.
        fail_updates: bool,
        /// The check task's address (a loopback server in the test).
        task_addr: String,
        state: Mutex<State>,
    }

    #[derive(Default)]
    struct State {
        calls: Vec<String>,
        /// The calls that carried registry credentials, with them.
        with_auth: Vec<(String, String)>,
        network: bool,
        services: Vec<Value>,
        releases: Vec<Value>,
        next: u64,
    }

    impl Fake {
        fn calls(&self) -> Vec<String> {
            self.state.lock().unwrap().calls.clone()
        }

        fn service(&self, name: &str) -> Option<Value> {
            let st = self.state.lock().unwrap();
            st.services
                .iter()
                .find(|s| s["Spec"]["Name"] == name)
                .cloned()
        }

        fn answer(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
            let mut st = self.state.lock().unwrap();
            st.calls.push(format!("{method} {path}"));
            let id_of = |p: &str| {
                p.trim_start_matches("/services/")
                    .split(['/', '?'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            };
            match (method, path) {
                ("GET", "/berth/v1/apps/demo/registry-auth") => Ok(json!({"Auth": "c2VjcmV0"})),
                ("GET", "/info") => Ok(json!({"Swarm": {
                    "LocalNodeState": "active", "ControlAvailable": true, "Nodes": self.nodes}})),
                ("GET", p) if p.starts_with("/networks/") => {
                    if st.network {
                        Ok(json!({"Id": "net1"}))
                    } else {
                        Err("network berth-apps not found".into())
                    }
                }
                ("POST", "/networks/create") => {
                    st.network = true;
                    Ok(json!({"Id": "net1"}))
                }
                ("GET", p) if p.starts_with("/services?") => Ok(json!(st.services)),
                ("POST", "/services/create") => {
                    st.next += 1;
                    let id = format!("svc{}", st.next);
                    let spec = body.cloned().unwrap_or_default();
                    st.services
                        .push(json!({"ID": id, "Version": {"Index": 1}, "Spec": spec}));
                    Ok(json!({ "ID": id }))
                }
                ("POST", p) if p.starts_with("/services/") && p.contains("/update?") => {
                    let id = id_of(p);
                    let fail = self.fail_updates && !p.contains("rollback=previous");
                    let s = st
                        .services
                        .iter_mut()
                        .find(|s| s["ID"] == id.as_str())
                        .ok_or("no such service")?;
                    let version = s["Version"]["Index"].as_u64().unwrap_or(0);
                    if !p.contains(&format!("version={version}")) {
                        return Err("update out of sequence".into());
                    }
                    s["Version"]["Index"] = json!(version + 1);
                    if fail {
                        s["UpdateStatus"] = json!({"State": "rollback_completed",
                            "Message": "update rolled back due to failure or early termination of task x"});
                    } else {
                        s["PreviousSpec"] = s["Spec"].clone();
                        s["Spec"] = body.cloned().unwrap_or_default();
                        s["UpdateStatus"] = Value::Null;
                    }
                    Ok(json!({"Warnings": null}))
                }
                ("GET", p) if p.starts_with("/services/") => st
                    .services
                    .iter()
                    .find(|s| s["ID"] == id_of(p).as_str())
                    .cloned()
                    .ok_or_else(|| "no such service".to_string()),
                ("DELETE", p) if p.starts_with("/services/") => {
                    let id = id_of(p);
                    st.services
                        .retain(|s| s["ID"] != id.as_str() && s["Spec"]["Name"] != id.as_str());
                    Ok(Value::Null)
                }
                ("GET", p) if p.starts_with("/tasks?") => {
                    let Some(s) = st.services.iter().find(|s| {
                        p.contains(&format!("%22{}%22", s["ID"].as_str().unwrap_or("-")))
                    }) else {
                        return Ok(json!([]));
                    };
                    let n = s["Spec"]["Mode"]["Replicated"]["Replicas"]
                        .as_u64()
                        .unwrap_or(1);
                    let tasks: Vec<Value> = (0..n)
                        .map(|_| {
                            json!({
                                "DesiredState": "running",
                                "Spec": s["Spec"]["TaskTemplate"],
                                "Status": {"State": "running"},
                                "NetworksAttachments": [{"Network": {"ID": "net1"},
                                    "Addresses": [format!("{}/8", self.task_addr)]}],
                            })
                        })
                        .collect();
                    Ok(json!(tasks))
                }
                ("POST", p) if p.ends_with("/releases") => {
                    st.releases.push(body.cloned().unwrap_or_default());
                    Ok(json!({}))
                }
                ("GET", "/containers/json?all=1") => Ok(json!([])),
                ("POST", p) if p.contains("/tag?") => Ok(Value::Null),
                ("POST", p) if p.contains("/push?") => {
                    Ok(json!([{"status": "Pushing"}, {"aux": {"Digest": "sha256:0"}}]))
                }
                _ => Err(format!("unexpected call {method} {path}")),
            }
        }
    }

    impl DockerApi for Fake {
        fn call_as<'a>(
            &'a self,
            method: &'a str,
            path: &'a str,
            body: Option<&'a Value>,
            registry_auth: Option<&'a str>,
        ) -> impl std::future::Future<Output = Result<Value, String>> + Send + 'a {
            if let Some(auth) = registry_auth {
                let mut st = self.state.lock().unwrap();
                st.with_auth
                    .push((format!("{method} {path}"), auth.to_string()));
            }
            let answer = self.answer(method, path, body);
            async move { answer }
        }
    }

    fn app(releases: usize) -> Value {
        json!({
            "name": "demo",
            "domains": ["demo.test", "www.demo.test"],
            "port": 80,
            "releases": (1..=releases).map(|v| json!({"version": v})).collect::<Vec<_>>(),
            "config": {"GREETING": "hi"},
            "scale": {"web": 2},
            "registry": "reg.test:5000",
        })
    }

    fn plan(image: &str, checks: Option<&str>) -> Plan {
        Plan::deploy(
            image.into(),
            "abc1234".into(),
            vec![("worker".into(), Some("sleep 1d".into()))],
            checks.map(str::to_string),
        )
    }

    async fn deploy(fake: &Fake, app: &Value, plan: &Plan) -> (Result<(), String>, Vec<String>) {
        let lines = Mutex::new(Vec::new());
        let say = |l: &str| lines.lock().unwrap().push(l.to_string());
        let info = fake.answer("GET", "/info", None).unwrap();
        let r = roll_out(fake, &say, "demo", app, plan, &info).await;
        (r, lines.into_inner().unwrap())
    }

    #[test]
    fn a_manager_is_an_active_node_with_control() {
        let info = |state: &str, control: bool| json!({"Swarm": {"LocalNodeState": state, "ControlAvailable": control}});
        assert!(is_manager(&info("active", true)));
        assert!(!is_manager(&info("active", false)), "a worker");
        assert!(!is_manager(&info("inactive", false)));
        assert!(!is_manager(&info("locked", false)));
        assert_eq!(split_tag("demo:abc"), ("demo", "abc"));
        assert_eq!(split_tag("reg:5000/demo"), ("reg:5000/demo", "latest"));
    }

    #[test]
    fn progress_reads_the_tasks_of_the_current_spec() {
        let template = json!({"ContainerSpec": {"Image": "new"}});
        let old = json!({"ContainerSpec": {"Image": "old"}});
        let service = |state: Value| {
            json!({"Spec": {"TaskTemplate": template, "Mode": {"Replicated": {"Replicas": 2}}},
                   "UpdateStatus": {"State": state, "Message": "update rolled back"}})
        };
        let task = |spec: &Value, desired: &str, state: &str| json!({"Spec": spec, "DesiredState": desired, "Status": {"State": state, "Err": ""}});
        let new_running = task(&template, "running", "running");
        let old_running = task(&old, "running", "running");
        let old_stopping = task(&old, "shutdown", "running");
        assert_eq!(
            progress(
                &service(json!("completed")),
                &[
                    new_running.clone(),
                    new_running.clone(),
                    old_stopping.clone()
                ]
            ),
            Progress::Converged
        );
        assert_eq!(
            progress(
                &service(Value::Null),
                &[new_running.clone(), old_running.clone()]
            ),
            Progress::Pending,
            "an old task still wanted"
        );
        assert_eq!(
            progress(
                &service(json!("updating")),
                &[new_running.clone(), new_running.clone()]
            ),
            Progress::Pending,
            "the monitor window"
        );
        assert_eq!(
            progress(
                &service(Value::Null),
                &[new_running.clone(), task(&template, "running", "starting")]
            ),
            Progress::Pending
        );
        assert!(matches!(
            progress(&service(json!("rollback_started")), std::slice::from_ref(&old_running)),
            Progress::Failed(m) if m.contains("update rolled back")
        ));
        let crashed = json!({"Spec": template, "DesiredState": "shutdown",
            "Status": {"State": "failed", "Err": "task: non-zero exit (1)"}});
        assert!(matches!(
            progress(&service(Value::Null), &[crashed.clone(), crashed.clone(), crashed]),
            Progress::Failed(m) if m.contains("non-zero exit (1)")
        ));
    }

    #[tokio::test]
    async fn a_first_deploy_pushes_the_image_and_creates_a_service_per_process() {
        let fake = Fake {
            nodes: 2,
            ..Fake::default()
        };
        let (r, lines) = deploy(&fake, &app(0), &plan("demo:abc1234", None)).await;
        r.unwrap();
        let calls = fake.calls();
        assert!(
            calls.contains(
                &"POST /images/demo:abc1234/tag?repo=reg.test%3A5000%2Fdemo&tag=abc1234".into()
            ),
            "{calls:?}"
        );
        assert!(calls.contains(&"POST /images/reg.test:5000/demo/push?tag=abc1234".into()));
        assert!(calls.contains(&"POST /networks/create".into()));
        let web = fake.service("demo-web").unwrap();
        let spec = &web["Spec"];
        assert_eq!(spec["Labels"]["berth.app"], "demo");
        assert_eq!(spec["Labels"]["berth.app.process"], "web");
        assert_eq!(spec["Labels"]["berth.app.release"], "v1");
        assert_eq!(spec["Labels"]["berth.http.host"], "demo.test,www.demo.test");
        assert_eq!(spec["Labels"]["berth.http.port"], "80");
        assert_eq!(spec["Mode"]["Replicated"]["Replicas"], 2);
        let template = &spec["TaskTemplate"];
        assert_eq!(
            template["ContainerSpec"]["Image"],
            "reg.test:5000/demo:abc1234"
        );
        assert_eq!(template["ContainerSpec"]["Env"], json!(["GREETING=hi"]));
        assert!(
            template["ContainerSpec"]["Args"].is_null(),
            "the image's command"
        );
        assert_eq!(template["Networks"], json!([{"Target": "net1"}]));
        assert_eq!(spec["UpdateConfig"]["Order"], "start-first");
        assert_eq!(spec["UpdateConfig"]["FailureAction"], "rollback");
        let worker = fake.service("demo-worker").unwrap();
        assert_eq!(
            worker["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"],
            json!(["/bin/sh", "-c", "sleep 1d"])
        );
        assert_eq!(worker["Spec"]["Mode"]["Replicated"]["Replicas"], 1);
        assert!(worker["Spec"]["Labels"]["berth.http.host"].is_null());
        let releases = fake.state.lock().unwrap().releases.clone();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0]["Version"], 1);
        assert_eq!(releases[0]["Image"], "reg.test:5000/demo:abc1234");
        assert!(lines.last().unwrap().contains("demo v1 (abc1234) deployed"));
    }

    #[tokio::test]
    async fn a_redeploy_updates_the_services_and_a_restart_forces_their_tasks() {
        let fake = Fake {
            nodes: 1,
            ..Fake::default()
        };
        deploy(&fake, &app(0), &plan("demo:abc1234", None))
            .await
            .0
            .unwrap();
        // A rollback to a published release: no push; a restart.
        let mut p = plan("reg.test:5000/demo:0ld0000", None);
        p.restart = true;
        p.processes.clear();
        let mut a = app(1);
        a["scale"]["web"] = json!(3);
        let (r, _) = deploy(&fake, &a, &p).await;
        r.unwrap();
        let calls = fake.calls();
        assert_eq!(calls.iter().filter(|c| c.contains("/push?")).count(), 1);
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("POST /services/svc1/update?version=1"))
        );
        let web = fake.service("demo-web").unwrap();
        assert_eq!(web["Spec"]["Mode"]["Replicated"]["Replicas"], 3);
        assert_eq!(web["Spec"]["TaskTemplate"]["ForceUpdate"], 1);
        assert_eq!(web["Spec"]["Labels"]["berth.app.release"], "v2");
        assert_eq!(
            web["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
            "reg.test:5000/demo:0ld0000"
        );
        // The worker process is gone from the release: so is its service.
        assert!(fake.service("demo-worker").is_none());
    }

    #[tokio::test]
    async fn a_rollback_updates_the_services_to_its_releases_config() {
        let fake = Fake {
            nodes: 1,
            ..Fake::default()
        };
        let mut a = app(0);
        a["config"] = json!({"GREETING": "one"});
        deploy(&fake, &a, &plan("demo:abc1234", None))
            .await
            .0
            .unwrap();
        let v1 = fake.state.lock().unwrap().releases[0].clone();
        assert_eq!(v1["Config"], json!({"GREETING": "one"}));
        assert_eq!(v1["Description"], "Deploy abc1234");
        // config:set GREETING=two made v2; the rollback to v1 runs v1's.
        let mut a = app(2);
        a["current"] = json!("v2");
        a["config"] = json!({"GREETING": "two"});
        a["releases"][0] = json!({"version": 1, "image": "demo:abc1234", "rev": "abc1234",
            "processes": [], "config": {"GREETING": "one"}});
        a["releases"][1]["config"] = json!({"GREETING": "two"});
        let p = Plan::rollback(&a["releases"][0]).unwrap();
        let (r, lines) = deploy(&fake, &a, &p).await;
        r.unwrap();
        let web = fake.service("demo-web").unwrap();
        let template = &web["Spec"]["TaskTemplate"];
        assert_eq!(template["ContainerSpec"]["Env"], json!(["GREETING=one"]));
        assert_eq!(web["Spec"]["Labels"]["berth.app.release"], "v3");
        let v3 = fake.state.lock().unwrap().releases[1].clone();
        assert_eq!(v3["Version"], 3);
        assert_eq!(v3["Config"], json!({"GREETING": "one"}));
        assert_eq!(v3["Description"], "Rollback to v1");
        assert!(
            lines.iter().any(|l| l.contains("config v1 ran with")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_update_is_rolled_back_and_nothing_is_recorded() {
        let fake = Fake {
            nodes: 1,
            ..Fake::default()
        };
        deploy(&fake, &app(0), &plan("demo:abc1234", None))
            .await
            .0
            .unwrap();
        let failing = Fake {
            fail_updates: true,
            nodes: 1,
            ..Fake::default()
        };
        {
            let mut st = failing.state.lock().unwrap();
            let done = fake.state.lock().unwrap();
            st.services = done.services.clone();
            st.network = true;
            st.next = done.next;
        }
        let (r, lines) = deploy(&failing, &app(1), &plan("demo:def5678", None)).await;
        let e = r.unwrap_err();
        assert!(e.contains("failed to update and was rolled back"), "{e}");
        assert!(
            lines
                .last()
                .unwrap()
                .contains("the running release is unchanged")
        );
        assert!(failing.state.lock().unwrap().releases.is_empty());
        // The web service rolled itself back; the worker was not touched.
        let calls = failing.calls();
        assert!(
            !calls.iter().any(|c| c.contains("rollback=previous")),
            "{calls:?}"
        );
        assert!(!calls.iter().any(|c| c.starts_with("POST /services/svc2")));
    }

    #[tokio::test]
    async fn a_registry_login_goes_with_the_push_and_the_services() {
        let fake = Fake {
            nodes: 2,
            ..Fake::default()
        };
        let (r, _) = deploy(&fake, &app(0), &plan("demo:abc1234", None)).await;
        r.unwrap();
        assert!(fake.state.lock().unwrap().with_auth.is_empty());
        assert!(
            !fake.calls().iter().any(|c| c.contains("registry-auth")),
            "{:?}",
            fake.calls()
        );

        let fake = Fake {
            nodes: 2,
            ..Fake::default()
        };
        let mut a = app(0);
        a["registry_user"] = json!("alice");
        let (r, _) = deploy(&fake, &a, &plan("demo:abc1234", None)).await;
        r.unwrap();
        let with_auth = fake.state.lock().unwrap().with_auth.clone();
        let calls: Vec<&str> = with_auth.iter().map(|(c, _)| c.as_str()).collect();
        assert!(
            with_auth.iter().all(|(_, a)| a == "c2VjcmV0"),
            "{with_auth:?}"
        );
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("POST /images/reg.test:5000/demo/push")),
            "{calls:?}"
        );
        assert_eq!(
            calls
                .iter()
                .filter(|c| **c == "POST /services/create")
                .count(),
            2,
            "web and worker: {calls:?}"
        );
        // A redeploy updates them with the credentials too.
        let (r, _) = deploy(&fake, &a, &plan("demo:def5678", None)).await;
        r.unwrap();
        let with_auth = fake.state.lock().unwrap().with_auth.clone();
        assert!(
            with_auth
                .iter()
                .any(|(c, _)| c.starts_with("POST /services/svc1/update?")),
            "{with_auth:?}"
        );
    }

    #[tokio::test]
    async fn several_nodes_need_a_registry() {
        let fake = Fake {
            nodes: 3,
            ..Fake::default()
        };
        let mut a = app(0);
        a["registry"] = Value::Null;
        let (r, _) = deploy(&fake, &a, &plan("demo:abc1234", None)).await;
        let e = r.unwrap_err();
        assert!(e.contains("berth app registry:set demo HOST[:PORT]"), "{e}");
        assert!(fake.service("demo-web").is_none());
    }

    /// A loopback HTTP server answering every request with `body`; its port.
    async fn serve(body: &'static str) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer = format!("HTTP/1.0 200 OK\r\n\r\n{body}");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn checks_run_on_a_check_service_before_the_web_service_changes() {
        let port = serve("version two").await;
        let fake = Fake {
            nodes: 1,
            task_addr: "127.0.0.1".into(),
            ..Fake::default()
        };
        let mut a = app(0);
        a["config"]["PORT"] = json!(port.to_string());
        let checks = "WAIT=0\nATTEMPTS=1\n/ version two\n";
        let (r, lines) = deploy(&fake, &a, &plan("demo:abc1234", Some(checks))).await;
        r.unwrap();
        assert!(lines.iter().any(|l| l.contains("/: ok")), "{lines:?}");
        let calls = fake.calls();
        let check = calls
            .iter()
            .position(|c| c == "POST /services/create")
            .unwrap();
        assert!(calls[check + 1..].contains(&"DELETE /services/svc1".to_string()));
        assert!(
            fake.service("demo--check").is_none(),
            "the check service went"
        );
        assert!(fake.service("demo-web").is_some());

        // CHECKS that fail: the web service is left as it was.
        let web = fake.service("demo-web").unwrap();
        let (r, lines) = deploy(
            &fake,
            &a,
            &plan(
                "demo:def5678",
                Some("WAIT=0\nATTEMPTS=1\n/ version three\n"),
            ),
        )
        .await;
        let e = r.unwrap_err();
        assert!(e.contains("check / failed"), "{e}");
        assert!(
            lines
                .last()
                .unwrap()
                .contains("the running release is unchanged")
        );
        assert_eq!(fake.service("demo-web").unwrap(), web);
        assert!(fake.service("demo--check").is_none());
        assert_eq!(fake.state.lock().unwrap().releases.len(), 1);
    }
}
