//! Container lifecycle through the docker CLI: run and its flags, create,
//! start, wait, ps, inspect, stop, kill, restart, rm and the errors around them.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, assert_fails_with, assert_success, code, stderr, stdout, wait_for};

fn inspect(d: &Daemon, fmt: &str, name: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, name])
}

fn wait_status(d: &Daemon, name: &str, want: &str) {
    let seen = wait_for(Duration::from_secs(20), || {
        (inspect(d, "{{.State.Status}}", name) == want).then_some(())
    });
    assert!(seen.is_some(), "{name} never reached status {want}");
}

// ---- run -----------------------------------------------------------------

#[test]
fn run_keeps_stdout_and_stderr_apart() {
    let d = Daemon::shared();
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_success(&out, "run");
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn run_propagates_the_exit_code() {
    let d = Daemon::shared();
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "busybox", "false"]);
    assert_eq!(code(&out), 1);
}

#[test]
fn run_interactive_pipes_stdin() {
    let d = Daemon::shared();
    let out = d.docker_stdin(&["run", "--rm", "-i", "busybox", "cat"], b"hi\n");
    assert_success(&out, "run -i cat");
    assert_eq!(stdout(&out), "hi\n");
    // A larger payload crosses several pipe buffers and must arrive whole.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = d.docker_stdin(&["run", "--rm", "-i", "busybox", "wc", "-c"], &big);
    assert_eq!(stdout(&out).trim(), "200000");
}

#[test]
fn run_detached_prints_the_full_id() {
    let d = Daemon::shared();
    let name = d.name("detached");
    let id = d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "30"]);
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(inspect(&d, "{{.Id}}", &name), id);
    assert_eq!(inspect(&d, "{{.Name}}", &id), format!("/{name}"));
    assert_eq!(inspect(&d, "{{.State.Running}}", &name), "true");
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn run_rm_removes_the_container() {
    let d = Daemon::shared();
    let name = d.name("autorm");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "--name", &name, "busybox", "echo", "bye"]),
        "bye"
    );
    // The CLI returns once the container exits; removal follows shortly.
    let gone = wait_for(Duration::from_secs(10), || {
        (!d.docker(&["inspect", &name]).status.success()).then_some(())
    });
    assert!(gone.is_some(), "--rm left {name} behind");
    assert!(
        !d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains(&name)
    );
}

#[test]
fn run_name_is_visible_in_ps() {
    let d = Daemon::shared();
    let name = d.name("named");
    d.docker_ok(&["run", "--name", &name, "busybox", "true"]);
    let listed = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(listed, name);
    d.docker_ok(&["rm", &name]);
}

#[test]
fn run_env_and_env_file() {
    let d = Daemon::shared();
    let file = d.tmp().join(format!("{}.env", d.name("envfile")));
    std::fs::write(&file, "# a comment\nFROM_FILE=yes\nSPACED=two words\n").unwrap();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "--env",
        "B=x=y",
        "--env-file",
        file.to_str().unwrap(),
        "busybox",
        "env",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "A=1",
        "B=x=y",
        "FROM_FILE=yes",
        "SPACED=two words",
        "HOME=/root",
    ] {
        assert!(lines.contains(&want), "{want} missing from:\n{out}");
    }
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("HOSTNAME=")), "{out}");
}

#[test]
fn run_workdir_is_used_and_created() {
    let d = Daemon::shared();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"]),
        "/tmp"
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "pwd"]), "/");
    // A missing working directory is created, as dockerd does.
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-w", "/made/by/run", "busybox", "pwd"]),
        "/made/by/run"
    );
}

#[test]
fn run_user_by_name_and_ids_with_image_groups() {
    let d = Daemon::shared();
    let id = |user: &str| d.docker_ok(&["run", "--rm", "-u", user, "busybox", "id"]);
    // Supplementary groups come from the image's /etc/group.
    assert_eq!(
        id("app"),
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)"
    );
    assert_eq!(
        id("1000"),
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)"
    );
    // An explicit group replaces the primary group and drops the extra ones.
    assert_eq!(
        id("1000:2000"),
        "uid=1000(app) gid=2000(extra) groups=2000(extra)"
    );
    assert_eq!(
        id("nobody"),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
    );
    // Ids unknown to /etc/passwd are still accepted.
    assert_eq!(id("1234:5678"), "uid=1234 gid=5678 groups=5678");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "id"]),
        "uid=0(root) gid=0(root) groups=0(root)"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-u", "app", "busybox", "whoami"]),
        "app"
    );
}

#[test]
fn run_hostname_defaults_to_the_short_id() {
    let d = Daemon::shared();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "--hostname", "box1", "busybox", "hostname"]),
        "box1"
    );
    let name = d.name("hostname");
    d.docker_ok(&["run", "--name", &name, "busybox", "hostname"]);
    let id = inspect(&d, "{{.Id}}", &name);
    assert_eq!(d.docker_ok(&["logs", &name]), id[..12]);
    d.docker_ok(&["rm", &name]);
}

#[test]
fn run_entrypoint_overrides_the_image() {
    let d = Daemon::shared();
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "hello",
            "world"
        ]),
        "hello world"
    );
    let name = d.name("entry");
    d.docker_ok(&[
        "create",
        "--name",
        &name,
        "--entrypoint",
        "/bin/sh",
        "busybox",
        "-c",
        "true",
    ]);
    assert_eq!(
        inspect(&d, "{{json .Config.Entrypoint}}", &name),
        r#"["/bin/sh"]"#
    );
    assert_eq!(
        inspect(&d, "{{json .Config.Cmd}}", &name),
        r#"["-c","true"]"#
    );
    assert_eq!(
        inspect(&d, "{{.Path}} {{json .Args}}", &name),
        r#"/bin/sh ["-c","true"]"#
    );
    d.docker_ok(&["rm", &name]);
}

#[test]
fn run_labels_are_visible_in_inspect() {
    let d = Daemon::shared();
    let name = d.name("labels");
    d.docker_ok(&[
        "run", "--name", &name, "-l", "a=b", "--label", "team=e2e", "busybox", "true",
    ]);
    let labels: serde_json::Value =
        serde_json::from_str(&inspect(&d, "{{json .Config.Labels}}", &name)).unwrap();
    assert_eq!(labels["a"], "b");
    assert_eq!(labels["team"], "e2e");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn run_exit_codes_for_start_failures() {
    let d = Daemon::shared();
    let out = d.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    // --pull never: the answer must come from the daemon, not the network.
    let out = d.docker(&["run", "--rm", "--pull", "never", "no-such-image-e2e:nope"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains("No such image"), "{}", stderr(&out));
}

#[test]
fn run_network_none_has_only_loopback() {
    let d = Daemon::shared();
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net"
        ]),
        "lo"
    );
    // Its loopback is up, as dockerd leaves it.
    let out = d.docker_ok(&[
        "run", "--rm", "--network", "none", "busybox", "sh", "-c",
        "ip -o addr show lo | grep -c 'inet 127.0.0.1/8'; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reached",
    ]);
    assert_eq!(out, "1\nreached");
}

#[test]
fn run_default_network_without_a_bridge_has_only_loopback() {
    // Both daemons run with --bridge=none here (e2e_network covers the bridge).
    let d = Daemon::shared();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "ls", "/sys/class/net"]),
        "lo"
    );
}

#[test]
fn run_network_host_sees_host_interfaces() {
    let d = Daemon::shared();
    let host = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = host();
    let inside = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    let after = host();
    let inside: std::collections::BTreeSet<String> =
        inside.split_whitespace().map(String::from).collect();
    // Other tests may add or remove veths meanwhile: what stayed must be
    // seen, and nothing but the host's.
    let stayed: std::collections::BTreeSet<String> = before.intersection(&after).cloned().collect();
    assert!(
        inside.is_superset(&stayed),
        "{inside:?} misses some of {stayed:?}"
    );
    assert!(
        inside.is_subset(&before.union(&after).cloned().collect()),
        "{inside:?}"
    );
}

// ---- create / start / wait / ps / inspect ------------------------------

#[test]
fn create_start_wait() {
    let d = Daemon::shared();
    let name = d.name("csw");
    let id = d.docker_ok(&[
        "create",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 4",
    ]);
    assert_eq!(id.len(), 64);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "created");
    assert_eq!(d.docker_ok(&["start", &name]), name);
    assert_eq!(d.docker_ok(&["wait", &name]), "4");
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 4"
    );
    // Waiting on an exited container answers at once with the same code.
    assert_eq!(d.docker_ok(&["wait", &name]), "4");
    // start -a attaches and propagates the exit code.
    let out = d.docker(&["start", "-a", &name]);
    assert_eq!(code(&out), 4);
    d.docker_ok(&["rm", &name]);
}

#[test]
fn ps_lists_and_filters() {
    let d = Daemon::shared();
    let tag = d.name("psgroup");
    let label = format!("grp={tag}");
    let running = format!("{tag}-run");
    let exited = format!("{tag}-exit");
    let created = format!("{tag}-new");
    let run_id = d.docker_ok(&[
        "run", "-d", "-l", &label, "--name", &running, "busybox", "sleep", "60",
    ]);
    d.docker_ok(&[
        "run", "-l", &label, "-l", "odd=1", "--name", &exited, "busybox", "true",
    ]);
    d.docker_ok(&[
        "create", "-l", &label, "--name", &created, "busybox", "true",
    ]);
    let by_label = format!("label={label}");

    let ps = |extra: &[&str]| {
        let mut args = vec![
            "ps",
            "--filter",
            by_label.as_str(),
            "--format",
            "{{.Names}}",
        ];
        args.extend_from_slice(extra);
        let mut names: Vec<String> = d.docker_ok(&args).lines().map(String::from).collect();
        names.sort();
        names
    };
    assert_eq!(
        ps(&[]),
        vec![running.clone()],
        "ps without -a shows running only"
    );
    let mut all = vec![created.clone(), exited.clone(), running.clone()];
    all.sort();
    assert_eq!(ps(&["-a"]), all);
    assert_eq!(
        ps(&["-a", "--filter", "status=exited"]),
        vec![exited.clone()]
    );
    assert_eq!(
        ps(&["-a", "--filter", "status=created"]),
        vec![created.clone()]
    );
    assert_eq!(
        ps(&["-a", "--filter", "status=running"]),
        vec![running.clone()]
    );
    assert_eq!(ps(&["-a", "--filter", "label=odd=1"]), vec![exited.clone()]);
    assert_eq!(
        ps(&["-a", "--filter", &format!("name={exited}")]),
        vec![exited.clone()]
    );
    assert_eq!(
        ps(&["-a", "--filter", &format!("id={}", &run_id[..12])]),
        vec![running.clone()]
    );

    let quiet = d.docker_ok(&["ps", "-q", "--filter", &by_label]);
    assert_eq!(quiet, run_id[..12]);
    let quiet_full = d.docker_ok(&["ps", "-q", "--no-trunc", "--filter", &by_label]);
    assert_eq!(quiet_full, run_id);

    let table = d.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &by_label,
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    let status_of = |n: &str| {
        table
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{n} ")))
            .unwrap_or_else(|| panic!("{n} missing:\n{table}"))
            .to_string()
    };
    assert!(status_of(&running).starts_with("Up "), "{table}");
    assert!(status_of(&exited).starts_with("Exited (0) "), "{table}");
    assert_eq!(status_of(&created), "Created");
    let image = d.docker_ok(&[
        "ps",
        "--filter",
        &by_label,
        "--format",
        "{{.Image}} {{.Command}}",
    ]);
    assert_eq!(image, "busybox \"sleep 60\"");
    d.docker_ok(&["rm", "-f", &running, &exited, &created]);
}

#[test]
fn inspect_has_docker_shapes() {
    let d = Daemon::shared();
    let name = d.name("shape");
    d.docker_ok(&[
        "run", "-d", "--name", &name, "-e", "K=v", "-l", "x=y", "busybox", "sleep", "60",
    ]);
    let json = d.docker_ok(&["inspect", &name]);
    let all: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c = &all.as_array().expect("inspect returns an array")[0];
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["Name"], format!("/{name}"));
    assert!(c["Created"].as_str().unwrap().contains('T'));
    assert_eq!(c["Path"], "sleep");
    assert_eq!(c["Args"], serde_json::json!(["60"]));
    let st = &c["State"];
    assert_eq!(st["Status"], "running");
    assert_eq!(st["Running"], true);
    assert_eq!(st["Paused"], false);
    assert_eq!(st["ExitCode"], 0);
    assert!(st["Pid"].as_u64().unwrap() > 1);
    assert!(st["StartedAt"].as_str().unwrap().starts_with("20"));
    assert!(st["FinishedAt"].is_string());
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    let cfg = &c["Config"];
    assert_eq!(cfg["Image"], "busybox");
    assert_eq!(cfg["Cmd"], serde_json::json!(["sleep", "60"]));
    assert!(cfg["Env"].as_array().unwrap().iter().any(|e| e == "K=v"));
    assert_eq!(cfg["Labels"]["x"], "y");
    assert!(cfg["Hostname"].as_str().is_some_and(|h| h.len() == 12));
    assert!(c["HostConfig"].is_object());
    assert!(c["HostConfig"]["NetworkMode"].is_string());
    assert!(c["HostConfig"]["RestartPolicy"].is_object());
    assert!(c["Mounts"].is_array());
    assert!(c["NetworkSettings"].is_object());
    assert!(c["RestartCount"].is_u64());

    // The Pid is a real host process in the container.
    let pid = st["Pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0060\x00");

    d.docker_ok(&["rm", "-f", &name]);
    let out = d.docker(&["inspect", &name]);
    assert_fails_with(&out, "No such");
}

// ---- stop / kill / restart / rm ----------------------------------------

#[test]
fn stop_escalates_to_sigkill_for_a_pid1_without_handler() {
    // The issue expected 143 for a bare `sleep`, but sleep runs as pid 1 of
    // its namespace and the kernel drops signals pid 1 has no handler for:
    // dockerd waits out the timeout and SIGKILLs (137). We follow the kernel;
    // the 143 case is covered with --init below.
    let d = Daemon::shared();
    let name = d.name("stop-bare");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let t = Instant::now();
    d.docker_ok(&["stop", "-t", "1", &name]);
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(
        inspect(&d, "{{.State.Status}} {{.State.ExitCode}}", &name),
        "exited 137"
    );
    d.docker_ok(&["rm", &name]);
}

#[test]
fn stop_with_trapped_term_is_killed_after_timeout() {
    let d = Daemon::shared();
    let name = d.name("stop-trap");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 100",
    ]);
    let t = Instant::now();
    d.docker_ok(&["stop", "-t", "1", &name]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stop returned after {took:?}"
    );
    assert!(took < Duration::from_secs(15), "stop took {took:?}");
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "137");
    assert!(!inspect(&d, "{{.State.FinishedAt}}", &name).starts_with("0001"));
    d.docker_ok(&["rm", &name]);
}

#[test]
fn stop_delivers_sigterm_through_init() {
    let d = Daemon::shared();
    let name = d.name("stop-init");
    d.docker_ok(&[
        "run", "-d", "--init", "--name", &name, "busybox", "sleep", "100",
    ]);
    // 143 is SIGTERM's code: had init not passed it on, the stop would have
    // escalated to SIGKILL after the timeout (137). No wall clock needed.
    d.docker_ok(&["stop", "-t", "30", &name]);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "143");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn kill_sends_the_requested_signal() {
    let d = Daemon::shared();
    let name = d.name("kill-sig");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 5' USR1; while true; do sleep 0.1; done",
    ]);
    // Give sh time to install its trap.
    std::thread::sleep(Duration::from_millis(500));
    d.docker_ok(&["kill", "-s", "USR1", &name]);
    assert_eq!(d.docker_ok(&["wait", &name]), "5");

    let plain = d.name("kill-default");
    d.docker_ok(&["run", "-d", "--name", &plain, "busybox", "sleep", "100"]);
    d.docker_ok(&["kill", &plain]);
    // SIGKILL answers once the container has exited, as dockerd's does.
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &plain
        ]),
        "exited 137"
    );
    assert_eq!(d.docker_ok(&["wait", &plain]), "137");
    // So does a paused one: it is thawed to die.
    let paused = d.name("kill-paused");
    d.docker_ok(&["run", "-d", "--name", &paused, "busybox", "sleep", "100"]);
    d.docker_ok(&["pause", &paused]);
    d.docker_ok(&["kill", &paused]);
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &paused
        ]),
        "exited 137"
    );
    d.docker_ok(&["rm", &paused]);
    // Killing a stopped container is an error.
    assert_fails_with(&d.docker(&["kill", &plain]), "is not running");
    d.docker_ok(&["rm", &name, &plain]);
}

#[test]
fn restart_runs_the_container_again() {
    let d = Daemon::shared();
    let name = d.name("restart");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 100",
    ]);
    let pid_before = inspect(&d, "{{.State.Pid}}", &name);
    let started_before = inspect(&d, "{{.State.StartedAt}}", &name);
    d.docker_ok(&["restart", "-t", "1", &name]);
    wait_status(&d, &name, "running");
    assert_ne!(inspect(&d, "{{.State.Pid}}", &name), pid_before);
    assert_ne!(inspect(&d, "{{.State.StartedAt}}", &name), started_before);
    let logs = wait_for(Duration::from_secs(10), || {
        let l = d.docker_ok(&["logs", &name]);
        (l == "started\nstarted").then_some(l)
    });
    assert!(logs.is_some(), "logs keep both runs");
    // A stopped container can be restarted as well.
    d.docker_ok(&["stop", "-t", "1", &name]);
    d.docker_ok(&["restart", &name]);
    wait_status(&d, &name, "running");
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn rm_refuses_a_running_container_without_force() {
    let d = Daemon::shared();
    let name = d.name("rm-running");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let out = d.docker(&["rm", &name]);
    assert!(!out.status.success());
    let err = stderr(&out);
    // dockerd 20.10: "You cannot remove a running container ... force remove";
    // moby 28: "cannot remove container ...: container is running: ... force remove".
    assert!(err.contains("running") && err.contains("force"), "{err}");
    assert_eq!(inspect(&d, "{{.State.Running}}", &name), "true");
    let pid: u32 = inspect(&d, "{{.State.Pid}}", &name).parse().unwrap();
    assert_eq!(d.docker_ok(&["rm", "-f", &name]), name);
    assert_fails_with(&d.docker(&["inspect", &name]), "No such");
    // The process is gone, not just the record.
    let dead = wait_for(Duration::from_secs(10), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    assert!(dead.is_some(), "pid {pid} survived rm -f");
}

#[test]
fn name_in_use_is_a_conflict() {
    let d = Daemon::shared();
    let name = d.name("dup");
    d.docker_ok(&["create", "--name", &name, "busybox", "true"]);
    // `docker create` exits 1 on a daemon error, `docker run` 125.
    let out = d.docker(&["create", "--name", &name, "busybox", "true"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("Conflict"), "{}", stderr(&out));
    let out = d.docker(&["run", "--name", &name, "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(stderr(&out).contains("Conflict"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    let body = br#"{"Image":"busybox","Cmd":["true"]}"#;
    let resp = d.request(
        "POST",
        &format!("/v1.41/containers/create?name={name}"),
        Some(("application/json", body)),
    );
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("Conflict")
    );
    d.docker_ok(&["rm", &name]);
}

#[test]
fn unknown_container_says_no_such_container() {
    let d = Daemon::shared();
    let ghost = "no-such-container-e2e";
    for verb in [
        vec!["inspect", "--type", "container", ghost],
        vec!["start", ghost],
        vec!["stop", ghost],
        vec!["kill", ghost],
        vec!["rm", ghost],
        vec!["logs", ghost],
        vec!["wait", ghost],
        vec!["restart", ghost],
    ] {
        let out = d.docker(&verb);
        assert_fails_with(&out, "No such container");
    }
    let resp = d.request("GET", &format!("/v1.41/containers/{ghost}/json"), None);
    assert_eq!(resp.status, 404);
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("No such container")
    );
}

// ---- --pid / --ipc / --uts ---------------------------------------------------

fn ns_link(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn pid_ipc_and_uts_namespaces_can_be_shared() {
    let d = Daemon::shared();
    // Host namespaces: the host's init, IPC namespace and name.
    let host_init = std::fs::read_to_string("/proc/1/comm").unwrap();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "busybox",
        "cat",
        "/proc/1/comm",
    ]);
    assert_eq!(out, host_init.trim());
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--ipc",
        "host",
        "busybox",
        "readlink",
        "/proc/self/ns/ipc",
    ]);
    assert_eq!(out, ns_link("self", "ipc"));
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let out = d.docker_ok(&["run", "--rm", "--uts", "host", "busybox", "hostname"]);
    assert_eq!(out, host_name);

    // Another container's: its processes, and its SysV IPC and /dev/shm.
    let donor = d.name("ns-donor");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &donor,
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo shared > /dev/shm/x && sleep 100",
    ]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.IpcMode}}", &donor]),
        "shareable"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--pid",
        &format!("container:{donor}"),
        "busybox",
        "cat",
        "/proc/1/cmdline",
    ]);
    // The donor's PID 1 (its shell, or the sleep the shell exec'd).
    assert!(
        out.starts_with("sh\0-c\0") || out.starts_with("sleep\x00100"),
        "{out:?}"
    );
    let donor_pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &donor]);
    let ok = common::wait_for(Duration::from_secs(10), || {
        let out = d.docker_ok(&[
            "run",
            "--rm",
            "--ipc",
            &format!("container:{donor}"),
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/ipc; cat /dev/shm/x",
        ]);
        (out == format!("{}\nshared", ns_link(&donor_pid, "ipc"))).then_some(())
    });
    assert!(
        ok.is_some(),
        "the joiner does not share the donor's IPC and /dev/shm"
    );

    // A private donor cannot be joined; --ipc none has no /dev/shm.
    let private = d.name("ns-private");
    d.docker_ok(&["run", "-d", "--name", &private, "busybox", "sleep", "100"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.IpcMode}}", &private]),
        "private"
    );
    assert_fails_with(
        &d.docker(&[
            "run",
            "--rm",
            "--ipc",
            &format!("container:{private}"),
            "busybox",
            "true",
        ]),
        "non-shareable IPC",
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--ipc",
        "none",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /dev/shm ' /proc/self/mountinfo; true",
    ]);
    assert_eq!(out, "0");
    assert_fails_with(
        &d.docker(&["create", "--uts", "container:x", "busybox"]),
        "",
    );
    d.docker_ok(&["rm", "-f", &donor, &private]);
}

#[test]
fn ps_and_inspect_sizes_and_more_filters() {
    let d = Daemon::shared();
    let name = d.name("sized");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "head -c 200000 /dev/zero > /big; sleep 100",
    ]);
    let rw = wait_for(Duration::from_secs(10), || {
        let rw: u64 = d
            .docker_ok(&["inspect", "--size", "-f", "{{.SizeRw}}", &name])
            .parse()
            .ok()?;
        (rw >= 200_000).then_some(rw)
    })
    .expect("SizeRw counts the container's writes");
    let root: u64 = d
        .docker_ok(&["inspect", "--size", "-f", "{{.SizeRootFs}}", &name])
        .parse()
        .unwrap();
    assert!(root > rw, "{root} <= {rw}");
    let sized = d.docker_ok(&[
        "ps",
        "-s",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Size}}",
    ]);
    assert!(sized.contains("virtual"), "{sized}");
    // health=none: no health check; network: by name.
    let listed = d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("name={name}"),
        "--filter",
        "health=none",
    ]);
    assert_eq!(listed.lines().count(), 1);
    let listed = d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("name={name}"),
        "--filter",
        "health=healthy",
    ]);
    assert_eq!(listed, "");
    assert_fails_with(
        &d.docker(&["ps", "--filter", "health=bogus"]),
        "Unrecognised filter value for health",
    );
    d.docker_ok(&["rm", "-f", &name]);
}

/// `docker top C [ps OPTIONS]`: dockerd runs ps with the options, finds the
/// PID column wherever it is and keeps the container's rows.
#[test]
fn top_takes_ps_options_and_finds_the_pid_column() {
    let d = Daemon::shared();
    let name = d.name("top");
    // With a terminal: `ps -o …` alone lists only the processes that share
    // the caller's terminal (the daemon has none), so the container's must
    // be named to ps.
    d.docker_ok(&[
        "run", "-d", "-t", "--name", &name, "busybox", "sleep", "300",
    ]);
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    let rows = |out: &str| -> Vec<Vec<String>> {
        out.lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect()
    };

    let out = rows(&d.docker_ok(&["top", &name, "-o", "pid,user,args"]));
    assert_eq!(out[0], ["PID", "USER", "COMMAND"], "{out:?}");
    assert_eq!(
        out[1..],
        [vec![pid.as_str(), "root", "sleep", "300"]],
        "{out:?}"
    );

    let out = rows(&d.docker_ok(&["top", &name, "-o", "user,pid,comm"]));
    assert_eq!(out[0], ["USER", "PID", "COMMAND"], "{out:?}");
    assert_eq!(out[1..], [vec!["root", pid.as_str(), "sleep"]], "{out:?}");

    // BSD-style options, the PID in the second column.
    let out = rows(&d.docker_ok(&["top", &name, "aux"]));
    assert_eq!(out[0][..2], ["USER", "PID"], "{out:?}");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[1][1], pid, "{out:?}");
    assert!(out[1].ends_with(&["sleep".into(), "300".into()]), "{out:?}");

    let o = d.docker(&["top", &name, "-o", "user,args"]);
    assert_fails_with(&o, "Couldn't find PID field in ps output");
    d.docker_ok(&["rm", "-f", &name]);
}

/// The process that watches a running container is the small `berth-shim`
/// (dockerd: containerd-shim-runc-v2): the parent of the container's init,
/// mapping neither the berth binary nor libseccomp (which only the runtime
/// CLI it runs per operation needs), and a monitor that pause, top and stop
/// still go through.
#[test]
fn a_running_container_is_watched_by_the_small_shim() {
    let d = Daemon::start();
    if !d.is_berth() {
        return;
    }
    let name = d.name("watched");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "600"]);
    let pid: u32 = inspect(&d, "{{.State.Pid}}", &name).parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let exe = std::fs::read_link(format!("/proc/{ppid}/exe")).unwrap();
    assert_eq!(
        exe.file_name().unwrap(),
        "berth-shim",
        "the init's parent is {exe:?}"
    );
    let maps = std::fs::read_to_string(format!("/proc/{ppid}/maps")).unwrap();
    let berth = std::path::Path::new(env!("CARGO_BIN_EXE_berth"));
    let berth = std::fs::canonicalize(berth).unwrap();
    let maps_berth = maps
        .lines()
        .any(|l| l.ends_with(&format!(" {}", berth.display())));
    // libcontainer (and libseccomp) are linked in for the shim's forked
    // create; the whole of berth is not.
    assert!(!maps_berth, "the shim maps berth:\n{maps}");
    // The runtime the shim runs per operation is the small `berth-runtime`
    // installed beside berth, not `berth runtime`.
    let id = inspect(&d, "{{.Id}}", &name);
    let params: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.tmp().join("exec/containers").join(&id).join("shim.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        params["runtime_cli"].as_str(),
        Some(env!("CARGO_BIN_EXE_berth-runtime")),
        "{params}"
    );
    d.docker_ok(&["pause", &name]);
    d.docker_ok(&["unpause", &name]);
    assert!(d.docker_ok(&["top", &name]).contains("sleep 600"));
    d.docker_ok(&["rm", "-f", &name]);
    // Gone, or a zombie its new parent (the host's init) has yet to reap.
    let gone = || {
        std::fs::read_to_string(format!("/proc/{ppid}/stat"))
            .map(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z'))
            })
            .unwrap_or(true)
    };
    assert!(
        wait_for(Duration::from_secs(10), || gone().then_some(())).is_some(),
        "the shim outlived its container"
    );
}

/// The instructions the kernel's seccomp cache walks for one syscall number
/// (`seccomp_is_const_allow`): it follows loads of the number and the
/// architecture and jumps on constants, and stops at a return or at
/// anything that needs the arguments.
fn const_walk_steps(program: &[u8], arch: u32, nr: u32) -> usize {
    let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0usize);
    while let Some(insn) = program.get(pc * 8..pc * 8 + 8) {
        steps += 1;
        let code = u16::from_le_bytes([insn[0], insn[1]]);
        let (jt, jf) = (insn[2] as usize, insn[3] as usize);
        let k = u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        let jump = |taken: bool| pc + 1 + if taken { jt } else { jf };
        pc = match code {
            0x20 if k == 0 => {
                acc = nr;
                pc + 1
            }
            0x20 if k == 4 => {
                acc = arch;
                pc + 1
            }
            0x54 => {
                acc &= k;
                pc + 1
            }
            0x05 => pc + 1 + k as usize,
            0x15 => jump(acc == k),
            0x25 => jump(acc > k),
            0x35 => jump(acc >= k),
            0x45 => jump(acc & k != 0),
            _ => return steps,
        };
    }
    steps
}

/// A seccomp profile is compiled once, into the runtime's cache: later
/// containers of the same profile install the stored program (and are
/// filtered alike), a damaged entry is compiled again rather than loaded,
/// and another profile gets a program of its own. Docker's default profile
/// filters too, through the same path.
#[test]
fn seccomp_programs_are_compiled_once_per_profile() {
    let d = Daemon::start();
    if !d.is_berth() {
        return;
    }
    let profile = |denied: &str| {
        let path = d.tmp().join(format!("deny-{denied}.json"));
        std::fs::write(
            &path,
            format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["{denied}", "{denied}at"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}}]}}"#
            ),
        )
        .unwrap();
        format!("seccomp={}", path.display())
    };
    let deny_mkdir = profile("mkdir");
    let run = |opt: &str| {
        d.docker_ok(&[
            "run",
            "--rm",
            "--security-opt",
            opt,
            "busybox",
            "sh",
            "-c",
            "mkdir /x 2>/dev/null; echo mkdir=$?; grep '^Seccomp:' /proc/self/status",
        ])
    };
    let cache = d.tmp().join("exec/runtime/.seccomp-cache");
    let programs = || -> Vec<(std::path::PathBuf, std::time::SystemTime, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(&cache)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
                    .map(|e| {
                        let m = e.metadata().unwrap();
                        (e.path(), m.modified().unwrap(), m.len())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(run(&deny_mkdir), "mkdir=1\nSeccomp:\t2");
    let first = programs();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].2 > 0 && first[0].2 % 8 == 0, "{first:?}");
    // The same profile again: the stored program, not a new compile.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(run(&deny_mkdir), "mkdir=1\nSeccomp:\t2");
    assert_eq!(programs(), first);
    // A damaged entry is never loaded: compiled again, and the filter holds.
    std::fs::write(&first[0].0, b"\x06\0\0").unwrap();
    assert_eq!(run(&deny_mkdir), "mkdir=1\nSeccomp:\t2");
    let again = programs();
    assert_eq!((again.len(), again[0].2), (1, first[0].2), "{again:?}");
    // Another profile, another program; mkdir is allowed there.
    assert_eq!(run(&profile("rmdir")), "mkdir=0\nSeccomp:\t2");
    assert_eq!(programs().len(), 2);
    // Docker's default profile: an unprivileged unshare is refused by it.
    let unshare = |opts: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(opts);
        args.extend(["busybox", "busybox", "unshare", "-U", "true"]);
        d.docker(&args)
    };
    assert_fails_with(
        &unshare(&[]),
        "unshare(0x10000000): Operation not permitted",
    );
    let o = unshare(&["--security-opt", "seccomp=unconfined"]);
    assert_success(&o, "unshare without a profile");
    let all = programs();
    assert_eq!(all.len(), 3);
    // The default profile's program is laid out as a binary tree: loading
    // it, the kernel walks it once per syscall number and architecture
    // (~900 walks, interrupts off) to find the always-allowed ones, and a
    // linear list of ~350 syscalls made that 250,000 steps per container.
    let default = all.iter().max_by_key(|p| p.2).unwrap();
    let program = std::fs::read(&default.0).unwrap();
    let (x86_64, i386) = (0xC000_003E, 0x4000_0003);
    let longest = (0..460)
        .flat_map(|nr| [(x86_64, nr), (i386, nr)])
        .map(|(arch, nr)| const_walk_steps(&program, arch, nr))
        .max()
        .unwrap();
    assert!(
        longest <= 48,
        "a syscall number takes {longest} steps through the default profile's program"
    );
    // exec processes load the container's profile from the cache too.
    let name = d.name("seccomp-exec");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--security-opt",
        &deny_mkdir,
        "busybox",
        "sleep",
        "600",
    ]);
    let o = d.docker(&["exec", &name, "mkdir", "/y"]);
    assert_ne!(code(&o), 0, "mkdir passed the profile in an exec");
    assert_eq!(programs().len(), 3);
    d.docker_ok(&["rm", "-f", &name]);
}
