//! Swarm autolock driven by the real docker CLI: `swarm init --autolock`
//! prints the unlock key; after a daemon restart the manager is locked (its
//! keys stay wrapped on disk, no store, no control plane, dockerd's words on
//! every swarm request) until `swarm unlock` gets the right key; `unlock-key
//! --rotate` and `update --autolock=false` change what the next restart
//! needs; a locked manager leaves only when forced; a manager that joins
//! is locked too and follows a rotation made elsewhere, a worker never is.
//! With
//! `BERTH_E2E_DAEMON=dockerd` it runs against dockerd to check that it
//! encodes dockerd's behaviour.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::swarm::Node;
use common::{assert_fails_with, assert_success, stdout, wait_for};

const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";

/// The `SWMKEY-1-…` in what the CLI printed.
fn key_in(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("SWMKEY-1-"))
        .unwrap_or_else(|| panic!("no unlock key in {out:?}"))
        .to_string()
}

fn state(n: &Node) -> String {
    n.d.docker_ok(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
    ])
}

/// Restarts the daemon gracefully (a killed dockerd's containerd keeps
/// the next one from starting).
fn restart(n: &Node) {
    n.d.stop();
    n.d.restart();
}

/// Restarts the daemon; the manager comes back locked.
fn restart_locked(n: &Node) {
    restart(n);
    assert_eq!(state(n), "locked false");
}

fn unlock(n: &Node, key: &str) -> std::process::Output {
    n.d.docker_stdin(&["swarm", "unlock"], format!("{key}\n").as_bytes())
}

/// Waits until the service list answers again and shows `name`.
fn services_back(n: &Node, name: &str) {
    let back = wait_for(Duration::from_secs(60), || {
        let out = n.d.docker(&["service", "ls", "--format", "{{.Name}}"]);
        (out.status.success() && stdout(&out).contains(name)).then_some(())
    });
    assert!(
        back.is_some(),
        "services back after unlock\n{}",
        n.d.log_tail()
    );
}

#[test]
fn autolock_locks_the_manager_until_unlocked_with_its_key() {
    let n = Node::new();
    let out = n.d.docker_ok(&[
        "swarm",
        "init",
        "--autolock",
        "--advertise-addr",
        "127.0.0.1",
    ]);
    assert!(out.contains("docker swarm unlock"), "{out}");
    let key = key_in(&out);
    assert_eq!(n.d.docker_ok(&["swarm", "unlock-key", "-q"]), key);
    assert_eq!(
        n.d.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}"
        ]),
        "true"
    );
    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "kept",
        "busybox:latest",
        "top",
    ]);
    if n.d.is_berth() {
        // The private keys are on disk only wrapped.
        let swarm = n.d.data_root().join("swarm");
        for f in [
            "certs/node-key.pem",
            "certs/data.key",
            "etcd-tls/member-key.pem",
        ] {
            let text = std::fs::read_to_string(swarm.join(f)).unwrap();
            assert!(
                !text.contains("PRIVATE KEY") && !text.contains("data-key"),
                "{f}: {text}"
            );
        }
    }

    // Restarted: locked, with dockerd's answers. berth is killed, so that
    // its etcd member outlives it and must not serve while locked.
    if n.d.is_berth() {
        n.d.kill9();
        n.d.restart();
        assert_eq!(state(&n), "locked false");
    } else {
        restart_locked(&n);
    }
    // dockerd 20.10 predates the header; later ones send the node state.
    let ping = n.d.request("GET", "/_ping", None);
    if n.d.is_berth() {
        assert_eq!(ping.header("swarm"), Some("locked"));
    }
    assert_eq!(
        n.d.docker_ok(&["info", "--format", "{{.Swarm.Error}}"]),
        LOCKED
    );
    // No node runs: no id, no managers, only the address it was given.
    assert_eq!(
        n.d.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.NodeID}}|{{.Swarm.NodeAddr}}|{{.Swarm.RemoteManagers}}|{{.Swarm.Nodes}}|{{.Swarm.Cluster}}"
        ]),
        "|127.0.0.1|[]|0|<nil>"
    );
    assert_fails_with(&n.d.docker(&["service", "ls"]), LOCKED);
    assert_fails_with(&n.d.docker(&["swarm", "unlock-key"]), LOCKED);
    let inspect = n.d.request("GET", "/v1.41/swarm", None);
    assert_eq!(inspect.status, 503, "{}", inspect.text());
    if n.d.is_berth() {
        // Nor does its etcd member run.
        let pid = std::fs::read_to_string(n.d.data_root().join("swarm/etcd.pid")).unwrap();
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("etcd"),
            "the etcd member runs while locked"
        );
    }

    // Wrong keys: dockerd's status and words; still locked.
    let wrong = format!("SWMKEY-1-{}", "A".repeat(43));
    assert_fails_with(&unlock(&n, &wrong), "invalid key");
    let body = |k: &str| format!(r#"{{"UnlockKey":"{k}"}}"#);
    let r = n.d.request(
        "POST",
        "/v1.41/swarm/unlock",
        Some(("application/json", body(&wrong).as_bytes())),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text()
            .contains("swarm could not be unlocked: invalid key provided"),
        "{}",
        r.text()
    );
    let r = n.d.request(
        "POST",
        "/v1.41/swarm/unlock",
        Some(("application/json", body("nonsense").as_bytes())),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid key string"), "{}", r.text());
    assert_eq!(state(&n), "locked false");

    // The right key, on stdin as the CLI reads it: everything is back.
    let out = unlock(&n, &key);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(state(&n), "active true");
    services_back(&n, "kept");
    assert_eq!(n.d.docker_ok(&["swarm", "unlock-key", "-q"]), key);
    let again = n.d.request(
        "POST",
        "/v1.41/swarm/unlock",
        Some(("application/json", body(&key).as_bytes())),
    );
    assert_eq!(again.status, 409, "{}", again.text());
    assert!(
        again.text().contains("swarm is not locked"),
        "{}",
        again.text()
    );

    // Rotated: the next restart wants the new key, not the old one.
    let out = n.d.docker_ok(&["swarm", "unlock-key", "--rotate"]);
    let rotated = key_in(&out);
    assert_ne!(rotated, key);
    assert_eq!(n.d.docker_ok(&["swarm", "unlock-key", "-q"]), rotated);
    restart_locked(&n);
    assert_fails_with(&unlock(&n, &key), "invalid key");
    let out = unlock(&n, &rotated);
    assert!(out.status.success(), "{}", common::stderr(&out));
    services_back(&n, "kept");

    // Autolock off: no key, and a restart needs none.
    n.d.docker_ok(&["swarm", "update", "--autolock=false"]);
    assert_fails_with(
        &n.d.docker(&["swarm", "unlock-key", "-q"]),
        "no unlock key is set",
    );
    assert_fails_with(
        &n.d.docker(&["swarm", "unlock-key", "--rotate"]),
        "autolock is not turned on",
    );
    restart(&n);
    assert_eq!(state(&n), "active true");
    services_back(&n, "kept");

    // On again: a new key; a locked manager leaves only when forced.
    let out = n.d.docker_ok(&["swarm", "update", "--autolock=true"]);
    let again = key_in(&out);
    assert_eq!(n.d.docker_ok(&["swarm", "unlock-key", "-q"]), again);
    restart_locked(&n);
    assert_fails_with(
        &n.d.docker(&["swarm", "leave"]),
        "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.",
    );
    n.d.docker_ok(&["swarm", "leave", "--force"]);
    assert_eq!(state(&n), "inactive false");
}

#[test]
fn every_manager_follows_the_cluster_key_and_workers_are_never_locked() {
    let c = Cluster::new(3);
    c.init();
    let first = &c.hosts[0].d;
    let key = key_in(&first.docker_ok(&["swarm", "update", "--autolock=true"]));
    let token = first.docker_ok(&["swarm", "join-token", "-q", "manager"]);
    assert_success(&c.join(1, &token), "swarm join as manager");
    let token = first.docker_ok(&["swarm", "join-token", "-q", "worker"]);
    assert_success(&c.join(2, &token), "swarm join as worker");
    let (manager, worker) = (&c.hosts[1].d, &c.hosts[2].d);
    assert_eq!(manager.docker_ok(&["swarm", "unlock-key", "-q"]), key);
    let node_key = manager.data_root().join("swarm/certs/node-key.pem");
    let wrapped = || std::fs::read_to_string(&node_key).unwrap_or_default();
    let before = wrapped();
    if manager.is_berth() {
        assert!(!before.contains("PRIVATE KEY"), "{before}");
    }

    // Rotated on the first manager: the other one re-wraps its files.
    let rotated = key_in(&first.docker_ok(&["swarm", "unlock-key", "--rotate"]));
    assert_ne!(rotated, key);
    if manager.is_berth() {
        let followed = wait_for(Duration::from_secs(30), || {
            (wrapped() != before).then_some(())
        });
        assert!(
            followed.is_some(),
            "the second manager re-wraps\n{}",
            manager.log_tail()
        );
    } else {
        std::thread::sleep(Duration::from_secs(5));
    }
    manager.stop();
    manager.restart();
    let state = |d: &common::Daemon| {
        d.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])
    };
    assert_eq!(state(manager), "locked false");
    let unlock = |k: &str| manager.docker_stdin(&["swarm", "unlock"], format!("{k}\n").as_bytes());
    assert_fails_with(&unlock(&key), "invalid key");
    let out = unlock(&rotated);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(state(manager), "active true");

    // A worker keeps no cluster keys: it restarts unlocked.
    worker.stop();
    worker.restart();
    assert_eq!(state(worker), "active false");
    if worker.is_berth() {
        let text =
            std::fs::read_to_string(worker.data_root().join("swarm/certs/node-key.pem")).unwrap();
        assert!(text.contains("PRIVATE KEY"));
    }
}
