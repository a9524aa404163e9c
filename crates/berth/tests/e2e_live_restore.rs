//! Containers outlive a SIGKILLed daemon and are picked up again when it
//! restarts on the same roots. Each test owns its daemon since it kills it.
//!
//! The issue scopes this to berth; against dockerd the same tests run with
//! `--live-restore` to prove they encode Docker's behaviour.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{Daemon, assert_success, stdout, wait_for};

fn inspect(d: &Daemon, fmt: &str, name: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, name])
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn running_container_survives_daemon_sigkill() {
    let d = Daemon::start_live_restore();
    let name = d.name("survivor");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 2; echo during; exec sleep 300",
    ]);
    let logged = wait_for(Duration::from_secs(10), || {
        d.docker_ok(&["logs", &name])
            .contains("before")
            .then_some(())
    });
    assert!(logged.is_some());
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    let id = inspect(&d, "{{.Id}}", &name);

    d.kill9();
    assert!(alive(&pid), "container pid {pid} died with the daemon");
    // Output written while the daemon is down must not be lost.
    thread::sleep(Duration::from_secs(3));
    d.restart();

    let ps = d.docker_ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.Status}}",
    ]);
    let line = ps
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{name} not running after restart:\n{ps}"));
    assert!(line.contains(&format!("{name} Up ")), "{line}");
    assert_eq!(inspect(&d, "{{.State.Running}}", &name), "true");
    assert_eq!(inspect(&d, "{{.State.Pid}}", &name), pid);

    let logs = wait_for(Duration::from_secs(10), || {
        let l = d.docker_ok(&["logs", &name]);
        (l == "before\nduring").then_some(l)
    });
    assert!(
        logs.is_some(),
        "logs after restart: {}",
        d.docker_ok(&["logs", &name])
    );
    assert_eq!(d.docker_ok(&["exec", &name, "echo", "exec-ok"]), "exec-ok");
    let ps_inside = d.docker_ok(&["exec", &name, "ps", "-o", "pid,args"]);
    assert!(ps_inside.contains("sleep 300"), "{ps_inside}");

    d.docker_ok(&["stop", "-t", "1", &name]);
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 137"
    );
    let gone = wait_for(Duration::from_secs(10), || (!alive(&pid)).then_some(()));
    assert!(gone.is_some(), "pid {pid} survived stop");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn exit_while_daemon_is_down_is_recorded() {
    let d = Daemon::start_live_restore();
    let name = d.name("exits-offline");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 2; echo bye; exit 7",
    ]);
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    d.kill9();
    let exited = wait_for(Duration::from_secs(15), || (!alive(&pid)).then_some(()));
    assert!(exited.is_some(), "container did not finish on its own");
    thread::sleep(Duration::from_millis(500));
    d.restart();

    let state = wait_for(Duration::from_secs(15), || {
        let s = inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name);
        (s == "exited 7").then_some(s)
    });
    assert!(
        state.is_some(),
        "state after restart: {}",
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name)
    );
    assert_eq!(d.docker_ok(&["wait", &name]), "7");
    // dockerd drops output of a container that exited while it was down (the
    // FIFO reader is gone); berth's shim writes the log file itself, so
    // berth must keep it.
    if d.is_berth() {
        assert_eq!(d.docker_ok(&["logs", &name]), "bye");
    }
    assert!(!inspect(&d, "{{.State.FinishedAt}}", &name).starts_with("0001"));
    let ps = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Exited (7)"), "{ps}");
    // The container can run again after the restart.
    let out = d.docker(&["start", "-a", &name]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "bye\n");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn graceful_restart_keeps_images_and_stopped_containers() {
    let d = Daemon::start_live_restore();
    let name = d.name("persisted");
    d.docker_ok(&[
        "create", "--name", &name, "-l", "keep=yes", "busybox", "echo", "again",
    ]);
    d.stop();
    d.restart();
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "created");
    assert_eq!(inspect(&d, "{{.Config.Labels.keep}}", &name), "yes");
    let out = d.docker(&["start", "-a", &name]);
    assert_success(&out, "start -a after restart");
    assert_eq!(stdout(&out), "again\n");
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("busybox:latest"), "{images}");
    d.docker_ok(&["rm", &name]);
}

/// A container whose writable layer lost its metadata (a disk error, a hand
/// that deleted files) does not keep the daemon from starting: the others
/// run on, the damaged one is listed, refuses to start naming what is
/// missing, and can be removed.
#[test]
fn a_damaged_writable_layer_does_not_stop_the_daemon() {
    let d = Daemon::start_live_restore();
    if !d.is_berth() {
        return;
    }
    let broken = d.name("broken");
    let alive = d.name("alive");
    d.docker_ok(&["create", "--name", &broken, "busybox", "true"]);
    d.docker_ok(&["run", "-d", "--name", &alive, "busybox", "sleep", "600"]);
    let id = inspect(&d, "{{.Id}}", &broken);
    d.kill9();
    let layer = d.data_root().join("snapshots/rw").join(&id);
    let mut removed = 0;
    for e in std::fs::read_dir(&layer).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            std::fs::remove_file(p).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "no layer metadata in {}", layer.display());
    d.restart();
    d.docker_ok(&["exec", &alive, "true"]);
    assert!(
        d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains(&broken)
    );
    let out = d.docker(&["start", &broken]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains(&format!("writable layer of container {id}")),
        "{}",
        common::stderr(&out)
    );
    d.docker_ok(&["rm", &broken]);
    assert!(!layer.exists(), "{} is left", layer.display());
}
