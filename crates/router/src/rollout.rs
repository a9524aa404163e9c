//! An app's release rollout over the Docker API: start the release's
//! containers with the app's config and scale, check every `web` one
//! (CHECKS, else its HEALTHCHECK, else its port), record the release (the
//! router then sends the app's domains to it), drain and remove the others.
//! On a failed check the new containers go and nothing changes.
//!
//! Generic over how the API is reached, so the CLI's `berth app` commands
//! (a client of the daemon's socket) and the dashboard (the API in-process)
//! run the same rollout.
//!
//! On a swarm manager an app's processes are services instead ([`swarm`]):
//! the same plan, rolled out by swarm's own rolling update.

pub mod swarm;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apps::{APP, PROCESS, RELEASE};
use crate::checks::{Checks, parse_checks};
use crate::q;

/// Old containers keep their in-flight requests this long after the switch.
const DRAIN: Duration = Duration::from_secs(2);
/// Then they get SIGTERM and this long before SIGKILL (an httpd as PID 1
/// ignores SIGTERM: a long grace only delays the rollout's end).
const STOP_GRACE_SECS: u32 = 3;

/// One Docker API call: its JSON answer (`Null` for an empty body), or the
/// error's message.
pub trait DockerApi: Sync {
    /// The call with `registry_auth`, Docker's encoded credentials for a
    /// registry (`X-Registry-Auth`): a push's, or a service's whose nodes
    /// pull its image (`--with-registry-auth`).
    fn call_as<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        body: Option<&'a Value>,
        registry_auth: Option<&'a str>,
    ) -> impl Future<Output = Result<Value, String>> + Send + 'a;

    fn call<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        body: Option<&'a Value>,
    ) -> impl Future<Output = Result<Value, String>> + Send + 'a {
        self.call_as(method, path, body, None)
    }
}

/// An API answer's JSON: `Null` for an empty body, an array of the
/// documents when it streams several (a push's progress lines).
pub fn parse_answer(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut docs = serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match docs.len() {
        0 => Value::Null,
        1 => docs.remove(0),
        _ => Value::Array(docs),
    })
}

/// Where the rollout's progress lines go (the pusher's `remote:` lines, the
/// dashboard's log).
pub type Say<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// What a release runs; as JSON, what `POST /berth/v1/apps/NAME/rollout`
/// takes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub image: String,
    pub rev: String,
    pub processes: Vec<(String, Option<String>)>,
    /// CHECKS' text.
    pub checks: Option<String>,
    /// `app restart`: every process restarts even when nothing else
    /// changed (a swarm service's tasks are replaced only when their spec
    /// changes; new containers always are).
    pub restart: bool,
    /// The environment it runs with: a rollback's is the one its release
    /// recorded. None: the app's config as it is now (a push, a config
    /// change, a scale, a restart), and a rollback to a release recorded
    /// before releases kept their config.
    pub config: Option<BTreeMap<String, String>>,
    /// The release a rollback goes back to.
    pub rollback_to: Option<u64>,
    /// What the release is in `app releases`; none: told from what changed
    /// ([`describe`]).
    pub description: Option<String>,
}

impl Plan {
    /// The plan of a recorded release (a rollback, a restart, a config change).
    pub fn of(release: &Value) -> Result<Plan, String> {
        let processes = serde_json::from_value(release["processes"].clone())
            .map_err(|e| format!("release record: {e}"))?;
        Ok(Plan {
            image: release["image"].as_str().unwrap_or_default().to_string(),
            rev: release["rev"].as_str().unwrap_or_default().to_string(),
            processes,
            checks: release["checks"].as_str().map(str::to_string),
            restart: false,
            config: None,
            rollback_to: None,
            description: None,
        })
    }

    /// A rollback to a recorded release: its image, processes, CHECKS and
    /// the config it ran with, no rebuild.
    pub fn rollback(release: &Value) -> Result<Plan, String> {
        let n = release["version"].as_u64().unwrap_or(0);
        let config = match &release["config"] {
            Value::Null => None,
            c => Some(serde_json::from_value(c.clone()).map_err(|e| format!("release v{n}: {e}"))?),
        };
        Ok(Plan {
            config,
            rollback_to: Some(n),
            description: Some(format!("Rollback to v{n}")),
            ..Plan::of(release)?
        })
    }

    /// A push of a new build.
    pub fn deploy(
        image: String,
        rev: String,
        processes: Vec<(String, Option<String>)>,
        checks: Option<String>,
    ) -> Plan {
        Plan {
            description: Some(format!("Deploy {rev}")),
            image,
            rev,
            processes,
            checks,
            restart: false,
            config: None,
            rollback_to: None,
        }
    }
}

/// The app's config (`config:set`) as it is in its record.
fn app_config(app: &Value) -> BTreeMap<String, String> {
    app["config"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// The environment the plan's release runs with, and records.
fn release_config(say: Say<'_>, app: &Value, plan: &Plan) -> BTreeMap<String, String> {
    if let Some(c) = &plan.config {
        if let Some(n) = plan.rollback_to {
            let keys: Vec<&str> = c.keys().map(String::as_str).collect();
            say(&format!(
                "-----> With the config v{n} ran with ({}), which becomes the app's",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            ));
        }
        return c.clone();
    }
    if let Some(n) = plan.rollback_to {
        say(&format!(
            "-----> v{n} has no recorded config (it was released before releases kept theirs): \
             it runs with the app's current config"
        ));
    }
    app_config(app)
}

/// What a release is, for `app releases`: the plan's own words (a push, a
/// rollback), else what changed since the current release: its config
/// (the keys only: values may be secrets, as Heroku's `Set A config vars`),
/// else a restart, else the scale (`ps:scale` is the one change left).
pub fn describe(app: &Value, plan: &Plan, config: &BTreeMap<String, String>) -> String {
    if let Some(d) = &plan.description {
        return d.clone();
    }
    let before = release(app, current_version(app))
        .filter(|r| r["config"].is_object())
        .map(|r| app_config(&json!({"config": r["config"]})));
    if let Some(before) = before.filter(|b| b != config) {
        let set: Vec<&str> = config
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .collect();
        let unset: Vec<&str> = before
            .keys()
            .filter(|k| !config.contains_key(*k))
            .map(String::as_str)
            .collect();
        let mut parts = Vec::new();
        if !set.is_empty() {
            parts.push(format!("Set {}", set.join(", ")));
        }
        if !unset.is_empty() {
            parts.push(format!("Unset {}", unset.join(", ")));
        }
        return parts.join("; ");
    }
    if plan.restart {
        return "Restart".into();
    }
    let scale: Vec<String> = app["scale"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if scale.is_empty() {
        "Redeploy".into()
    } else {
        format!("Scale {}", scale.join(" "))
    }
}

/// The current release's number in an app's record (`current` is `v3`).
pub fn current_version(app: &Value) -> u64 {
    app["current"]
        .as_str()
        .and_then(|c| c.trim_start_matches('v').parse().ok())
        .unwrap_or(0)
}

/// The recorded release numbered `n`.
pub fn release(app: &Value, n: u64) -> Option<Value> {
    app["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["version"].as_u64() == Some(n))
        .cloned()
}

/// The release a rollback goes to: `to` (3 or v3), else the one before the
/// current.
pub fn rollback_target(app: &Value, to: Option<&str>) -> Result<Value, String> {
    let name = app["name"].as_str().unwrap_or_default();
    let found = match to {
        Some(r) => {
            let n: u64 = r
                .trim_start_matches('v')
                .parse()
                .map_err(|_| format!("invalid release {r:?}: 3 or v3"))?;
            release(app, n)
        }
        None => {
            let current = current_version(app);
            app["releases"]
                .as_array()
                .into_iter()
                .flatten()
                .rev()
                .find(|r| r["version"].as_u64().is_some_and(|n| n < current))
                .cloned()
        }
    };
    found.ok_or_else(|| format!("{name}: no such release to roll back to"))
}

/// Starts the next release's containers with the app's config and scale,
/// checks every web one, switches the router to them and retires the
/// others. On a failed check the new containers go and nothing changes.
pub async fn roll_out<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    name: &str,
    app: &Value,
    plan: &Plan,
) -> Result<(), String> {
    let info = api.call("GET", "/info", None).await?;
    if swarm::is_manager(&info) {
        return swarm::roll_out(api, say, name, app, plan, &info).await;
    }
    let version = app["releases"].as_array().map_or(0, Vec::len) + 1;
    let label = format!("v{version}");
    let checks = plan.checks.as_deref().map(parse_checks).transpose()?;
    let config = release_config(say, app, plan);
    let port = web_port(app, &config);
    let env = environment(&config);
    let processes = with_web(plan);
    let mut started = Vec::new();
    let release = Release {
        app: name,
        label: &label,
        image: &plan.image,
        env: &env,
        scale: &app["scale"],
    };
    let result = start_and_check(
        api,
        say,
        &release,
        &processes,
        port,
        checks.as_ref(),
        &mut started,
    )
    .await;
    if let Err(e) = result {
        for (_, id) in &started {
            let _ = api
                .call("DELETE", &format!("/containers/{id}?force=1"), None)
                .await;
        }
        say(&format!(
            "!     Deploy of {} failed; the running release is unchanged",
            plan.rev
        ));
        return Err(e);
    }
    say(&format!(
        "-----> Switching {name} to {label} ({})",
        plan.image
    ));
    api.call(
        "POST",
        &format!("/berth/v1/apps/{}/releases", q(name)),
        Some(&new_release(app, plan, version, &plan.image, &config)),
    )
    .await?;
    if let Some((_, web)) = started.iter().find(|(k, _)| k == "web") {
        wait_routed(api, web).await;
    }
    retire_old(api, say, name, &label).await?;
    let domain = app["domains"][0].as_str().unwrap_or_default();
    say(&format!(
        "=====> {name} {label} ({}) deployed: http://{domain}/",
        plan.rev
    ));
    Ok(())
}

/// The record of a release that passed its checks (`POST …/releases`).
fn new_release(
    app: &Value,
    plan: &Plan,
    version: usize,
    image: &str,
    config: &BTreeMap<String, String>,
) -> Value {
    json!({
        "Version": version,
        "Image": image,
        "Rev": plan.rev,
        "Processes": plan.processes,
        "Checks": plan.checks,
        "Config": config,
        "Description": describe(app, plan, config),
    })
}

/// As App::web_port: the release's PORT setting, else the app's port.
fn web_port(app: &Value, config: &BTreeMap<String, String>) -> u16 {
    config
        .get("PORT")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .or_else(|| app["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
        .unwrap_or(80)
}

/// A config as a process environment.
fn environment(config: &BTreeMap<String, String>) -> Vec<String> {
    config.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The plan's process types, with a `web` one (the image's own command)
/// when the Procfile names none.
fn with_web(plan: &Plan) -> Vec<(String, Option<String>)> {
    let mut processes = plan.processes.clone();
    if !processes.iter().any(|(k, _)| k == "web") {
        processes.insert(0, ("web".into(), None));
    }
    processes
}

/// The release being started.
struct Release<'a> {
    app: &'a str,
    label: &'a str,
    image: &'a str,
    env: &'a [String],
    /// The app's `scale` object: containers per process type (default 1).
    scale: &'a Value,
}

/// Starts one container per process type (`started` gets each, to be
/// removed on failure) and checks the web one.
async fn start_and_check<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    r: &Release<'_>,
    processes: &[(String, Option<String>)],
    port: u16,
    checks: Option<&Checks>,
    started: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (kind, cmd) in processes {
        let count = r.scale[kind.as_str()].as_u64().unwrap_or(1);
        for i in 1..=count {
            let cname = format!("{}.{kind}.{i}.{}", r.app, r.label);
            let mut body = json!({
                "Image": r.image,
                "Env": r.env,
                "Labels": {APP: r.app, RELEASE: r.label, PROCESS: kind},
                // Dokku's default: a crashing process comes back, up to ten times.
                "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 10}},
            });
            if let Some(cmd) = cmd {
                body["Cmd"] = json!(["/bin/sh", "-c", cmd]);
            }
            let v = api
                .call(
                    "POST",
                    &format!("/containers/create?name={}", q(&cname)),
                    Some(&body),
                )
                .await?;
            let id = v["Id"].as_str().unwrap_or_default().to_string();
            started.push((kind.clone(), id.clone()));
            api.call("POST", &format!("/containers/{id}/start"), None)
                .await?;
            say(&format!("-----> Started {kind}: {cname}"));
        }
    }
    for (_, id) in started.iter().filter(|(k, _)| k == "web") {
        check_web(api, say, id, port, checks).await?;
    }
    Ok(())
}

async fn inspect<D: DockerApi>(api: &D, id: &str) -> Result<Value, String> {
    api.call("GET", &format!("/containers/{id}/json"), None)
        .await
}

fn address(v: &Value) -> Option<String> {
    v["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flat_map(|n| n.values())
        .filter_map(|n| n["IPAddress"].as_str())
        .find(|ip| !ip.is_empty())
        .map(str::to_string)
}

/// CHECKS when the tree has them, else the image's HEALTHCHECK, else the
/// port taking connections.
async fn check_web<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    id: &str,
    port: u16,
    checks: Option<&Checks>,
) -> Result<(), String> {
    let v = inspect(api, id).await?;
    let ip = address(&v).ok_or("the web container has no address on a bridge")?;
    if let Some(c) = checks.filter(|c| !c.checks.is_empty()) {
        return run_checks(say, &ip, port, c).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    if v["State"]["Health"].is_object() {
        say("-----> Waiting for the web container's HEALTHCHECK");
        loop {
            let v = inspect(api, id).await?;
            match v["State"]["Health"]["Status"].as_str() {
                Some("healthy") => return Ok(()),
                Some("unhealthy") => return Err("the web container is unhealthy".into()),
                _ if v["State"]["Running"] != true => {
                    return Err(format!(
                        "the web container exited ({})",
                        v["State"]["ExitCode"]
                    ));
                }
                _ if Instant::now() > deadline => {
                    return Err("the web container was not healthy within 60s".into());
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    say(&format!(
        "-----> Waiting for port {port} of the web container"
    ));
    loop {
        if tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        let v = inspect(api, id).await?;
        if v["State"]["Running"] != true {
            return Err(format!(
                "the web container exited ({})",
                v["State"]["ExitCode"]
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "nothing listens on port {port} of the web container after 60s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// CHECKS straight to a web process at `ip`: each path answers 2xx/3xx
/// with its expected content, within its attempts.
async fn run_checks(say: Say<'_>, ip: &str, port: u16, c: &Checks) -> Result<(), String> {
    say(&format!(
        "-----> Running CHECKS (wait {:?}, {} attempts)",
        c.wait, c.attempts
    ));
    tokio::time::sleep(c.wait).await;
    for (path, expected) in &c.checks {
        let mut last = String::new();
        let mut passed = false;
        for attempt in 1..=c.attempts {
            match http_get(ip, port, path, c.timeout).await {
                Ok((status, body))
                    if (200..400).contains(&status) && body.contains(expected.as_str()) =>
                {
                    passed = true;
                    break;
                }
                Ok((status, _)) => {
                    last = format!("status {status}, expected content {expected:?} not found")
                }
                Err(e) => last = e,
            }
            say(&format!(
                "       {path}: attempt {attempt}/{}: {last}",
                c.attempts
            ));
            if attempt < c.attempts {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if !passed {
            return Err(format!("check {path} failed: {last}"));
        }
        say(&format!("       {path}: ok"));
    }
    Ok(())
}

/// One GET straight to the container; its status and body.
async fn http_get(
    ip: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "not an HTTP answer".to_string())?;
        Ok((
            status,
            raw.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default(),
        ))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Waits (up to 5 s) until the router lists the new web container; a
/// daemon without a router has nothing to wait for.
async fn wait_routed<D: DockerApi>(api: &D, web_id: &str) {
    let Ok(v) = inspect(api, web_id).await else {
        return;
    };
    let name = v["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok(routes) = api.call("GET", "/berth/v1/routes", None).await else {
            return;
        };
        let routed = routes["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["backends"].as_array().into_iter().flatten())
            .any(|b| b["container"] == name.as_str());
        if routed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops and removes the app's containers of other releases, after a drain.
async fn retire_old<D: DockerApi>(
    api: &D,
    say: Say<'_>,
    app: &str,
    label: &str,
) -> Result<(), String> {
    let all = api.call("GET", "/containers/json?all=1", None).await?;
    let old: Vec<String> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["Labels"][APP] == app && c["Labels"][RELEASE] != label)
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    say(&format!(
        "-----> Draining {} old container(s) for {DRAIN:?}",
        old.len()
    ));
    tokio::time::sleep(DRAIN).await;
    for id in old {
        api.call(
            "POST",
            &format!("/containers/{id}/stop?t={STOP_GRACE_SECS}"),
            None,
        )
        .await?;
        api.call("DELETE", &format!("/containers/{id}?force=1"), None)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_goes_to_the_release_before_the_current_or_the_one_named() {
        let app = json!({
            "name": "demo",
            "current": "v3",
            "releases": [{"version": 1}, {"version": 2}, {"version": 3}],
        });
        assert_eq!(rollback_target(&app, None).unwrap()["version"], 2);
        assert_eq!(rollback_target(&app, Some("v1")).unwrap()["version"], 1);
        assert_eq!(rollback_target(&app, Some("1")).unwrap()["version"], 1);
        assert!(
            rollback_target(&app, Some("v9"))
                .unwrap_err()
                .contains("no such release")
        );
        assert!(
            rollback_target(&app, Some("x"))
                .unwrap_err()
                .contains("3 or v3")
        );
        assert_eq!(q("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn a_rollback_plan_carries_the_config_its_release_ran_with() {
        let v1 = json!({"version": 1, "image": "demo:aaa", "rev": "aaa", "processes": [],
            "config": {"A": "1"}});
        let p = Plan::rollback(&v1).unwrap();
        assert_eq!(p.config, Some([("A".to_string(), "1".to_string())].into()));
        assert_eq!(p.rollback_to, Some(1));
        assert_eq!(p.description.as_deref(), Some("Rollback to v1"));
        assert_eq!(p.image, "demo:aaa");
        // Recorded before releases kept their config: none, the app's then.
        let old = json!({"version": 1, "image": "demo:aaa", "rev": "aaa", "processes": []});
        assert_eq!(Plan::rollback(&old).unwrap().config, None);
        // A restart or a config change runs the app's config as it is now.
        assert_eq!(Plan::of(&v1).unwrap().config, None);
    }

    #[test]
    fn a_release_is_described_by_what_changed() {
        let app = json!({
            "current": "v2",
            "scale": {},
            "releases": [{"version": 1}, {"version": 2, "config": {"A": "1", "B": "2"}}],
        });
        let config = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let redeploy = Plan::of(&json!({"processes": []})).unwrap();
        let push = Plan::deploy("demo:bbb".into(), "bbb".into(), vec![], None);
        assert_eq!(describe(&app, &push, &config(&[("A", "1")])), "Deploy bbb");
        assert_eq!(
            describe(
                &app,
                &redeploy,
                &config(&[("A", "3"), ("B", "2"), ("C", "x")])
            ),
            "Set A, C"
        );
        assert_eq!(
            describe(&app, &redeploy, &config(&[("A", "9")])),
            "Set A; Unset B"
        );
        let same = config(&[("A", "1"), ("B", "2")]);
        assert_eq!(describe(&app, &redeploy, &same), "Redeploy");
        let restart = Plan {
            restart: true,
            ..redeploy.clone()
        };
        assert_eq!(describe(&app, &restart, &same), "Restart");
        let mut scaled = app.clone();
        scaled["scale"] = json!({"web": 2, "worker": 0});
        assert_eq!(describe(&scaled, &redeploy, &same), "Scale web=2 worker=0");
    }

    /// A single daemon's API in memory: containers are created and run at
    /// once, each at 127.0.0.1 (a loopback listener stands for their port).
    #[derive(Default)]
    struct Host {
        created: std::sync::Mutex<Vec<Value>>,
        releases: std::sync::Mutex<Vec<Value>>,
    }

    impl DockerApi for Host {
        fn call_as<'a>(
            &'a self,
            method: &'a str,
            path: &'a str,
            body: Option<&'a Value>,
            _registry_auth: Option<&'a str>,
        ) -> impl Future<Output = Result<Value, String>> + Send + 'a {
            let answer = match (method, path) {
                ("GET", "/info") => Ok(json!({"Swarm": {"LocalNodeState": "inactive"}})),
                ("POST", p) if p.starts_with("/containers/create") => {
                    let mut created = self.created.lock().unwrap();
                    created.push(body.cloned().unwrap_or_default());
                    Ok(json!({"Id": format!("c{}", created.len())}))
                }
                ("POST", p) if p.ends_with("/start") => Ok(Value::Null),
                ("GET", p) if p.starts_with("/containers/c") => Ok(json!({
                    "Name": "/demo.web.1.v3",
                    "State": {"Running": true},
                    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "127.0.0.1"}}},
                })),
                ("POST", p) if p.ends_with("/releases") => {
                    self.releases
                        .lock()
                        .unwrap()
                        .push(body.cloned().unwrap_or_default());
                    Ok(json!({}))
                }
                ("GET", "/containers/json?all=1") => Ok(json!([])),
                _ => Err(format!("unexpected call {method} {path}")),
            };
            async move { answer }
        }
    }

    /// An app at v2 (`A=2`) whose v1 ran with `A=1`, its web port a
    /// loopback listener's.
    fn app_at_v2(v1_config: Option<Value>, port: u16) -> Value {
        let mut v1 = json!({"version": 1, "image": "demo:aaa", "rev": "aaa", "processes": []});
        if let Some(c) = v1_config {
            v1["config"] = c;
        }
        json!({
            "name": "demo",
            "domains": ["demo.test"],
            "port": port,
            "current": "v2",
            "config": {"A": "2"},
            "scale": {},
            "releases": [v1, {"version": 2, "image": "demo:aaa", "rev": "aaa",
                "processes": [], "config": {"A": "2"}}],
        })
    }

    async fn roll_back(app: &Value) -> (Host, Vec<String>) {
        let host = Host::default();
        let lines = std::sync::Mutex::new(Vec::new());
        let say = |l: &str| lines.lock().unwrap().push(l.to_string());
        let plan = Plan::rollback(&rollback_target(app, None).unwrap()).unwrap();
        roll_out(&host, &say, "demo", app, &plan).await.unwrap();
        (host, lines.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_rollback_runs_and_records_the_config_its_release_ran_with() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (host, lines) = roll_back(&app_at_v2(Some(json!({"A": "1"})), port)).await;
        let created = host.created.lock().unwrap().clone();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["Env"], json!(["A=1"]));
        assert_eq!(created[0]["Labels"]["berth.app.release"], "v3");
        let releases = host.releases.lock().unwrap().clone();
        assert_eq!(releases[0]["Version"], 3);
        assert_eq!(releases[0]["Config"], json!({"A": "1"}));
        assert_eq!(releases[0]["Description"], "Rollback to v1");
        assert!(
            lines.iter().any(|l| l.contains("config v1 ran with (A)")),
            "{lines:?}"
        );

        // A release recorded without its config: the app's current one, said so.
        let (host, lines) = roll_back(&app_at_v2(None, port)).await;
        assert_eq!(host.created.lock().unwrap()[0]["Env"], json!(["A=2"]));
        assert_eq!(
            host.releases.lock().unwrap()[0]["Config"],
            json!({"A": "2"})
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("v1 has no recorded config") && l.contains("current config")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_rollback_listens_on_the_port_its_release_was_configured_with() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // The app's port setting now is one nothing listens on.
        let mut app = app_at_v2(Some(json!({"PORT": port.to_string()})), 1);
        app["config"]["PORT"] = json!("1");
        let (host, lines) = roll_back(&app).await;
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("Waiting for port {port}"))),
            "{lines:?}"
        );
        assert_eq!(
            host.created.lock().unwrap()[0]["Env"],
            json!([format!("PORT={port}")])
        );
    }

    #[test]
    fn answers_that_stream_several_documents_are_an_array() {
        assert_eq!(parse_answer(b" \n").unwrap(), Value::Null);
        assert_eq!(parse_answer(br#"{"Id":"x"}"#).unwrap(), json!({"Id": "x"}));
        assert_eq!(
            parse_answer(b"{\"status\":\"a\"}\r\n{\"error\":\"denied\"}\r\n").unwrap(),
            json!([{"status": "a"}, {"error": "denied"}])
        );
        assert!(parse_answer(b"not json").is_err());
    }
}
