//! Health checks: `--health-*` flags and the image's HEALTHCHECK.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Daemon, wait_for};

fn health(d: &Daemon, name: &str) -> String {
    d.docker_ok(&[
        "inspect",
        "-f",
        "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
        name,
    ])
}

#[test]
fn passing_and_failing_probes() {
    let d = Daemon::shared();
    let ok = d.name("healthy");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &ok,
        "--health-cmd",
        "echo probing; true",
        "--health-interval",
        "300ms",
        "busybox",
        "sleep",
        "100",
    ]);
    let bad = d.name("unhealthy");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &bad,
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "100",
    ]);
    let became = wait_for(Duration::from_secs(20), || {
        (health(&d, &ok) == "healthy").then_some(())
    });
    assert!(became.is_some(), "status: {}", health(&d, &ok));
    let log = d.docker_ok(&[
        "inspect",
        "-f",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
        &ok,
    ]);
    assert_eq!(log, "0 probing");
    let ps = d.docker_ok(&[
        "ps",
        "--filter",
        &format!("name={ok}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.ends_with("(healthy)"), "{ps}");

    let became = wait_for(Duration::from_secs(20), || {
        (health(&d, &bad) == "unhealthy").then_some(())
    });
    assert!(became.is_some(), "status: {}", health(&d, &bad));
    let streak: u32 = d
        .docker_ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", &bad])
        .parse()
        .unwrap();
    assert!(streak >= 2);
    d.docker_ok(&["rm", "-f", &ok, &bad]);
}

#[test]
fn no_healthcheck_means_no_health_state() {
    let d = Daemon::shared();
    let name = d.name("nohealth");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    assert_eq!(health(&d, &name), "");
    d.docker_ok(&["rm", "-f", &name]);
}
