//! The runtime's shim and exec, driven through the real `berth` binary with
//! real containers (busybox rootfs). Needs root.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use runtime::shim::{self, Output, ShimClient, ShimInfo, ShimLaunch, StdStream};
use runtime::{ContainerConfig, Device, Limits, NetworkMode, RuntimeError, Seccomp, Ulimit, User};
use tokio::io::AsyncReadExt;

const TIMEOUT: Duration = Duration::from_secs(60);
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "id", "hostname", "ls", "grep", "true", "wc", "tty", "stty",
    "tail", "head", "df", "mount", "mkdir", "seq", "yes", "find",
];

/// One container's worth of temporary state; dropping it removes every trace
/// (processes, libcontainer state, cgroups) even when the test failed.
struct TestContainer {
    dir: tempfile::TempDir,
    id: String,
    info: Option<ShimInfo>,
}

impl TestContainer {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "berth-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "mnt"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        Self {
            dir,
            id,
            info: None,
        }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("exec/containers").join(&self.id)
    }
    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("exec/runtime")
    }
    fn log_path(&self) -> PathBuf {
        self.dir
            .path()
            .join("data")
            .join(format!("{}-json.log", self.id))
    }

    fn launch(&self) -> ShimLaunch {
        ShimLaunch {
            exe: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
            args_prefix: vec!["shim".into()],
            monitor: Some(PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"))),
            runtime_cli: Some(PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime"))),
            state_dir: self.state_dir(),
            runtime_root: self.runtime_root(),
            runtime: runtime::RuntimeKind::Builtin,
            log_path: self.log_path(),
            log: runtime::shim::LogSpec::json_file(None),
        }
    }

    fn exec_launch(&self) -> runtime::exec::ExecLaunch {
        runtime::exec::ExecLaunch {
            exe: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
            args_prefix: vec!["shim-exec".into()],
            state_dir: self.state_dir(),
        }
    }

    fn config(&self, args: &[&str]) -> ContainerConfig {
        ContainerConfig {
            id: self.id.clone(),
            rootfs: self.rootfs(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            cwd: "/".into(),
            user: User::default(),
            hostname: "testbox".into(),
            network: NetworkMode::Private,
            cgroup_path: format!("/{}", self.id),
            annotations: HashMap::new(),
            ..Default::default()
        }
    }

    async fn create(&mut self, cfg: &ContainerConfig) -> Result<ShimInfo, RuntimeError> {
        let info = shim::create(&self.launch(), cfg).await?;
        self.info = Some(info);
        Ok(info)
    }

    /// An executable shell script `name` in the test's directory.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    async fn client(&self) -> ShimClient {
        ShimClient::connect(&self.state_dir()).await.unwrap()
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        if let Some(info) = self.info {
            for pid in [info.init_pid, info.shim_pid] {
                if pid_alive(pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.runtime_root().join(&self.id));
        // Cgroups can only go once their last process is gone, which takes a moment.
        if let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") {
            for ctrl in ctrls.flatten() {
                let cg = ctrl.path().join(&self.id);
                for _ in 0..100 {
                    if !cg.exists() || std::fs::remove_dir(&cg).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Fields after the command name in /proc/<pid>/stat: state, ppid, pgrp, session…
fn stat_fields(pid: u32) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    s.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

async fn collect(mut output: tokio::sync::mpsc::Receiver<Output>) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(o) = output.recv().await {
        let s = String::from_utf8_lossy(&o.data);
        match o.stream {
            StdStream::Stdout => out.push_str(&s),
            StdStream::Stderr => err.push_str(&s),
        }
    }
    (out, err)
}

fn log_entries(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let time = v["time"].as_str().unwrap();
            assert!(time.ends_with('Z') && time.contains('.'), "{time}");
            (
                v["stream"].as_str().unwrap().to_string(),
                v["log"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test timed out")
}

#[tokio::test]
async fn exit_code_logs_and_early_attach() {
    let mut c = TestContainer::new("run");
    with_timeout(async {
        let info = c
            .create(&c.config(&["sh", "-c", "echo out; echo err >&2; exit 3"]))
            .await
            .unwrap();
        assert!(info.init_pid > 0 && info.shim_pid > 0);
        let client = c.client().await;
        let attached = client.attach(false).await.unwrap();
        assert!(attached.stdin.is_none());
        client.start().await.unwrap();
        let status = client.wait().await.unwrap();
        assert_eq!(status.exit_code, 3);
        assert!(!status.oom_killed);
        assert!(status.finished_at.ends_with('Z'));
        assert_eq!(
            collect(attached.output).await,
            ("out\n".into(), "err\n".into())
        );

        let mut logs = log_entries(&c.log_path());
        logs.sort();
        assert_eq!(
            logs,
            vec![
                ("stderr".to_string(), "err\n".to_string()),
                ("stdout".to_string(), "out\n".to_string())
            ]
        );
        assert_eq!(shim::read_exit_status(&c.state_dir()), Some(status.clone()));
        // The shim is gone once it has answered; wait still answers from exit.json.
        for _ in 0..200 {
            if !pid_alive(info.shim_pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!pid_alive(info.shim_pid), "shim still running");
        assert_eq!(client.wait().await.unwrap(), status);
        // libcontainer state and cgroups were removed by the shim.
        assert!(!c.runtime_root().join(&c.id).exists());
        assert!(!Path::new("/sys/fs/cgroup/pids").join(&c.id).exists());
    })
    .await;
}

#[tokio::test]
async fn docker_defaults_inside_the_container() {
    let mut c = TestContainer::new("defaults");
    with_timeout(async {
        let script = "hostname; grep -E '^Cap(Eff|Amb)' /proc/self/status; \
                      grep Seccomp: /proc/self/status; echo timer_list=$(cat /proc/timer_list | wc -c); \
                      echo nofile=$(ulimit -n)";
        c.create(&c.config(&["sh", "-c", script])).await.unwrap();
        let client = c.client().await;
        let attached = client.attach(false).await.unwrap();
        client.start().await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 0);
        let (out, err) = collect(attached.output).await;
        assert_eq!(err, "");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "testbox");
        assert_eq!(lines[1], "CapEff:\t00000000a80425fb");
        assert_eq!(lines[2], "CapAmb:\t0000000000000000");
        assert_eq!(lines[3], "Seccomp:\t2");
        // Masked: /proc/timer_list reads as /dev/null.
        assert_eq!(lines[4], "timer_list=0");
        assert_eq!(lines[5], format!("nofile={}", nofile_limit()));
    })
    .await;
}

/// The shim is a Rust program (std ignores SIGPIPE) and its parents may ignore
/// or block more; none of that may reach the container, where `yes | head -n 1`
/// must end because `yes` dies of SIGPIPE.
#[tokio::test]
async fn processes_start_with_default_signal_dispositions() {
    let mut c = TestContainer::new("signals");
    with_timeout(async {
        let cfg = c.config(&["sh", "-c", "yes | head -n 1; exec sleep 100"]);
        let info = c.create(&cfg).await.unwrap();
        let client = c.client().await;
        let mut attached = client.attach(false).await.unwrap();
        client.start().await.unwrap();
        assert_eq!(read_until(&mut attached.output, "y\n").await, "y\n");
        // Once `sleep` has replaced the shell, PID 1's dispositions are visible from here.
        let status = loop {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", info.init_pid)).unwrap();
            if cmdline.starts_with(b"sleep") {
                break std::fs::read_to_string(format!("/proc/{}/status", info.init_pid)).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(status_field(&status, "SigIgn:"), "0000000000000000");
        assert_eq!(status_field(&status, "SigBlk:"), "0000000000000000");

        let (code, out, _) = run_exec(
            &c,
            &["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
            None,
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(
            out,
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
        );
        assert_eq!(
            run_exec(&c, &["sh", "-c", "yes | head -n 1"], None).await,
            (0, "y\n".into(), String::new())
        );
        client.kill(libc::SIGKILL).await.unwrap();
        client.wait().await.unwrap();
    })
    .await;
}

/// An unprivileged container must not lift its own limits: every cgroup file
/// it can see, and the kernel's other knobs, are read-only to it (v1 and v2).
#[tokio::test]
async fn cgroups_sys_and_proc_knobs_are_read_only() {
    let mut c = TestContainer::new("rocgroup");
    with_timeout(async {
        // Each file gets its own value back, so a failure of this test changes nothing.
        let script = "for f in $(find /sys/fs/cgroup -type f); do \
                        v=$(cat $f 2>/dev/null); (echo \"$v\" > $f) 2>/dev/null && echo \"wrote $f\"; \
                      done; \
                      mkdir /sys/fs/cgroup/new 2>/dev/null && echo 'mkdir in /sys/fs/cgroup'; \
                      for d in /sys/fs/cgroup/*/; do mkdir $d/sub 2>/dev/null && echo \"mkdir in $d\"; done; \
                      (echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null && echo 'wrote /proc/sys'; \
                      (echo 65536 > /sys/class/net/lo/mtu) 2>/dev/null && echo 'wrote /sys'; \
                      echo cgroup files: $(find /sys/fs/cgroup -type f | wc -l)";
        let cfg = c.config(&["sh", "-c", script]);
        let (status, out, _) = run_to_end(&mut c, &cfg).await;
        assert_eq!(status.exit_code, 0, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "writable from inside:\n{out}");
        let files: usize = lines[0].strip_prefix("cgroup files: ").unwrap().parse().unwrap();
        // The container does see its cgroups (memory.limit_in_bytes, pids.max, ...).
        assert!(files > 20, "{out}");
    })
    .await;
}

#[tokio::test]
async fn stdin_is_piped_and_closed_with_the_writer() {
    let mut c = TestContainer::new("stdin");
    with_timeout(async {
        let mut cfg = c.config(&["cat"]);
        cfg.open_stdin = true;
        c.create(&cfg).await.unwrap();
        let client = c.client().await;
        let mut attached = client.attach(true).await.unwrap();
        client.start().await.unwrap();
        let stdin = attached.stdin.take().unwrap();
        stdin.send(Bytes::from_static(b"hello ")).await.unwrap();
        stdin.send(Bytes::from_static(b"cat\n")).await.unwrap();
        let mut echoed = String::new();
        while echoed != "hello cat\n" {
            let o = attached.output.recv().await.expect("output ended early");
            assert_eq!(o.stream, StdStream::Stdout);
            echoed.push_str(&String::from_utf8_lossy(&o.data));
        }
        drop(stdin);
        assert_eq!(client.wait().await.unwrap().exit_code, 0);
        assert_eq!(
            collect(attached.output).await,
            (String::new(), String::new())
        );
    })
    .await;
}

#[tokio::test]
async fn kill_reports_signal_exit_codes() {
    let mut term = TestContainer::new("term");
    let mut hard = TestContainer::new("kill");
    with_timeout(async {
        // PID 1 only receives signals it handles, so the shell traps TERM;
        // `wait` interrupted by it returns 128+15, which becomes the exit code.
        term.create(&term.config(&["sh", "-c", "trap 'echo got TERM' TERM; sleep 100 & wait"]))
            .await
            .unwrap();
        hard.create(&hard.config(&["sleep", "100"])).await.unwrap();
        let (tc, hc) = (term.client().await, hard.client().await);
        let attached = tc.attach(false).await.unwrap();
        tc.start().await.unwrap();
        hc.start().await.unwrap();
        // Give the shell time to install its trap.
        tokio::time::sleep(Duration::from_millis(300)).await;
        tc.kill(libc::SIGTERM).await.unwrap();
        hc.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(tc.wait().await.unwrap().exit_code, 143);
        assert_eq!(hc.wait().await.unwrap().exit_code, 137);
        assert_eq!(collect(attached.output).await.0, "got TERM\n");
        // Signalling an exited container is an error of its own kind.
        assert!(tc.kill(libc::SIGKILL).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn shim_outlives_its_clients_and_accepts_new_ones() {
    let mut c = TestContainer::new("reconnect");
    with_timeout(async {
        let info = c.create(&c.config(&["sleep", "100"])).await.unwrap();
        {
            let client = c.client().await;
            client.start().await.unwrap();
        }
        // Detached: not our child, in a session of its own.
        let fields = stat_fields(info.shim_pid);
        assert_ne!(
            fields[1],
            std::process::id().to_string(),
            "shim is our child"
        );
        let our_session = stat_fields(std::process::id())[3].clone();
        assert_ne!(fields[3], our_session);
        // Not the leader of that session: no terminal can become its own.
        assert_ne!(fields[3], info.shim_pid.to_string(), "shim leads a session");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(pid_alive(info.shim_pid));

        let client = c.client().await;
        assert_eq!(client.pid().await.unwrap(), info.init_pid);
        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
        // Attaching after the end gives an empty, finished stream or no shim at all.
        if let Ok(c2) = ShimClient::connect(&c.state_dir()).await
            && let Ok(a) = c2.attach(false).await
        {
            assert_eq!(collect(a.output).await, (String::new(), String::new()));
        }
    })
    .await;
}

/// A shim started as a process group leader (as from a shell) cannot start
/// a session itself; it forks first, and still ends up detached, not its
/// session's leader, and running the container.
#[tokio::test]
async fn shim_started_as_a_group_leader_detaches_too() {
    let mut c = TestContainer::new("leader");
    // util-linux's setsid makes the shim a session (and group) leader
    // before it runs: the daemon's child never is one.
    let wrapper = c.script(
        "shim-as-leader",
        &format!("exec setsid {} \"$@\"", env!("CARGO_BIN_EXE_berth-shim")),
    );
    with_timeout(async {
        let mut launch = c.launch();
        launch.monitor = Some(wrapper.clone());
        let info = shim::create(&launch, &c.config(&["sh", "-c", "exit 7"]))
            .await
            .unwrap();
        c.info = Some(info);
        let fields = stat_fields(info.shim_pid);
        assert_ne!(
            fields[1],
            std::process::id().to_string(),
            "shim is our child"
        );
        assert_ne!(fields[3], info.shim_pid.to_string(), "shim leads a session");
        assert_ne!(fields[3], stat_fields(std::process::id())[3]);
        let client = c.client().await;
        client.start().await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 7);
    })
    .await;
}

/// The built-in runtime's create runs in a forked child of the shim and its
/// start in the shim itself: neither runs the runtime's CLI, which pause
/// still does. The container's stdio and exit code are as always.
#[tokio::test]
async fn builtin_create_and_start_run_no_runtime_process() {
    let mut c = TestContainer::new("noexec");
    let calls = c.dir.path().join("runtime-calls");
    let wrapper = c.script(
        "runtime-wrapper",
        &format!(
            "echo \"$*\" >> {}\nexec {} \"$@\"",
            calls.display(),
            env!("CARGO_BIN_EXE_berth-runtime")
        ),
    );
    with_timeout(async {
        let mut launch = c.launch();
        launch.runtime_cli = Some(wrapper.clone());
        let mut cfg = c.config(&["sh", "-c", "read x; echo out $x; echo err >&2; exit 5"]);
        cfg.open_stdin = true;
        let info = shim::create(&launch, &cfg).await.unwrap();
        c.info = Some(info);
        // The init is the shim's child once the forked creator has gone.
        assert_eq!(
            stat_fields(info.init_pid)[1],
            info.shim_pid.to_string(),
            "the init's parent"
        );
        let client = c.client().await;
        let mut attached = client.attach(true).await.unwrap();
        client.start().await.unwrap();
        client.pause().await.unwrap();
        client.resume().await.unwrap();
        let stdin = attached.stdin.take().unwrap();
        stdin.send(Bytes::from_static(b"hi\n")).await.unwrap();
        let (out, err) = collect(attached.output).await;
        assert_eq!((out.as_str(), err.as_str()), ("out hi\n", "err\n"));
        assert_eq!(client.wait().await.unwrap().exit_code, 5);
    })
    .await;
    let calls = std::fs::read_to_string(&calls).unwrap();
    let verbs: Vec<&str> = calls
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| ["create", "start", "pause", "resume"].contains(w))
        })
        .collect();
    assert_eq!(verbs, ["pause", "resume"], "the runtime CLI ran: {calls}");
}

async fn run_exec(c: &TestContainer, args: &[&str], user: Option<User>) -> (i32, String, String) {
    let cfg = runtime::exec::ExecConfig {
        container_id: c.id.clone(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["EXTRA=1".into()],
        user,
        ..Default::default()
    };
    let mut p = runtime::exec::spawn(&c.exec_launch(), &cfg).await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let (r1, r2) = tokio::join!(
        p.stdout.read_to_string(&mut out),
        p.stderr.read_to_string(&mut err)
    );
    r1.unwrap();
    r2.unwrap();
    (p.wait().await.unwrap(), out, err)
}

#[tokio::test]
async fn exec_joins_a_running_container() {
    let mut c = TestContainer::new("exec");
    with_timeout(async {
        let info = c.create(&c.config(&["sleep", "100"])).await.unwrap();
        let client = c.client().await;
        client.start().await.unwrap();

        assert_eq!(
            run_exec(&c, &["echo", "hi"], None).await,
            (0, "hi\n".into(), String::new())
        );
        let (code, out, _) = run_exec(
            &c,
            &["sh", "-c", "echo $EXTRA $HOME; hostname; exit 5"],
            None,
        )
        .await;
        assert_eq!((code, out.as_str()), (5, "1 /root\ntestbox\n"));
        // Same pid namespace: the container's init is PID 1 there.
        let (_, out, _) = run_exec(&c, &["cat", "/proc/1/cmdline"], None).await;
        assert_eq!(out, "sleep\x00100\x00");
        let (_, out, _) = run_exec(
            &c,
            &["id", "-u"],
            Some(User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![],
            }),
        )
        .await;
        assert_eq!(out, "1000\n");
        // Exec processes get the container's seccomp profile and rlimits too.
        let (_, out, _) = run_exec(
            &c,
            &["sh", "-c", "grep Seccomp: /proc/self/status; ulimit -n"],
            None,
        )
        .await;
        assert_eq!(out, format!("Seccomp:\t2\n{}\n", nofile_limit()));

        let (code, _, err) = run_exec(&c, &["nosuch"], None).await;
        assert_eq!(code, 127);
        assert!(
            err.contains("exec: \"nosuch\": executable file not found in $PATH"),
            "{err}"
        );
        let (code, _, err) = run_exec(&c, &["/etc"], None).await;
        assert_eq!(code, 126);
        assert!(err.contains("permission denied"), "{err}");

        assert!(pid_alive(info.init_pid));
        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
        let cfg = runtime::exec::ExecConfig {
            container_id: c.id.clone(),
            args: vec!["true".into()],
            ..Default::default()
        };
        assert!(matches!(
            runtime::exec::spawn(&c.exec_launch(), &cfg).await,
            Err(RuntimeError::NotRunning)
        ));
    })
    .await;
}

#[tokio::test]
async fn create_fails_with_dockers_messages() {
    let mut c = TestContainer::new("missing");
    with_timeout(async {
        let err = c.create(&c.config(&["nosuch"])).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"nosuch\": executable file not found in $PATH"
        );
        assert_eq!(err.exit_code(), Some(127));
        let err = c.create(&c.config(&["/bin/nope"])).await.unwrap_err();
        assert_eq!(err.exit_code(), Some(127), "{err}");
        let err = c.create(&c.config(&["/etc"])).await.unwrap_err();
        assert_eq!(err.exit_code(), Some(126), "{err}");
        // Nothing is left behind, so the id can be used right away.
        assert!(!c.runtime_root().join(&c.id).exists());
        c.create(&c.config(&["true"])).await.unwrap();
        let client = c.client().await;
        client.start().await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 0);
    })
    .await;
}

/// What the runtime can grant here: 1048576, or our own hard limit without CAP_SYS_RESOURCE.
fn nofile_limit() -> u64 {
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    if u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 24) != 0 {
        1_048_576
    } else {
        hard.min(1_048_576)
    }
}

/// Reads output until `want` shows up in it (or the stream ends); returns all of it.
async fn read_until(output: &mut tokio::sync::mpsc::Receiver<Output>, want: &str) -> String {
    let mut text = String::new();
    while !text.contains(want) {
        let Some(o) = output.recv().await else { break };
        assert_eq!(o.stream, StdStream::Stdout, "a terminal has only stdout");
        text.push_str(&String::from_utf8_lossy(&o.data));
    }
    text
}

#[tokio::test]
async fn tty_container_gets_a_terminal_of_the_requested_size() {
    let mut c = TestContainer::new("tty");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "tty; stty size; [ -c /dev/console ] && echo console; echo done; exit 7",
        ]);
        cfg.tty = true;
        c.create(&cfg).await.unwrap();
        let client = c.client().await;
        let attached = client.attach(false).await.unwrap();
        // The initial size: set between create and start.
        client.resize(33, 101).await.unwrap();
        client.start().await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 7);
        let (out, err) = collect(attached.output).await;
        assert_eq!(err, "");
        assert_eq!(out, "/dev/pts/0\r\n33 101\r\nconsole\r\ndone\r\n");
        let logs = log_entries(&c.log_path());
        assert_eq!(
            logs,
            ["/dev/pts/0\r\n", "33 101\r\n", "console\r\n", "done\r\n"]
                .iter()
                .map(|l| ("stdout".to_string(), l.to_string()))
                .collect::<Vec<_>>()
        );
        // Resizing a finished container is refused as "not running" or finds no shim.
        assert!(client.resize(10, 10).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn tty_input_reaches_the_program_and_survives_stdin_close() {
    let mut c = TestContainer::new("ttyin");
    with_timeout(async {
        let script =
            "echo ready; read x; echo got=$x; read y; echo got=$y size=$(stty size); exit 4";
        let mut cfg = c.config(&["sh", "-c", script]);
        cfg.tty = true;
        cfg.open_stdin = true;
        c.create(&cfg).await.unwrap();
        let client = c.client().await;
        let mut attached = client.attach(true).await.unwrap();
        client.start().await.unwrap();
        read_until(&mut attached.output, "ready\r\n").await;

        let stdin = attached.stdin.take().unwrap();
        stdin.send(Bytes::from_static(b"hello\n")).await.unwrap();
        // The terminal echoes the input before the program answers.
        let text = read_until(&mut attached.output, "got=hello\r\n").await;
        assert_eq!(text, "hello\r\ngot=hello\r\n");

        // Closing the attach's stdin leaves the terminal open: the second
        // `read` still waits, and a later attach feeds it.
        drop(stdin);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = client.attach(true).await.unwrap();
        client.resize(20, 70).await.unwrap();
        let stdin = again.stdin.take().unwrap();
        stdin.send(Bytes::from_static(b"world\n")).await.unwrap();
        let text = read_until(&mut again.output, "got=world size=20 70\r\n").await;
        assert_eq!(text, "world\r\ngot=world size=20 70\r\n");
        assert_eq!(client.wait().await.unwrap().exit_code, 4);
        let (rest, _) = collect(attached.output).await;
        assert_eq!(rest, "world\r\ngot=world size=20 70\r\n");
    })
    .await;
}

async fn read_stdout_until(out: &mut tokio::process::ChildStdout, want: &str) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&text).contains(want) {
        let n = out.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(text).unwrap()
}

#[tokio::test]
async fn exec_with_tty_gets_a_terminal_input_and_resizes() {
    let mut c = TestContainer::new("exectty");
    with_timeout(async {
        c.create(&c.config(&["sleep", "100"])).await.unwrap();
        let client = c.client().await;
        client.start().await.unwrap();
        let launch = c.exec_launch();

        // Without a terminal there is nothing to resize.
        let plain = runtime::exec::ExecConfig {
            container_id: c.id.clone(),
            args: vec!["true".into()],
            ..Default::default()
        };
        let mut p = runtime::exec::spawn(&launch, &plain).await.unwrap();
        assert!(p.resizer.is_none());
        assert!(matches!(
            p.resize(10, 10),
            Err(RuntimeError::InvalidConfig(_))
        ));
        assert_eq!(p.wait().await.unwrap(), 0);

        let cfg = runtime::exec::ExecConfig {
            container_id: c.id.clone(),
            args: [
                "sh",
                "-c",
                "tty; stty size; read x; echo got=$x size=$(stty size); exit 3",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            tty: true,
            open_stdin: true,
            ..Default::default()
        };
        let mut p = runtime::exec::spawn_with_console_size(&launch, &cfg, Some((30, 90)))
            .await
            .unwrap();
        let text = read_stdout_until(&mut p.stdout, "30 90\r\n").await;
        let (tty, size) = text.split_once("\r\n").unwrap();
        assert!(tty.starts_with("/dev/pts/"), "{text:?}");
        assert_eq!(size, "30 90\r\n");

        p.resize(40, 120).unwrap();
        // The resize and the input travel on different pipes; let the resize land first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut stdin = p.stdin.take().unwrap();
        use tokio::io::AsyncWriteExt;
        stdin.write_all(b"hi\n").await.unwrap();
        let mut rest = String::new();
        p.stdout.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "hi\r\ngot=hi size=40 120\r\n");
        let mut err = String::new();
        p.stderr.read_to_string(&mut err).await.unwrap();
        assert_eq!(err, "");
        assert_eq!(p.wait().await.unwrap(), 3);
        // Once the exec is over, resizing it fails instead of blocking.
        assert!(p.resize(1, 1).is_err());

        // A terminal without stdin, and a command that cannot start.
        let mut cfg = cfg.clone();
        cfg.open_stdin = false;
        cfg.args = vec!["tty".into()];
        let mut p = runtime::exec::spawn(&launch, &cfg).await.unwrap();
        let mut out = String::new();
        p.stdout.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with("/dev/pts/") && out.ends_with("\r\n"),
            "{out:?}"
        );
        assert_eq!(p.wait().await.unwrap(), 0);
        cfg.args = vec!["nosuch".into()];
        let mut p = runtime::exec::spawn(&launch, &cfg).await.unwrap();
        let mut err = String::new();
        p.stderr.read_to_string(&mut err).await.unwrap();
        assert_eq!(p.wait().await.unwrap(), 127);
        assert!(err.contains("executable file not found"), "{err}");

        // The helpers leave nothing behind in the container's state dir.
        let leftovers: Vec<_> = std::fs::read_dir(c.runtime_root().join(&c.id))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tenant-tty-") || n.starts_with("exec-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
    })
    .await;
}

#[tokio::test]
async fn exec_in_a_tty_container_gets_its_own_terminal() {
    let mut c = TestContainer::new("ttyexec");
    with_timeout(async {
        let mut cfg = c.config(&["sh", "-c", "tty; sleep 100"]);
        cfg.tty = true;
        c.create(&cfg).await.unwrap();
        let client = c.client().await;
        let mut attached = client.attach(false).await.unwrap();
        client.start().await.unwrap();
        assert_eq!(
            read_until(&mut attached.output, "\r\n").await,
            "/dev/pts/0\r\n"
        );
        let exec = runtime::exec::ExecConfig {
            container_id: c.id.clone(),
            args: vec!["tty".into()],
            tty: true,
            ..Default::default()
        };
        let mut p = runtime::exec::spawn(&c.exec_launch(), &exec).await.unwrap();
        let mut out = String::new();
        p.stdout.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "/dev/pts/1\r\n");
        assert_eq!(p.wait().await.unwrap(), 0);
        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
    })
    .await;
}

const MIB: i64 = 1024 * 1024;

/// A cgroup v1 file of the test container, read from the host.
fn cgroup_file(c: &TestContainer, ctrl: &str, file: &str) -> String {
    std::fs::read_to_string(
        Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&c.id)
            .join(file),
    )
    .unwrap_or_else(|e| panic!("read {ctrl}/{file}: {e}"))
    .trim()
    .to_string()
}

/// Creates, starts and waits for `cfg`; returns (exit code, stdout, stderr).
async fn run_to_end(
    c: &mut TestContainer,
    cfg: &ContainerConfig,
) -> (shim::ExitStatus, String, String) {
    if let Err(e) = c.create(cfg).await {
        let log = std::fs::read_to_string(c.state_dir().join(shim::SHIM_LOG)).unwrap_or_default();
        panic!("create: {e}\nshim log:\n{log}");
    }
    let client = c.client().await;
    let attached = client.attach(false).await.unwrap();
    client.start().await.unwrap();
    let status = client.wait().await.unwrap();
    let (out, err) = collect(attached.output).await;
    (status, out, err)
}

#[tokio::test]
async fn memory_limit_is_set_and_oom_kill_is_reported() {
    let mut c = TestContainer::new("oom");
    with_timeout(async {
        let mut cfg = c.config(&["tail", "/dev/zero"]);
        cfg.limits.memory = 8 * MIB;
        c.create(&cfg).await.unwrap();
        assert_eq!(
            cgroup_file(&c, "memory", "memory.limit_in_bytes"),
            (8 * MIB).to_string()
        );
        // Docker's default swap: as much again as the memory.
        assert_eq!(
            cgroup_file(&c, "memory", "memory.memsw.limit_in_bytes"),
            (16 * MIB).to_string()
        );
        let client = c.client().await;
        client.start().await.unwrap();
        let status = client.wait().await.unwrap();
        assert_eq!(status.exit_code, 137);
        assert!(status.oom_killed);
    })
    .await;
}

#[tokio::test]
async fn pids_limit_bounds_a_fork_bomb() {
    let mut c = TestContainer::new("pids");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "for i in $(seq 50); do sleep 10 & done; echo done",
        ]);
        cfg.limits.pids_limit = Some(10);
        c.create(&cfg).await.unwrap();
        assert_eq!(cgroup_file(&c, "pids", "pids.max"), "10");
        let client = c.client().await;
        let attached = client.attach(false).await.unwrap();
        client.start().await.unwrap();
        let mut out = String::new();
        let mut output = attached.output;
        while let Some(o) = output.recv().await {
            out.push_str(&String::from_utf8_lossy(&o.data));
            if out.contains("fork") || out.contains("done") {
                break;
            }
        }
        assert!(out.contains("can't fork"), "{out}");
        let pids = client.pids().await.unwrap_or_default();
        assert!(pids.len() <= 10, "{pids:?}");
        let _ = client.kill(libc::SIGKILL).await;
        client.wait().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn cpu_settings_reach_the_cgroup_and_update_changes_them_live() {
    let mut c = TestContainer::new("cpu");
    with_timeout(async {
        let mut cfg = c.config(&["sleep", "60"]);
        cfg.limits.nano_cpus = 500_000_000;
        cfg.limits.cpu_shares = 512;
        cfg.limits.cpuset_cpus = "0".into();
        cfg.limits.memory = 64 * MIB;
        c.create(&cfg).await.unwrap();
        assert_eq!(cgroup_file(&c, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cgroup_file(&c, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cgroup_file(&c, "cpu", "cpu.shares"), "512");
        assert_eq!(cgroup_file(&c, "cpuset", "cpuset.cpus"), "0");
        let client = c.client().await;
        client.start().await.unwrap();

        client
            .update(&Limits {
                memory: 32 * MIB,
                cpu_quota: 25_000,
                cpu_period: 50_000,
                pids_limit: Some(20),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            cgroup_file(&c, "memory", "memory.limit_in_bytes"),
            (32 * MIB).to_string()
        );
        assert_eq!(cgroup_file(&c, "cpu", "cpu.cfs_quota_us"), "25000");
        assert_eq!(cgroup_file(&c, "cpu", "cpu.cfs_period_us"), "50000");
        assert_eq!(cgroup_file(&c, "pids", "pids.max"), "20");

        // Above the memory+swap limit (128 MiB) without a new one: refused, nothing changed.
        let err = client
            .update(&Limits {
                memory: 256 * MIB,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidSetting(_)), "{err}");
        assert_eq!(
            cgroup_file(&c, "memory", "memory.limit_in_bytes"),
            (32 * MIB).to_string()
        );
        let err = client
            .update(&Limits {
                memory: MIB,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Minimum memory limit allowed is 6MB");

        client
            .update(&Limits {
                memory: 256 * MIB,
                memory_swap: -1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            cgroup_file(&c, "memory", "memory.limit_in_bytes"),
            (256 * MIB).to_string()
        );

        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
    })
    .await;
}

#[tokio::test]
async fn ulimits_and_shm_size_are_seen_inside() {
    let mut c = TestContainer::new("ulimit");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -n 1",
        ]);
        cfg.limits.ulimits = vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048,
        }];
        cfg.limits.shm_size = 32 * MIB;
        let (status, out, err) = run_to_end(&mut c, &cfg).await;
        assert_eq!((status.exit_code, err.as_str()), (0, ""));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(&lines[..2], ["1024", "2048"]);
        let size_kb: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(size_kb[1], "32768", "{out}");
    })
    .await;
}

fn read_count(c: &TestContainer) -> u64 {
    std::fs::read_to_string(c.rootfs().join("tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn pause_freezes_and_resume_continues_and_stats_are_plausible() {
    let mut c = TestContainer::new("pause");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done",
        ]);
        cfg.limits.memory = 64 * MIB;
        cfg.limits.pids_limit = Some(50);
        c.create(&cfg).await.unwrap();
        let client = c.client().await;
        client.start().await.unwrap();
        while read_count(&c) < 10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let stats = client.stats().await.unwrap();
        assert!(stats.cpu_usage_ns > 0, "{stats:?}");
        assert!(stats.system_cpu_ns > stats.cpu_usage_ns, "{stats:?}");
        assert!(stats.online_cpus >= 1);
        assert!(
            stats.memory_usage > 0 && stats.memory_usage < 64 * MIB as u64,
            "{stats:?}"
        );
        assert_eq!(stats.memory_limit, 64 * MIB as u64);
        assert!(stats.pids_current >= 1, "{stats:?}");
        assert_eq!(stats.pids_limit, 50);
        let pids = client.pids().await.unwrap();
        assert!(pids.contains(&c.info.unwrap().init_pid), "{pids:?}");

        client.pause().await.unwrap();
        assert_eq!(cgroup_file(&c, "freezer", "freezer.state"), "FROZEN");
        let frozen_at = read_count(&c);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            read_count(&c),
            frozen_at,
            "a paused container made progress"
        );

        client.resume().await.unwrap();
        assert_eq!(cgroup_file(&c, "freezer", "freezer.state"), "THAWED");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while read_count(&c) <= frozen_at {
            assert!(
                std::time::Instant::now() < deadline,
                "no progress after resume"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Killing a paused container must not hang on its frozen init.
        client.pause().await.unwrap();
        client.kill(libc::SIGKILL).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
    })
    .await;
}

fn status_field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .trim()
        .to_string()
}

#[tokio::test]
async fn privileged_gets_every_capability_and_may_mount() {
    let mut c = TestContainer::new("priv");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "cat /proc/self/status; mount -t tmpfs none /mnt && echo mounted",
        ]);
        cfg.security.privileged = true;
        let (status, out, err) = run_to_end(&mut c, &cfg).await;
        assert_eq!((status.exit_code, err.as_str()), (0, ""));
        // Every capability the kernel knows that this host left us.
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        let bounding = u64::from_str_radix(&status_field(&own, "CapBnd:"), 16).unwrap();
        let all = ((1u64 << (last + 1)) - 1) & bounding;
        assert!(all.count_ones() >= 38, "{all:x}");
        assert_eq!(status_field(&out, "CapEff:"), format!("{all:016x}"));
        assert_eq!(status_field(&out, "Seccomp:"), "0");
        assert!(out.ends_with("mounted\n"), "{out}");
    })
    .await;
}

#[tokio::test]
async fn cap_drop_no_new_privileges_and_unconfined_seccomp() {
    let mut c = TestContainer::new("nnp");
    with_timeout(async {
        let mut cfg = c.config(&["cat", "/proc/self/status"]);
        cfg.cap_drop = vec!["CHOWN".into(), "NET_RAW".into()];
        cfg.security.no_new_privileges = true;
        cfg.security.seccomp = Seccomp::Unconfined;
        let (status, out, _) = run_to_end(&mut c, &cfg).await;
        assert_eq!(status.exit_code, 0);
        // Docker's default set (a80425fb) without CHOWN (bit 0) and NET_RAW (bit 13).
        assert_eq!(
            status_field(&out, "CapEff:"),
            format!("{:016x}", 0xa80425fbu64 & !1 & !(1 << 13))
        );
        assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
        assert_eq!(status_field(&out, "Seccomp:"), "0");
    })
    .await;
}

#[tokio::test]
async fn custom_seccomp_profile_denies_mkdir() {
    let mut c = TestContainer::new("seccomp");
    with_timeout(async {
        let mut cfg = c.config(&["sh", "-c", "mkdir /tmp/x; echo rc=$?; grep Seccomp: /proc/self/status"]);
        cfg.security.seccomp = Seccomp::Profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#
                .into(),
        );
        let (status, out, err) = run_to_end(&mut c, &cfg).await;
        assert_eq!(status.exit_code, 0);
        assert!(err.contains("Operation not permitted"), "{err}");
        assert_eq!(out, "rc=1\nSeccomp:\t2\n");
        assert!(!c.rootfs().join("tmp/x").exists());
    })
    .await;
}

#[tokio::test]
async fn namespaced_sysctls_apply_and_others_are_refused() {
    let mut c = TestContainer::new("sysctl");
    with_timeout(async {
        let mut cfg = c.config(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
        cfg.security
            .sysctls
            .insert("net.ipv4.ip_forward".into(), "1".into());
        let (status, out, err) = run_to_end(&mut c, &cfg).await;
        assert_eq!(
            (status.exit_code, out.as_str(), err.as_str()),
            (0, "1\n", "")
        );

        let mut bad = TestContainer::new("sysctl-bad");
        let mut cfg = bad.config(&["true"]);
        cfg.security
            .sysctls
            .insert("kernel.panic".into(), "1".into());
        let err = bad.create(&cfg).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "sysctl \"kernel.panic\" is not in a separate kernel namespace"
        );
        assert!(!bad.state_dir().join("shim.sock").exists());
    })
    .await;
}

#[tokio::test]
async fn group_add_and_mapped_device() {
    let mut c = TestContainer::new("dev");
    with_timeout(async {
        let mut cfg = c.config(&[
            "sh",
            "-c",
            "id -G; echo hi > /dev/mynull && echo written; cat /dev/mynull | wc -c",
        ]);
        cfg.security.group_add = vec![4242, 4343];
        cfg.security.devices = vec![Device {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            permissions: "rwm".into(),
        }];
        let (status, out, err) = run_to_end(&mut c, &cfg).await;
        assert_eq!((status.exit_code, err.as_str()), (0, ""));
        let lines: Vec<&str> = out.lines().collect();
        let groups: Vec<&str> = lines[0].split_whitespace().collect();
        assert!(
            groups.contains(&"4242") && groups.contains(&"4343"),
            "{out}"
        );
        assert_eq!(&lines[1..], ["written", "0"]);
    })
    .await;
}
