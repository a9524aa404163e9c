//! Log drivers: json-file's compression and attributes (labels-regex and
//! env-regex too), the local driver (its files decoded here independently),
//! the daemon's default driver, syslog delivered to a real rsyslog (udp,
//! tcp, tcp+tls, unix datagram) and to a unix stream listener, the
//! dual-logging cache (local format) that keeps `docker logs` working, and
//! non-blocking delivery to a dead server. The new tests pass against
//! dockerd 20.10 too (`BERTH_E2E_DAEMON=dockerd`).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Kind, stderr, stdout, wait_for};

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
        (stdout(&o), stderr(&o))
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
    let out = d.docker(&["create", "--log-driver", "splunk", "busybox"]);
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

/// Reassembles GELF datagrams (chunked or whole) and decompresses them,
/// as Graylog's udp input does.
fn gelf_datagrams(sock: &UdpSocket, n: usize) -> Vec<serde_json::Value> {
    use std::collections::HashMap;
    use std::io::Read;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut partial: HashMap<Vec<u8>, Vec<Option<Vec<u8>>>> = HashMap::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while out.len() < n {
        let len = sock.recv(&mut buf).expect("a gelf datagram");
        let d = &buf[..len];
        let whole = if d.starts_with(&[0x1e, 0x0f]) {
            let (id, seq, count) = (d[2..10].to_vec(), d[10] as usize, d[11] as usize);
            let parts = partial
                .entry(id.clone())
                .or_insert_with(|| vec![None; count]);
            parts[seq] = Some(d[12..].to_vec());
            if parts.iter().any(Option::is_none) {
                continue;
            }
            partial
                .remove(&id)
                .unwrap()
                .into_iter()
                .flatten()
                .flatten()
                .collect()
        } else {
            d.to_vec()
        };
        let mut text = String::new();
        if whole.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(&whole[..])
                .read_to_string(&mut text)
                .unwrap();
        } else if whole.first() == Some(&0x78) {
            flate2::read::ZlibDecoder::new(&whole[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text = String::from_utf8(whole).unwrap();
        }
        out.push(serde_json::from_str(&text).unwrap());
    }
    out
}

#[test]
fn gelf_over_udp_is_compressed_and_chunked_and_over_tcp_nul_framed() {
    let d = Daemon::shared();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let name = d.name("gelf-udp");
    // A 20 KB line of digits: over one datagram even gzip'd, and over 16 KiB,
    // so it arrives as two partial messages.
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address=udp://127.0.0.1:{port}"),
        "--log-opt",
        "tag={{.Name}}",
        "--log-opt",
        "env=STAGE",
        "-e",
        "STAGE=prod",
        "busybox",
        "sh",
        "-c",
        "echo hello-gelf; echo oops >&2; i=0; while [ $i -lt 4000 ]; do printf '%05d' $i; i=$((i+1)); done; echo",
    ]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let mut msgs = gelf_datagrams(&udp, 4);
    msgs.sort_by_key(|m| m["short_message"].as_str().unwrap().len());
    let oops = &msgs[0];
    assert_eq!(oops["short_message"], "oops");
    assert_eq!(oops["level"], 3);
    let hello = &msgs[1];
    assert_eq!(hello["version"], "1.1");
    assert_eq!(hello["short_message"], "hello-gelf");
    assert_eq!(hello["level"], 6);
    assert_eq!(hello["_container_id"], id.as_str());
    assert_eq!(hello["_container_name"], name.as_str());
    assert_eq!(hello["_tag"], name.as_str());
    assert_eq!(hello["_image_name"], "busybox");
    assert_eq!(hello["_STAGE"], "prod");
    assert!(hello["timestamp"].as_f64().unwrap() > 1.7e9);
    // The long line: 16 KiB, then the rest, one partial id, in order.
    let (a, b) = (&msgs[2], &msgs[3]);
    let (first, second) = match a["_partial_ordinal"] == 1 {
        true => (a, b),
        false => (b, a),
    };
    assert_eq!(first["short_message"].as_str().unwrap().len(), 16 * 1024);
    assert_eq!(first["_partial_last"], false);
    assert_eq!(second["_partial_last"], true);
    assert_eq!(first["_partial_id"], second["_partial_id"]);
    let line = format!(
        "{}{}",
        first["short_message"].as_str().unwrap(),
        second["short_message"].as_str().unwrap()
    );
    let want: String = (0..4000).map(|i| format!("{i:05}")).collect();
    assert_eq!(line, want);
    // The cache keeps docker logs working.
    assert!(d.docker_ok(&["logs", &name]).starts_with("hello-gelf"));
    d.docker_ok(&["rm", &name]);

    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let name = d.name("gelf-tcp");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = tcp.accept() {
            let mut r = BufReader::new(conn);
            loop {
                let mut msg = Vec::new();
                if r.read_until(0, &mut msg).unwrap_or(0) == 0 {
                    return;
                }
                msg.pop();
                if tx.send(msg).is_err() {
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
        "gelf",
        "--log-opt",
        &format!("gelf-address=tcp://127.0.0.1:{port}"),
        "busybox",
        "sh",
        "-c",
        "echo t1; echo t2",
    ]);
    for want in ["t1", "t2"] {
        let raw = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["short_message"], want);
    }
    d.docker_ok(&["rm", &name]);
}

/// A msgpack value as fluentd's in_forward decodes it (the types the
/// Forward protocol's message mode uses).
#[derive(Debug, Clone, PartialEq)]
enum Mp {
    Uint(u64),
    Str(String),
    Array(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
    /// EventTime: seconds, nanoseconds.
    Time(u32, u32),
}

fn mp_read(r: &mut impl std::io::Read) -> Option<Mp> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).ok()?;
    let mut take = |n: usize| -> Vec<u8> {
        let mut v = vec![0u8; n];
        r.read_exact(&mut v).unwrap();
        v
    };
    let be = |v: Vec<u8>| v.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    let t = b[0];
    Some(match t {
        0x00..=0x7f => Mp::Uint(u64::from(t)),
        0xce => Mp::Uint(be(take(4))),
        0xcf => Mp::Uint(be(take(8))),
        0xa0..=0xbf => Mp::Str(String::from_utf8(take(usize::from(t & 0x1f))).unwrap()),
        0xd9..=0xdb => {
            let n = be(take(1 << (t - 0xd9))) as usize;
            Mp::Str(String::from_utf8(take(n)).unwrap())
        }
        0x90..=0x9f | 0xdc | 0xdd => {
            let n = match t {
                0xdc => be(take(2)) as usize,
                0xdd => be(take(4)) as usize,
                _ => usize::from(t & 0x0f),
            };
            Mp::Array((0..n).map(|_| mp_read(r).unwrap()).collect())
        }
        0x80..=0x8f | 0xde | 0xdf => {
            let n = match t {
                0xde => be(take(2)) as usize,
                0xdf => be(take(4)) as usize,
                _ => usize::from(t & 0x0f),
            };
            Mp::Map(
                (0..n)
                    .map(|_| (mp_read(r).unwrap(), mp_read(r).unwrap()))
                    .collect(),
            )
        }
        0xd7 => {
            let v = take(9);
            assert_eq!(v[0], 0, "EventTime is ext type 0");
            Mp::Time(be(v[1..5].to_vec()) as u32, be(v[5..9].to_vec()) as u32)
        }
        other => panic!("msgpack type {other:#x} is not one fluentd's forward events use"),
    })
}

/// `[tag, time, record]` with the record as a string map.
fn forward_event(v: Mp) -> (String, Mp, std::collections::BTreeMap<String, String>) {
    let Mp::Array(mut a) = v else {
        panic!("not an event: {v:?}")
    };
    assert_eq!(a.len(), 3, "{a:?}");
    let Mp::Map(rec) = a.pop().unwrap() else {
        panic!("record")
    };
    let time = a.pop().unwrap();
    let Mp::Str(tag) = a.pop().unwrap() else {
        panic!("tag")
    };
    let rec = rec
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (Mp::Str(k), Mp::Str(v)) => (k, v),
            other => panic!("record field {other:?}"),
        })
        .collect();
    (tag, time, rec)
}

#[test]
fn fluentd_gets_forward_protocol_events_and_a_reconnect_after_its_restart() {
    let d = Daemon::shared();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    // Like a fluentd that restarts: the first connection is closed after one
    // event; the events after it come on a new one.
    std::thread::spawn(move || {
        for conn in 0.. {
            let Ok((c, _)) = listener.accept() else {
                return;
            };
            let mut r = BufReader::new(c);
            while let Some(v) = mp_read(&mut r) {
                if tx.send((conn, v)).is_err() {
                    return;
                }
                if conn == 0 {
                    break;
                }
            }
        }
    });
    let name = d.name("fluent");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "fluentd",
        "--log-opt",
        &format!("fluentd-address=127.0.0.1:{port}"),
        "--log-opt",
        "tag=docker.{{.Name}}",
        "--log-opt",
        "fluentd-sub-second-precision=true",
        "--log-opt",
        "fluentd-async=true",
        "busybox",
        "sh",
        "-c",
        "echo first; sleep 1; echo second >&2",
    ]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let mut events = Vec::new();
    for _ in 0..2 {
        let (conn, v) = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
        events.push((conn, forward_event(v)));
    }
    let (c0, (tag, time, rec)) = &events[0];
    assert_eq!(*c0, 0);
    assert_eq!(tag, &format!("docker.{name}"));
    assert!(
        matches!(time, Mp::Time(s, _) if *s > 1_700_000_000),
        "{time:?}"
    );
    assert_eq!(rec["log"], "first");
    assert_eq!(rec["source"], "stdout");
    assert_eq!(rec["container_id"], id);
    assert_eq!(rec["container_name"], format!("/{name}"));
    let (c1, (_, _, rec)) = &events[1];
    assert_eq!(*c1, 1, "the second event came on a new connection");
    assert_eq!(rec["log"], "second");
    assert_eq!(rec["source"], "stderr");
    // docker_ok keeps stdout: the cache has the stdout line, the stderr one apart.
    assert_eq!(d.docker_ok(&["logs", &name]), "first");
    d.docker_ok(&["rm", &name]);
}

/// The shim delivers: a daemon killed while a container logs loses no line.
#[test]
fn a_daemon_killed_mid_stream_loses_no_line_the_shim_took() {
    let d = Daemon::start_live_restore();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((c, _)) = listener.accept() {
            for line in BufReader::new(c).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    });
    let name = d.name("restart-log");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp://127.0.0.1:{port}"),
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 300); do echo n$i; usleep 10000; done",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    std::thread::sleep(Duration::from_millis(500));
    d.restart();
    let out = d.docker_ok(&["wait", &name]);
    assert_eq!(out, "0");
    let got: Vec<String> = (0..300)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("a line"))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    let want: Vec<String> = (1..=300).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want);
    assert_eq!(d.docker_ok(&["logs", "--tail", "1", &name]), "n300");
    d.docker_ok(&["rm", &name]);
}

/// One entry of Docker's local log format, decoded here by hand (not with
/// the engine's code): the wire format is what is tested.
#[derive(Debug, Default, PartialEq)]
struct Entry {
    source: String,
    time_nano: i64,
    line: Vec<u8>,
    partial: bool,
}

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// The entries of a local-format file: each a protobuf LogEntry between
/// two equal big-endian u32 lengths, nothing left over.
fn decode_local(data: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 4 + len;
        let suffix = u32::from_be_bytes(data[end..end + 4].try_into().unwrap()) as usize;
        assert_eq!(len, suffix, "length prefix and suffix differ at {at}");
        let msg = &data[at + 4..end];
        let mut e = Entry::default();
        let mut i = 0;
        while i < msg.len() {
            let key = varint(msg, &mut i);
            match (key >> 3, key & 7) {
                (1, 2) | (3, 2) | (5, 2) => {
                    let n = varint(msg, &mut i) as usize;
                    let bytes = msg[i..i + n].to_vec();
                    i += n;
                    match key >> 3 {
                        1 => e.source = String::from_utf8(bytes).unwrap(),
                        3 => e.line = bytes,
                        _ => {}
                    }
                }
                (2, 0) => e.time_nano = varint(msg, &mut i) as i64,
                (4, 0) => e.partial = varint(msg, &mut i) != 0,
                other => panic!("unexpected field {other:?} in {msg:?}"),
            }
        }
        out.push(e);
        at = end + 4;
    }
    out
}

fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The container's directory under the daemon's data root.
fn container_dir(d: &Daemon, name: &str) -> PathBuf {
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]);
    d.data_root().join("containers").join(id)
}

/// `docker logs --timestamps` gives each line's time; `--since`/`--until`
/// at those times give the lines from/up to them.
fn since_and_until_pick_by_the_timestamps(d: &Daemon, name: &str) {
    let stamped = d.docker_ok(&["logs", "--timestamps", name]);
    let stamped: Vec<(String, String)> = stamped
        .lines()
        .map(|l| {
            let (t, text) = l.split_once(' ').unwrap();
            (t.to_string(), text.to_string())
        })
        .collect();
    assert_eq!(stamped.len(), 500, "stdout's lines");
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        stamped.iter().map(|(t, _)| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times go back");
    let since = &stamped[250].0;
    let from: Vec<&str> = stamped
        .iter()
        .zip(&times)
        .filter(|(_, t)| **t >= times[250])
        .map(|((_, l), _)| l.as_str())
        .collect();
    assert_eq!(
        d.docker_ok(&["logs", "--since", since, name]),
        from.join("\n")
    );
    let until: Vec<&str> = stamped
        .iter()
        .zip(&times)
        .filter(|(_, t)| **t <= times[100])
        .map(|((_, l), _)| l.as_str())
        .collect();
    assert_eq!(
        d.docker_ok(&["logs", "--until", &stamped[100].0, name]),
        until.join("\n")
    );
}

/// The local driver: Docker's framed protobuf entries in
/// `local-logs/container.log`, rotated and gzip'd by default, and `docker
/// logs` (all, -f, --tail, --since/--until, --timestamps) reading across
/// the rotations.
#[test]
fn local_driver_writes_dockers_format_and_logs_reads_it_across_rotations() {
    let d = Daemon::shared();
    let name = d.name("local");
    let start_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=100",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in $(seq 100 599); do echo z$i; done; echo e-last >&2",
    ]);
    // stdout's lines; the last entry, e-last, is on stderr.
    let want: Vec<String> = (100..600).map(|i| format!("z{i}")).collect();
    // Followed across rotations into compressed files, nothing lost or
    // doubled. (dockerd 20.10's follower loses whole files here: checked
    // of berth only.)
    if d.is_berth() {
        let o = d.docker(&["logs", "-f", &name]);
        assert_eq!(stderr(&o), "e-last\n");
        let out = stdout(&o);
        let got: Vec<&str> = out.lines().collect();
        let diverge = got.iter().zip(&want).position(|(g, w)| g != w);
        assert!(
            diverge.is_none() && got.len() == want.len(),
            "{} lines, first difference at {diverge:?}: {:?}",
            got.len(),
            diverge.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())])
        );
    } else {
        d.docker_ok(&["wait", &name]);
    }
    assert_eq!(d.docker_ok(&["logs", &name]), want.join("\n"));
    // The last 300 entries, one of them stderr's. (dockerd 20.10's local
    // tail misses the last entry and reaches one further back into the
    // compressed files: checked of berth only.)
    if d.is_berth() {
        let o = d.docker(&["logs", "--tail", "300", &name]);
        assert_eq!(stderr(&o), "e-last\n");
        assert_eq!(stdout(&o), want[201..].join("\n") + "\n");
        assert_eq!(d.docker_ok(&["logs", "--tail", "0", &name]), "");
        let o = d.docker(&["logs", "--tail", "1", &name]);
        assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", "e-last\n"));
    }

    // --timestamps: each line's time; --since/--until pick by it. (dockerd
    // 20.10 reads only the live file for --since: checked of berth only.)
    if d.is_berth() {
        since_and_until_pick_by_the_timestamps(&d, &name);
    }

    // The files, decoded independently: the live one and gzip'd rotations.
    let dir = container_dir(&d, &name).join("local-logs");
    let live = dir.join("container.log");
    assert!(dir.join("container.log.1.gz").exists(), "no rotation");
    assert!(!dir.join("container.log.1").exists());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut entries = Vec::new();
    for n in (1..100).rev() {
        let gz = dir.join(format!("container.log.{n}.gz"));
        if gz.exists() {
            entries.extend(decode_local(&gunzip(&gz)));
        }
    }
    assert!(
        !names.iter().any(|n| n.ends_with(".1")),
        "a rotated file left uncompressed: {names:?}"
    );
    let live_data = std::fs::read(&live).unwrap();
    assert!(
        live_data.len() <= 1000,
        "live file {} bytes",
        live_data.len()
    );
    entries.extend(decode_local(&live_data));
    assert_eq!(
        entries.len(),
        want.len() + 1,
        "every entry kept (max-file=100): {names:?}"
    );
    let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    for e in &entries {
        assert!(!e.partial);
        assert!(e.time_nano > start_ns && e.time_nano < now_ns, "{e:?}");
    }
    // Each stream in order (the two are read apart, so not interleaved alike).
    let of = |src: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.source == src)
            .map(|e| String::from_utf8(e.line.clone()).unwrap())
            .collect()
    };
    assert_eq!(of("stdout"), want, "lines are stored without newline");
    assert_eq!(of("stderr"), vec!["e-last".to_string()]);
    // As dockerd, the local driver's file is not part of the API.
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.LogPath}}", &name]), "");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn local_driver_options_are_checked_with_dockers_words() {
    let d = Daemon::shared();
    for (opt, needle) in [
        ("tag=x", "unknown log opt 'tag' for log driver local"),
        (
            "labels-regex=.",
            "unknown log opt 'labels-regex' for log driver local",
        ),
        ("bogus=1", "unknown log opt 'bogus' for log driver local"),
    ] {
        let name = d.name("local-bad");
        let out = d.docker(&[
            "create",
            "--name",
            &name,
            "--log-driver",
            "local",
            "--log-opt",
            opt,
            "busybox",
            "true",
        ]);
        assert!(!out.status.success(), "{opt} accepted");
        assert!(stderr(&out).contains(needle), "{opt}: {}", stderr(&out));
        assert!(!d.docker(&["inspect", &name]).status.success());
    }
    // Without compression one file is fine, and it starts over when full.
    let name = d.name("local-one");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "local",
        "--log-opt",
        "max-file=1",
        "--log-opt",
        "compress=false",
        "--log-opt",
        "max-size=1k",
        "busybox",
        "sh",
        "-c",
        "seq 1 200",
    ]);
    let out = d.docker_ok(&["logs", &name]);
    assert_eq!(out.lines().last(), Some("200"));
    assert!(out.lines().count() < 200, "one 1k file cannot hold all");
    d.docker_ok(&["rm", &name]);
}

/// `labels-regex`/`env-regex`: the labels and variables whose names match
/// (anywhere, as Go's MatchString) join `labels`/`env` in json-file's attrs.
#[test]
fn labels_regex_and_env_regex_add_matching_attrs() {
    let d = Daemon::shared();
    let name = d.name("jattrs");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-opt",
        r"labels-regex=^com\.example\.",
        "--log-opt",
        "env-regex=^APP_",
        "--log-opt",
        "labels=plain",
        "--label",
        "com.example.role=web",
        "--label",
        "com.example.tier=front",
        "--label",
        "plain=yes",
        "--label",
        "other=no",
        "-e",
        "APP_MODE=prod",
        "-e",
        "NOT_APP=x",
        "busybox",
        "echo",
        "attr-line",
    ]);
    let log = PathBuf::from(d.docker_ok(&["inspect", "-f", "{{.LogPath}}", &name]));
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["log"], "attr-line\n");
    assert_eq!(
        entry["attrs"],
        serde_json::json!({
            "com.example.role": "web",
            "com.example.tier": "front",
            "plain": "yes",
            "APP_MODE": "prod",
        })
    );
    d.docker_ok(&["rm", &name]);
}

/// Dual logging: a remote driver's local cache is in the local format
/// (`container-cached.log`, 20m x 5 compressed unless cache-* say
/// otherwise), and `docker logs` reads it across its rotations.
#[test]
fn the_dual_logging_cache_is_in_the_local_format() {
    let r = Rsyslog::start();
    let d = Daemon::shared();
    let name = d.name("cache-local");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=udp://127.0.0.1:{}", r.udp),
        "--log-opt",
        "cache-max-size=1k",
        "--log-opt",
        "cache-max-file=50",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1000 1199); do echo c$i; done",
    ]);
    let want: Vec<String> = (1000..1200).map(|i| format!("c{i}")).collect();
    assert_eq!(d.docker_ok(&["logs", &name]), want.join("\n"));
    assert_eq!(
        d.docker_ok(&["logs", "--tail", "150", &name]),
        want[50..].join("\n")
    );
    let dir = container_dir(&d, &name);
    let cache = dir.join("container-cached.log");
    if !d.is_berth() {
        // dockerd (20.10 to 28) hands the cache the container's options
        // as they are, so its local driver never sees cache-max-size and
        // keeps its 20 MB default: one file here.
        let lines: Vec<Vec<u8>> = decode_local(&std::fs::read(&cache).unwrap())
            .into_iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(lines.len(), want.len());
        d.docker_ok(&["rm", &name]);
        return;
    }
    assert!(
        dir.join("container-cached.log.1.gz").exists(),
        "{:?}",
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    let mut all = Vec::new();
    for n in (1..50).rev() {
        let p = dir.join(format!("container-cached.log.{n}.gz"));
        if p.exists() {
            all.extend(decode_local(&gunzip(&p)));
        }
    }
    all.extend(decode_local(&std::fs::read(&cache).unwrap()));
    let lines: Vec<String> = all
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect();
    assert_eq!(lines, want);
    r.lines_with("c1199", 1);
    d.docker_ok(&["rm", &name]);
}

/// A PKI for a TLS log server: a CA, the server's certificate for
/// 127.0.0.1 signed by it, and another CA that signed nothing here.
struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    fn new() -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose, SanType,
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let pem = p.self_signed(&key).unwrap().pem();
            (pem, Issuer::new(p, key))
        };
        let (ca_pem, issuer) = ca("log test CA");
        let (other_pem, _) = ca("some other CA");
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.distinguished_name.push(DnType::CommonName, "rsyslog");
        let cert = p.signed_by(&key, &issuer).unwrap();
        for (f, text) in [
            ("ca.pem", ca_pem),
            ("other-ca.pem", other_pem),
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(f), text).unwrap();
        }
        TestPki { dir }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
}

/// An rsyslogd taking syslog over TLS (its gtls driver, Debian's
/// rsyslog-gnutls) on a loopback port, with the test's certificates.
fn rsyslog_tls(pki: &TestPki) -> (Child, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let d = dir.path().display();
    let conf = format!(
        r#"global(workDirectory="{d}" maxMessageSize="64k"
  DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="{ca}"
  DefaultNetstreamDriverCertFile="{cert}"
  DefaultNetstreamDriverKeyFile="{key}")
module(load="imuxsock" SysSock.Use="off")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="t" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%app-name%|%msg%\n")
*.* action(type="omfile" file="{d}/out.log" template="t")
"#,
        ca = pki.path("ca.pem").display(),
        cert = pki.path("cert.pem").display(),
        key = pki.path("key.pem").display(),
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
        .expect("rsyslogd");
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()
            .then_some(())
    })
    .expect("rsyslogd (with rsyslog-gnutls, see scripts/deps.sh) did not come up");
    (child, dir, port)
}

/// Kills the test's rsyslogd (by its own pid) however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// syslog over `tcp+tls` into a real rsyslog: messages arrive (rfc5424,
/// octet-counted as dockerd sends it); a CA that did not sign the server's
/// certificate fails the start, as dockerd's driver does when it dials.
#[test]
fn syslog_over_tls_reaches_rsyslog_and_a_wrong_ca_fails_the_start() {
    let pki = TestPki::new();
    let (child, dir, port) = rsyslog_tls(&pki);
    let _rsyslog = KillOnDrop(child);
    let d = Daemon::shared();
    let name = d.name("sl-tls");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp+tls://127.0.0.1:{port}"),
        "--log-opt",
        &format!("syslog-tls-ca-cert={}", pki.path("ca.pem").display()),
        "--log-opt",
        "syslog-format=rfc5424",
        "--log-opt",
        "tag=tlsapp",
        "busybox",
        "sh",
        "-c",
        "echo tls-one; echo 'tls two' >&2",
    ]);
    let out = dir.path().join("out.log");
    let lines = wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let lines: Vec<Vec<String>> = text
            .lines()
            .filter(|l| l.contains("tls"))
            .map(fields)
            .collect();
        (lines.len() >= 2).then_some(lines)
    })
    .unwrap_or_else(|| {
        panic!(
            "rsyslog got: {}",
            std::fs::read_to_string(&out).unwrap_or_default()
        )
    });
    assert_eq!(
        lines,
        vec![
            vec![
                "daemon".to_string(),
                "info".into(),
                "tlsapp".into(),
                "tls-one".into()
            ],
            vec![
                "daemon".to_string(),
                "err".into(),
                "tlsapp".into(),
                "tls two".into()
            ],
        ]
    );
    assert_eq!(d.docker_ok(&["logs", &name]), "tls-one");

    let bad = d.name("sl-tls-bad");
    let o = d.docker(&[
        "run",
        "--name",
        &bad,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp+tls://127.0.0.1:{port}"),
        "--log-opt",
        &format!("syslog-tls-ca-cert={}", pki.path("other-ca.pem").display()),
        "busybox",
        "echo",
        "never-sent",
    ]);
    let _ = d.docker(&["rm", "-f", &bad]);
    assert!(
        !o.status.success(),
        "a server the CA did not sign was taken"
    );
    assert!(
        stderr(&o).contains("failed to initialize logging driver"),
        "{}",
        stderr(&o)
    );
    // skip-verify takes it anyway.
    let skip = d.name("sl-tls-skip");
    d.docker_ok(&[
        "run",
        "--name",
        &skip,
        "--log-driver",
        "syslog",
        "--log-opt",
        &format!("syslog-address=tcp+tls://127.0.0.1:{port}"),
        "--log-opt",
        &format!("syslog-tls-ca-cert={}", pki.path("other-ca.pem").display()),
        "--log-opt",
        "syslog-tls-skip-verify=true",
        "busybox",
        "echo",
        "skipped-verify",
    ]);
    wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("skipped-verify")
            .then_some(())
    })
    .expect("the skip-verify line did not arrive");
    assert!(
        !std::fs::read_to_string(&out)
            .unwrap()
            .contains("never-sent")
    );
    d.docker_ok(&["rm", &name, &skip]);
}
