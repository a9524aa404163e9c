//! Real images and real software: device nodes carried by layers, then a
//! Debian 12 corpus (debootstrap minbase, imported, see common/debian.rs)
//! with Dockerfiles that apt-get install packages, and the servers users run
//! on it (nginx, PostgreSQL, Redis, a Python web app, bash, a compose app).
//! Every test runs against dockerd too (`BERTH_E2E_DAEMON=dockerd`).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{
    Daemon, SharedSlot, assert_fails_with, assert_success, debian, stderr, stdout, wait_for,
};

/// One networked daemon for the file, with the Debian corpus imported once.
fn d() -> Arc<Daemon> {
    static SHARED: SharedSlot = OnceLock::new();
    static IMPORTED: Mutex<bool> = Mutex::new(false);
    let d = Daemon::shared_in(&SHARED, Daemon::start_networked);
    let mut imported = IMPORTED.lock().unwrap_or_else(|e| e.into_inner());
    if !*imported {
        debian::import(&d);
        *imported = true;
    }
    d
}

use common::context_dir as context;

/// Builds `dockerfile` (plus `files`) as `tag`; returns the build output.
fn build(d: &Daemon, tag: &str, dockerfile: &str, files: &[(&str, &str)]) -> String {
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    let dir = context(d, &all);
    let out = debian::build(d, &dir, &["-t", tag]);
    assert_success(&out, &format!("docker build -t {tag}"));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    // apt drops privileges to _apt for its downloads; a sandbox that cannot
    // (setgroups, seccomp) makes it warn and fetch as root.
    for bad in [
        "unsandboxed",
        "setgroups",
        "seccomp",
        "Operation not permitted",
    ] {
        assert!(!text.contains(bad), "{bad:?} in the build output:\n{text}");
    }
    text
}

/// A tar header for a node of `kind`.
fn node(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, dev: (u32, u32)) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    h.set_device_major(dev.0).unwrap();
    h.set_device_minor(dev.1).unwrap();
    h
}

/// `(type, mode, major, minor, uid:gid)` of the entries of a tar named `names`.
fn tar_nodes(tar: &[u8], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if names.contains(&path.as_str()) {
            let h = e.header();
            out.push(format!(
                "{path} {:?} {:o} {}:{} {}:{}",
                h.entry_type(),
                h.mode().unwrap() & 0o7777,
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
                h.uid().unwrap(),
                h.gid().unwrap()
            ));
        }
    }
    out.sort();
    out
}

const NODES: [&str; 3] = ["nodes/blk", "nodes/fifo", "nodes/null"];
const NODES_IN_TAR: [&str; 3] = [
    "nodes/blk Block 660 7:0 0:6",
    "nodes/fifo Fifo 640 0:0 1000:1000",
    "nodes/null Char 666 1:3 0:0",
];
const STAT: &str = "busybox stat -c '%n %F %a %t:%T %u:%g %Y' /nodes/blk /nodes/fifo /nodes/null";
const STATED: &str = "/nodes/blk block special file 660 7:0 0:6 1700000000\n\
/nodes/fifo fifo 640 0:0 1000:1000 1700000000\n\
/nodes/null character special file 666 1:3 0:0 1700000000";

/// Devices and fifos in a layer are data, recreated as dockerd does as root;
/// the device cgroup, not the archive, keeps a container off the host's
/// devices. They survive commit, export, save/load and cp.
#[test]
fn device_nodes_in_a_layer_are_recreated_and_guarded_by_the_device_cgroup() {
    let d = d();
    let mut b = tar::Builder::new(Vec::new());
    common::rootfs::append_busybox_rootfs(&mut b).unwrap();
    let mut h = node(tar::EntryType::Directory, 0o755, 0, 0, (0, 0));
    b.append_data(&mut h, "nodes/", std::io::empty()).unwrap();
    for (name, kind, mode, uid, gid, dev) in [
        ("nodes/null", tar::EntryType::Char, 0o666, 0, 0, (1, 3)),
        ("nodes/blk", tar::EntryType::Block, 0o660, 0, 6, (7, 0)),
        (
            "nodes/fifo",
            tar::EntryType::Fifo,
            0o640,
            1000,
            1000,
            (0, 0),
        ),
    ] {
        let mut h = node(kind, mode, uid, gid, dev);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let img = d.name("devimg");
    let o = d.docker_stdin(&["import", "-", &img], &tar);
    assert_success(&o, "docker import <tar with device nodes>");

    let stated = d.docker_ok(&["run", "--rm", &img, "sh", "-c", STAT]);
    assert_eq!(stated, STATED);
    // The default device cgroup allows /dev/null's numbers, not a block device.
    let o = d.docker(&[
        "run",
        "--rm",
        &img,
        "sh",
        "-c",
        "echo x > /nodes/null && busybox dd if=/nodes/blk of=/dev/null count=0",
    ]);
    assert_fails_with(&o, "Operation not permitted");
    assert!(stderr(&o).contains("/nodes/blk"), "{}", stderr(&o));
    // This host withholds CAP_SYS_RESOURCE: runc (under dockerd) then fails
    // every --privileged container (see e2e_resources).
    if d.is_berth() {
        let o = d.docker(&[
            "run",
            "--rm",
            "--privileged",
            &img,
            "busybox",
            "dd",
            "if=/nodes/blk",
            "of=/dev/null",
            "count=0",
        ]);
        assert_success(&o, "dd from the block node in a --privileged container");
    }

    // commit: nodes a container makes become tar char/block/fifo entries.
    let ctr = d.name("devctr");
    d.docker_ok(&[
        "run",
        "--name",
        &ctr,
        &img,
        "sh",
        "-c",
        "busybox mknod -m 600 /made-blk b 8 0 && busybox mkfifo -m 604 /made-fifo && \
         busybox mknod -m 644 /made-chr c 1 7 && rm /nodes/null",
    ]);
    let committed = d.name("devcommit");
    d.docker_ok(&["commit", &ctr, &committed]);
    let made = d.docker_ok(&[
        "run",
        "--rm",
        &committed,
        "sh",
        "-c",
        "busybox stat -c '%n %F %a %t:%T' /made-blk /made-fifo /made-chr; ls /nodes",
    ]);
    assert_eq!(
        made,
        "/made-blk block special file 600 8:0\n/made-fifo fifo 604 0:0\n\
         /made-chr character special file 644 1:7\nblk\nfifo"
    );
    d.docker_ok(&["rm", &ctr]);

    // export of a container, save of the image, cp out of a container.
    let ctr = d.name("devexp");
    d.docker_ok(&["create", "--name", &ctr, &img, "sh"]);
    let exported = d.docker(&["export", &ctr]);
    assert_success(&exported, "docker export");
    assert_eq!(tar_nodes(&exported.stdout, &NODES), NODES_IN_TAR);
    let copied = d.docker(&["cp", &format!("{ctr}:/nodes"), "-"]);
    assert_success(&copied, "docker cp ctr:/nodes -");
    assert_eq!(tar_nodes(&copied.stdout, &NODES), NODES_IN_TAR);
    // cp into a container recreates them too.
    let ctr2 = d.name("devcp");
    d.docker_ok(&["create", "--name", &ctr2, "busybox", "sh", "-c", STAT]);
    let o = d.docker_stdin(&["cp", "-", &format!("{ctr2}:/")], &copied.stdout);
    assert_success(&o, "docker cp - ctr:/");
    let o = d.docker(&["start", "-a", &ctr2]);
    assert_eq!(stdout(&o).trim(), STATED, "{}", stderr(&o));
    d.docker_ok(&["rm", &ctr, &ctr2]);

    let saved = d.docker(&["save", &img]);
    assert_success(&saved, "docker save");
    d.docker_ok(&["rmi", &img]);
    let o = d.docker_stdin(&["load"], &saved.stdout);
    assert_success(&o, "docker load");
    assert_eq!(
        d.docker_ok(&["run", "--rm", &img, "sh", "-c", STAT]),
        STATED
    );

    // A build: ADD of an archive holding nodes, COPY --from of nodes.
    // dockerd's classic builder opens a fifo to COPY it and hangs there
    // (BuildKit copies the node), so it gets the ADD only.
    let copy_from = if d.is_berth() {
        "COPY --from=src /nodes/blk /nodes/fifo /copied/\n"
    } else {
        ""
    };
    let ctx = context(&d, &[]);
    fs::write(ctx.join("nodes.tar"), &copied.stdout).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {img} AS src\nFROM busybox\nADD nodes.tar /added/\n{copy_from}"),
    )
    .unwrap();
    let built = d.name("devbuild");
    let o = debian::build(&d, &ctx, &["-t", &built]);
    assert_success(&o, "docker build with device nodes");
    let stat = "busybox stat -c '%n %F %a %t:%T' /added/nodes/blk /added/nodes/null";
    let got = d.docker_ok(&["run", "--rm", &built, "sh", "-c", stat]);
    assert_eq!(
        got,
        "/added/nodes/blk block special file 660 7:0\n\
         /added/nodes/null character special file 666 1:3"
    );
    if d.is_berth() {
        let stat = "busybox stat -c '%n %F %a %t:%T' /copied/blk /copied/fifo";
        let got = d.docker_ok(&["run", "--rm", &built, "sh", "-c", stat]);
        assert_eq!(
            got,
            "/copied/blk block special file 660 7:0\n/copied/fifo fifo 640 0:0"
        );
    }
    let _ = d.docker(&["rmi", &img, &committed, &built]);
}

/// The imported debootstrap rootfs runs, with its own /dev nodes in the
/// layer (the runtime's /dev tmpfs covers them) and a working apt.
#[test]
fn debian_rootfs_imports_and_runs() {
    let d = d();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        debian::IMAGE,
        "bash",
        "-c",
        "cat /etc/debian_version; stat -c '%F %t:%T' /dev/null; apt-get --version | head -1",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("12."), "{out}");
    assert_eq!(lines[1], "character special file 1:3");
    assert!(lines[2].starts_with("apt 2.6"), "{out}");
}

/// apt fetches from Debian's archive through its `_apt` sandbox, into a
/// `RUN --mount=type=cache` that outlives the build.
#[test]
fn apt_downloads_through_its_sandbox_into_a_cache_mount() {
    let d = d();
    if !d.is_berth() {
        // dockerd runs RUN --mount only with BuildKit; its classic builder refuses it.
        return;
    }
    let id = d.name("apt");
    let mount = format!("--mount=type=cache,id={id},target=/var/cache/apt/archives");
    let first = build(
        &d,
        &format!("{id}:1"),
        &format!(
            "FROM {}\nRUN {mount} apt-get update && \
             apt-get install -y --no-install-recommends hello && hello\n",
            debian::IMAGE
        ),
        &[],
    );
    assert!(first.contains("Hello, world!"), "{first}");
    assert!(first.contains("Get:1 http://deb.debian.org"), "{first}");
    // A later build finds the .deb in the cache instead of downloading it.
    let second = build(
        &d,
        &format!("{id}:2"),
        &format!(
            "FROM {}\nRUN {mount} ls /var/cache/apt/archives/ && \
             apt-get install -y --no-install-recommends hello\n",
            debian::IMAGE
        ),
        &[],
    );
    assert!(second.contains("hello_"), "{second}");
    assert!(second.contains("Need to get 0 B/"), "{second}");
    let _ = d.docker(&["rmi", &format!("{id}:1"), &format!("{id}:2")]);
}

const PY_APP: &str = r#"import http.server, locale, os, pwd
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"user={pwd.getpwuid(os.getuid()).pw_name} enc={locale.getpreferredencoding()} é\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())
http.server.ThreadingHTTPServer(("", 8000), H).serve_forever()
"#;

/// A multi-stage build that zips a Python app in one stage and runs it in
/// another as a user made with useradd, with a UTF-8 locale and a
/// healthcheck that turns healthy.
#[test]
fn python_app_as_a_user_turns_healthy() {
    let d = d();
    let tag = d.name("pyapp");
    let dockerfile = format!(
        "FROM {img} AS build\n\
         RUN apt-get install -y --no-install-recommends python3\n\
         COPY app.py /src/__main__.py\n\
         RUN mkdir /out && python3 -m zipapp /src -o /out/app.pyz\n\
         FROM {img}\n\
         RUN apt-get install -y --no-install-recommends python3 locales && \
             sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen\n\
         ENV LANG=en_US.UTF-8\n\
         RUN useradd --create-home --uid 1500 web\n\
         COPY --from=build --chown=web:web /out/app.pyz /home/web/app.pyz\n\
         USER web\n\
         WORKDIR /home/web\n\
         HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD python3 -c \
           \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')\"\n\
         CMD [\"python3\", \"app.pyz\"]\n",
        img = debian::IMAGE
    );
    build(&d, &tag, &dockerfile, &[("app.py", PY_APP)]);
    let name = d.name("py");
    d.docker_ok(&["run", "-d", "--name", &name, "-p", "127.0.0.1::8000", &tag]);
    let healthy = wait_for(Duration::from_secs(60), || {
        let s = d.docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &name]);
        (s == "healthy").then_some(())
    });
    assert!(healthy.is_some(), "{}", d.docker_ok(&["inspect", &name]));
    let body = http_get(&host_port(&d, &name, "8000/tcp"), "/").unwrap();
    assert!(body.ends_with("user=web enc=UTF-8 é\n"), "{body}");
    let owner = d.docker_ok(&["exec", &name, "stat", "-c", "%U", "/proc/1"]);
    assert_eq!(owner, "web");
    d.docker_ok(&["rm", "-f", &name]);
    let _ = d.docker(&["rmi", &tag]);
}

/// `127.0.0.1:port` a container publishes `port` on.
fn host_port(d: &Daemon, name: &str, port: &str) -> String {
    let p = d.docker_ok(&["port", name, port]);
    let line = p
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or("");
    assert!(!line.is_empty(), "{name} publishes {port} on {p:?}");
    line.to_string()
}

/// One HTTP/1.0 GET; the whole response, headers included.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn http_get_retry(addr: &str, path: &str) -> String {
    wait_for(Duration::from_secs(30), || {
        http_get(addr, path).filter(|r| r.starts_with("HTTP/1."))
    })
    .unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// nginx behind `-p`: served to the host, reloaded by SIGHUP, stopped
/// gracefully (exit 0) by its STOPSIGNAL SIGQUIT.
#[test]
fn nginx_serves_reloads_on_hup_and_quits_gracefully() {
    let d = d();
    let tag = d.name("nginx");
    build(
        &d,
        &tag,
        &format!(
            "FROM {}\n\
             RUN apt-get install -y --no-install-recommends nginx && \
                 ln -sf /dev/stdout /var/log/nginx/access.log && \
                 ln -sf /dev/stderr /var/log/nginx/error.log && \
                 sed -i 's|^error_log .*|error_log /var/log/nginx/error.log notice;|' \
                     /etc/nginx/nginx.conf && \
                 echo corpus-nginx > /var/www/html/index.html\n\
             EXPOSE 80\n\
             STOPSIGNAL SIGQUIT\n\
             CMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
            debian::IMAGE
        ),
        &[],
    );
    let name = d.name("nginx");
    d.docker_ok(&["run", "-d", "--name", &name, "-p", "127.0.0.1::80", &tag]);
    let addr = host_port(&d, &name, "80/tcp");
    let first = http_get_retry(&addr, "/");
    assert!(first.ends_with("corpus-nginx\n"), "{first}");
    assert!(!first.contains("X-Reloaded"), "{first}");
    d.docker_ok(&[
        "exec",
        &name,
        "sed",
        "-i",
        "s/^\\s*location \\/ {/location \\/ { add_header X-Reloaded yes;/",
        "/etc/nginx/sites-enabled/default",
    ]);
    d.docker_ok(&["kill", "-s", "HUP", &name]);
    let reloaded = wait_for(Duration::from_secs(20), || {
        http_get(&addr, "/").filter(|r| r.contains("X-Reloaded: yes"))
    });
    assert!(reloaded.is_some(), "{}", d.docker_ok(&["logs", &name]));
    let started = Instant::now();
    d.docker_ok(&["stop", &name]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stop waited for the kill"
    );
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.State.OOMKilled}}",
        &name,
    ]);
    assert_eq!(state, "0 false");
    // nginx logs each signal it gets at notice level.
    let logs = stderr(&d.docker(&["logs", &name]));
    assert!(logs.contains("signal 1 (SIGHUP) received"), "{logs}");
    assert!(logs.contains("signal 3 (SIGQUIT) received"), "{logs}");
    d.docker_ok(&["rm", &name]);
    let _ = d.docker(&["rmi", &tag]);
}

/// The PostgreSQL image of the corpus: initdb as `postgres` on first start
/// into its volume (which takes the image directory's owner), then the server.
fn postgres_image(d: &Daemon) -> String {
    let tag = format!("{}:pg", d.name("corpus"));
    build(
        d,
        &tag,
        &format!(
            "FROM {}\n\
             RUN apt-get install -y --no-install-recommends postgresql && \
                 install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data\n\
             ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data\n\
             VOLUME /var/lib/postgresql/data\n\
             USER postgres\n\
             STOPSIGNAL SIGINT\n\
             CMD [\"sh\", \"-c\", \"[ -s $PGDATA/PG_VERSION ] || {{ initdb -A trust -U postgres && \
                 echo \\\"listen_addresses='*'\\\" >> $PGDATA/postgresql.conf && \
                 echo 'host all all all trust' >> $PGDATA/pg_hba.conf; }} && exec postgres\"]\n",
            debian::IMAGE
        ),
        &[],
    );
    tag
}

/// psql in a second container, reaching the server by name.
fn psql(d: &Daemon, image: &str, net: &str, host: &str, sql: &str) -> Output {
    d.docker(&[
        "run",
        "--rm",
        "--network",
        net,
        image,
        "psql",
        "-h",
        host,
        "-U",
        "postgres",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ])
}

fn psql_ready(d: &Daemon, image: &str, net: &str, host: &str) {
    let ok = wait_for(Duration::from_secs(60), || {
        let o = psql(d, image, net, host, "SELECT 1");
        (stdout(&o).trim() == "1").then_some(())
    });
    assert!(
        ok.is_some(),
        "postgres never answered:\n{}",
        d.docker_ok(&["logs", host])
    );
}

/// PostgreSQL: initdb as postgres on a named volume, queried by name from a
/// second container on a user network, data kept across rm and a new
/// container, --shm-size respected.
#[test]
fn postgres_on_a_named_volume_over_a_user_network() {
    let d = d();
    let image = postgres_image(&d);
    let vol = d.name("pgdata");
    let net = d.name("pgnet");
    d.docker_ok(&["network", "create", &net]);
    let run_server = |name: &str| {
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &net,
            "--shm-size",
            "96m",
            "-v",
            &format!("{vol}:/var/lib/postgresql/data"),
            &image,
        ]);
    };
    let pg = d.name("pg");
    run_server(&pg);
    psql_ready(&d, &image, &net, &pg);
    let o = psql(
        &d,
        &image,
        &net,
        &pg,
        "CREATE TABLE t (x text); INSERT INTO t VALUES ('kept')",
    );
    assert_success(&o, "psql create/insert");
    let owner = d.docker_ok(&[
        "exec",
        &pg,
        "stat",
        "-c",
        "%U %a",
        "/var/lib/postgresql/data",
    ]);
    assert_eq!(owner, "postgres 700");
    let shm = d.docker_ok(&["exec", &pg, "df", "-k", "--output=size", "/dev/shm"]);
    assert_eq!(shm.lines().last().unwrap().trim(), "98304", "{shm}");
    // Parallel query workers use dynamic shared memory in /dev/shm.
    let o = psql(
        &d,
        &image,
        &net,
        &pg,
        "SET max_parallel_workers_per_gather=2; SET parallel_setup_cost=0; SET parallel_tuple_cost=0; \
         SET min_parallel_table_scan_size=0; SELECT count(*) FROM generate_series(1,200000)",
    );
    assert_eq!(stdout(&o).lines().last(), Some("200000"), "{}", stderr(&o));
    d.docker_ok(&["stop", &pg]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &pg]),
        "0"
    );
    d.docker_ok(&["rm", &pg]);

    let pg2 = d.name("pg");
    run_server(&pg2);
    psql_ready(&d, &image, &net, &pg2);
    let o = psql(&d, &image, &net, &pg2, "SELECT x FROM t");
    assert_eq!(stdout(&o).trim(), "kept", "{}", stderr(&o));
    d.docker_ok(&["rm", "-f", &pg2]);
    d.docker_ok(&["volume", "rm", &vol]);
    d.docker_ok(&["network", "rm", &net]);
}

/// Redis: redis-benchmark from another container, docker stats showing its memory.
#[test]
fn redis_benchmark_from_another_container() {
    let d = d();
    let tag = d.name("redis");
    build(
        &d,
        &tag,
        &format!(
            "FROM {}\nRUN apt-get install -y --no-install-recommends redis-server redis-tools\n\
             CMD [\"redis-server\", \"--protected-mode\", \"no\", \"--save\", \"\"]\n",
            debian::IMAGE
        ),
        &[],
    );
    let net = d.name("rnet");
    d.docker_ok(&["network", "create", &net]);
    let name = d.name("redis");
    d.docker_ok(&["run", "-d", "--name", &name, "--network", &net, &tag]);
    let ping = wait_for(Duration::from_secs(30), || {
        let o = d.docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            &tag,
            "redis-cli",
            "-h",
            &name,
            "ping",
        ]);
        (stdout(&o).trim() == "PONG").then_some(())
    });
    assert!(ping.is_some(), "{}", d.docker_ok(&["logs", &name]));
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        &tag,
        "redis-benchmark",
        "-h",
        &name,
        "-q",
        "-n",
        "5000",
        "-t",
        "set,get",
    ]);
    assert_success(&o, "redis-benchmark");
    let text = stdout(&o);
    assert!(text.contains("SET: ") && text.contains("GET: "), "{text}");
    assert!(text.contains("requests per second"), "{text}");
    let mem = d.docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &name]);
    let used = mem.split('/').next().unwrap().trim();
    let mib: f64 = used
        .trim_end_matches("MiB")
        .parse()
        .unwrap_or_else(|_| panic!("memory usage {mem:?}"));
    assert!(mib > 1.0 && mib < 200.0, "{mem}");
    d.docker_ok(&["rm", "-f", &name]);
    d.docker_ok(&["network", "rm", &net]);
    let _ = d.docker(&["rmi", &tag]);
}

/// `docker run -it debian bash` through a real terminal: job control, apt,
/// the exit code.
#[test]
fn interactive_bash_session() {
    let d = d();
    let cmd = format!("{} run --rm -it {} bash", common::DOCKER_CLI, debian::IMAGE);
    let mut child = Command::new("/usr/bin/script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.tmp().join("config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let lines = [
        "sleep 300 &",
        "jobs",
        "kill %1; wait",
        "echo bash-installed=$(apt list --installed 2>/dev/null | grep -c '^bash/')",
        // From the image's apt cache; progress goes to the terminal.
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl </dev/null",
        "curl --version | head -1",
        "echo tty=$(tty) term=$TERM",
        "exit 7",
    ];
    std::thread::sleep(Duration::from_millis(2000));
    for l in lines {
        input.write_all(format!("{l}\r").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    }
    // apt-get install in the session takes seconds, more on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "bash did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(input);
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(!text.contains("no job control"), "{text}");
    assert!(
        !text.contains("cannot set terminal process group"),
        "{text}"
    );
    assert!(
        text.contains("[1]+  Running                 sleep 300 &"),
        "{text}"
    );
    assert!(text.contains("Terminated              sleep 300"), "{text}");
    assert!(text.contains("bash-installed=1"), "{text}");
    // apt draws its progress only on a terminal.
    assert!(text.contains("Reading package lists... 100%"), "{text}");
    assert!(text.contains("Need to get 0 B/"), "{text}");
    assert!(text.contains("curl 7."), "{text}");
    assert!(text.contains("tty=/dev/pts/0 term=xterm"), "{text}");
    assert_eq!(status.code(), Some(7), "{text}");
}

const API_APP: &str = r#"import http.server, subprocess
SQL = "CREATE TABLE IF NOT EXISTS hits (n serial); INSERT INTO hits DEFAULT VALUES; SELECT count(*) FROM hits"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        r = subprocess.run(["psql", "-h", "db", "-U", "postgres", "-tA", "-c", SQL], capture_output=True, text=True)
        ok = r.returncode == 0
        body = f"hits={r.stdout.split()[-1]}\n" if ok else f"db error: {r.stderr}"
        self.send_response(200 if ok else 502)
        self.end_headers()
        self.wfile.write(body.encode())
http.server.ThreadingHTTPServer(("", 8000), H).serve_forever()
"#;

const NGINX_PROXY: &str =
    "server {\n  listen 80;\n  location / { proxy_pass http://api:8000; }\n}\n";

/// A three-tier app with docker-compose (web → api → PostgreSQL on a
/// volume), built from the corpus, used, and brought down with `-v` leaving
/// no container, volume or network.
#[test]
fn compose_three_tier_app() {
    let d = d();
    let db_image = postgres_image(&d);
    let project = d.name("tier").replace('-', "");
    let compose_yml = format!(
        "version: \"3.7\"\n\
         services:\n\
         \x20 db:\n\
         \x20   image: {db_image}\n\
         \x20   volumes: [dbdata:/var/lib/postgresql/data]\n\
         \x20   networks: [back]\n\
         \x20 api:\n\
         \x20   build: ./api\n\
         \x20   networks: [back, front]\n\
         \x20   depends_on: [db]\n\
         \x20 web:\n\
         \x20   build: ./web\n\
         \x20   ports: [\"127.0.0.1::80\"]\n\
         \x20   networks: [front]\n\
         \x20   depends_on: [api]\n\
         volumes:\n\
         \x20 dbdata: {{}}\n\
         networks:\n\
         \x20 front: {{}}\n\
         \x20 back: {{}}\n"
    );
    let api_df = format!(
        "FROM {}\nRUN apt-get install -y --no-install-recommends python3 postgresql-client\n\
         COPY app.py /app.py\nRUN useradd api\nUSER api\nCMD [\"python3\", \"/app.py\"]\n",
        debian::IMAGE
    );
    let web_df = format!(
        "FROM {}\nRUN apt-get install -y --no-install-recommends nginx\n\
         COPY default.conf /etc/nginx/sites-enabled/default\n\
         STOPSIGNAL SIGQUIT\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
        debian::IMAGE
    );
    let dir = context(
        &d,
        &[
            ("docker-compose.yml", &compose_yml),
            ("api/Dockerfile", &api_df),
            ("api/app.py", API_APP),
            ("web/Dockerfile", &web_df),
            ("web/default.conf", NGINX_PROXY),
        ],
    );
    let compose = |args: &[&str]| {
        let mut cmd = Command::new("docker-compose");
        cmd.arg("-p")
            .arg(&project)
            .arg("-f")
            .arg(dir.join("docker-compose.yml"))
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.tmp().join("config"))
            .env("DOCKER_BUILDKIT", "0")
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1");
        common::run_with_timeout(
            cmd,
            None,
            debian::BUILD_TIMEOUT,
            &format!("docker-compose {args:?}"),
        )
    };
    let up = compose(&["up", "-d", "--build"]);
    assert_success(&up, "docker-compose up -d --build");
    let label = format!("label=com.docker.compose.project={project}");
    let web = d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &label,
        "--filter",
        "label=com.docker.compose.service=web",
    ]);
    let addr = host_port(&d, &web, "80/tcp");
    let first = wait_for(Duration::from_secs(60), || {
        http_get(&addr, "/").filter(|r| r.contains("hits="))
    })
    .unwrap_or_else(|| panic!("{}", stdout(&compose(&["logs"]))));
    let n: u32 = first
        .trim_end()
        .rsplit("hits=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let second = http_get(&addr, "/").unwrap();
    assert!(second.ends_with(&format!("hits={}\n", n + 1)), "{second}");

    let down = compose(&["down", "-v"]);
    assert_success(&down, "docker-compose down -v");
    assert_eq!(d.docker_ok(&["ps", "-aq", "--filter", &label]), "");
    let vols = d.docker_ok(&["volume", "ls", "-q"]);
    assert!(!vols.contains(&project), "{vols}");
    let nets = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&project), "{nets}");
    let _ = d.docker(&["rmi", &format!("{project}_api"), &format!("{project}_web")]);
}
