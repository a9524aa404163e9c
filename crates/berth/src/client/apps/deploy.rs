//! `berth app-receive NAME`: an app's pre-receive hook. For a push to the
//! deploy branch it builds the pushed tree (`git archive` → `POST /build`),
//! starts the new release's containers, checks its `web` one (CHECKS, else
//! its HEALTHCHECK, else its port), records the release (the router then
//! sends the app's domains to it), and drains and removes the old release.
//! Its output reaches the pusher as `remote:` lines; a failure exits non-zero
//! so git rejects the push, with the old release still serving.

use std::io::Read;
use std::time::{Duration, Instant};

use hyper::Method;
use router::apps::{APP, PROCESS, RELEASE};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::files::{Checks, parse_checks, parse_procfile};
use crate::client::connect::{Client, full, next_chunk, q};
use crate::client::{CmdResult, Failure};

/// Old containers keep their in-flight requests this long after the switch.
const DRAIN: Duration = Duration::from_secs(2);
/// Then they get SIGTERM and this long before SIGKILL (an httpd as PID 1
/// ignores SIGTERM: a long grace only delays the push's end).
const STOP_GRACE_SECS: u32 = 3;

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(1, format!("!     {}", msg.into()))
}

pub async fn receive(client: &Client, name: &str) -> CmdResult {
    let info = client
        .get_json(&format!("/berth/v1/apps/{}", q(name)))
        .await?;
    let app = &info["App"];
    let branch = app["branch"].as_str().unwrap_or("main");
    let mut updates = String::new();
    std::io::stdin()
        .read_to_string(&mut updates)
        .map_err(|e| fail(format!("reading the pushed refs: {e}")))?;
    for line in updates.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if refname != format!("refs/heads/{branch}") {
            outln!("-----> {refname} is not the deploy branch ({branch}): stored, not deployed");
            continue;
        }
        if new.chars().all(|c| c == '0') {
            return Err(fail(format!(
                "{branch} is the deploy branch: it cannot be deleted"
            )));
        }
        deploy(client, name, app, new).await?;
    }
    Ok(0)
}

fn git(args: &[&str]) -> Result<std::process::Output, Failure> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .map_err(|e| fail(format!("running git: {e}")))
}

/// A file of the pushed tree, if it has it.
fn git_file(rev: &str, path: &str) -> Result<Option<String>, Failure> {
    let spec = format!("{rev}:{path}");
    if !git(&["cat-file", "-e", &spec])?.status.success() {
        return Ok(None);
    }
    let out = git(&["show", &spec])?;
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

async fn deploy(client: &Client, name: &str, app: &Value, rev: &str) -> Result<(), Failure> {
    // git hands the hook object names; anything else must not reach git's
    // command line.
    if rev.is_empty() || !rev.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(fail(format!("{rev:?} is not an object name")));
    }
    let short = rev.get(..7).unwrap_or(rev);
    let image = format!("{name}:{short}");
    outln!("-----> Deploying {name} at {short}");
    if git_file(rev, "Dockerfile")?.is_none() {
        return Err(fail(format!(
            "{short} has no Dockerfile at its root: berth builds apps from their Dockerfile"
        )));
    }
    let processes: Vec<(String, Option<String>)> = match git_file(rev, "Procfile")? {
        Some(text) => parse_procfile(&text)
            .map_err(fail)?
            .into_iter()
            .map(|(k, c)| (k, Some(c)))
            .collect(),
        None => Vec::new(),
    };
    let checks = git_file(rev, "CHECKS")?;
    if let Some(text) = &checks {
        parse_checks(text).map_err(fail)?;
    }
    let out = git(&["archive", "--format=tar", rev])?;
    if !out.status.success() {
        return Err(fail(format!(
            "git archive {short}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    outln!("-----> Building {image}");
    build(client, &image, out.stdout).await?;
    roll_out(
        client,
        name,
        app,
        &Plan {
            image,
            rev: short.to_string(),
            processes,
            checks,
        },
    )
    .await
}

/// What a release runs.
pub struct Plan {
    pub image: String,
    pub rev: String,
    pub processes: Vec<(String, Option<String>)>,
    /// CHECKS' text.
    pub checks: Option<String>,
}

impl Plan {
    /// The plan of a recorded release (a rollback, a restart, a config change).
    pub fn of(release: &Value) -> Result<Plan, Failure> {
        let processes = serde_json::from_value(release["processes"].clone())
            .map_err(|e| fail(format!("release record: {e}")))?;
        Ok(Plan {
            image: release["image"].as_str().unwrap_or_default().to_string(),
            rev: release["rev"].as_str().unwrap_or_default().to_string(),
            processes,
            checks: release["checks"].as_str().map(str::to_string),
        })
    }
}

/// Starts the next release's containers with the app's config and scale,
/// checks every web one, switches the router to them and retires the
/// others. On a failed check the new containers go and nothing changes.
pub async fn roll_out(
    client: &Client,
    name: &str,
    app: &Value,
    plan: &Plan,
) -> Result<(), Failure> {
    let version = app["releases"].as_array().map_or(0, Vec::len) + 1;
    let label = format!("v{version}");
    let checks = plan
        .checks
        .as_deref()
        .map(parse_checks)
        .transpose()
        .map_err(fail)?;
    // As App::web_port: the PORT setting, else the app's port.
    let port = app["config"]["PORT"]
        .as_str()
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .or_else(|| app["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
        .unwrap_or(80);
    let env: Vec<String> = app["config"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let mut processes = plan.processes.clone();
    if !processes.iter().any(|(k, _)| k == "web") {
        processes.insert(0, ("web".into(), None));
    }
    let mut started = Vec::new();
    let release = Release {
        app: name,
        label: &label,
        image: &plan.image,
        env: &env,
        scale: &app["scale"],
    };
    let result = start_and_check(
        client,
        &release,
        &processes,
        port,
        checks.as_ref(),
        &mut started,
    )
    .await;
    if let Err(e) = result {
        for (_, id) in &started {
            let _ = client
                .call(Method::DELETE, &format!("/containers/{id}?force=1"), None)
                .await;
        }
        outln!(
            "!     Deploy of {} failed; the running release is unchanged",
            plan.rev
        );
        return Err(e);
    }
    outln!("-----> Switching {name} to {label} ({})", plan.image);
    client
        .post_json(
            &format!("/berth/v1/apps/{}/releases", q(name)),
            Some(&json!({
                "Version": version,
                "Image": plan.image,
                "Rev": plan.rev,
                "Processes": plan.processes,
                "Checks": plan.checks,
            })),
        )
        .await?;
    if let Some((_, web)) = started.iter().find(|(k, _)| k == "web") {
        wait_routed(client, web).await;
    }
    retire_old(client, name, &label).await?;
    let domain = app["domains"][0].as_str().unwrap_or_default();
    outln!(
        "=====> {name} {label} ({}) deployed: http://{domain}/",
        plan.rev
    );
    Ok(())
}

/// Streams `POST /build` to the pusher; a build error fails the deploy.
async fn build(client: &Client, image: &str, tar: Vec<u8>) -> Result<(), Failure> {
    let resp = client
        .request(
            Method::POST,
            &format!("/build?t={}&rm=1&forcerm=1", q(image)),
            full(tar),
            Some("application/x-tar"),
        )
        .await?;
    let mut body = resp.into_body();
    let mut pending = Vec::new();
    let show = |line: &[u8]| -> Result<(), Failure> {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            return Ok(());
        };
        if let Some(e) = v.get("error") {
            return Err(fail(format!(
                "build failed: {}",
                e.as_str().unwrap_or_default().trim()
            )));
        }
        if let Some(s) = v["stream"].as_str() {
            out!("{s}");
        }
        Ok(())
    };
    while let Some(chunk) = next_chunk(&mut body).await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            show(&line)?;
        }
    }
    show(&pending)
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
async fn start_and_check(
    client: &Client,
    r: &Release<'_>,
    processes: &[(String, Option<String>)],
    port: u16,
    checks: Option<&Checks>,
    started: &mut Vec<(String, String)>,
) -> Result<(), Failure> {
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
            let v = client
                .post_json(
                    &format!("/containers/create?name={}", q(&cname)),
                    Some(&body),
                )
                .await?;
            let id = v["Id"].as_str().unwrap_or_default().to_string();
            started.push((kind.clone(), id.clone()));
            client
                .call(Method::POST, &format!("/containers/{id}/start"), None)
                .await?;
            outln!("-----> Started {kind}: {cname}");
        }
    }
    for (_, id) in started.iter().filter(|(k, _)| k == "web") {
        check_web(client, id, port, checks).await?;
    }
    Ok(())
}

async fn inspect(client: &Client, id: &str) -> Result<Value, Failure> {
    Ok(client.get_json(&format!("/containers/{id}/json")).await?)
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
async fn check_web(
    client: &Client,
    id: &str,
    port: u16,
    checks: Option<&Checks>,
) -> Result<(), Failure> {
    let v = inspect(client, id).await?;
    let ip = address(&v).ok_or_else(|| fail("the web container has no address on a bridge"))?;
    if let Some(c) = checks.filter(|c| !c.checks.is_empty()) {
        outln!(
            "-----> Running CHECKS (wait {:?}, {} attempts)",
            c.wait,
            c.attempts
        );
        tokio::time::sleep(c.wait).await;
        for (path, expected) in &c.checks {
            let mut last = String::new();
            let mut passed = false;
            for attempt in 1..=c.attempts {
                match http_get(&ip, port, path, c.timeout).await {
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
                outln!("       {path}: attempt {attempt}/{}: {last}", c.attempts);
                if attempt < c.attempts {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if !passed {
                return Err(fail(format!("check {path} failed: {last}")));
            }
            outln!("       {path}: ok");
        }
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    if v["State"]["Health"].is_object() {
        outln!("-----> Waiting for the web container's HEALTHCHECK");
        loop {
            let v = inspect(client, id).await?;
            match v["State"]["Health"]["Status"].as_str() {
                Some("healthy") => return Ok(()),
                Some("unhealthy") => return Err(fail("the web container is unhealthy")),
                _ if v["State"]["Running"] != true => {
                    return Err(fail(format!(
                        "the web container exited ({})",
                        v["State"]["ExitCode"]
                    )));
                }
                _ if Instant::now() > deadline => {
                    return Err(fail("the web container was not healthy within 60s"));
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    outln!("-----> Waiting for port {port} of the web container");
    loop {
        if tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        let v = inspect(client, id).await?;
        if v["State"]["Running"] != true {
            return Err(fail(format!(
                "the web container exited ({})",
                v["State"]["ExitCode"]
            )));
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "nothing listens on port {port} of the web container after 60s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
async fn wait_routed(client: &Client, web_id: &str) {
    let Ok(v) = inspect(client, web_id).await else {
        return;
    };
    let name = v["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok(routes) = client.get_json("/berth/v1/routes").await else {
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
async fn retire_old(client: &Client, app: &str, label: &str) -> Result<(), Failure> {
    let all = client.get_json("/containers/json?all=1").await?;
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
    outln!(
        "-----> Draining {} old container(s) for {DRAIN:?}",
        old.len()
    );
    tokio::time::sleep(DRAIN).await;
    for id in old {
        client
            .call(
                Method::POST,
                &format!("/containers/{id}/stop?t={STOP_GRACE_SECS}"),
                None,
            )
            .await?;
        client
            .call(Method::DELETE, &format!("/containers/{id}?force=1"), None)
            .await?;
    }
    Ok(())
}
