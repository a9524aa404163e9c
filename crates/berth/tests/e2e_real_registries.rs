//! Real clients and servers on both sides of the distribution API: podman
//! against `berth registry`, and the engine against Debian's docker-registry
//! (distribution 2.8). Both are installed by scripts/deps.sh.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::RegistryProcess;
use common::{Daemon, run_with_timeout, stderr, stdout};

/// podman with its own storage under `dir` (vfs: no mounts to clean up).
fn podman(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("podman");
    cmd.arg("--storage-driver")
        .arg("vfs")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
        .args(args);
    let out = run_with_timeout(
        cmd,
        None,
        std::time::Duration::from_secs(120),
        &format!("podman {args:?}"),
    );
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

#[test]
fn podman_pushes_and_pulls_through_berth_registry() {
    assert!(
        Path::new("/usr/bin/podman").exists(),
        "podman is missing: run scripts/deps.sh"
    );
    let d = Daemon::shared();
    let reg = RegistryProcess::berth(&[]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let rootfs = d.rootfs_tar();
    podman(
        p,
        &["import", rootfs.to_str().unwrap(), "localhost/pod/bb:v1"],
    );
    let id = podman(
        p,
        &["image", "inspect", "-f", "{{.Id}}", "localhost/pod/bb:v1"],
    );

    let target = format!("{}/pod/bb:v1", reg.addr);
    podman(
        p,
        &["push", "--tls-verify=false", "localhost/pod/bb:v1", &target],
    );
    podman(p, &["rmi", "localhost/pod/bb:v1"]);
    podman(p, &["pull", "--tls-verify=false", &target]);
    assert_eq!(
        podman(p, &["image", "inspect", "-f", "{{.Id}}", &target]),
        id
    );

    // What podman pushed runs through the daemon, and the daemon's push
    // of it comes back to podman under the same config digest.
    assert_eq!(
        d.docker_ok(&["run", "--rm", &target, "echo", "from-podman"]),
        "from-podman"
    );
    let again = format!("{}/pod/bb:v2", reg.addr);
    d.docker_ok(&["tag", &target, &again]);
    d.docker_ok(&["push", &again]);
    podman(p, &["pull", "--tls-verify=false", &again]);
    assert_eq!(
        podman(p, &["image", "inspect", "-f", "{{.Id}}", &again]),
        id
    );
    d.docker_ok(&["rmi", &target, &again]);
}

#[test]
fn engine_pushes_to_and_pulls_from_docker_registry() {
    assert!(
        Path::new("/usr/bin/docker-registry").exists(),
        "docker-registry is missing: run scripts/deps.sh"
    );
    let d = Daemon::shared();
    let reg = RegistryProcess::docker_registry();
    let target = format!("{}/dist/bb:v1", reg.addr);
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    d.docker_ok(&["tag", "busybox", &target]);
    let pushed = d.docker_ok(&["push", &target]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    let digest = pushed
        .split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();

    // A second push finds every layer there.
    let again = d.docker_ok(&["push", &target]);
    assert!(again.contains("Layer already exists"), "{again}");

    d.docker_ok(&["rmi", &target]);
    let pulled = d.docker_ok(&["pull", &target]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &target]),
        id
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", &target, "echo", "via-distribution"]),
        "via-distribution"
    );
    // By digest too.
    let by_digest = format!("{}/dist/bb@{digest}", reg.addr);
    let pulled = d.docker_ok(&["pull", &by_digest]);
    assert!(pulled.contains(&digest), "{pulled}");
    // Removing the tag takes the digest reference with it (as in Docker).
    d.docker_ok(&["rmi", &target]);
    let _ = d.docker(&["rmi", &by_digest]);
}
