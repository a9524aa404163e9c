//! `docker exec` into running containers.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Daemon, assert_fails_with, assert_success, code, stderr, stdout, wait_for};

/// Starts a long-running container with a non-root user, workdir and env
/// that exec processes must inherit.
fn target(d: &Daemon, prefix: &str) -> String {
    let name = d.name(prefix);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "K=v",
        "-w",
        "/home/app",
        "-u",
        "app",
        "busybox",
        "sleep",
        "300",
    ]);
    name
}

#[test]
fn exec_output_streams_and_exit_code() {
    let d = Daemon::shared();
    let name = target(&d, "exec-out");
    let out = d.docker(&["exec", &name, "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    assert_eq!(code(&d.docker(&["exec", &name, "true"])), 0);
    // The exec joins the container's pid namespace: pid 1 is its sleep.
    let ps = d.docker_ok(&["exec", &name, "ps", "-o", "pid,args"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep", "300"]),
        "{ps}"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn exec_interactive_reads_stdin() {
    let d = Daemon::shared();
    let name = target(&d, "exec-stdin");
    let out = d.docker_stdin(&["exec", "-i", &name, "cat"], b"through exec\n");
    assert_success(&out, "exec -i cat");
    assert_eq!(stdout(&out), "through exec\n");
    let out = d.docker_stdin(&["exec", "-i", &name, "wc", "-l"], b"1\n2\n3\n");
    assert_eq!(stdout(&out).trim(), "3");
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn exec_inherits_and_overrides_env_workdir_user() {
    let d = Daemon::shared();
    let name = target(&d, "exec-cfg");
    let env = d.docker_ok(&["exec", "-e", "EXTRA=1", &name, "env"]);
    let lines: Vec<&str> = env.lines().collect();
    assert!(lines.contains(&"K=v"), "{env}");
    assert!(lines.contains(&"EXTRA=1"), "{env}");
    assert_eq!(d.docker_ok(&["exec", &name, "pwd"]), "/home/app");
    assert_eq!(d.docker_ok(&["exec", "-w", "/tmp", &name, "pwd"]), "/tmp");
    assert_eq!(
        d.docker_ok(&["exec", &name, "id"]),
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)"
    );
    assert_eq!(
        d.docker_ok(&["exec", "-u", "0", &name, "id"]),
        "uid=0(root) gid=0(root) groups=0(root)"
    );
    assert_eq!(
        d.docker_ok(&["exec", "-u", "nobody", &name, "whoami"]),
        "nobody"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn exec_detached_runs_in_background() {
    let d = Daemon::shared();
    let name = target(&d, "exec-detach");
    let out = d.docker_ok(&[
        "exec",
        "-d",
        &name,
        "sh",
        "-c",
        "sleep 0.3; echo done > /tmp/flag",
    ]);
    assert_eq!(out, "");
    let flag = wait_for(Duration::from_secs(10), || {
        let out = d.docker(&["exec", &name, "cat", "/tmp/flag"]);
        out.status.success().then(|| stdout(&out))
    });
    assert_eq!(flag.as_deref(), Some("done\n"));
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn exec_of_missing_command_fails() {
    let d = Daemon::shared();
    let name = target(&d, "exec-missing");
    // dockerd 20.10 answers 126 for both; later moby maps "not found" to 127.
    let out = d.docker(&["exec", &name, "no-such-command"]);
    assert!(
        matches!(code(&out), 126 | 127),
        "{}: {}",
        code(&out),
        stderr(&out)
    );
    // dockerd 20.10 writes the runtime's error into the exec's stdout stream.
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("no-such-command"), "{said}");
    let out = d.docker(&["exec", &name, "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    // The container survives failed execs.
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn exec_into_a_stopped_container_fails_clearly() {
    let d = Daemon::shared();
    let name = d.name("exec-stopped");
    d.docker_ok(&["run", "--name", &name, "busybox", "true"]);
    assert_fails_with(&d.docker(&["exec", &name, "true"]), "is not running");
    let created = d.name("exec-created");
    d.docker_ok(&["create", "--name", &created, "busybox", "sleep", "10"]);
    assert_fails_with(&d.docker(&["exec", &created, "true"]), "is not running");
    assert_fails_with(
        &d.docker(&["exec", "no-such-container-e2e", "true"]),
        "No such container",
    );
    d.docker_ok(&["rm", &name, &created]);
    let paused = d.name("exec-paused");
    d.docker_ok(&["run", "-d", "--name", &paused, "busybox", "sleep", "100"]);
    d.docker_ok(&["pause", &paused]);
    assert_fails_with(
        &d.docker(&["exec", &paused, "true"]),
        "is paused, unpause the container before exec",
    );
    d.docker_ok(&["rm", "-f", &paused]);
}

/// As dockerd: the start request's `Tty` decides the stream's shape. docker-py
/// starts execs created with a tty without it, and demultiplexes the frames.
#[test]
fn exec_stream_is_framed_unless_started_with_tty() {
    let d = Daemon::shared();
    let name = d.name("exec-frames");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let create = |tty: bool| {
        let body = serde_json::json!({
            "Cmd": ["sh", "-c", "echo out; sleep 0.2; echo err >&2"],
            "Tty": tty, "AttachStdout": true, "AttachStderr": true,
        });
        let r = d.request(
            "POST",
            &format!("/containers/{name}/exec"),
            Some(("application/json", body.to_string().as_bytes())),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    };
    let start = |id: &str, tty: bool| {
        let body = serde_json::json!({"Detach": false, "Tty": tty}).to_string();
        common::http::hijack(d.socket(), &format!("/exec/{id}/start"), body.as_bytes()).unwrap()
    };

    // Created with a tty, started without: one stdout frame per write.
    let r = start(&create(true), false);
    assert_eq!(r.status, 101);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let frames = common::http::demux(&r.body);
    let text: String = frames.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "out\r\nerr\r\n");
    assert!(frames.iter().all(|(stream, _)| *stream == 1), "{frames:?}");

    // Started with a tty: the raw terminal output.
    let r = start(&create(true), true);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(String::from_utf8_lossy(&r.body), "out\r\nerr\r\n");

    // No tty at all: stdout and stderr apart.
    let r = start(&create(false), false);
    assert_eq!(&r.body[..8], &[1, 0, 0, 0, 0, 0, 0, 4]);
    assert_eq!(&r.body[8..12], b"out\n");
    assert_eq!(&r.body[12..20], &[2, 0, 0, 0, 0, 0, 0, 4]);
    d.docker_ok(&["rm", "-f", &name]);
}

/// Ctrl-P Ctrl-Q on an exec's terminal detaches the client: its connection
/// closes while the process goes on.
#[test]
fn exec_tty_detach_keys_close_the_connection() {
    use std::io::{Read, Write};
    let d = Daemon::shared();
    let name = d.name("exec-detach");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let body = serde_json::json!({
        "Cmd": ["sh", "-c", "cat; echo ended"], "Tty": true, "AttachStdin": true,
        "AttachStdout": true, "AttachStderr": true,
    })
    .to_string();
    let r = d.request(
        "POST",
        &format!("/containers/{name}/exec"),
        Some(("application/json", body.as_bytes())),
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = br#"{"Detach":false,"Tty":true}"#;
    write!(
        s,
        "POST /exec/{id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        start.len()
    )
    .unwrap();
    s.write_all(start).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    s.write_all(b"typed\n").unwrap();
    s.write_all(&[0x10, 0x11]).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the connection closes after the detach keys");
    assert!(
        !String::from_utf8_lossy(&rest).contains("ended"),
        "the process was ended"
    );
    let inspect = d.request("GET", &format!("/exec/{id}/json"), None).json();
    assert_eq!(inspect["Running"], true, "{inspect}");
    d.docker_ok(&["rm", "-f", &name]);
}
