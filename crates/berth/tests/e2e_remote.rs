//! The remote API: `-H tcp://` with TLS and client certificates (the docker
//! CLI, the berth client and docker-py as clients), the handshake refusals,
//! plain TCP only on explicit opt-in, `fd://` socket activation, websocket
//! attach, and `ssh://` through a real sshd in a test network namespace.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::pki::Pki;
use common::registry::{RegistryProcess, free_addr};
use common::{Daemon, Kind, assert_success, code, run_with_timeout, stderr, stdout};

/// A daemon with a TLS port beside its unix socket.
struct TlsDaemon {
    d: Daemon,
    addr: String,
    pki: Pki,
}

impl TlsDaemon {
    fn start() -> TlsDaemon {
        let pki = Pki::new();
        let addr = free_addr();
        let d = Daemon::start_with(Kind::from_env(), pki.daemon_args(&addr));
        TlsDaemon { d, addr, pki }
    }

    /// The docker CLI over TCP with the client certificates of `certs`.
    fn docker_cmd(&self, certs: &str, args: &[&str]) -> Command {
        let mut cmd = self.d.docker_command(args);
        cmd.env("DOCKER_HOST", format!("tcp://{}", self.addr))
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", self.pki.path(certs));
        cmd
    }

    fn docker(&self, certs: &str, args: &[&str]) -> Output {
        run_with_timeout(
            self.docker_cmd(certs, args),
            None,
            common::CLI_TIMEOUT,
            &format!("docker (tls, {certs}) {}", args.join(" ")),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker("client", args);
        assert_success(&out, &format!("docker (tls) {}", args.join(" ")));
        stdout(&out).trim().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.d.tmp().join("daemon.log")).unwrap_or_default()
    }
}

#[test]
fn docker_cli_over_tls_runs_execs_follows_logs_builds_and_pulls() {
    let t = TlsDaemon::start();
    let version = t.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(version.starts_with("1."), "{version}");
    assert_eq!(
        t.ok(&["run", "--rm", "busybox", "echo", "over-tls"]),
        "over-tls"
    );

    // A hijacked attach with stdin, without a terminal.
    let cmd = t.docker_cmd("client", &["run", "--rm", "-i", "busybox", "cat"]);
    let out = run_with_timeout(cmd, Some(b"piped-through\n"), common::CLI_TIMEOUT, "run -i");
    assert_success(&out, "run -i cat");
    assert_eq!(stdout(&out), "piped-through\n");

    // exec -it through a real terminal on the client side.
    let name = t.d.name("tls-exec");
    t.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let script = format!("docker exec -it {name} sh -c 'read x; echo got-$x; exit 6'");
    let mut child = t.docker_cmd("client", &[]).spawn_script(&script);
    let mut input = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    input.write_all(b"abc\r").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(input);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("got-abc"), "{text:?}");
    assert_eq!(out.status.code(), Some(6), "{text:?}");

    // logs -f follows until the container ends.
    let follow = t.d.name("tls-logs");
    t.ok(&[
        "run",
        "-d",
        "--name",
        &follow,
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ]);
    let logs = t.ok(&["logs", "-f", &follow]);
    assert_eq!(logs, "one\ntwo");

    // events: a bounded window holds the container's start.
    let events = t.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &common::unix_now(),
        "--filter",
        &format!("container={follow}"),
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.lines().any(|l| l == "start"), "{events}");
    // And live: a following `docker events` sees a container that starts later.
    let live = t.d.name("tls-live");
    let mut watcher = t
        .docker_cmd(
            "client",
            &[
                "events",
                "--filter",
                &format!("container={live}"),
                "--format",
                "{{.Action}}",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    t.ok(&["run", "--rm", "--name", &live, "busybox", "true"]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = watcher.kill();
    let seen = watcher.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&seen.stdout).into_owned();
    assert!(seen.lines().any(|l| l == "start"), "{seen:?}");

    // cp both ways.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "copied").unwrap();
    t.ok(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/in.txt")]);
    let back = dir.path().join("back.txt");
    t.ok(&["cp", &format!("{name}:/tmp/in.txt"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied");

    // build: the context travels to the daemon over TLS.
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY f /f\nRUN cat /f > /g\n",
    )
    .unwrap();
    std::fs::write(ctx.join("f"), "built-remotely").unwrap();
    let tag = format!("{}:1", t.d.name("tls-built"));
    let mut cmd = t.docker_cmd("client", &["build", "-t", &tag, ctx.to_str().unwrap()]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "build");
    assert_success(&out, "docker build over tls");
    assert!(
        stdout(&out).contains("Successfully tagged"),
        "{}",
        stdout(&out)
    );
    assert_eq!(t.ok(&["run", "--rm", &tag, "cat", "/g"]), "built-remotely");

    // push, then pull back with its progress stream.
    let registry = RegistryProcess::berth(&[]);
    let remote = format!("{}/remote/built:1", registry.addr);
    t.ok(&["tag", &tag, &remote]);
    let pushed = t.ok(&["push", &remote]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    t.ok(&["rmi", &remote]);
    let pulled = t.ok(&["pull", &remote]);
    assert!(
        pulled.contains("Pull complete") || pulled.contains("Downloaded newer image"),
        "{pulled}"
    );
    assert_eq!(
        t.ok(&["run", "--rm", &remote, "cat", "/g"]),
        "built-remotely"
    );
    t.ok(&["rm", "-f", &name, &follow]);
}

trait SpawnScript {
    fn spawn_script(&mut self, script: &str) -> std::process::Child;
}

impl SpawnScript for Command {
    /// Runs `script` under util-linux `script`, which gives it a terminal.
    fn spawn_script(&mut self, script: &str) -> std::process::Child {
        let mut real = Command::new("/usr/bin/script");
        real.args(["-qec", script, "/dev/null"]);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => real.env(k, v),
                None => real.env_remove(k),
            };
        }
        real.stdin(Stdio::piped()).stdout(Stdio::piped());
        real.spawn().unwrap()
    }
}

/// Sends raw bytes to the TLS port and returns what came back before it closed.
fn raw_exchange(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

#[test]
fn the_tls_port_refuses_clients_without_a_valid_certificate() {
    let t = TlsDaemon::start();
    for (certs, what) in [
        ("no-cert", "no client certificate"),
        ("wrong-ca", "a certificate of another CA"),
        ("expired", "an expired certificate"),
    ] {
        let name = t.d.name("refused");
        let out = t.docker(certs, &["create", "--name", &name, "busybox"]);
        assert!(!out.status.success(), "{what}: accepted\n{}", stdout(&out));
        // Nothing was served: the container does not exist.
        let listed =
            t.d.docker_ok(&["ps", "-aq", "--filter", &format!("name={name}")]);
        assert_eq!(listed, "", "{what}: the request was served");
    }
    // Plain HTTP on the TLS port gets Go's answer, never the API's.
    let back = raw_exchange(&t.addr, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&back);
    assert!(text.starts_with("HTTP/1.0 400"), "{text:?}");
    assert!(
        text.contains("Client sent an HTTP request to an HTTPS server"),
        "{text:?}"
    );
    // The docker CLI without TLS says the same.
    let mut cmd = t.d.docker_command(&["version"]);
    cmd.env("DOCKER_HOST", format!("tcp://{}", t.addr));
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "docker version (plain)");
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Client sent an HTTP request to an HTTPS server"),
        "{}",
        stderr(&out)
    );
    if t.d.is_berth() {
        let log = t.log();
        let refusals = log
            .matches("refused: TLS handshake with 127.0.0.1:")
            .count();
        assert!(refusals >= 3, "handshake refusals not logged:\n{log}");
        assert!(log.contains("sent plain HTTP to the TLS port"), "{log}");
    }
    // And a good client still gets through afterwards.
    assert_eq!(
        t.ok(&["run", "--rm", "busybox", "echo", "still-up"]),
        "still-up"
    );
}

/// `--tls` without `--tlsverify`: the daemon proves who it is and asks
/// clients for nothing (and warns that it authenticates no one).
#[test]
fn tls_without_verify_serves_clients_without_certificates() {
    if Kind::from_env() != Kind::Berth {
        // dockerd 20.10 loads a CA even then (~/.docker/ca.pem by default) and
        // refuses clients without a certificate: it has no server-only mode.
        println!("skipped: dockerd 20.10 always asks for a client certificate");
        return;
    }
    let pki = Pki::new();
    let addr = free_addr();
    let s = pki.path("server");
    let d = Daemon::start_with(
        Kind::from_env(),
        vec![
            "-H".into(),
            format!("tcp://{addr}"),
            "--tls".into(),
            format!("--tlscert={}", s.join("cert.pem").display()),
            format!("--tlskey={}", s.join("key.pem").display()),
        ],
    );
    let mut cmd = d.docker_command(&["version", "--format", "{{.Server.Os}}"]);
    cmd.env("DOCKER_HOST", format!("tcp://{addr}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.path("no-cert"));
    let out = run_with_timeout(
        cmd,
        None,
        common::CLI_TIMEOUT,
        "docker over server-only TLS",
    );
    assert_success(&out, "docker version over --tls");
    assert_eq!(stdout(&out).trim(), "linux");
    if d.is_berth() {
        let log = std::fs::read_to_string(d.tmp().join("daemon.log")).unwrap();
        assert!(
            log.contains("TLS without --tlsverify authenticates no client"),
            "{log}"
        );
    }
}

fn berth_daemon_alone(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("daemon")
        .args(["--data-root"])
        .arg(tmp.path().join("root"))
        .arg("--exec-root")
        .arg(tmp.path().join("exec"))
        .args(["--bridge", "none"])
        .args(args);
    run_with_timeout(cmd, None, Duration::from_secs(30), "berth daemon")
}

#[test]
fn plain_tcp_is_refused_unless_the_operator_opts_in() {
    if Kind::from_env() != Kind::Berth {
        println!("skipped: dockerd 20.10 still serves plain TCP after a delay");
        return;
    }
    let addr = free_addr();
    let out = berth_daemon_alone(&["-H", &format!("tcp://{addr}")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to serve the API over plain TCP"),
        "{err}"
    );
    assert!(
        err.contains("--tls=false") && err.contains("--tlsverify"),
        "{err}"
    );
    assert!(TcpStream::connect(&addr).is_err(), "the port was bound");

    let out = berth_daemon_alone(&["-H", &format!("tcp://{addr}"), "--tlsverify"]);
    assert!(
        stderr(&out).contains("--tlsverify needs --tlscacert"),
        "{}",
        stderr(&out)
    );
    let out = berth_daemon_alone(&["-H", &format!("tcp://{addr}"), "--tls"]);
    assert!(
        stderr(&out).contains("--tls needs --tlscert and --tlskey"),
        "{}",
        stderr(&out)
    );

    // Unusable certificates are refused before any socket exists.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let out = berth_daemon_alone(&[
        "-H",
        &format!("unix://{}", sock.display()),
        "-H",
        &format!("tcp://{addr}"),
        "--tls",
        "--tlscert=/etc/hostname",
        "--tlskey=/etc/hostname",
    ]);
    assert!(
        stderr(&out).contains("/etc/hostname: no PEM certificate"),
        "{}",
        stderr(&out)
    );
    assert!(!sock.exists(), "the unix socket was left behind");

    // --tls=false: served, with the warning.
    let d = Daemon::start_with(
        Kind::Berth,
        vec!["-H".into(), format!("tcp://{addr}"), "--tls=false".into()],
    );
    let mut cmd = d.docker_command(&["run", "--rm", "busybox", "echo", "plain"]);
    cmd.env("DOCKER_HOST", format!("tcp://{addr}"));
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "docker over plain tcp");
    assert_success(&out, "docker run over plain tcp");
    assert_eq!(stdout(&out).trim(), "plain");
    let log = std::fs::read_to_string(d.tmp().join("daemon.log")).unwrap();
    assert!(
        log.contains("Anyone who can reach this port is root on this host"),
        "{log}"
    );
}

#[test]
fn socket_activation_serves_the_sockets_systemd_passes() {
    if Kind::from_env() != Kind::Berth || !Path::new("/usr/bin/systemd-socket-activate").exists() {
        println!("skipped: needs berth and systemd-socket-activate");
        return;
    }
    let pki = Pki::new();
    let addr = free_addr();
    // The unix socket (fd 3) and a TLS port (fd 4), both bound by the launcher.
    let d = Daemon::start_socket_activated(&[&addr], pki.daemon_args(""));
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "via-fd"]),
        "via-fd"
    );
    let mut cmd = d.docker_command(&["version", "--format", "{{.Server.Os}}"]);
    cmd.env("DOCKER_HOST", format!("tcp://{addr}"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.path("client"));
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "docker over fd tcp");
    assert_success(&out, "docker version over the passed TLS port");
    assert_eq!(stdout(&out).trim(), "linux");
    let log = std::fs::read_to_string(d.tmp().join("daemon.log")).unwrap();
    assert!(log.contains(&format!("tcp://{addr}")), "{log}");
}

/// The berth client itself: DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, the TLS
/// flags, and a context the docker CLI created.
#[test]
fn berth_client_over_tls_flags_env_and_contexts() {
    let t = TlsDaemon::start();
    let berth = |envs: &[(&str, String)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", t.d.tmp().join("config"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run_with_timeout(
            cmd,
            None,
            common::CLI_TIMEOUT,
            &format!("berth {}", args.join(" ")),
        )
    };
    let host = format!("tcp://{}", t.addr);
    let certs = t.pki.path("client");
    let out = berth(
        &[
            ("DOCKER_HOST", host.clone()),
            ("DOCKER_TLS_VERIFY", "1".into()),
            ("DOCKER_CERT_PATH", certs.display().to_string()),
        ],
        &["run", "--rm", "busybox", "echo", "berth-env"],
    );
    assert_success(&out, "berth run with DOCKER_TLS_VERIFY");
    assert_eq!(stdout(&out).trim(), "berth-env");

    let flag = |f: &str, file: &str| format!("--{f}={}", certs.join(file).display());
    let ca_only = [
        "-H".to_string(),
        host.clone(),
        "--tlsverify".into(),
        flag("tlscacert", "ca.pem"),
    ];
    let with_cert = [flag("tlscert", "cert.pem"), flag("tlskey", "key.pem")];
    let args = |tail: &[&str], cert: bool| -> Vec<String> {
        let mut a = ca_only.to_vec();
        if cert {
            a.extend(with_cert.iter().cloned());
        }
        a.extend(tail.iter().map(|s| s.to_string()));
        a
    };
    let run = |v: Vec<String>| berth(&[], &v.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(args(&["version", "--format", "{{.Server.Os}}"], true));
    assert_success(&out, "berth --tlsverify version");
    assert_eq!(stdout(&out).trim(), "linux");

    // --tls alone: the daemon's certificate is not checked, the client's is sent.
    let out = run(vec![
        "-H".into(),
        host.clone(),
        "--tls".into(),
        flag("tlscert", "cert.pem"),
        flag("tlskey", "key.pem"),
        "version".into(),
        "--format".into(),
        "{{.Server.Os}}".into(),
    ]);
    assert_success(&out, "berth --tls version");
    assert_eq!(stdout(&out).trim(), "linux");

    // Without a client certificate the daemon refuses; the client says so.
    let out = run(args(&["ps"], false));
    assert_ne!(code(&out), 0, "{}", stdout(&out));

    // A context made by the docker CLI's own `context create`.
    let created = t.d.docker_ok(&[
        "context",
        "create",
        "e2e-remote",
        "--docker",
        &format!(
            "host={host},ca={},cert={},key={}",
            certs.join("ca.pem").display(),
            certs.join("cert.pem").display(),
            certs.join("key.pem").display()
        ),
    ]);
    assert!(created.contains("e2e-remote"), "{created}");
    let out = berth(
        &[],
        &[
            "--context",
            "e2e-remote",
            "run",
            "--rm",
            "busybox",
            "echo",
            "ctx",
        ],
    );
    assert_success(&out, "berth --context");
    assert_eq!(stdout(&out).trim(), "ctx");
    let out = berth(
        &[("DOCKER_CONTEXT", "e2e-remote".into())],
        &["ps", "-a", "--format", "{{.Names}}"],
    );
    assert_success(&out, "DOCKER_CONTEXT=e2e-remote berth ps");
    let out = berth(&[], &["--context", "nowhere", "ps"]);
    assert!(
        stderr(&out).contains("context \"nowhere\" does not exist"),
        "{}",
        stderr(&out)
    );
}

/// One websocket frame from the server (unmasked, as servers send them).
fn read_frame(s: &mut impl Read) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let mut len = u64::from(h[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).unwrap();
        len = u64::from_be_bytes(b);
    }
    let mut data = vec![0u8; len as usize];
    s.read_exact(&mut data).unwrap();
    (h[0] & 0x0f, data)
}

/// A client frame: masked, as RFC 6455 requires of clients.
fn client_frame(opcode: u8, data: &[u8]) -> Vec<u8> {
    assert!(data.len() < 126);
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode, 0x80 | data.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// `GET /containers/{id}/attach/ws`: raw output as binary messages, and
/// what the client sends is the container's stdin.
#[test]
fn websocket_attach_carries_raw_streams_both_ways() {
    let d = Daemon::start_with(Kind::from_env(), Vec::new());
    let name = d.name("ws");
    d.docker_ok(&[
        "create",
        "-i",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo ready; read x; echo got-$x; echo err-$x >&2",
    ]);
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /v1.41/containers/{name}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    d.docker_ok(&["start", &name]);
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("ready\n") {
        let (op, data) = read_frame(&mut s);
        assert_eq!(op, 2, "output must come as binary messages");
        got.extend(data);
    }
    s.write_all(&client_frame(1, b"hello\n")).unwrap();
    loop {
        let (op, data) = read_frame(&mut s);
        if op == 8 {
            break;
        }
        got.extend(data);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    // Raw: no 8-byte multiplexing headers around the lines.
    assert!(text.starts_with("ready\n"), "{text:?}");
    assert!(
        text.contains("got-hello\n") && text.contains("err-hello\n"),
        "{text:?}"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

/// docker-py's own websocket attach (it needs a tcp:// host), over plain TCP.
#[test]
fn docker_py_websocket_attach_over_tcp() {
    let python = Path::new("/var/cache/berth-docker-py/7.2.0/venv/bin/python");
    if !python.exists() {
        println!("skipped: docker-py's venv (scripts/docker-py/run.sh makes it) is missing");
        return;
    }
    let addr = free_addr();
    let d = Daemon::start_with(
        Kind::from_env(),
        vec!["-H".into(), format!("tcp://{addr}"), "--tls=false".into()],
    );
    // The body of docker-py's test_run_container_reading_socket_ws.
    let script = r#"
import sys, docker
c = docker.APIClient(base_url=sys.argv[1], version="1.41")
line = "hi there and stuff and things, words!"
# busybox's sh has printf built in (the image links no printf applet).
ctr = c.create_container("busybox", ["sh", "-c", "printf '%s' \"$0\"", line], detach=True, tty=False)
ws = c.attach_socket(ctr, {"stdout": 1, "stream": 1, "logs": 1}, ws=True)
c.start(ctr)
data = ws.recv()
ws.close()
c.remove_container(ctr, force=True)
assert data.decode("utf-8") == line, repr(data)
print("ws-ok")
"#;
    let mut cmd = Command::new(python);
    cmd.args(["-c", script, &format!("tcp://{addr}")]);
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "docker-py ws attach");
    assert_success(&out, "docker-py websocket attach");
    assert_eq!(stdout(&out).trim(), "ws-ok");
    drop(d);
}

/// docker-py's TLSConfig against the TLS port.
#[test]
fn docker_py_over_tls() {
    let python = Path::new("/var/cache/berth-docker-py/7.2.0/venv/bin/python");
    if !python.exists() {
        println!("skipped: docker-py's venv (scripts/docker-py/run.sh makes it) is missing");
        return;
    }
    let t = TlsDaemon::start();
    let c = t.pki.path("client");
    let script = r#"
import sys, docker
from docker.tls import TLSConfig
d = sys.argv[2]
tls = TLSConfig(client_cert=(d + "/cert.pem", d + "/key.pem"), ca_cert=d + "/ca.pem", verify=True)
c = docker.DockerClient(base_url=sys.argv[1], tls=tls, version="1.41")
print(c.containers.run("busybox", ["echo", "py-tls"], remove=True).decode().strip())
"#;
    let mut cmd = Command::new(python);
    cmd.args([
        "-c",
        script,
        &format!("tcp://{}", t.addr),
        c.to_str().unwrap(),
    ])
    // requests lets these replace the session's CA (TLSConfig's ca_cert).
    .env_remove("REQUESTS_CA_BUNDLE")
    .env_remove("CURL_CA_BUNDLE");
    let out = run_with_timeout(cmd, None, common::CLI_TIMEOUT, "docker-py tls");
    assert_success(&out, "docker-py over TLS");
    assert_eq!(stdout(&out).trim(), "py-tls");
}

/// sshd in a namespace of its own, on a key the test made, whose sessions
/// find `docker` (a link to berth) first on PATH and the daemon in
/// DOCKER_HOST; the client side runs in another namespace behind a veth.
struct SshServer {
    dir: tempfile::TempDir,
    server_ns: common::netns::TestNetns,
    client_ns: common::netns::TestNetns,
    sshd: std::process::Child,
    addr: String,
}

impl SshServer {
    fn start(daemon_host: &str) -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let keygen = |file: &str| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(p(file))
                .output()
                .unwrap();
            assert_success(&out, "ssh-keygen");
            std::fs::read_to_string(p(&format!("{file}.pub"))).unwrap()
        };
        let host_pub = keygen("hostkey");
        let client_pub = keygen("id");
        std::fs::write(p("authorized_keys"), &client_pub).unwrap();
        // The subnet is private to the two namespaces; vary it per process.
        let octet = std::process::id() % 200 + 20;
        let addr = format!("10.251.{octet}.2");
        let server_ns = common::netns::TestNetns::new();
        let client_ns = common::netns::TestNetns::new();
        client_ns.veth_to("sshc0", "sshs0", &server_ns);
        client_ns.ip(&[
            "addr",
            "add",
            &format!("10.251.{octet}.1/30"),
            "dev",
            "sshc0",
        ]);
        server_ns.ip(&["addr", "add", &format!("{addr}/30"), "dev", "sshs0"]);
        let bin = p("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // Where the remote has no docker CLI, a link named docker serves.
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), bin.join("docker")).unwrap();
        std::fs::write(
            p("sshd_config"),
            format!(
                "ListenAddress {addr}\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {pid}\nSetEnv PATH={bin}:/usr/bin:/bin DOCKER_HOST={daemon_host}\n",
                hk = p("hostkey").display(),
                ak = p("authorized_keys").display(),
                pid = p("sshd.pid").display(),
                bin = bin.display(),
            ),
        )
        .unwrap();
        // Privilege separation needs its empty directory, as the package's unit makes it.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Command::new("ip")
            .args([
                "netns",
                "exec",
                &server_ns.name,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(p("sshd_config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        // The client's ssh: this key, this host key, nothing from ~/.ssh.
        std::fs::write(
            p("ssh_config"),
            format!(
                "Host *\n  IdentityFile {id}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
                id = p("id").display(),
                kh = p("known_hosts").display(),
            ),
        )
        .unwrap();
        std::fs::write(p("known_hosts"), format!("{addr} {host_pub}")).unwrap();
        let client_bin = p("client-bin");
        std::fs::create_dir_all(&client_bin).unwrap();
        let wrapper = client_bin.join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
                p("ssh_config").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = SshServer {
            dir,
            server_ns,
            client_ns,
            sshd,
            addr,
        };
        let up = common::wait_for(Duration::from_secs(10), || {
            let out = server.client(Command::new("true")).output().ok()?;
            let probe = Command::new("ip")
                .args(["netns", "exec", &server.client_ns.name, "bash", "-c"])
                .arg(format!("exec 3<>/dev/tcp/{}/22", server.addr))
                .output()
                .ok()?;
            (out.status.success() && probe.status.success()).then_some(())
        });
        let log = std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default();
        assert!(up.is_some(), "sshd did not come up:\n{log}");
        server
    }

    /// `cmd` run in the client namespace with the test's ssh first on PATH.
    fn client(&self, cmd: Command) -> Command {
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", &self.client_ns.name, "env"])
            .arg(format!(
                "PATH={}:/usr/local/bin:/usr/bin:/bin",
                self.dir.path().join("client-bin").display()
            ))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        // Sessions sshd forked (dial-stdio among them) live in its namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.server_ns.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// `docker -H ssh://root@host` runs `docker system dial-stdio` there; berth
/// answers it under the name docker, through a real sshd.
#[test]
fn ssh_hosts_reach_the_daemon_through_dial_stdio() {
    if Kind::from_env() != Kind::Berth || !Path::new("/usr/sbin/sshd").exists() {
        println!("skipped: needs berth and openssh-server (scripts/deps.sh installs it)");
        return;
    }
    let d = Daemon::start_with(Kind::Berth, Vec::new());
    let ssh = SshServer::start(&d.host());
    let host = format!("ssh://root@{}", ssh.addr);
    let docker = |args: &[&str], input: Option<&[u8]>| {
        let mut cmd = Command::new(common::DOCKER_CLI);
        cmd.args(["-H", &host])
            .args(args)
            .env("DOCKER_CONFIG", d.tmp().join("config"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        run_with_timeout(ssh.client(cmd), input, common::CLI_TIMEOUT, &args.join(" "))
    };
    let out = docker(&["run", "--rm", "busybox", "echo", "via-ssh"], None);
    let log = std::fs::read_to_string(ssh.dir.path().join("sshd.log")).unwrap_or_default();
    assert_success(&out, &format!("docker -H ssh:// run\nsshd log:\n{log}"));
    assert_eq!(stdout(&out).trim(), "via-ssh");
    // The session's docker was berth under that name, not the host's CLI.
    let mut which = Command::new("ssh");
    which.args([&format!("root@{}", ssh.addr), "command -v docker"]);
    let out = run_with_timeout(
        ssh.client(which),
        None,
        common::CLI_TIMEOUT,
        "ssh command -v",
    );
    assert_eq!(
        stdout(&out).trim(),
        ssh.dir.path().join("bin/docker").to_str().unwrap()
    );
    let version = docker(&["version", "--format", "{{.Server.Platform.Name}}"], None);
    assert_eq!(stdout(&version).trim(), "berth Engine");
    let out = docker(
        &["run", "--rm", "-i", "busybox", "cat"],
        Some(b"through-ssh\n"),
    );
    assert_success(&out, "docker -H ssh:// run -i");
    assert_eq!(stdout(&out), "through-ssh\n");
    // The berth client speaks ssh:// too.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["-H", &host, "version", "--format", "{{.Server.Os}}"])
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST");
    let out = run_with_timeout(
        ssh.client(cmd),
        None,
        common::CLI_TIMEOUT,
        "berth -H ssh://",
    );
    assert_success(&out, "berth -H ssh:// version");
    assert_eq!(stdout(&out).trim(), "linux");
}
