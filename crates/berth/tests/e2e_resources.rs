//! Resource limits, security options, pause, update, stats and top (cgroup v1 here).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Daemon, assert_fails_with, code, stdout};

/// A cgroup v1 file of the container, read from the host.
fn cgroup_file(d: &Daemon, id: &str, controller: &str, file: &str) -> String {
    let path = format!(
        "/sys/fs/cgroup/{controller}{}/{id}/{file}",
        d.cgroup_parent()
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

fn run_d(d: &Daemon, prefix: &str, flags: &[&str], cmd: &[&str]) -> (String, String) {
    let name = d.name(prefix);
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.extend_from_slice(cmd);
    let id = d.docker_ok(&args);
    (name, id)
}

#[test]
fn limits_reach_the_cgroup_and_update_changes_them_live() {
    let d = Daemon::shared();
    let (name, id) = run_d(
        &d,
        "limits",
        &["--memory", "32m", "--cpus", "0.5", "--pids-limit", "20"],
        &["sleep", "100"],
    );
    assert_eq!(
        cgroup_file(&d, &id, "memory", "memory.limit_in_bytes"),
        "33554432"
    );
    assert_eq!(cgroup_file(&d, &id, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file(&d, &id, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cgroup_file(&d, &id, "pids", "pids.max"), "20");
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            &name
        ]),
        "33554432 500000000"
    );
    d.docker_ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "1",
        &name,
    ]);
    assert_eq!(
        cgroup_file(&d, &id, "memory", "memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(cgroup_file(&d, &id, "cpu", "cpu.cfs_quota_us"), "100000");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.Memory}}", &name]),
        "67108864"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn memory_exhaustion_is_an_oom_kill() {
    let d = Daemon::shared();
    let name = d.name("oom");
    let o = d.docker(&[
        "run",
        "--name",
        &name,
        "--memory",
        "8m",
        "busybox",
        "sh",
        "-c",
        "tail /dev/zero",
    ]);
    assert_eq!(code(&o), 137, "{}", common::stderr(&o));
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            &name
        ]),
        "true 137"
    );
    d.docker_ok(&["rm", &name]);
}

#[test]
fn bad_limits_are_refused() {
    let d = Daemon::shared();
    assert_fails_with(
        &d.docker(&["run", "--rm", "--cpus", "1000", "busybox", "true"]),
        "Range of CPUs is from 0.01 to",
    );
    assert_fails_with(
        &d.docker(&["run", "--rm", "--memory", "1m", "busybox", "true"]),
        "Minimum memory limit allowed is 6MB",
    );
}

#[test]
fn pause_unpause_stats_and_top() {
    let d = Daemon::shared();
    let (name, id) = run_d(&d, "ctl", &[], &["sleep", "100"]);
    d.docker_ok(&["pause", &name]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "paused"
    );
    assert_eq!(cgroup_file(&d, &id, "freezer", "freezer.state"), "FROZEN");
    d.docker_ok(&["unpause", &name]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "running"
    );
    assert_eq!(cgroup_file(&d, &id, "freezer", "freezer.state"), "THAWED");

    let stats = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}} {{.PIDs}}",
        &name,
    ]);
    assert!(
        stats.starts_with(&format!("{name} ")) && stats.contains("iB"),
        "{stats}"
    );
    assert!(stats.ends_with(" 1"), "{stats}");
    let top = d.docker_ok(&["top", &name]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(
        top.lines().skip(1).any(|l| l.contains("sleep 100")),
        "{top}"
    );
    // A paused container can still be removed by force.
    d.docker_ok(&["pause", &name]);
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn security_options() {
    let d = Daemon::shared();
    let run = |flags: &[&str], script: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        d.docker(&args)
    };
    // This host withholds CAP_SYS_RESOURCE: runc (under dockerd) then fails every
    // --privileged container, while berth grants the capabilities it holds.
    if d.is_berth() {
        let o = run(
            &["--privileged"],
            "mkdir -p /m && mount -t tmpfs none /m && echo mounted",
        );
        assert_eq!(stdout(&o).trim(), "mounted", "{}", common::stderr(&o));
    }
    let o = run(&[], "mkdir -p /m && mount -t tmpfs none /m");
    assert_ne!(code(&o), 0, "an unprivileged mount succeeded");
    let o = run(&["--cap-drop", "CHOWN"], "touch /f && chown 1 /f");
    assert_ne!(code(&o), 0, "chown worked without CAP_CHOWN");
    let o = run(
        &["--security-opt", "no-new-privileges"],
        "grep NoNewPrivs /proc/self/status",
    );
    assert!(stdout(&o).contains("1"), "{}", stdout(&o));
    let o = run(
        &["--security-opt", "seccomp=unconfined"],
        "grep '^Seccomp:' /proc/self/status",
    );
    assert!(stdout(&o).contains('0'), "{}", stdout(&o));
    let o = run(&[], "grep '^Seccomp:' /proc/self/status");
    assert!(stdout(&o).contains('2'), "{}", stdout(&o));
    let o = run(
        &["--read-only", "--tmpfs", "/tmp"],
        "touch /tmp/ok && touch /nope",
    );
    assert_ne!(code(&o), 0);
    assert!(
        common::stderr(&o).contains("Read-only file system"),
        "{}",
        common::stderr(&o)
    );
    let o = run(&["--ulimit", "nofile=1024:2048"], "ulimit -n; ulimit -Hn");
    assert_eq!(stdout(&o).trim(), "1024\n2048");
    let o = run(&["--group-add", "extra", "-u", "app"], "id -G");
    assert!(
        stdout(&o).split_whitespace().any(|g| g == "2000"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &["--sysctl", "net.ipv4.ip_forward=1"],
        "cat /proc/sys/net/ipv4/ip_forward",
    );
    assert_eq!(stdout(&o).trim(), "1");
    let o = run(&["--shm-size", "16m"], "df -k /dev/shm | tail -1");
    assert!(stdout(&o).contains("16384"), "{}", stdout(&o));
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn oom_score_adj_swappiness_and_device_cgroup_rules() {
    let d = Daemon::shared();
    let (name, id) = run_d(
        &d,
        "oomadj",
        &[
            "--oom-score-adj",
            "500",
            "--memory-swappiness",
            "10",
            "--device-cgroup-rule",
            "c 42:* rmw",
        ],
        &["sleep", "100"],
    );
    assert_eq!(
        d.docker_ok(&["exec", &name, "cat", "/proc/self/oom_score_adj"]),
        "500"
    );
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.OomScoreAdj}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.DeviceCgroupRules}}",
            &name
        ]),
        "500 10 [c 42:* rmw]"
    );
    assert_eq!(cgroup_file(&d, &id, "memory", "memory.swappiness"), "10");
    let devices = cgroup_file(&d, &id, "devices", "devices.list");
    assert!(devices.lines().any(|l| l == "c 42:* rwm"), "{devices}");
    d.docker_ok(&["rm", "-f", &name]);

    for (flag, value, needle) in [
        (
            "--oom-score-adj",
            "1001",
            "range for oom score adj is [-1000, 1000]",
        ),
        (
            "--device-cgroup-rule",
            "x 1:3 rwm",
            "invalid device cgroup format",
        ),
    ] {
        assert_fails_with(&d.docker(&["create", flag, value, "busybox"]), needle);
    }
}
