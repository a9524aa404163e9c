//! `docker login` and authenticated push/pull through the daemon: htpasswd
//! Basic auth and the Bearer token flow, against `berth registry`.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;

use common::registry::{RegistryProcess, write_htpasswd};
use common::{Daemon, assert_fails_with, stderr, stdout};

fn login(d: &Daemon, addr: &str, user: &str, password: &str) -> std::process::Output {
    d.docker_stdin(
        &["login", "--username", user, "--password-stdin", addr],
        password.as_bytes(),
    )
}

/// Push, drop the local tag, pull it back: the image id survives.
fn round_trip(d: &Daemon, target: &str) {
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    d.docker_ok(&["tag", "busybox", target]);
    let pushed = d.docker_ok(&["push", target]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    d.docker_ok(&["rmi", target]);
    d.docker_ok(&["pull", target]);
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", target]),
        id
    );
    d.docker_ok(&["rmi", target]);
}

#[test]
fn login_then_push_and_pull_with_basic_auth() {
    let d = Daemon::shared();
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = write_htpasswd(dir.path(), "alice", "s3cret");
    let reg = RegistryProcess::berth(&["--htpasswd", htpasswd.to_str().unwrap()]);
    let target = format!("{}/auth/basic:v1", reg.addr);

    // Without credentials the registry refuses the push.
    d.docker_ok(&["tag", "busybox", &target]);
    assert_fails_with(&d.docker(&["push", &target]), "no basic auth credentials");
    d.docker_ok(&["rmi", &target]);

    let out = login(&d, &reg.addr, "alice", "wrong");
    assert_fails_with(&out, "401 Unauthorized");
    let out = login(&d, &reg.addr, "alice", "s3cret");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));

    round_trip(&d, &target);
    d.docker_ok(&["logout", &reg.addr]);
}

#[test]
fn login_then_push_and_pull_with_bearer_tokens() {
    let d = Daemon::shared();
    let dir = tempfile::tempdir().unwrap();
    let key = b"e2e-shared-hs256-key-0123456789";
    let (tokens, reg) = RegistryProcess::berth_behind_tokens(dir.path(), "bob", "hunter22", key);
    let target = format!("{}/auth/bearer:v1", reg.addr);

    let out = login(&d, &reg.addr, "bob", "wrong");
    assert_fails_with(&out, "nauthorized");
    assert!(tokens.refused.load(Ordering::SeqCst) >= 1);

    let out = login(&d, &reg.addr, "bob", "hunter22");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));
    let before = tokens.issued.load(Ordering::SeqCst);
    assert!(before >= 1, "login fetched no token");

    round_trip(&d, &target);
    assert!(
        tokens.issued.load(Ordering::SeqCst) > before,
        "push/pull fetched no token"
    );
    d.docker_ok(&["logout", &reg.addr]);
}
