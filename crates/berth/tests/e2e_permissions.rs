//! Who may read what a daemon keeps: other local users get nothing from the
//! data root, the exec root or the API socket; members of the socket's group
//! use the CLI; containers (also as non-root users) keep working.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Daemon, Kind, assert_success, code, stderr, stdout};

const NOBODY: u32 = 65534;

/// Runs `program args` as uid/gid `NOBODY` with exactly `groups` as
/// supplementary groups.
fn as_nobody(groups: &[u32], program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"));
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        cmd.arg(format!("--groups={}", list.join(",")));
    }
    cmd.arg("--")
        .arg(program)
        .args(args)
        .env("HOME", "/")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_CONFIG");
    common::run_with_timeout(
        cmd,
        None,
        Duration::from_secs(60),
        &format!("{program} {args:?} as nobody"),
    )
}

/// The docker CLI as nobody against `d`, with a config dir nobody can use.
fn docker_as_nobody(d: &Daemon, groups: &[u32], args: &[&str]) -> Output {
    let config = d.tmp().join("nobody-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = d.host();
    let config = config.display().to_string();
    let mut all = vec!["--config", config.as_str(), "-H", host.as_str()];
    all.extend_from_slice(args);
    as_nobody(groups, "/usr/local/bin/docker", &all)
}

fn exec_root(d: &Daemon) -> PathBuf {
    d.tmp().join("exec")
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn wait_for_log(d: &Daemon, name: &str, needle: &str) {
    common::wait_for(Duration::from_secs(20), || {
        let out = d.docker(&["logs", name]);
        stdout(&out).contains(needle).then_some(())
    })
    .unwrap_or_else(|| panic!("{needle} never showed in the logs of {name}"));
}

/// Removes a group made for one test.
struct GroupGuard(String);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.0).output();
    }
}

fn make_group(prefix: &str) -> (GroupGuard, u32) {
    let name = format!("{prefix}{}", &common::unique_suffix()[..6]);
    let out = Command::new("groupadd")
        .args(["--system", &name])
        .output()
        .unwrap();
    assert_success(&out, "groupadd");
    let guard = GroupGuard(name.clone());
    let out = Command::new("getent")
        .args(["group", &name])
        .output()
        .unwrap();
    let gid = stdout(&out)
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or_else(|| panic!("gid of {name}: {}", stdout(&out)));
    (guard, gid)
}

fn group_gid(name: &str) -> Option<u32> {
    let out = Command::new("getent").args(["group", name]).output().ok()?;
    stdout(&out).split(':').nth(2)?.trim().parse().ok()
}

#[test]
fn other_users_cannot_read_env_logs_state_rootfs_or_volumes() {
    let d = Daemon::shared();
    let name = d.name("secret");
    let vol = d.name("secretvol");
    let tag = common::unique_suffix();
    let env_secret = format!("ENVSECRET{tag}");
    let log_secret = format!("LOGSECRET{tag}");
    let vol_secret = format!("VOLSECRET{tag}");
    let fs_secret = format!("FSSECRET{tag}");
    let env = format!("DB_PASSWORD={env_secret}");
    let mount = format!("{vol}:/data");
    let script = format!(
        "echo {log_secret}; echo {vol_secret} > /data/f; echo {fs_secret} > /fsfile; sleep 1000"
    );
    d.docker_ok(&[
        "run", "-d", "--name", &name, "-e", &env, "-v", &mount, "busybox", "sh", "-c", &script,
    ]);
    wait_for_log(&d, &name, &log_secret);
    let roots = [d.data_root(), exec_root(&d)];
    let roots: Vec<&str> = roots.iter().map(|p| p.to_str().unwrap()).collect();

    for secret in [&env_secret, &log_secret, &vol_secret, &fs_secret] {
        // Root finds each one, so the search below can fail.
        let mut args = vec!["-rlsF", secret.as_str()];
        args.extend(&roots);
        let found = Command::new("grep").args(&args).output().unwrap();
        assert!(
            !stdout(&found).is_empty(),
            "root cannot find {secret} under {roots:?}"
        );
        let mut args = vec!["-rlF", secret.as_str()];
        args.extend(&roots);
        let out = as_nobody(&[], "grep", &args);
        assert!(
            stdout(&out).is_empty(),
            "nobody read {secret} in: {}",
            stdout(&out)
        );
        assert_ne!(code(&out), 0, "grep as nobody matched {secret}");
    }
    // Not even a listing of the roots.
    for root in &roots {
        let out = as_nobody(&[], "ls", &[root]);
        assert_ne!(code(&out), 0, "nobody listed {root}");
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}",
            stderr(&out)
        );
    }

    if d.is_berth() {
        let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
        let ctr = d.data_root().join("containers").join(&id);
        let paths = [
            ctr.join("config.json"),
            ctr.join("state.json"),
            ctr.join(format!("{id}-json.log")),
            d.data_root()
                .join(format!("snapshots/rw/{id}/merged/fsfile")),
            d.data_root().join(format!("volumes/{vol}/_data/f")),
            exec_root(&d).join(format!("containers/{id}/bundle/config.json")),
        ];
        for p in &paths {
            assert!(p.exists(), "{} is missing", p.display());
            let out = as_nobody(&[], "cat", &[p.to_str().unwrap()]);
            assert_ne!(code(&out), 0, "nobody read {}", p.display());
        }
        // As root they hold what nobody could not read.
        let config = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(config.contains(&env_secret));
    }

    // Nor does nobody reach the API.
    let out = docker_as_nobody(&d, &[], &["ps"]);
    assert_ne!(code(&out), 0, "nobody used the API: {}", stdout(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );

    d.docker_ok(&["rm", "-f", &name]);
    d.docker_ok(&["volume", "rm", &vol]);
}

#[test]
fn socket_group_members_use_the_cli_and_nobody_else_connects() {
    let (_group, gid) = make_group("bperm");
    let d = Daemon::start_with(Kind::from_env(), vec!["-G".into(), _group.0.clone()]);
    let meta = std::fs::metadata(d.socket()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.gid(), gid, "socket group");

    let out = docker_as_nobody(&d, &[gid], &["run", "--rm", "busybox", "echo", "member"]);
    assert_success(&out, "docker run as a member of the socket's group");
    assert_eq!(stdout(&out).trim(), "member");

    let out = docker_as_nobody(&d, &[], &["version"]);
    assert_ne!(code(&out), 0, "a non-member reached the API");
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn default_socket_group_is_docker_when_it_exists() {
    let d = Daemon::shared();
    let meta = std::fs::metadata(d.socket()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), group_gid("docker").unwrap_or(0));
}

#[test]
fn unknown_socket_group_is_refused() {
    if Kind::from_env() != Kind::Berth {
        return;
    }
    let tmp = PathBuf::from(format!("/tmp/bperm-{}", common::unique_suffix()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "-G", "no-such-group-berth", "-H"])
        .arg(format!("unix://{}", tmp.join("s.sock").display()))
        .arg("--data-root")
        .arg(tmp.join("root"))
        .arg("--exec-root")
        .arg(tmp.join("exec"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("group \"no-such-group-berth\" not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn non_root_container_users_read_their_rootfs_volumes_and_binds() {
    let d = Daemon::shared();
    let vol = d.name("uvol");
    let deep = d.name("udeep");
    let bind = common::host_dir(&d, "ubind");
    std::fs::write(bind.join("f"), "from host\n").unwrap();
    d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        "busybox",
        "sh",
        "-c",
        "echo in volume > /data/f",
    ]);
    let name = d.name("user1000");
    let script = "cat /data/f; ls -d /deep/a/b; \
                  cat /b/f; cat /etc/hostname >/dev/null && cat /etc/hosts /etc/resolv.conf >/dev/null && \
                  head -1 /etc/passwd >/dev/null && pwd && id -u && umask && stat -c %a /";
    let out = d.docker_ok(&[
        "run",
        "--name",
        &name,
        "-u",
        "1000:1000",
        "-w",
        "/made/here",
        "-v",
        &format!("{vol}:/data"),
        "-v",
        &format!("{deep}:/deep/a/b"),
        "-v",
        &format!("{}:/b:ro", bind.display()),
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "in volume",
            "/deep/a/b",
            "from host",
            "/made/here",
            "1000",
            "0022",
            "755"
        ],
        "{out}"
    );

    let running = d.name("user1000x");
    d.docker_ok(&["run", "-d", "--name", &running, "busybox", "sleep", "1000"]);
    let out = d.docker_ok(&[
        "exec",
        "-u",
        "1000",
        &running,
        "sh",
        "-c",
        "cat /etc/hostname >/dev/null; umask; id -u",
    ]);
    assert_eq!(out, "0022\n1000");
    d.docker_ok(&["rm", "-f", &name, &running]);
    d.docker_ok(&["volume", "rm", &vol, &deep]);
}

/// Paths containers see (their modes are the image's or Docker's) and
/// mounts; everything else under the roots must be root's alone.
fn container_visible(data: bool, rel: &[&str]) -> bool {
    if data {
        matches!(
            rel,
            ["snapshots", "rw", _, "fs" | "merged", ..]
                | ["snapshots", "rw", _, "work", _, ..]
                | ["volumes", _, "_data", ..]
                | ["build", "mounts", _, ..]
                | ["containers", _, "hostname" | "hosts" | "resolv.conf"]
        ) || matches!(rel, ["snapshots", c, "fs", ..] if *c != "rw")
    } else {
        matches!(rel, ["containers", _, "shm", ..] | ["netns", _, ..])
    }
}

#[derive(Default)]
struct Walk {
    bad: Vec<String>,
    seen: Vec<String>,
}

fn walk(root: &Path, rel: &mut Vec<String>, data: bool, dev: u64, w: &mut Walk) {
    let dir = rel.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        rel.push(e.file_name().to_string_lossy().into_owned());
        let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
        let path = root.join(rel.join("/"));
        let meta = std::fs::symlink_metadata(&path);
        if let Ok(meta) = meta {
            let visible = container_visible(data, &parts);
            if visible {
                if matches!(parts.last(), Some(&("hostname" | "hosts" | "resolv.conf"))) {
                    assert_eq!(meta.mode() & 0o7777, 0o644, "{}", path.display());
                }
            } else if !meta.file_type().is_symlink() && meta.dev() == dev {
                w.seen.push(rel.join("/"));
                if meta.mode() & 0o077 != 0 {
                    w.bad
                        .push(format!("{:o} {}", meta.mode() & 0o7777, path.display()));
                }
                if meta.is_dir() {
                    walk(root, rel, data, dev, w);
                }
            }
        }
        rel.pop();
    }
}

fn audit_roots(d: &Daemon) -> Walk {
    let mut w = Walk::default();
    for (root, data) in [(d.data_root(), true), (exec_root(d), false)] {
        let m = mode(&root);
        if m & 0o077 != 0 {
            w.bad.push(format!("{m:o} {}", root.display()));
        }
        let dev = std::fs::metadata(&root).unwrap().dev();
        walk(&root, &mut Vec::new(), data, dev, &mut w);
    }
    w
}

#[test]
fn roots_hold_nothing_group_or_world_readable_after_a_workload() {
    if Kind::from_env() != Kind::Berth {
        return; // berth's layout
    }
    let d = Daemon::start_networked();
    let net = d.name("pnet");
    d.docker_ok(&["network", "create", &net]);
    let running = d.name("prun");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &running,
        "--network",
        &net,
        "-e",
        "SECRET=x",
        "-v",
        "pvol:/data",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; echo v > /data/v; sleep 1000",
    ]);
    wait_for_log(&d, &running, "out");
    d.docker_ok(&["exec", &running, "sh", "-c", "echo exec > /data/e"]);
    d.docker_ok(&["logs", &running]);
    let exited = d.name("pexit");
    d.docker_ok(&[
        "run", "--name", &exited, "-e", "SECRET=y", "busybox", "echo", "done",
    ]);
    let tty = d.docker(&["run", "--rm", "-t", "busybox", "echo", "tty"]);
    assert_success(&tty, "run -t");

    let ctx = common::host_dir(&d, "pctx");
    std::fs::write(ctx.join("file.txt"), "context\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY file.txt /file.txt\nRUN cat /file.txt > /copied\nVOLUME /vol\n",
    )
    .unwrap();
    let tag = d.name("pimg");
    let mut cmd = d.docker_command(&["build", "-t", &tag, ctx.to_str().unwrap()]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let out = common::run_with_timeout(cmd, None, Duration::from_secs(120), "docker build");
    assert_success(&out, "docker build");
    d.docker_ok(&["run", "--rm", &tag, "cat", "/copied"]);
    let src = ctx.join("file.txt");
    d.docker_ok(&[
        "cp",
        src.to_str().unwrap(),
        &format!("{running}:/copied-in"),
    ]);
    d.docker_ok(&["commit", &running, &d.name("pcommit")]);

    let w = audit_roots(&d);
    assert!(
        w.bad.is_empty(),
        "readable by others:\n{}",
        w.bad.join("\n")
    );
    // The walk saw what it is meant to judge.
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &running]);
    let exited_id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &exited]);
    for expected in [
        format!("containers/{id}/config.json"),
        format!("containers/{id}/state.json"),
        format!("containers/{id}/{id}-json.log"),
        format!("containers/{exited_id}/exit.json"),
        format!("containers/{id}/bundle/config.json"),
        format!("containers/{id}/shim.sock"),
        format!("runtime/{id}/state.json"),
        "volumes/pvol/volume.json".to_string(),
        "images".to_string(),
        "content/blobs/sha256".to_string(),
        "build/cache.json".to_string(),
    ] {
        assert!(
            w.seen.iter().any(|s| s == &expected),
            "the walk never saw {expected}"
        );
    }
    d.docker_ok(&["rm", "-f", &running, &exited]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn a_daemon_tightens_loose_roots_and_says_so_once() {
    if Kind::from_env() != Kind::Berth {
        return; // berth's layout
    }
    let d = Daemon::start();
    let name = d.name("loose");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "SECRET=z",
        "-v",
        "lvol:/data",
        "busybox",
        "sh",
        "-c",
        "echo hello; sleep 1000",
    ]);
    wait_for_log(&d, &name, "hello");
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    d.stop();

    // What an older berth left: roots and metadata readable by everyone.
    let data = d.data_root();
    let exec = exec_root(&d);
    let ctr = data.join("containers").join(&id);
    let loosen = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    for dir in [
        data.clone(),
        exec.clone(),
        data.join("containers"),
        ctr.clone(),
        data.join("volumes"),
        data.join("volumes/lvol"),
        exec.join("containers").join(&id),
    ] {
        loosen(&dir, 0o755);
    }
    for file in [
        ctr.join("config.json"),
        ctr.join("state.json"),
        ctr.join(format!("{id}-json.log")),
        exec.join(format!("containers/{id}/bundle/config.json")),
    ] {
        loosen(&file, 0o644);
    }
    assert!(!audit_roots(&d).bad.is_empty());

    d.restart();
    let w = audit_roots(&d);
    assert!(
        w.bad.is_empty(),
        "still readable by others:\n{}",
        w.bad.join("\n")
    );
    // The container (still running through the restart) is served as before.
    assert_eq!(d.docker_ok(&["exec", &name, "echo", "ok"]), "ok");
    assert!(d.docker_ok(&["logs", &name]).contains("hello"));

    let said = || -> Vec<String> {
        std::fs::read_to_string(d.tmp().join("daemon.log"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("tightened the permissions"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(said().len(), 1, "{}", d.log_tail());
    d.restart();
    assert_eq!(d.docker_ok(&["exec", &name, "echo", "ok"]), "ok");
    let lines = said();
    assert_eq!(
        lines.len(),
        1,
        "a second start found more to tighten: {lines:#?}"
    );
    d.docker_ok(&["rm", "-f", &name]);
}
