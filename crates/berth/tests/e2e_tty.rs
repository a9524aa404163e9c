//! Terminals: `run -t`, `run -it` through a real pty, `exec -t`, resize.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Daemon, code, stdout};

#[test]
fn run_t_gives_a_terminal_and_the_exit_code() {
    let d = Daemon::shared();
    let o = d.docker(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 3"]);
    assert_eq!(code(&o), 3, "{}", common::stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("/dev/pts/") && out.ends_with("\r\n"),
        "{out:?}"
    );
}

#[test]
fn exec_t_gets_its_own_terminal() {
    let d = Daemon::shared();
    let name = d.name("tty-exec");
    d.docker_ok(&[
        "run", "-d", "-t", "--name", &name, "busybox", "sleep", "100",
    ]);
    // busybox's shell runs applets itself; the image has no `tty` link.
    let out = d.docker_ok(&["exec", "-t", &name, "sh", "-c", "tty"]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    let o = d.docker(&["exec", "-t", &name, "sh", "-c", "exit 5"]);
    assert_eq!(code(&o), 5);
    d.docker_ok(&["rm", "-f", &name]);
}

/// `-it` needs a terminal on the client side: util-linux `script` provides one,
/// and the docker CLI then resizes the container's pty to it.
#[test]
fn run_it_through_a_real_terminal() {
    let d = Daemon::shared();
    if !std::path::Path::new("/usr/bin/script").exists() {
        println!("skipped: util-linux script missing");
        return;
    }
    let cmd = "stty cols 91 rows 27; docker run --rm -it busybox sh -c 'stty size; read x; echo got-$x; exit 4'";
    let mut child = Command::new("/usr/bin/script")
        .args(["-qec", cmd, "/dev/null"])
        .env("DOCKER_HOST", d.host())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    input.write_all(b"abc\r").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(input);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // berth applies HostConfig.ConsoleSize before the process starts; dockerd 20.10
    // (API 1.41) only gets the CLI's resize after start, so its first `stty size` races.
    if d.is_berth() {
        assert!(
            text.contains("27 91"),
            "terminal size not passed on: {text:?}"
        );
    }
    assert!(text.contains("got-abc"), "{text:?}");
    assert_eq!(out.status.code(), Some(4), "{text:?}");
}

/// The daemon ends a terminal attach on the detach keys and leaves the container
/// running with its stdin open (the docker CLI also detects them itself, so this speaks
/// the hijacked protocol directly).
#[test]
fn detach_keys_end_the_attach_not_the_container() {
    use std::io::{Read, Write as _};
    use std::os::unix::net::UnixStream;
    let d = Daemon::shared();
    let name = d.name("detach");
    let id = d.docker_ok(&["run", "-d", "-i", "-t", "--name", &name, "busybox", "cat"]);
    let mut conn = UnixStream::connect(d.socket()).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /v1.41/containers/{id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,q HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    conn.write_all(b"first\n").unwrap();
    // The echo comes back on the terminal's raw stream.
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("first") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
    conn.write_all(b"\x18q").unwrap();
    // The daemon closes the session ...
    let mut rest = Vec::new();
    let end = conn.read_to_end(&mut rest);
    assert!(
        end.is_ok(),
        "attach did not end after the detach keys: {end:?}"
    );
    // ... and the container still runs with its stdin open.
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "running"
    );
    d.docker_ok(&["rm", "-f", &name]);
}
