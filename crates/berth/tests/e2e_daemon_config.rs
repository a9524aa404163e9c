//! daemon.json: settings from dockerd's configuration file, Docker Hub
//! mirrors (a `berth registry` on loopback is one), SIGHUP reloading what
//! dockerd reloads, and files that are wrong refused before anything
//! starts, naming what is wrong.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::registry::RegistryProcess;
use common::{Daemon, Kind, assert_success, stderr, wait_for};

fn write_json(path: &Path, v: serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn docker_hub_pulls_go_through_the_mirrors_and_a_sighup_reloads_them() {
    let registry = RegistryProcess::berth(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("daemon.json");
    // The first mirror refuses connections: the pull goes on to the next.
    let dead = "http://127.0.0.1:1";
    let mirror = format!("http://{}", registry.addr);
    write_json(
        &config,
        serde_json::json!({
            "registry-mirrors": [dead, mirror],
            "insecure-registries": ["reg.example:5000"],
            "log-driver": "json-file",
            "log-opts": {"max-size": "1m", "max-file": "2"},
        }),
    );
    let d = Daemon::start_with(
        Kind::Berth,
        vec!["--config-file".into(), config.display().to_string()],
    );
    let info = d.docker_ok(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert_eq!(info, format!("[\"{dead}/\",\"{mirror}/\"]"));
    let shown = d.docker_ok(&["info"]);
    assert!(shown.contains("reg.example:5000"), "{shown}");

    // The mirror holds Docker Hub's library/busybox; the daemon has none.
    let in_mirror = format!("{}/library/busybox:latest", registry.addr);
    d.docker_ok(&["tag", "busybox:latest", &in_mirror]);
    d.docker_ok(&["push", &in_mirror]);
    d.docker_ok(&["rmi", &in_mirror, "busybox:latest"]);
    assert!(!d.docker(&["image", "inspect", "busybox"]).status.success());
    let pulled = d.docker(&["pull", "busybox"]);
    assert_success(&pulled, "pull busybox through the mirror");
    let out = String::from_utf8_lossy(&pulled.stdout);
    assert!(out.contains(&format!("mirror {dead} failed")), "{out}");
    assert!(out.contains("docker.io/library/busybox:latest"), "{out}");
    // The file's default log driver and options are every new container's.
    let c = d.docker_ok(&["create", "busybox", "true"]);
    assert_eq!(
        d.docker_ok(&["inspect", "--format", "{{json .HostConfig.LogConfig}}", &c]),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1m"}}"#
    );
    d.docker_ok(&["rm", &c]);

    // SIGHUP: the new file's mirrors and registries apply at once.
    write_json(
        &config,
        serde_json::json!({"insecure-registries": ["other.example:5000"], "debug": true}),
    );
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let reloaded = wait_for(Duration::from_secs(10), || {
        let info = d.docker_ok(&["info"]);
        (info.contains("other.example:5000") && !info.contains("reg.example:5000")).then_some(info)
    });
    assert!(reloaded.is_some(), "{}", d.log_tail());
    assert_eq!(
        d.docker_ok(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]),
        "[]"
    );
    // Without mirrors a Docker Hub name goes to Docker Hub, which this
    // machine cannot reach: the image in the mirror is no longer used.
    d.docker_ok(&["rmi", "busybox"]);
    assert!(!d.docker(&["pull", "busybox"]).status.success());

    // A file broken meanwhile changes nothing and the daemon keeps serving.
    std::fs::write(&config, "{ not json").unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let logged = wait_for(Duration::from_secs(10), || {
        d.log_tail().contains("is not valid JSON").then_some(())
    });
    assert!(logged.is_some(), "{}", d.log_tail());
    assert!(d.docker_ok(&["info"]).contains("other.example:5000"));
}

/// `berth daemon` with `args` on roots under `dir`: its exit status and
/// standard error. Every refusal here comes before anything is made.
fn daemon_refusal(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("daemon")
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--host")
        .arg(format!("unix://{}", dir.join("d.sock").display()))
        .args(args);
    let out = common::run_with_timeout(cmd, None, Duration::from_secs(20), "berth daemon");
    (out.status.code(), stderr(&out))
}

#[test]
fn a_wrong_daemon_json_is_refused_by_name_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("daemon.json");
    let file = config.to_str().unwrap();
    let cases: Vec<(serde_json::Value, Vec<&str>, &str)> = vec![
        (
            serde_json::json!({"hosts": [], "no-such-key": 1, "other": true}),
            vec![],
            "the following directives don't match any configuration option: no-such-key, other",
        ),
        (
            serde_json::json!({"bip": "10.91.0.1/24"}),
            vec!["--bip", "10.92.0.1/24"],
            "the following directives are specified both as a flag and in the configuration file: bip: (from flag: 10.92.0.1/24, from file: \"10.91.0.1/24\")",
        ),
        (
            serde_json::json!({"insecure-registries": "reg:5000"}),
            vec![],
            "daemon.json \"insecure-registries\": a list of strings expected",
        ),
        (
            serde_json::json!({"mtu": 1400}),
            vec![],
            "not implemented: daemon.json key \"mtu\"",
        ),
        (
            serde_json::json!({"registry-mirrors": ["ftp://mirror.example"]}),
            vec![],
            "invalid mirror: unsupported scheme \"ftp\"",
        ),
        (
            serde_json::json!({"log-level": "loud"}),
            vec![],
            "unknown --log-level \"loud\"",
        ),
    ];
    for (json, flags, needle) in cases {
        write_json(&config, json.clone());
        let mut args = vec!["--config-file", file];
        args.extend(flags);
        let (code, err) = daemon_refusal(dir.path(), &args);
        assert_eq!(code, Some(1), "{json}: {err}");
        assert!(err.contains(needle), "{json}: {err}");
        assert!(
            err.contains(&format!("with file {file}")) || !needle.contains("directives"),
            "{err}"
        );
    }
    std::fs::write(&config, "{\"hosts\": [").unwrap();
    let (code, err) = daemon_refusal(dir.path(), &["--config-file", file]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not valid JSON"), "{err}");
    // Named explicitly, the file must exist.
    let missing = dir.path().join("missing.json");
    let (code, err) = daemon_refusal(dir.path(), &["--config-file", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.json"), "{err}");
    // Nothing was made on the way: no roots, no socket.
    for made in ["data", "exec", "d.sock"] {
        assert!(!dir.path().join(made).exists(), "{made} was created");
    }
}
