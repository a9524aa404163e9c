//! Containers on external OCI runtimes (`--add-runtime NAME=PATH`,
//! `docker run --runtime NAME`): every behaviour below runs once on runc and
//! once on crun (`runtime_tests!`), and must look to the user as it does on
//! the built-in runtime. Against dockerd (`BERTH_E2E_DAEMON=dockerd`) the same
//! tests pass, which is how we know they encode Docker's behaviour.
//!
//! crun needs a host whose cgroup v2 side holds no controllers (see
//! scripts/deps.sh); runc is found on PATH by berth, as dockerd always has it.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{Daemon, Kind, SharedSlot, code, stderr, stdout, wait_for};

const CRUN: &str = "crun=/usr/bin/crun";

fn start_daemon(extra: &[&str]) -> Daemon {
    let mut args = vec!["--add-runtime".to_string(), CRUN.to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let kind = Kind::from_env();
    if kind == Kind::Dockerd {
        args.push("--live-restore".into());
    }
    Daemon::start_with(kind, args)
}

fn shared() -> Arc<Daemon> {
    static SHARED: SharedSlot = std::sync::OnceLock::new();
    Daemon::shared_in(&SHARED, || start_daemon(&[]))
}

fn inspect(d: &Daemon, fmt: &str, name: &str) -> String {
    d.docker_ok(&["inspect", "-f", fmt, name])
}

/// `docker run --rm FLAGS… --runtime RT busybox CMD…`.
fn run_rm(d: &Daemon, rt: &str, flags: &[&str], cmd: &[&str]) -> std::process::Output {
    let head = ["run", "--rm", "--runtime", rt];
    d.docker(&[&head[..], flags, &["busybox"], cmd].concat())
}

/// Waits (20 s at most) until `inspect -f fmt name` says `want`.
fn await_inspect(d: &Daemon, fmt: &str, name: &str, want: &str) {
    let seen = wait_for(Duration::from_secs(20), || {
        (inspect(d, fmt, name) == want).then_some(())
    });
    assert!(
        seen.is_some(),
        "{name}: {} != {want}",
        inspect(d, fmt, name)
    );
}

/// `docker run -d --runtime RT --name N busybox ARGS…`, returning N.
fn run_detached(d: &Daemon, rt: &str, args: &[&str]) -> String {
    let name = d.name(&format!("rt-{rt}"));
    let mut cmd = vec!["run", "-d", "--runtime", rt, "--name", &name, "busybox"];
    cmd.extend_from_slice(args);
    d.docker_ok(&cmd);
    name
}

/// The state root the daemon gives runtime `rt`.
fn runtime_root(d: &Daemon, rt: &str) -> std::path::PathBuf {
    match d.kind() {
        Kind::Berth => d.tmp().join("exec/runtimes").join(rt),
        // dockerd 20.10 gives containerd's runc shim the same root for every runtime.
        Kind::Dockerd => d.tmp().join("exec/runtime-runc/moby"),
    }
}

/// The runtime's own view of a container: `RT --root R state ID`.
fn runtime_state(d: &Daemon, rt: &str, id: &str) -> serde_json::Value {
    let out = std::process::Command::new(rt)
        .arg("--root")
        .arg(runtime_root(d, rt))
        .args(["state", id])
        .output()
        .expect("run the runtime");
    assert!(out.status.success(), "{rt} state: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("state JSON")
}

/// `ps` on the host: the parent pid and the arguments of `pid`.
fn host_ps(pid: &str) -> (String, String) {
    let out = std::process::Command::new("ps")
        .args(["-o", "ppid=,args=", "-p", pid])
        .output()
        .expect("run ps");
    let line = stdout(&out).trim().to_string();
    let (ppid, args) = line.split_once(' ').unwrap_or((&line, ""));
    (ppid.trim().to_string(), args.trim().to_string())
}

fn run_exit_codes_output_and_logs(rt: &str) {
    let d = shared();
    let out = run_rm(&d, rt, &[], &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    let name = run_detached(&d, rt, &["sh", "-c", "echo logged; exit 7"]);
    assert_eq!(d.docker_ok(&["wait", &name]), "7");
    assert_eq!(d.docker_ok(&["logs", &name]), "logged");
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &name), rt);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "7");
    d.docker_ok(&["rm", &name]);
}

fn terminal_stdin_and_attach(rt: &str) {
    let d = shared();
    let out = run_rm(&d, rt, &["-t"], &["sh", "-c", "tty; exit 4"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "/dev/pts/0");

    let cat = ["sh", "-c", "cat; exit 2"];
    let cmd = [&["run", "-i", "--rm", "--runtime", rt, "busybox"][..], &cat].concat();
    let out = d.docker_stdin(&cmd, b"through stdin\n");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(stdout(&out), "through stdin\n");

    let name = run_detached(&d, rt, &["sh", "-c", "sleep 1; echo attached"]);
    assert_eq!(d.docker_ok(&["attach", &name]), "attached");
    d.docker_ok(&["rm", &name]);
}

fn exec_with_and_without_terminal(rt: &str) {
    let d = shared();
    let name = run_detached(&d, rt, &["sleep", "1000"]);
    let out = d.docker(&["exec", &name, "sh", "-c", "echo exec-out; exit 5"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(stdout(&out), "exec-out\n");

    let out = d.docker(&["exec", "-t", &name, "sh", "-c", "tty; exit 6"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("/dev/pts/"), "{}", stdout(&out));

    let out = d.docker(&["exec", "-i", &name, "cat"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // The runtime's own words; 126 as dockerd reports an exec it could not start.
    let out = d.docker(&["exec", &name, "nosuch"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("nosuch") && text.contains("not found"),
        "{text}"
    );
    d.docker_ok(&["rm", "-f", &name]);
}

fn process_runs_under_the_runtime(rt: &str) {
    let d = shared();
    let name = run_detached(&d, rt, &["sleep", "1000"]);
    let id = inspect(&d, "{{.Id}}", &name);
    let pid = inspect(&d, "{{.State.Pid}}", &name);
    let state = runtime_state(&d, rt, &id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].to_string(), pid, "{state}");
    // The shim is the monitor: the runtime exited, its container's init is the shim's child.
    let (ppid, args) = host_ps(&pid);
    assert_eq!(args, "sleep 1000");
    let (_, parent) = host_ps(&ppid);
    assert!(parent.contains("shim"), "parent of {pid}: {parent}");
    d.docker_ok(&["rm", "-f", &name]);
    // The runtime's state goes with the container.
    let gone = wait_for(Duration::from_secs(10), || {
        (!runtime_root(&d, rt).join(&id).exists()).then_some(())
    });
    assert!(gone.is_some(), "{rt} state of {id} left behind");
}

fn pause_update_stats_and_top(rt: &str) {
    let d = shared();
    let name = run_detached(&d, rt, &["sleep", "1000"]);
    let id = inspect(&d, "{{.Id}}", &name);

    d.docker_ok(&["pause", &name]);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "paused");
    let out = d.docker(&["exec", &name, "true"]);
    assert!(stderr(&out).contains("is paused"), "{}", stderr(&out));
    d.docker_ok(&["unpause", &name]);
    assert_eq!(inspect(&d, "{{.State.Status}}", &name), "running");
    assert_eq!(d.docker_ok(&["exec", &name, "echo", "thawed"]), "thawed");

    let limits = ["--pids-limit", "50", "-m", "64m", "--memory-swap", "128m"];
    d.docker_ok(&[&["update"][..], &limits, &[name.as_str()]].concat());
    let cgroup = |ctrl: &str, file: &str| {
        let path = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(d.cgroup_parent().trim_start_matches('/'))
            .join(&id)
            .join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    };
    assert_eq!(cgroup("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cgroup("pids", "pids.max"), "50");
    assert_eq!(inspect(&d, "{{.HostConfig.Memory}}", &name), "67108864");

    let stats = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.MemUsage}}|{{.PIDs}}",
        &name,
    ]);
    let (mem, pids) = stats.split_once('|').unwrap();
    assert!(mem.ends_with("/ 64MiB"), "{stats}");
    assert!(pids.parse::<u32>().is_ok_and(|n| n >= 1), "{stats}");

    let top = d.docker_ok(&["top", &name]);
    assert!(top.contains("sleep 1000"), "{top}");
    d.docker_ok(&["rm", "-f", &name]);
}

fn stop_kill_and_restart_policy(rt: &str) {
    let d = shared();
    // sleep as pid 1 ignores SIGTERM: stop ends with SIGKILL.
    let name = run_detached(&d, rt, &["sleep", "1000"]);
    d.docker_ok(&["stop", "-t", "1", &name]);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "137");
    d.docker_ok(&["start", &name]);
    assert_eq!(inspect(&d, "{{.State.Running}}", &name), "true");
    d.docker_ok(&["kill", &name]);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "137");
    d.docker_ok(&["rm", &name]);

    let name = d.name(&format!("rt-{rt}"));
    d.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        rt,
        "--restart",
        "on-failure:2",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    await_inspect(&d, "{{.RestartCount}} {{.State.Status}}", &name, "2 exited");
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &name), "1");
    d.docker_ok(&["rm", &name]);
}

fn missing_binary_fails_with_the_runtimes_error(rt: &str) {
    let d = shared();
    let out = run_rm(&d, rt, &[], &["nosuch"]);
    let err = stderr(&out);
    assert!(
        err.contains("failed to create shim task: OCI runtime create failed: "),
        "{err}"
    );
    // The runtime's text, and the docker CLI's exit code derived from it.
    match rt {
        "runc" => {
            assert!(
                err.contains("exec: \"nosuch\": executable file not found in $PATH"),
                "{err}"
            );
            assert_eq!(code(&out), 127);
        }
        _ => {
            assert!(
                err.contains("executable file `nosuch` not found in $PATH"),
                "{err}"
            );
            assert_eq!(code(&out), 125);
        }
    }
}

fn survives_daemon_restart(rt: &str) {
    let d = start_daemon(&[]);
    let running = run_detached(&d, rt, &["sleep", "1000"]);
    let ending = run_detached(&d, rt, &["sh", "-c", "sleep 2; exit 7"]);
    let pid = inspect(&d, "{{.State.Pid}}", &running);

    d.kill9();
    thread::sleep(Duration::from_secs(3));
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "{pid} died");
    d.restart();

    assert_eq!(inspect(&d, "{{.State.Running}}", &running), "true");
    assert_eq!(inspect(&d, "{{.State.Pid}}", &running), pid);
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &running), rt);
    // The exit that happened while the daemon was away is collected.
    await_inspect(
        &d,
        "{{.State.Status}} {{.State.ExitCode}}",
        &ending,
        "exited 7",
    );
    assert_eq!(
        d.docker_ok(&["exec", &running, "echo", "after-restart"]),
        "after-restart"
    );
    d.docker_ok(&["kill", &running]);
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", &running), "137");
}

/// One `#[test]` per behaviour and runtime: `runc_exec…`, `crun_exec…`.
macro_rules! runtime_tests {
    ($($behaviour:ident),* $(,)?) => {
        mod runc {
            $(#[test] fn $behaviour() { super::$behaviour("runc") })*
        }
        mod crun {
            $(#[test] fn $behaviour() { super::$behaviour("crun") })*
        }
    };
}

runtime_tests!(
    run_exit_codes_output_and_logs,
    terminal_stdin_and_attach,
    exec_with_and_without_terminal,
    process_runs_under_the_runtime,
    pause_update_stats_and_top,
    stop_kill_and_restart_policy,
    missing_binary_fails_with_the_runtimes_error,
    survives_daemon_restart,
);

#[test]
fn unknown_runtime_is_refused_with_nothing_stored() {
    let d = shared();
    let name = d.name("rt-unknown");
    let out = d.docker(&[
        "run",
        "--runtime",
        "nope",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("Unknown runtime specified nope"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["inspect", &name]);
    assert!(!out.status.success(), "{name} was stored");

    let resp = d.request(
        "POST",
        "/containers/create",
        Some((
            "application/json",
            br#"{"Image":"busybox","HostConfig":{"Runtime":"nope"}}"#,
        )),
    );
    assert_eq!(resp.status, 400);
    assert!(
        String::from_utf8_lossy(&resp.body)
            .contains(r#""message":"Unknown runtime specified nope""#),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
}

#[test]
fn info_lists_runtimes_and_the_default_fills_in() {
    let d = shared();
    let runtimes = d.docker_ok(&["info", "--format", "{{json .Runtimes}}"]);
    let runtimes: serde_json::Value = serde_json::from_str(&runtimes).unwrap();
    assert_eq!(runtimes["crun"]["path"], "/usr/bin/crun");
    assert!(runtimes["runc"]["path"].is_string(), "{runtimes}");
    let stock = match d.kind() {
        Kind::Berth => "berth",
        Kind::Dockerd => "runc",
    };
    assert!(runtimes[stock].is_object(), "{runtimes}");
    assert_eq!(
        d.docker_ok(&["info", "--format", "{{.DefaultRuntime}}"]),
        stock
    );
    let name = d.name("rt-default");
    d.docker_ok(&["create", "--name", &name, "busybox", "true"]);
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &name), stock);
    d.docker_ok(&["rm", &name]);

    let d = start_daemon(&["--default-runtime", "crun"]);
    assert_eq!(
        d.docker_ok(&["info", "--format", "{{.DefaultRuntime}}"]),
        "crun"
    );
    let name = d.name("rt-default");
    let out = d.docker(&["run", "--name", &name, "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &name), "crun");
}

/// dockerd's rules for the flags, checked before the daemon binds anything.
#[test]
fn bad_runtime_flags_stop_the_daemon() {
    if Kind::from_env() != Kind::Berth {
        return; // berth's own binary and messages
    }
    let cases: &[(&[&str], &str)] = &[
        (
            &["--add-runtime", "berth=/usr/bin/crun"],
            "runtime name 'berth' is reserved",
        ),
        (
            &[
                "--add-runtime",
                "x=/usr/bin/crun",
                "--add-runtime",
                "X=/usr/bin/crun",
            ],
            "runtime 'x' was already defined",
        ),
        (
            &["--add-runtime", "nopath"],
            "invalid runtime argument: nopath",
        ),
        (
            &["--add-runtime", "x=/nonexistent/rt"],
            "/nonexistent/rt: not an executable file",
        ),
        (
            &["--default-runtime", "nope"],
            "specified default runtime 'nope' does not exist",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    for (args, want) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("daemon")
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .args(*args)
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(!socket.exists(), "{args:?} left its socket");
    }
}

/// The berth client sends `--runtime` as the docker CLI does.
#[test]
fn berth_client_passes_the_runtime() {
    let d = shared();
    let name = d.name("rt-client");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", d.host())
        .args(["run", "--runtime", "crun", "--name", &name, "busybox"])
        .args(["sh", "-c", "echo client; exit 4"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout(&out), "client\n");
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &name), "crun");
    d.docker_ok(&["rm", &name]);
}

/// docker-py's `create_container(runtime=...)` puts `Runtime` next to
/// Config rather than in HostConfig; berth honours it (dockerd ignores it).
#[test]
fn a_top_level_runtime_field_chooses_the_runtime() {
    let d = shared();
    if !d.is_berth() {
        return; // dockerd ignores the field; its default is named runc anyway
    }
    let resp = d.request(
        "POST",
        "/containers/create",
        Some((
            "application/json",
            br#"{"Image":"busybox","Cmd":["true"],"Runtime":"crun"}"#,
        )),
    );
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    let id = serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(inspect(&d, "{{.HostConfig.Runtime}}", &id), "crun");
    // Not echoed back as an unknown Config field.
    let config = inspect(&d, "{{json .Config}}", &id);
    assert!(!config.contains("\"Runtime\""), "{config}");
    d.docker_ok(&["rm", &id]);
}
