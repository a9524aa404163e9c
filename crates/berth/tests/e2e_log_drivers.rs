//! Log drivers: json-file's compression and attributes, the daemon's
//! default driver, syslog delivered to a real rsyslog (udp, tcp, unix
//! datagram) and to a unix stream listener, the dual-logging cache that
//! keeps `docker logs` working, and non-blocking delivery to a dead server.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Kind, stderr, wait_for};

/// An rsyslogd of the test's own: its config, work dir and output in a
/// temp dir; inputs on loopback udp and tcp and a unix datagram socket.
/// Killed (by its own pid) when dropped.
struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    udp: u16,
    tcp: u16,
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rsyslog {
    fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let (udp, tcp) = (free_udp_port(), free_tcp_port());
        let d = dir.path().display();
        let conf = format!(
            r#"global(workDirectory="{d}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock" CreatePath="on" RateLimit.Interval="0")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="t" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%app-name%|%msg%\n")
*.* action(type="omfile" file="{d}/out.log" template="t")
"#
        );
        std::fs::write(dir.path().join("rsyslog.conf"), conf).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (Debian's rsyslog, see scripts/deps.sh)");
        let r = Rsyslog {
            child,
            dir,
            udp,
            tcp,
        };
        wait_for(Duration::from_secs(10), || {
            (r.socket().exists() && std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok())
                .then_some(())
        })
        .expect("rsyslogd did not come up");
        r
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("log.sock")
    }

    /// The output lines (facility|severity|app-name|msg) holding `needle`,
    /// once there are `n` of them.
    fn lines_with(&self, needle: &str, n: usize) -> Vec<String> {
        let out = self.dir.path().join("out.log");
        let found = wait_for(Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<String> = text
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_string)
                .collect();
            (lines.len() >= n).then_some(lines)
        });
        found.unwrap_or_else(|| {
            panic!(
                "rsyslog has not {n} lines with {needle:?}:\n{}",
                std::fs::read_to_string(&out).unwrap_or_default()
            )
        })
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fields(line: &str) -> Vec<String> {
    line.splitn(4, '|').map(|f| f.trim().to_string()).collect()
}

#[test]
fn syslog_reaches_rsyslog_over_udp_tcp_and_unixgram_and_logs_reads_the_cache() {
    let r = Rsyslog::start();
    let d = Daemon::shared();
    let udp = d.name("sl-udp");
    d.docker_ok(&[
        "run",
        "--name",
        &udp,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=udp://127.0.0.1:{}", r.udp),
        "--log-opt",
        "syslog-format=rfc5424micro",
        "--log-opt",
        "syslog-facility=local3",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}",
        "busybox",
        "sh",
        "-c",
        "echo udp-out; echo udp-err >&2",
    ]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &udp]);
    let tag = format!("{udp}/{}", &id[..12]);
    let mut got: Vec<Vec<String>> = r.lines_with("udp-", 2).iter().map(|l| fields(l)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            vec![
                "local3".to_string(),
                "err".into(),
                tag.clone(),
                "udp-err".into()
            ],
            vec![
                "local3".to_string(),
                "info".into(),
                tag.clone(),
                "udp-out".into()
            ],
        ]
    );

    let tcp = d.name("sl-tcp");
    d.docker_ok(&[
        "run",
        "--name",
        &tcp,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp://127.0.0.1:{}", r.tcp),
        "--log-opt",
        "syslog-format=rfc3164",
        "--log-opt",
        "tag={{.DaemonName}}-{{.ImageName}}",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tcp-line-$i; done",
    ]);
    let got = r.lines_with("tcp-line-", 3);
    for (i, line) in got.iter().enumerate() {
        assert_eq!(
            fields(line),
            vec![
                "daemon".to_string(),
                "info".into(),
                "docker-busybox".into(),
                format!("tcp-line-{}", i + 1)
            ]
        );
    }

    // The local socket's format (dockerd's default), the default tag (the short id).
    let gram = d.name("sl-gram");
    d.docker_ok(&[
        "run",
        "--name",
        &gram,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=unixgram://{}", r.socket().display()),
        "busybox",
        "echo",
        "gram-line",
    ]);
    let gid = d.docker_ok(&["inspect", "-f", "{{.Id}}", &gram]);
    let got = r.lines_with("gram-line", 1);
    assert_eq!(
        fields(&got[0]),
        vec![
            "daemon".to_string(),
            "info".into(),
            gid[..12].to_string(),
            "gram-line".into()
        ]
    );

    // Dual logging: docker logs reads the local cache of a remote driver.
    let (out, err) = {
        let o = d.docker(&["logs", &udp]);
        assert!(o.status.success(), "{}", stderr(&o));
        (common::stdout(&o), stderr(&o))
    };
    assert_eq!((out.as_str(), err.as_str()), ("udp-out\n", "udp-err\n"));
    assert_eq!(d.docker_ok(&["logs", "--tail", "1", &tcp]), "tcp-line-3");
    // Without the cache there is nothing to read, as dockerd says.
    let nocache = d.name("sl-nocache");
    d.docker_ok(&[
        "run",
        "--name",
        &nocache,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=udp://127.0.0.1:{}", r.udp),
        "--log-opt",
        "cache-disabled=true",
        "busybox",
        "echo",
        "nocache-line",
    ]);
    r.lines_with("nocache-line", 1);
    let o = d.docker(&["logs", &nocache]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&o)
    );
    for n in [&udp, &tcp, &gram, &nocache] {
        d.docker_ok(&["rm", n]);
    }
}

#[test]
fn syslog_over_a_unix_stream_ends_each_message_with_a_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let d = Daemon::shared();
    let name = d.name("sl-unix");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            for line in BufReader::new(conn).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    });
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=unix://{}", path.display()),
        "--log-opt",
        "syslog-format=rfc5424",
        "--log-opt",
        "syslog-facility=user",
        "--log-opt",
        "tag=app",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two",
    ]);
    let lines: Vec<String> = (0..2)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    for (line, msg) in lines.iter().zip(["one", "two"]) {
        // <PRI>1 TIMESTAMP HOST APP PID MSGID - MSG, user.info = 14
        let parts: Vec<&str> = line.splitn(8, ' ').collect();
        assert_eq!(parts[0], "<14>1", "{line}");
        assert!(parts[1].ends_with('Z') || parts[1].contains('+'), "{line}");
        assert_eq!(
            (parts[2], parts[3], parts[5], parts[6], parts[7]),
            (host.as_str(), "app", "app", "-", msg),
            "{line}"
        );
    }
    d.docker_ok(&["rm", &name]);
}

#[test]
fn unknown_syslog_options_and_addresses_are_refused_and_nothing_is_stored() {
    let d = Daemon::shared();
    for (opts, needle) in [
        (
            vec!["--log-opt", "bogus=1"],
            "unknown log opt 'bogus' for syslog log driver",
        ),
        (
            vec!["--log-opt", "syslog-address=http://127.0.0.1"],
            "unsupported scheme: 'http'",
        ),
        (
            vec!["--log-opt", "syslog-address=unix:///nonexistent/sock"],
            "no such file or directory",
        ),
        (
            vec!["--log-opt", "syslog-facility=nope"],
            "invalid syslog facility",
        ),
        (
            vec!["--log-opt", "syslog-format=nope"],
            "Invalid syslog format",
        ),
        (
            vec!["--log-opt", "mode=sometimes"],
            "logger log mode not supported: sometimes",
        ),
        (
            vec!["--log-opt", "max-buffer-size=1m"],
            "max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        (vec!["--log-opt", "tag={{.Nope}}"], "Nope"),
    ] {
        let name = d.name("sl-bad");
        let mut args = vec!["create", "--name", &name, "--log-driver", "syslog"];
        args.extend(opts.iter().copied());
        args.extend(["busybox", "true"]);
        let out = d.docker(&args);
        assert!(!out.status.success(), "{opts:?} accepted");
        assert!(stderr(&out).contains(needle), "{opts:?}: {}", stderr(&out));
        assert!(
            !d.docker(&["inspect", &name]).status.success(),
            "{opts:?}: {name} stored"
        );
    }
    let out = d.docker(&["create", "--log-driver", "gelf", "busybox"]);
    assert!(stderr(&out).contains("not implemented"), "{}", stderr(&out));
}

/// Non-blocking delivery to a server that is not there: the container
/// runs at full speed, lines are dropped and counted, the cache has all.
#[test]
fn a_dead_log_server_costs_lines_in_non_blocking_mode_never_the_container() {
    let d = Daemon::shared();
    let port = free_tcp_port(); // nothing listens there
    let name = d.name("sl-dead");
    let start = Instant::now();
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp://127.0.0.1:{port}"),
        "--log-opt",
        "mode=non-blocking",
        "--log-opt",
        "max-buffer-size=64k",
        "busybox",
        "sh",
        "-c",
        "seq 1 20000",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    let out = d.docker_ok(&["logs", &name]);
    assert_eq!(out.lines().count(), 20000);
    assert_eq!(out.lines().last(), Some("20000"));
    if d.is_berth() {
        let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
        let stats_path = d
            .tmp()
            .join("exec/containers")
            .join(&id)
            .join("log-stats.json");
        let stats: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
        assert_eq!(stats["sent"], 0, "{stats}");
        assert_eq!(stats["dropped"], 20000, "{stats}");
    }
    d.docker_ok(&["rm", &name]);
}

/// json-file's `compress`: rotated files are gzip'd under dockerd's names
/// and `docker logs` (all, --tail, -f) reads across them.
#[test]
fn json_file_compresses_rotated_files_and_logs_reads_them() {
    let d = Daemon::shared();
    let name = d.name("jz");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=100",
        "--log-opt",
        "compress=true",
        "--log-opt",
        "tag={{.Name}}",
        "--log-opt",
        "labels=role",
        "--label",
        "role=web",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in $(seq 100 599); do echo z$i; done",
    ]);
    // Followed across rotations into compressed files, nothing lost or doubled.
    let out = d.docker_ok(&["logs", "-f", &name]);
    let want: Vec<String> = (100..600).map(|i| format!("z{i}")).collect();
    let got: Vec<&str> = out.lines().collect();
    let diverge = got.iter().zip(&want).position(|(g, w)| g != w);
    assert!(
        diverge.is_none() && got.len() == want.len(),
        "{} lines, first difference at {diverge:?}: {:?}",
        got.len(),
        diverge.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())])
    );
    let log = PathBuf::from(d.docker_ok(&["inspect", "-f", "{{.LogPath}}", &name]));
    let gz = |n: u32| PathBuf::from(format!("{}.{n}.gz", log.display()));
    assert!(gz(1).exists() && gz(2).exists(), "no {}", gz(2).display());
    assert!(!Path::new(&format!("{}.1", log.display())).exists());
    assert_eq!(d.docker_ok(&["logs", &name]), want.join("\n"));
    let tail = d.docker_ok(&["logs", "--tail", "300", &name]);
    assert_eq!(tail, want[200..].join("\n"));
    // The attributes dockerd writes on each entry.
    let first = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(entry["attrs"]["tag"], name.as_str(), "{entry}");
    assert_eq!(entry["attrs"]["role"], "web", "{entry}");
    d.docker_ok(&["rm", &name]);
}

/// `--log-driver`/`--log-opt` on the daemon: containers that name no
/// driver get it, filled in at create where inspect shows it.
#[test]
fn the_daemon_default_driver_is_filled_in_at_create() {
    let r = Rsyslog::start();
    let address = format!("syslog-address=udp://127.0.0.1:{}", r.udp);
    let d = Daemon::start_with(
        Kind::from_env(),
        vec![
            "--log-driver".into(),
            "syslog".into(),
            "--log-opt".into(),
            address.clone(),
            "--log-opt".into(),
            "tag=dflt".into(),
        ],
    );
    let name = d.name("dflt");
    d.docker_ok(&["run", "--name", &name, "busybox", "echo", "default-line"]);
    let cfg: serde_json::Value = serde_json::from_str(&d.docker_ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.LogConfig}}",
        &name,
    ]))
    .unwrap();
    assert_eq!(cfg["Type"], "syslog");
    assert_eq!(cfg["Config"]["tag"], "dflt");
    assert_eq!(
        fields(&r.lines_with("default-line", 1)[0]),
        vec![
            "daemon".to_string(),
            "info".into(),
            "dflt".into(),
            "default-line".into()
        ]
    );
    // Another driver does not inherit the default's options.
    let other = d.name("other");
    d.docker_ok(&[
        "create",
        "--name",
        &other,
        "--log-driver",
        "json-file",
        "busybox",
    ]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &other]),
        r#"{"Type":"json-file","Config":{}}"#
    );
}
