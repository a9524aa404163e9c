//! `berth app-receive NAME`: an app's pre-receive hook. For a push to the
//! deploy branch it builds the pushed tree (`git archive` → `POST /build`),
//! then asks the daemon to roll the release out (`POST
//! /berth/v1/apps/NAME/rollout`): start the new release's containers, check
//! its `web` one (CHECKS, else its HEALTHCHECK, else its port), record the
//! release (the router then sends the app's domains to it), and drain and
//! remove the old release. The daemon runs that to its end even if the push
//! is cut off. Its output reaches the pusher as `remote:` lines; a failure
//! exits non-zero so git rejects the push, with the old release still
//! serving.

use std::io::Read;

use hyper::Method;
use router::checks::parse_checks;
use router::rollout::Plan;
use serde_json::Value;

use super::files::parse_procfile;
use crate::client::connect::{Client, full, next_chunk, q};
use crate::client::{CmdResult, Failure};

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
        deploy(client, name, new).await?;
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

async fn deploy(client: &Client, name: &str, rev: &str) -> Result<(), Failure> {
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
        &Plan::deploy(image, short.to_string(), processes, checks),
    )
    .await
}

/// Asks the daemon to roll `plan` out (`POST /berth/v1/apps/NAME/rollout`:
/// the shared `router::rollout`, run by the daemon so that an interrupted
/// push or command cannot leave it half-made) and shows its progress, as
/// the pusher's `remote:` lines for a push.
pub async fn roll_out(client: &Client, name: &str, plan: &Plan) -> Result<(), Failure> {
    let body = serde_json::to_vec(plan).map_err(|e| fail(format!("the plan: {e}")))?;
    let resp = client
        .request(
            Method::POST,
            &format!("/berth/v1/apps/{}/rollout", q(name)),
            full(body),
            Some("application/json"),
        )
        .await?;
    // Each line: the rollout's progress, then how it ended.
    let mut done = false;
    each_json_line(resp.into_body(), |v| {
        if let Some(e) = v["error"].as_str() {
            return Err(fail(e));
        }
        if let Some(l) = v["line"].as_str() {
            outln!("{l}");
        }
        done |= v["done"].as_bool() == Some(true);
        Ok(())
    })
    .await?;
    if done {
        Ok(())
    } else {
        Err(fail(format!(
            "the daemon's answer ended before the rollout did: `berth app info {name}` shows where it is"
        )))
    }
}

/// Hands each JSON line of a streamed answer to `each`, in order; lines
/// that are not JSON are skipped.
async fn each_json_line(
    mut body: hyper::body::Incoming,
    mut each: impl FnMut(&Value) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut pending = Vec::new();
    let mut feed = |line: &[u8]| match serde_json::from_slice::<Value>(line) {
        Ok(v) => each(&v),
        Err(_) => Ok(()),
    };
    while let Some(chunk) = next_chunk(&mut body).await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            feed(&line)?;
        }
    }
    feed(&pending)
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
    each_json_line(resp.into_body(), |v| {
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
    })
    .await
}
