//! Apps (issue 18): `berth app create`, a real `git push` (over HTTP to the
//! API, then to the app's local repository) builds the pushed Dockerfile and deploys it behind the
//! router; a second push under a bounded load on loopback loses no
//! request; a push whose CHECKS fail is rejected with the old release still
//! serving; config:set, ps:scale, rollback (the release's image and
//! config), releases, domains:add, logs, `app ls/info/rm`.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::git::{commit_version, git, git_ok};
use common::prometheus::free_ports;
use common::{Daemon, berth, berth_ok, host_dir, wait_for};

fn get(port: u16, host: &str) -> Option<(u16, String)> {
    common::web::get_host(port, host, "/").map(|(status, body)| (status, body.trim().to_string()))
}

fn push(dir: &Path, remote: &Path) -> (bool, String) {
    push_to(dir, remote.to_str().unwrap())
}

fn push_to(dir: &Path, remote: &str) -> (bool, String) {
    let out = git(dir, &["push", remote, "main"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A networked daemon with the router on a free loopback port and a plain
/// TCP API (git's smart HTTP; the test opts in, as an operator would with
/// --tls=false): the daemon, the router's port and the API's address.
fn app_daemon() -> (Daemon, u16, String) {
    let [port, api_port] = free_ports();
    let api = format!("127.0.0.1:{api_port}");
    let d = Daemon::start_networked_with(&[
        "--router-addr",
        &format!("127.0.0.1:{port}"),
        "-H",
        &format!("tcp://{api}"),
        "--tls=false",
    ]);
    (d, port, api)
}

#[test]
fn git_push_deploys_behind_the_router_without_losing_requests() {
    // With TLS, git presents the same client certificate the docker CLI does
    // (https_pushes_need_the_apis_client_certificate).
    let (d, port, api) = app_daemon();
    if !d.is_berth() {
        return;
    }
    let host = "demo.apps.test";
    let created = berth_ok(&d, &["app", "create", "demo", "--domain", host]);
    let remote = d.data_root().join("apps/demo/repo.git");
    assert!(
        created.contains(&format!("git push {} main", remote.display())),
        "{created}"
    );
    let dup = berth(&d, &["app", "create", "other", "--domain", host]);
    assert!(!dup.status.success());
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("already claimed by app demo"),
        "{dup:?}"
    );

    let src = host_dir(&d, "src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    commit_version(&src, "version-one", &[]);
    // The first push over HTTP, through the API.
    let begun = Instant::now();
    let url = format!("http://{api}/berth/v1/apps/demo/git");
    let (ok, out) = push_to(&src, &url);
    assert!(ok, "{out}\n{}", d.log_tail());
    assert!(out.contains("remote: -----> Building demo:"), "{out}");
    assert!(out.contains("remote: =====> demo"), "{out}");
    eprintln!("first push to serving: {:?}", begun.elapsed());
    assert_eq!(
        get(port, host),
        Some((200, "version-one".to_string())),
        "served right after the push"
    );

    // A second push while a bounded load runs: every request answered.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut seen, mut failed) = (Vec::new(), Vec::new());
            let mut switched = None;
            let begun = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && begun.elapsed() < Duration::from_secs(120)
                && seen.len() + failed.len() < 20_000
            {
                match get(port, host) {
                    Some((200, body)) => {
                        if seen.last() != Some(&body) {
                            seen.push(body);
                            switched = Some(begun.elapsed());
                        }
                    }
                    other => failed.push(other),
                }
            }
            (seen, failed, switched)
        })
    };
    commit_version(&src, "version-two", &[]);
    let begun = Instant::now();
    let (ok, out) = push(&src, &remote);
    let push_time = begun.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (seen, failed, switched) = load.join().unwrap();
    assert!(ok, "{out}");
    eprintln!(
        "second push (cached base, under load): serving after {switched:?}, push done in {push_time:?}"
    );
    assert!(
        failed.is_empty(),
        "failed requests during the deploy: {failed:?}"
    );
    assert_eq!(
        seen,
        ["version-one", "version-two"],
        "one switch, no going back"
    );
    assert!(out.contains("Draining 1 old container"), "{out}");

    // A failing check: rejected, and version two keeps serving.
    commit_version(
        &src,
        "version-three",
        &[("CHECKS", "WAIT=0\nATTEMPTS=2\nTIMEOUT=2\n/ version-four\n")],
    );
    let (ok, out) = push(&src, &remote);
    assert!(!ok, "a failing check must reject the push: {out}");
    assert!(out.contains("check / failed"), "{out}");
    assert!(out.contains("pre-receive hook declined"), "{out}");
    assert_eq!(get(port, host), Some((200, "version-two".to_string())));

    // A tree without a Dockerfile is refused before anything starts.
    git_ok(&src, &["rm", "-q", "Dockerfile"]);
    git_ok(&src, &["commit", "-q", "-m", "no dockerfile"]);
    let (ok, out) = push(&src, &remote);
    assert!(!ok);
    assert!(out.contains("has no Dockerfile"), "{out}");

    let info = berth_ok(&d, &["app", "info", "demo"]);
    assert!(info.contains("Release:  v2"), "{info}");
    assert!(info.contains(host), "{info}");
    let running = info.lines().filter(|l| l.contains("running")).count();
    assert_eq!(running, 1, "only version two's web container: {info}");
    assert!(berth_ok(&d, &["app", "ls"]).contains("demo"));

    // config:set restarts the current image with the variable (v3)...
    berth_ok(&d, &["app", "config:set", "demo", "GREETING=hi there"]);
    assert_eq!(
        berth_ok(&d, &["app", "config", "demo"]).trim(),
        "GREETING=hi there"
    );
    let web = d.docker_ok(&["ps", "-q", "--filter", "label=berth.app.release=v3"]);
    let env = d.docker_ok(&["inspect", "-f", "{{json .Config.Env}}", web.trim()]);
    assert!(env.contains("GREETING=hi there"), "{env}");
    // ...ps:scale runs two web containers behind the route (v4)...
    berth_ok(&d, &["app", "ps:scale", "demo", "web=2"]);
    let report = berth_ok(&d, &["router", "ls", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let backends = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == host)
        .map(|r| r["backends"].as_array().unwrap().len());
    assert_eq!(backends, Some(2), "{report}");
    // ...a rollback runs release one's image again, without a build, and
    // its config, set before GREETING was (v5)...
    let out = berth_ok(&d, &["app", "rollback", "demo", "v1"]);
    assert!(!out.contains("Building"), "{out}");
    assert_eq!(get(port, host), Some((200, "version-one".to_string())));
    assert_eq!(berth_ok(&d, &["app", "config", "demo"]).trim(), "");
    let releases = berth_ok(&d, &["app", "releases", "demo"]);
    assert!(
        releases.lines().nth(1).unwrap().starts_with("*  v5"),
        "{releases}"
    );
    assert_eq!(releases.lines().count(), 6, "{releases}");
    // ...and a domain added is routed at once.
    berth_ok(&d, &["app", "domains:add", "demo", "www.apps.test"]);
    let both = wait_for(Duration::from_secs(3), || {
        (get(port, "www.apps.test") == Some((200, "version-one".to_string()))).then_some(())
    });
    assert!(both.is_some());
    let logs = berth(&d, &["app", "logs", "demo"]);
    assert!(logs.status.success(), "{logs:?}");
    berth_ok(&d, &["app", "rm", "demo"]);
    let gone = wait_for(Duration::from_secs(5), || {
        (get(port, host).map(|r| r.0) == Some(404)).then_some(())
    });
    assert!(gone.is_some(), "the app's domain is still routed");
    assert!(!remote.exists());
    let left = d.docker_ok(&["ps", "-aq", "--filter", "label=berth.app=demo"]);
    assert!(left.trim().is_empty(), "containers left: {left}");
}

#[test]
fn a_rollback_runs_the_config_its_release_ran_with() {
    let (d, port, _) = app_daemon();
    if !d.is_berth() {
        return;
    }
    let host = "cfg.apps.test";
    berth_ok(&d, &["app", "create", "cfg", "--domain", host]);
    let before = berth_ok(&d, &["app", "config:set", "cfg", "A=1"]);
    assert!(before.contains("applies from the first push"), "{before}");
    // The page /env is the environment the web process started with.
    let src = host_dir(&d, "src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /www\n\
         CMD [\"sh\", \"-c\", \"echo A=$A > /www/env; exec httpd -f -p 80 -h /www\"]\n",
    )
    .unwrap();
    git_ok(&src, &["add", "-A"]);
    git_ok(&src, &["commit", "-q", "-m", "env"]);
    let (ok, out) = push(&src, &d.data_root().join("apps/cfg/repo.git"));
    assert!(ok, "{out}");
    let env = || common::web::get_host(port, host, "/env").map(|(s, b)| (s, b.trim().to_string()));
    assert_eq!(env(), Some((200, "A=1".to_string())), "v1");

    berth_ok(&d, &["app", "config:set", "cfg", "A=2"]);
    assert_eq!(env(), Some((200, "A=2".to_string())), "v2");

    // Back to the release before: v1's image and A=1, as release v3.
    let out = berth_ok(&d, &["app", "rollback", "cfg"]);
    assert!(out.contains("Rolling cfg back to v1"), "{out}");
    assert!(out.contains("With the config v1 ran with (A)"), "{out}");
    assert!(!out.contains("Building"), "{out}");
    assert_eq!(env(), Some((200, "A=1".to_string())), "rolled back");
    assert_eq!(berth_ok(&d, &["app", "config", "cfg"]).trim(), "A=1");
    let web = d.docker_ok(&["ps", "-q", "--filter", "label=berth.app.release=v3"]);
    let running = d.docker_ok(&["exec", web.trim(), "env"]);
    assert!(running.lines().any(|l| l == "A=1"), "{running}");

    let releases = berth_ok(&d, &["app", "releases", "cfg"]);
    let lines: Vec<&str> = releases.lines().collect();
    assert_eq!(lines.len(), 4, "{releases}");
    assert!(lines[0].ends_with("DESCRIPTION"), "{releases}");
    assert!(
        lines[1].starts_with("*  v3") && lines[1].ends_with("Rollback to v1"),
        "{releases}"
    );
    assert!(lines[2].ends_with("Set A"), "{releases}");
    assert!(
        lines[3].starts_with("   v1") && lines[3].contains(" Deploy "),
        "{releases}"
    );
    // Rolling forward again is a rollback too: v2's A=2, as v4.
    berth_ok(&d, &["app", "rollback", "cfg", "v2"]);
    assert_eq!(env(), Some((200, "A=2".to_string())));
    assert_eq!(berth_ok(&d, &["app", "config", "cfg"]).trim(), "A=2");

    // The rollout is the daemon's: a command killed once the new release's
    // container started does not leave it unrouted beside the old one.
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["app", "config:set", "cfg", "A=5"])
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let started = line.contains("-----> Started web");
        said.push(line);
        if started {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        said.last().is_some_and(|l| l.contains("Started web")),
        "{said:?}"
    );
    let served = wait_for(Duration::from_secs(60), || {
        env().filter(|(_, e)| e == "A=5")
    });
    assert!(
        served.is_some(),
        "the rollout went on: {said:?}\n{}",
        d.log_tail()
    );
    let retired = wait_for(Duration::from_secs(30), || {
        let v4 = d.docker_ok(&[
            "ps",
            "-aq",
            "--filter",
            "label=berth.app=cfg",
            "--filter",
            "label=berth.app.release=v4",
        ]);
        v4.trim().is_empty().then_some(())
    });
    assert!(retired.is_some(), "v4's container retired");
    let releases = berth_ok(&d, &["app", "releases", "cfg"]);
    assert!(
        releases
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("*  v5") && l.ends_with("Set A")),
        "{releases}"
    );
    berth_ok(&d, &["app", "rm", "cfg"]);
}

#[test]
fn bad_pushes_are_refused_clearly_and_a_worker_runs_beside_web() {
    let (d, port, api) = app_daemon();
    if !d.is_berth() {
        return;
    }
    let bad = berth(&d, &["app", "create", "Not_Valid"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid app name"),
        "{bad:?}"
    );
    let host = "two.apps.test";
    berth_ok(&d, &["app", "create", "two", "--domain", host]);
    let remote = d.data_root().join("apps/two/repo.git");
    let src = host_dir(&d, "src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    commit_version(&src, "first", &[]);

    // An app that does not exist, over HTTP.
    let (ok, out) = push_to(&src, &format!("http://{api}/berth/v1/apps/nope/git"));
    assert!(!ok);
    assert!(out.contains("404") || out.contains("not found"), "{out}");

    for (file, text, says) in [
        (
            "Procfile",
            "web httpd -f\n",
            "Procfile line 1: expected `type: command`",
        ),
        ("CHECKS", "WAIT=soon\n", "CHECKS line 1: expected a number"),
    ] {
        std::fs::write(src.join(file), text).unwrap();
        git_ok(&src, &["add", "-A"]);
        git_ok(&src, &["commit", "-q", "-m", file]);
        let (ok, out) = push(&src, &remote);
        assert!(!ok, "{out}");
        assert!(out.contains(says), "{out}");
        git_ok(&src, &["rm", "-q", file]);
    }
    let none = d.docker_ok(&["ps", "-aq", "--filter", "label=berth.app=two"]);
    assert!(none.trim().is_empty(), "nothing deployed half-way: {none}");

    // Two process types: web serves, worker runs beside it unrouted.
    commit_version(
        &src,
        "with-worker",
        &[(
            "Procfile",
            "web: httpd -f -p 80 -h /www\nworker: while true; do sleep 1; done\n",
        )],
    );
    let (ok, out) = push(&src, &remote);
    assert!(ok, "{out}");
    assert_eq!(get(port, host), Some((200, "with-worker".to_string())));
    let info = berth_ok(&d, &["app", "info", "two"]);
    for process in ["web", "worker"] {
        assert!(
            info.lines()
                .any(|l| l.trim_start().starts_with(process) && l.contains("running")),
            "{info}"
        );
    }
    berth_ok(&d, &["app", "rm", "two"]);
}

#[test]
fn https_pushes_need_the_apis_client_certificate() {
    let pki = common::pki::Pki::new();
    let [port, api_port] = free_ports();
    let api = format!("127.0.0.1:{api_port}");
    let mut args = vec!["--router-addr".to_string(), format!("127.0.0.1:{port}")];
    args.extend(pki.daemon_args(&api));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = Daemon::start_networked_with(&args);
    if !d.is_berth() {
        return;
    }
    let host = "secure.apps.test";
    berth_ok(&d, &["app", "create", "secure", "--domain", host]);
    let src = host_dir(&d, "src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    commit_version(&src, "over-tls", &[]);
    let url = format!("https://{api}/berth/v1/apps/secure/git");
    let client = pki.path("client");
    let push_with = |cert: bool| {
        let mut cmd = Command::new("git");
        cmd.args(["push", &url, "main"])
            .current_dir(&src)
            .env("GIT_SSL_CAINFO", pki.path("server").join("ca.pem"));
        if cert {
            cmd.env("GIT_SSL_CERT", client.join("cert.pem"))
                .env("GIT_SSL_KEY", client.join("key.pem"));
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out) = push_with(false);
    assert!(!ok, "a push without a client certificate must fail: {out}");
    let (ok, out) = push_with(true);
    assert!(ok, "{out}");
    assert!(out.contains("remote: =====> secure"), "{out}");
    assert_eq!(get(port, host), Some((200, "over-tls".to_string())));
    berth_ok(&d, &["app", "rm", "secure"]);
}
