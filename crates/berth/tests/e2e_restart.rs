//! Restart policies, including what a new daemon does after the old one was killed.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Daemon, assert_fails_with, wait_for};

fn state(d: &Daemon, name: &str) -> (String, u64) {
    let out = d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name]);
    let (status, count) = out.split_once(' ').unwrap();
    (status.to_string(), count.parse().unwrap())
}

#[test]
fn on_failure_retries_up_to_its_maximum() {
    let d = Daemon::shared();
    let name = d.name("onfail");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    let done = wait_for(Duration::from_secs(20), || {
        let (status, count) = state(&d, &name);
        (status == "exited" && count == 2).then_some(())
    });
    assert!(
        done.is_some(),
        "never settled at 2 restarts: {:?}",
        state(&d, &name)
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&d, &name), ("exited".to_string(), 2));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]),
        "3"
    );
    // A clean exit is not a failure.
    let ok = d.name("onfail-ok");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &ok,
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&d, &ok), ("exited".to_string(), 0));
}

#[test]
fn always_restarts_until_stopped() {
    let d = Daemon::shared();
    let name = d.name("always");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    let restarted = wait_for(Duration::from_secs(20), || {
        (state(&d, &name).1 >= 2).then_some(())
    });
    assert!(restarted.is_some(), "{:?}", state(&d, &name));
    d.docker_ok(&["stop", "-t", "1", &name]);
    let (status, count) = state(&d, &name);
    assert_eq!(status, "exited");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state(&d, &name),
        ("exited".to_string(), count),
        "restarted after docker stop"
    );
}

#[test]
fn bad_policies_are_refused() {
    let d = Daemon::shared();
    assert_fails_with(
        &d.docker(&["run", "--rm", "--restart", "always", "busybox", "true"]),
        "",
    );
    assert_fails_with(
        &d.docker(&["run", "--restart", "sometimes", "busybox", "true"]),
        "",
    );
    assert_fails_with(
        &d.docker(&["run", "--restart", "always:3", "busybox", "true"]),
        "",
    );
}

/// Kill -9 the daemon with a container under each policy, then start a new one.
#[test]
fn a_new_daemon_applies_each_policy() {
    let d = Daemon::start_live_restore();
    let run = |name: &str, policy: &str, cmd: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name, "--restart", policy, "busybox"];
        args.extend_from_slice(cmd);
        d.docker_ok(&args);
    };
    let stopped_always = d.name("stopped-always");
    let stopped_unless = d.name("stopped-unless");
    let stopped_no = d.name("stopped-no");
    let running = d.name("running-onfail");
    let dies_meanwhile = d.name("dies-always");
    run(&stopped_always, "always", &["sleep", "1000"]);
    run(&stopped_unless, "unless-stopped", &["sleep", "1000"]);
    run(&stopped_no, "no", &["sleep", "1000"]);
    run(&running, "on-failure", &["sleep", "1000"]);
    run(&dies_meanwhile, "always", &["sh", "-c", "sleep 2; exit 1"]);
    for n in [&stopped_always, &stopped_unless, &stopped_no] {
        d.docker_ok(&["stop", "-t", "0", n]);
    }
    let pid_before = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &running]);

    d.kill9();
    std::thread::sleep(Duration::from_secs(3));
    d.restart();

    // "always" comes back even after a manual stop; "unless-stopped" and "no" do not.
    let up = wait_for(Duration::from_secs(20), || {
        (state(&d, &stopped_always).0 == "running").then_some(())
    });
    assert!(up.is_some(), "{:?}", state(&d, &stopped_always));
    assert_eq!(state(&d, &stopped_unless).0, "exited");
    assert_eq!(state(&d, &stopped_no).0, "exited");
    // Live restore kept the running one; the one that died meanwhile was restarted.
    assert_eq!(state(&d, &running).0, "running");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &running]),
        pid_before
    );
    let back = wait_for(Duration::from_secs(20), || {
        let (status, count) = state(&d, &dies_meanwhile);
        (count >= 1 && status == "running").then_some(())
    });
    assert!(back.is_some(), "{:?}", state(&d, &dies_meanwhile));
}

/// `rm` takes a container's files out of their names at once and frees
/// them in the background (its log and writable layer can be large, and
/// unlinking waits for the disk on some filesystems); what a stop left of
/// that is cleaned by the next daemon.
#[test]
fn removed_containers_files_go_and_a_new_daemon_cleans_what_was_left() {
    let d = Daemon::start();
    if !d.is_berth() {
        return;
    }
    let containers = d.data_root().join("containers");
    let rw = d.data_root().join("snapshots/rw");
    d.docker_ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=20 2>/dev/null; yes | head -c 5000000",
    ]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "big"]);
    assert!(!id.is_empty());
    d.docker_ok(&["rm", "big"]);
    assert!(!containers.join(&id).exists(), "the name is gone at once");
    assert!(!rw.join(&id).exists());
    // The name is free again at once.
    d.docker_ok(&["create", "--name", "big", "busybox", "true"]);
    let leftovers = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect::<Vec<_>>()
    };
    let assert_all_freed = || {
        let freed = wait_for(Duration::from_secs(30), || {
            (leftovers(&containers).is_empty() && leftovers(&rw).is_empty()).then_some(())
        });
        assert!(
            freed.is_some(),
            "{:?} {:?}",
            leftovers(&containers),
            leftovers(&rw)
        );
    };
    assert_all_freed();

    // What a daemon killed before its reaper was done leaves behind.
    std::fs::create_dir_all(containers.join(".removed-0123abcd-1/logs")).unwrap();
    std::fs::write(containers.join(".removed-0123abcd-1/logs/x.log"), b"x").unwrap();
    std::fs::create_dir_all(rw.join(".tmp-1-abc-0/fs/bin")).unwrap();
    d.restart();
    assert_all_freed();
    assert_eq!(
        d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "big",
        "only the new container"
    );
    assert!(
        !d.log_tail().contains("cannot load container"),
        "{}",
        d.log_tail()
    );
}
