//! Swarm mode on one node, driven by the real docker CLI: `swarm init`
//! with its etcd member, nodes, services that converge, restart, scale,
//! update, roll back and go away, tasks that fail, wait for a node or are
//! rejected, a daemon restart that keeps the swarm and adopts the tasks,
//! and dockerd's errors. Each test runs its own daemon in its own network
//! namespace (the etcd ports and the cluster port are per namespace).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::swarm::Node;
use common::{assert_fails_with, stdout, wait_for};

#[test]
fn init_then_a_service_converges_scales_and_goes_away() {
    let n = Node::new();
    // Before init, as an inactive dockerd.
    assert_fails_with(
        &n.d.docker(&["node", "ls"]),
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\"",
    );
    assert_fails_with(
        &n.d.docker(&["swarm", "leave"]),
        "This node is not part of a swarm",
    );
    let node_id = n.init();
    assert_eq!(node_id.len(), 25);
    let info = n.d.docker_ok(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}}",
    ]);
    assert_eq!(info, "active true 1 1");
    let ping = n.d.request("GET", "/_ping", None);
    assert_eq!(ping.header("swarm"), Some("active/manager"));
    let nodes = n.d.docker_ok(&[
        "node",
        "ls",
        "--format",
        "{{.ID}} {{.Status}} {{.Availability}} {{.ManagerStatus}} {{.Self}}",
    ]);
    assert_eq!(nodes, format!("{node_id} Ready Active Leader true"));
    // The cluster's store is a real etcd, a child of the daemon.
    let etcd = std::fs::read_to_string(n.d.data_root().join("swarm/etcd.pid")).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", etcd.trim())).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains("etcd"));

    // Without -d the CLI waits until the service converged, as against dockerd.
    let out = n.d.docker(&[
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "3",
        "--label",
        "tier=front",
        "busybox:latest",
        "top",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(n.running("web"), 3, "{:?}", n.ps("web"));
    let names = n.containers("label=com.docker.swarm.service.name=web");
    assert_eq!(names.len(), 3);
    for name in &names {
        // <service>.<slot>.<task id>
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0], "web");
        assert_eq!(parts[2].len(), 25);
        let labels = n.d.docker_ok(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"com.docker.swarm.node.id\"}} {{index .Config.Labels \"com.docker.swarm.task.name\"}}",
            name,
        ]);
        assert_eq!(labels, format!("{node_id} {name}"));
    }
    let ls = n.d.docker_ok(&[
        "service",
        "ls",
        "--format",
        "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}",
    ]);
    assert_eq!(ls, "web replicated 3/3 busybox:latest");
    assert_eq!(
        n.d.docker_ok(&["service", "ls", "--filter", "label=tier=back", "-q"]),
        ""
    );

    // As dockerd: the tasks of removed slots go, with their containers.
    n.d.docker_ok(&["service", "scale", "web=1"]);
    let rows = n.until("web", "scaled to 1", |rows| rows.len() == 1);
    assert!(rows[0].starts_with("web.1|Running|Running"), "{rows:?}");
    assert!(
        wait_for(Duration::from_secs(30), || (n
            .containers("label=com.docker.swarm.service.name=web")
            .len()
            == 1)
            .then_some(()))
        .is_some(),
        "the scaled-down tasks' containers are removed"
    );

    n.d.docker_ok(&["service", "rm", "web"]);
    assert!(
        wait_for(Duration::from_secs(30), || n
            .containers("label=com.docker.swarm.service.name=web")
            .is_empty()
            .then_some(()))
        .is_some(),
        "the tasks' containers go with the service"
    );
    assert_eq!(n.d.docker_ok(&["service", "ls", "-q"]), "");

    // A manager leaves only when forced; then nothing of the swarm is left.
    assert_fails_with(
        &n.d.docker(&["swarm", "leave"]),
        "You are attempting to leave the swarm on a node that is participating as a manager",
    );
    n.d.docker_ok(&["swarm", "leave", "--force"]);
    assert_eq!(
        n.d.docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
        "inactive"
    );
    assert!(!n.d.data_root().join("swarm").exists());
    assert!(
        wait_for(Duration::from_secs(10), || (!std::path::Path::new(
            &format!("/proc/{}/cmdline", etcd.trim())
        )
        .exists()
            || std::fs::read(format!("/proc/{}/cmdline", etcd.trim()))
                .unwrap_or_default()
                .is_empty())
        .then_some(()))
        .is_some(),
        "the etcd member stops with the swarm"
    );
    // And a new swarm can start again.
    n.init();
}

#[test]
fn tasks_restart_by_policy_and_failures_show_in_service_ps() {
    let n = Node::new();
    n.init();
    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "flaky",
        "--restart-condition",
        "on-failure",
        "--restart-delay",
        "1s",
        "--restart-max-attempts",
        "2",
        "busybox:latest",
        "sh",
        "-c",
        "exit 3",
    ]);
    let rows = n.until("flaky", "three failed attempts", |rows| {
        rows.iter()
            .filter(|r| r.contains("task: non-zero exit (3)"))
            .count()
            == 3
    });
    // The first try and two restarts, all in slot 1; then no more.
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("flaky.1|") || r.contains("\\_ flaky.1|"))
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n.ps("flaky").len(), 3, "max attempts reached");

    // A task whose container is killed is replaced (condition any, the default).
    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "steady",
        "--restart-delay",
        "1s",
        "busybox:latest",
        "top",
    ]);
    n.until("steady", "running", |rows| {
        rows.iter().any(|r| r.contains("|Running|Running"))
    });
    let first = n.containers("label=com.docker.swarm.service.name=steady");
    n.d.docker_ok(&["kill", &first[0]]);
    let rows = n.until("steady", "replaced", |rows| {
        rows.len() == 2 && rows[0].contains("|Running|Running")
    });
    assert!(rows[1].contains("|Shutdown|Failed"), "{rows:?}");
    assert!(rows[1].contains("task: non-zero exit (137)"), "{rows:?}");
}

#[test]
fn rejected_and_pending_tasks_say_why() {
    let n = Node::new();
    let me = n.init();
    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "ghost",
        "--restart-condition",
        "none",
        "nope-image:1",
    ]);
    let rows = n.until("ghost", "rejected", |rows| {
        rows.iter().any(|r| r.contains("Rejected"))
    });
    assert!(rows[0].contains("No such image: nope-image:1"), "{rows:?}");

    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "placed",
        "--constraint",
        "node.labels.zone==eu",
        "busybox:latest",
        "top",
    ]);
    let rows = n.until("placed", "pending", |rows| {
        rows.iter().any(|r| r.contains("Pending"))
    });
    assert!(
        rows[0].contains("no suitable node (scheduling constraints not satisfied on 1 node)"),
        "{rows:?}"
    );
    n.d.docker_ok(&["node", "update", "--label-add", "zone=eu", &me]);
    n.until("placed", "placed once the node fits", |rows| {
        rows.iter().any(|r| r.contains("|Running|Running"))
    });

    // A drained node runs nothing.
    n.d.docker_ok(&["node", "update", "--availability", "drain", &me]);
    n.until("placed", "drained", |rows| {
        rows.iter().any(|r| r.contains("|Shutdown|Shutdown"))
    });
    assert!(n.containers("status=running").is_empty());
}

#[test]
fn updates_replace_tasks_and_rollback_restores_the_spec() {
    let n = Node::new();
    n.init();
    n.d.docker_ok(&["tag", "busybox:latest", "busybox:v2"]);
    n.d.docker_ok(&[
        "service",
        "create",
        "--name",
        "up",
        "--replicas",
        "2",
        "busybox:latest",
        "top",
    ]);
    n.d.docker_ok(&["service", "update", "--image", "busybox:v2", "up"]);
    let rows = n.until("up", "updated", |rows| {
        rows.iter()
            .filter(|r| r.contains("|Running|Running"))
            .count()
            == 2
            && rows.iter().filter(|r| r.contains("|Shutdown|")).count() == 2
    });
    let images = n.d.docker_ok(&[
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}}",
        "up",
    ]);
    assert_eq!(images, "busybox:v2\nbusybox:v2", "{rows:?}");
    let prev = n.d.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.PreviousSpec.TaskTemplate.ContainerSpec.Image}}",
        "up",
    ]);
    assert_eq!(prev, "busybox:latest");
    n.d.docker_ok(&["service", "rollback", "up"]);
    let image = n.d.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        "up",
    ]);
    assert_eq!(image, "busybox:latest");
}

#[test]
fn a_daemon_restart_keeps_the_swarm_and_adopts_its_tasks() {
    let n = Node::new();
    let node_id = n.init();
    n.d.docker_ok(&[
        "service",
        "create",
        "--name",
        "keep",
        "--replicas",
        "2",
        "busybox:latest",
        "top",
    ]);
    let before = n.containers("label=com.docker.swarm.service.name=keep");
    assert_eq!(before.len(), 2);
    // Killed without a chance to stop anything: its etcd member survives it.
    n.d.kill9();
    n.d.restart();
    assert_eq!(
        n.d.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.NodeID}} {{.Swarm.LocalNodeState}}"
        ]),
        format!("{node_id} active")
    );
    let rows = n.until("keep", "tasks adopted", |rows| {
        rows.iter()
            .filter(|r| r.contains("|Running|Running"))
            .count()
            == 2
    });
    assert_eq!(rows.len(), 2, "no task replaced: {rows:?}");
    let mut after = n.containers("label=com.docker.swarm.service.name=keep");
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(before, after);
}

#[test]
fn bad_input_gets_dockerds_status_and_message() {
    let n = Node::new();
    n.init();
    let create = |body: &str| {
        n.d.request(
            "POST",
            "/v1.41/services/create",
            Some(("application/json", body.as_bytes())),
        )
    };
    let ok =
        create(r#"{"Name":"dup","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"}}}"#);
    assert_eq!(ok.status, 201, "{}", ok.text());
    let dup =
        create(r#"{"Name":"dup","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"}}}"#);
    assert_eq!(dup.status, 409);
    assert!(
        dup.text()
            .contains("name conflicts with an existing object"),
        "{}",
        dup.text()
    );
    let bad =
        create(r#"{"Name":"bad name!","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}"#);
    assert_eq!(bad.status, 400);
    assert!(
        bad.text()
            .contains("name must be valid as a DNS name component")
    );
    let noimg = create(r#"{"Name":"y","TaskTemplate":{"ContainerSpec":{}}}"#);
    assert_eq!(noimg.status, 400);
    assert!(noimg.text().contains("image reference must be provided"));
    let negative = create(
        r#"{"Name":"z","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":-1}}}"#,
    );
    assert_eq!(negative.status, 400, "{}", negative.text());
    let garbage = create("{not json");
    assert_eq!(garbage.status, 400);
    // Nothing of the refused creates was stored.
    assert_eq!(
        n.d.docker_ok(&["service", "ls", "--format", "{{.Name}}"]),
        "dup"
    );

    let stale = n.d.request(
        "POST",
        "/v1.41/services/dup/update?version=1",
        Some((
            "application/json",
            br#"{"Name":"dup","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"}}}"#,
        )),
    );
    assert_eq!(stale.status, 500);
    assert!(
        stale.text().contains("update out of sequence"),
        "{}",
        stale.text()
    );
    for (path, msg) in [
        ("/v1.41/services/nope", "service nope not found"),
        ("/v1.41/nodes/nope", "node nope not found"),
        ("/v1.41/tasks/nope", "task nope not found"),
    ] {
        let r = n.d.request("GET", path, None);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains(msg), "{path}: {}", r.text());
    }
    let again = n.d.request(
        "POST",
        "/v1.41/swarm/init",
        Some((
            "application/json",
            br#"{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"127.0.0.1"}"#,
        )),
    );
    assert_eq!(again.status, 503);
    assert!(
        again
            .text()
            .contains("This node is already part of a swarm")
    );
    let out = n.d.docker(&["service", "logs", "nope"]);
    assert!(stdout(&out).is_empty());
    assert_fails_with(&out, "no such task or service: nope");
}
