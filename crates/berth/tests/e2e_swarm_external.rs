//! Swarm mode on an etcd the operator runs (`--cluster-store`): managers
//! start no etcd member of their own, a second manager joins through the
//! same store, the state lives in that etcd under the cluster's prefix and
//! survives a manager's restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cluster::Cluster;
use common::{assert_success, wait_for};

const STORE: &str = "http://10.77.0.1:23790";

/// An etcd in a test host's namespace; killed and its data removed on drop.
struct ExternalEtcd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl ExternalEtcd {
    fn start(netns: &Path) -> ExternalEtcd {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("etcd")
            .arg("--name=ext")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={STORE}"))
            .arg(format!("--advertise-client-urls={STORE}"))
            .arg("--listen-peer-urls=http://127.0.0.1:23800")
            .arg("--initial-advertise-peer-urls=http://127.0.0.1:23800")
            .arg("--initial-cluster=ext=http://127.0.0.1:23800")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (Debian's etcd-server) on PATH");
        ExternalEtcd { child, _dir: dir }
    }

    /// `etcdctl` against it, from `netns`.
    fn ctl(netns: &Path, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("etcdctl")
            .arg(format!("--endpoints={STORE}"))
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl (Debian's etcd-client)")
    }
}

impl Drop for ExternalEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn managers_keep_the_swarm_in_an_external_etcd() {
    let c = Cluster::with_daemon_args(3, &["--cluster-store", STORE]);
    let ns = c.hosts[0].ns.path();
    let _etcd = ExternalEtcd::start(&ns);
    let up = wait_for(Duration::from_secs(30), || {
        ExternalEtcd::ctl(&ns, &["endpoint", "health"])
            .status
            .success()
            .then_some(())
    });
    assert!(up.is_some(), "the external etcd never answered");

    let worker_token = c.init();
    let first = &c.hosts[0];
    assert!(
        !first.d.data_root().join("swarm/etcd").exists(),
        "a manager on an external store runs no etcd member"
    );
    let manager_token = first.d.docker_ok(&["swarm", "join-token", "-q", "manager"]);
    let out = c.join(1, &manager_token);
    assert_success(&out, "swarm join as manager");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("joined a swarm as a manager"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // By interface name, as dockerd takes it: eth0's one address.
    let out = c.hosts[2].d.docker(&[
        "swarm",
        "join",
        "--advertise-addr",
        "eth0",
        "--token",
        &worker_token,
        &format!("{}:2377", c.hosts[0].ip),
    ]);
    assert_success(&out, "swarm join as worker, advertising eth0");
    assert!(!c.hosts[1].d.data_root().join("swarm/etcd").exists());

    let second = &c.hosts[1];
    let ls = second.d.docker_ok(&[
        "node",
        "ls",
        "--format",
        "{{.Hostname}} {{.Status}} {{.ManagerStatus}}",
    ]);
    assert_eq!(ls.lines().count(), 3, "{ls}");
    assert_eq!(ls.matches("Leader").count(), 1, "{ls}");
    assert_eq!(ls.matches("Reachable").count(), 1, "{ls}");
    let third = c.hosts[2]
        .d
        .docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
    assert_eq!(
        second
            .d
            .docker_ok(&["node", "inspect", "--format", "{{.Status.Addr}}", &third]),
        c.hosts[2].ip
    );
    second.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "ext",
        "--replicas",
        "3",
        "busybox:latest",
        "top",
    ]);
    let running = wait_for(Duration::from_secs(60), || {
        let n = first
            .d
            .docker_ok(&[
                "service",
                "ps",
                "-q",
                "--filter",
                "desired-state=running",
                "ext",
            ])
            .lines()
            .count();
        let up = first
            .d
            .docker_ok(&["service", "ls", "--format", "{{.Replicas}}"]);
        (n == 3 && up == "3/3").then_some(())
    });
    assert!(
        running.is_some(),
        "{}",
        first.d.docker_ok(&["service", "ps", "ext"])
    );

    // The state is the external etcd's, under the cluster's prefix.
    let cluster_id = first
        .d
        .docker_ok(&["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let keys = ExternalEtcd::ctl(&ns, &["get", "--prefix", "--keys-only", "/"]);
    assert_success(&keys, "etcdctl get");
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert!(
        keys.lines()
            .any(|k| k.contains(&cluster_id) && k.contains("service")),
        "{keys}"
    );

    // A manager's restart reconnects to the same store.
    first.d.restart();
    let back = wait_for(Duration::from_secs(30), || {
        let out = first.d.docker(&["service", "ls", "--format", "{{.Name}}"]);
        (String::from_utf8_lossy(&out.stdout).trim() == "ext").then_some(())
    });
    assert!(back.is_some(), "{}", first.d.log_tail());
}
