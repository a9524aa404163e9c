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
