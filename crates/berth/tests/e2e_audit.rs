//! `berth audit` against a real daemon: a container run with the risks
//! the CIS Docker Benchmark names is warned of each, naming it and the
//! fix; a hardened one passes; `--exit-code` turns warnings into a status.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output, Stdio};

use common::{Daemon, stdout};
use serde_json::Value;

fn audit(d: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("audit")
        .args(args)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn audit_warns_of_each_risk_of_a_container_and_passes_a_hardened_one() {
    let d = Daemon::start();
    let risky = d.name("risky");
    let safe = d.name("safe");
    let socket = d.socket().display().to_string();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &risky,
        "--privileged",
        "--pid",
        "host",
        "--cap-add",
        "NET_ADMIN",
        "-v",
        &format!("{socket}:/var/run/docker.sock"),
        "-v",
        "/etc:/host-etc:ro",
        "busybox:latest",
        "sleep",
        "60",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &safe,
        "--read-only",
        "--user",
        "1000",
        "--memory",
        "64m",
        "--pids-limit",
        "64",
        "--cpu-shares",
        "512",
        "--security-opt",
        "no-new-privileges",
        "--health-cmd",
        "true",
        "busybox:latest",
        "sleep",
        "60",
    ]);

    let out = audit(&d, &["--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let findings: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let warned = |name: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["object"] == name && f["level"] == "WARN")
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let risky_warnings = warned(&risky);
    for id in ["4.1", "5.3", "5.4", "5.5", "5.15", "5.25", "5.28", "5.31"] {
        assert!(
            risky_warnings.iter().any(|w| w == id),
            "{id} not warned: {risky_warnings:?}"
        );
    }
    let of = |id: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id && f["object"] == risky.as_str())
            .unwrap()
    };
    assert_eq!(of("5.31")["detail"], socket.as_str());
    assert!(of("5.3")["detail"].as_str().unwrap().ends_with("NET_ADMIN"));
    assert!(of("5.4")["fix"].as_str().unwrap().contains("--privileged"));
    assert!(warned(&safe).is_empty(), "{:?}", warned(&safe));
    let daemon = |id: &str| findings.iter().find(|f| f["id"] == id).unwrap()["level"].clone();
    assert_eq!(daemon("2.5"), "PASS");
    assert_eq!(daemon("2.16"), "PASS");

    // The table names the same, and --exit-code reports the warnings.
    let out = audit(&d, &["--exit-code", "3"]);
    assert_eq!(out.status.code(), Some(3));
    let table = stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("[WARN] 5.4") && l.contains(&risky)),
        "{table}"
    );
    assert!(table.contains("fix: run without --privileged"), "{table}");
    d.docker_ok(&["rm", "-f", &risky]);
    let out = audit(&d, &["--exit-code", "3"]);
    let rest: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("[WARN]"))
        // The host's items (1.x, 3.x) have a test of their own.
        .filter(|l| !l.starts_with("[WARN] 1.") && !l.starts_with("[WARN] 3."))
        .map(str::to_string)
        .collect();
    // Only the daemon's own item is left (this daemon does not remap).
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].contains("2.10"), "{rest:?}");
    assert_eq!(out.status.code(), Some(3));
    assert!(!audit(&d, &["--format", "yaml"]).status.success());
    d.docker_ok(&["rm", "-f", &safe]);
}

/// For a daemon on this host, the host items: its data root's filesystem
/// (judged against `findmnt`), the socket's owner and mode (a socket opened
/// to everyone warns, naming its mode), auditd's rules or their absence.
#[test]
fn audit_checks_the_host_of_a_local_daemon() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start();
    let items = |d: &Daemon| -> Vec<Value> {
        let out = audit(d, &["--format", "json"]);
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let find = |items: &[Value], id: &str| -> Value {
        items
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no item {id} in {items:?}"))
            .clone()
    };
    let findings = items(&d);
    let root = d.data_root();
    let target = Command::new("findmnt")
        .args(["-n", "-o", "TARGET", "--target"])
        .arg(&root)
        .output()
        .unwrap();
    let own_fs = stdout(&target).trim() != "/";
    let part = find(&findings, "1.1.1");
    assert_eq!(part["object"], root.display().to_string());
    assert_eq!(
        part["level"],
        if own_fs { "PASS" } else { "WARN" },
        "{part}"
    );

    let socket = d.socket().to_path_buf();
    let mode = find(&findings, "3.16");
    assert_eq!(mode["level"], "PASS", "{mode}");
    assert_eq!(mode["object"], socket.display().to_string());
    assert_eq!(find(&findings, "3.15")["level"], "PASS");
    let auditd = Command::new("auditctl").arg("-l").output();
    if auditd.is_ok_and(|o| o.status.success()) {
        assert!(findings.iter().any(|f| f["id"] == "1.1.5"));
    } else {
        assert_eq!(find(&findings, "1.1.3")["level"], "INFO");
    }

    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let opened = items(&d);
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();
    let mode = find(&opened, "3.16");
    assert_eq!(mode["level"], "WARN", "{mode}");
    assert_eq!(mode["detail"], "666");
}
