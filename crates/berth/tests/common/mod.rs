//! Shared harness for the end-to-end tests: starts a daemon (berth, or Debian's
//! dockerd to prove the tests encode Docker's real behaviour), drives the real
//! `docker` CLI against it, and cleans up everything it made even when a test
//! panics.
//!
//! Choose the daemon with `BERTH_E2E_DAEMON=dockerd`; the default is berth.

// Each test file compiles this module separately and uses a different subset.
#![allow(dead_code)]

pub mod cluster;
pub mod debian;
pub mod git;
pub mod http;
pub mod netns;
pub mod pki;
pub mod prometheus;
pub mod registry;
pub mod rootfs;
pub mod swarm;
pub mod web;

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The docker CLI under test; Debian's docker.io puts another one in /usr/bin.
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";
/// How long one CLI invocation may take before the test fails instead of hanging.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(90);
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Berth,
    Dockerd,
}

impl Kind {
    pub fn from_env() -> Kind {
        match std::env::var("BERTH_E2E_DAEMON").as_deref() {
            Ok("dockerd") => Kind::Dockerd,
            Ok("berth") | Ok("") | Err(_) => Kind::Berth,
            Ok(other) => panic!("BERTH_E2E_DAEMON={other}: expected `berth` or `dockerd`"),
        }
    }
}

/// Where a test binary keeps one of its shared daemons.
pub type SharedSlot = OnceLock<Mutex<Option<Arc<Daemon>>>>;

/// A running daemon on private roots. Dropping it removes every trace.
pub struct Daemon {
    kind: Kind,
    tmp: PathBuf,
    socket: PathBuf,
    unique: String,
    extra_args: Vec<String>,
    /// With a default bridge network (berth: its own bridge; dockerd: docker0
    /// with its iptables rules), instead of `--bridge=none`.
    networked: bool,
    /// The network namespace the daemon runs in, when not the host's.
    netns: Option<PathBuf>,
    /// Started by `systemd-socket-activate` with `-H fd://`: the unix socket
    /// and these extra addresses are bound by it and passed as LISTEN_FDS.
    activation: Option<Vec<String>>,
    child: Mutex<Option<Child>>,
}

impl Daemon {
    /// Starts a daemon of the kind chosen by `BERTH_E2E_DAEMON` and imports
    /// the busybox image into it.
    pub fn start() -> Daemon {
        Self::start_kind(Kind::from_env())
    }

    /// Starts a daemon that keeps containers running across its own restarts.
    /// berth always does; dockerd needs `--live-restore`.
    pub fn start_live_restore() -> Daemon {
        let kind = Kind::from_env();
        let extra = match kind {
            Kind::Berth => Vec::new(),
            Kind::Dockerd => vec!["--live-restore".to_string()],
        };
        Self::start_with(kind, extra)
    }

    pub fn start_kind(kind: Kind) -> Daemon {
        Self::start_with(kind, Vec::new())
    }

    /// Starts a daemon of `kind` with extra command-line arguments.
    pub fn start_with(kind: Kind, extra_args: Vec<String>) -> Daemon {
        Self::start_full(kind, extra_args, false)
    }

    /// Starts a daemon whose containers get the default bridge network.
    pub fn start_networked() -> Daemon {
        Self::start_full(Kind::from_env(), Vec::new(), true)
    }

    /// [`Daemon::start_networked`] with extra daemon arguments.
    pub fn start_networked_with(extra_args: &[&str]) -> Daemon {
        let extra = extra_args.iter().map(|a| a.to_string()).collect();
        Self::start_full(Kind::from_env(), extra, true)
    }

    /// Starts a daemon (without a default bridge) inside the network
    /// namespace at `netns`: its links, rules and containers' uplinks stay
    /// in there, with whatever parent interfaces the test put there.
    pub fn start_in_netns(netns: &Path) -> Daemon {
        Self::start_inner(
            Kind::from_env(),
            Vec::new(),
            false,
            Some(netns.to_path_buf()),
        )
    }

    /// [`Daemon::start_in_netns`] with extra daemon arguments.
    pub fn start_in_netns_with(netns: &Path, extra_args: Vec<String>) -> Daemon {
        Self::start_inner(
            Kind::from_env(),
            extra_args,
            false,
            Some(netns.to_path_buf()),
        )
    }

    fn start_full(kind: Kind, extra_args: Vec<String>, networked: bool) -> Daemon {
        Self::start_inner(kind, extra_args, networked, None)
    }

    /// A berth daemon started as systemd starts it from a socket unit:
    /// `systemd-socket-activate` binds its unix socket and `listen` (e.g.
    /// `127.0.0.1:PORT`), and the daemon serves them with `-H fd://`.
    pub fn start_socket_activated(listen: &[&str], extra_args: Vec<String>) -> Daemon {
        Self::start_built(
            Kind::Berth,
            extra_args,
            false,
            None,
            Some(listen.iter().map(|l| l.to_string()).collect()),
        )
    }

    fn start_inner(
        kind: Kind,
        extra_args: Vec<String>,
        networked: bool,
        netns: Option<PathBuf>,
    ) -> Daemon {
        Self::start_built(kind, extra_args, networked, netns, None)
    }

    fn start_built(
        kind: Kind,
        extra_args: Vec<String>,
        networked: bool,
        netns: Option<PathBuf>,
        activation: Option<Vec<String>>,
    ) -> Daemon {
        sweep_stale_once();
        let unique = unique_suffix();
        // Short path: unix socket paths are limited to 108 bytes, and dockerd
        // nests containerd's sockets below the exec root.
        let tmp = PathBuf::from(format!("/tmp/be2e-{unique}"));
        fs::create_dir_all(&tmp).expect("create daemon tmp dir");
        fs::create_dir_all(tmp.join("config")).expect("create docker config dir");
        let socket = tmp.join(match kind {
            Kind::Berth => "berth.sock",
            Kind::Dockerd => "docker.sock",
        });
        let daemon = Daemon {
            kind,
            tmp,
            socket,
            unique,
            extra_args,
            networked,
            netns,
            activation,
            child: Mutex::new(None),
        };
        daemon.spawn();
        daemon.import_busybox();
        daemon
    }

    /// A daemon shared by all tests of one test binary (one per test file).
    /// Tests that use it must give their containers unique names.
    pub fn shared() -> Arc<Daemon> {
        static SHARED: SharedSlot = OnceLock::new();
        Self::shared_in(&SHARED, Daemon::start)
    }

    /// Like [`Daemon::shared`], with the default bridge network.
    pub fn shared_networked() -> Arc<Daemon> {
        static SHARED: SharedSlot = OnceLock::new();
        Self::shared_in(&SHARED, Daemon::start_networked)
    }

    /// A daemon made by `make`, shared by the tests of one binary that name `slot`.
    pub fn shared_in(slot: &'static SharedSlot, make: fn() -> Daemon) -> Arc<Daemon> {
        static SLOTS: Mutex<Vec<&'static SharedSlot>> = Mutex::new(Vec::new());
        let slot = slot.get_or_init(|| {
            // Statics are never dropped; tear the daemons down when the test
            // binary exits (the harness calls exit() even after failures).
            extern "C" fn teardown() {
                let slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
                for slot in slots {
                    if let Some(slot) = slot.get() {
                        let daemon = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                        drop(daemon);
                    }
                }
            }
            let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
            if slots.is_empty() {
                // SAFETY: registers a plain extern "C" function with no arguments.
                unsafe { libc::atexit(teardown) };
            }
            slots.push(slot);
            Mutex::new(None)
        });
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        guard.get_or_insert_with(|| Arc::new(make())).clone()
    }

    /// Short tag naming this daemon's bridges (`b<tag>0`, `b<tag>-<id>`) and
    /// nftables table (`berth_<tag>`), so parallel daemons never collide.
    pub fn net_tag(&self) -> String {
        net_tag(&self.unique)
    }

    /// Name of the default bridge of a networked berth daemon.
    pub fn default_bridge(&self) -> String {
        match self.kind {
            Kind::Berth => format!("b{}0", self.net_tag()),
            Kind::Dockerd => "docker0".into(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_berth(&self) -> bool {
        self.kind == Kind::Berth
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `DOCKER_HOST` value for this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub fn data_root(&self) -> PathBuf {
        self.tmp.join("root")
    }

    /// A fresh name for a container or image, unique across tests and runs.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", unique_suffix())
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.docker_inner(args, None)
    }

    /// Runs the docker CLI with `input` on its standard input.
    pub fn docker_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        self.docker_inner(args, Some(input))
    }

    /// Runs the docker CLI, asserts it succeeded and returns trimmed stdout.
    pub fn docker_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.docker(args);
        assert_success(&out, &describe(args));
        stdout(&out).trim().to_string()
    }

    /// A `docker` command aimed at this daemon, for callers that need to run
    /// it in the background (e.g. `docker events` while other commands run).
    pub fn docker_command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(DOCKER_CLI);
        cmd.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.tmp.join("config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY");
        cmd
    }

    fn docker_inner<S: AsRef<OsStr>>(&self, args: &[S], input: Option<&[u8]>) -> Output {
        let cmd = self.docker_command(args);
        run_with_timeout(cmd, input, CLI_TIMEOUT, &describe(args))
    }

    /// One HTTP request on the daemon's socket.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> http::Response {
        http::request(&self.socket, method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log_tail()))
    }

    /// SIGKILLs the daemon process only: berth's per-container shims live on.
    pub fn kill9(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` to the daemon process (e.g. SIGHUP: reload settings).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let pid = child.as_ref().expect("the daemon is not running").id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    }

    /// Starts the daemon again on the same roots (after `kill9` or `stop`).
    pub fn restart(&self) {
        self.kill9_if_running();
        self.spawn();
    }

    /// Stops the daemon gracefully (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = child.take() {
            terminate(&mut c, Duration::from_secs(20));
        }
    }

    fn kill9_if_running(&self) {
        let running = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none());
        if running {
            self.kill9();
        }
    }

    /// Last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.tmp.join("daemon.log")).unwrap_or_default();
        // Debug lines drown what a failure needs.
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("DEBUG")).collect();
        let from = lines.len().saturating_sub(40);
        format!("--- daemon log tail ---\n{}", lines[from..].join("\n"))
    }

    pub fn cgroup_parent(&self) -> String {
        format!("/berth-test-{}", self.unique)
    }

    fn spawn(&self) {
        let t = &self.tmp;
        let _ = fs::remove_file(&self.socket);
        let mut cmd = match self.kind {
            Kind::Berth => {
                let mut c = match &self.activation {
                    None => Command::new(env!("CARGO_BIN_EXE_berth")),
                    Some(listen) => {
                        let mut c = Command::new("systemd-socket-activate");
                        c.arg("-l").arg(&self.socket);
                        for l in listen {
                            c.arg("-l").arg(l);
                        }
                        c.arg(env!("CARGO_BIN_EXE_berth"));
                        c
                    }
                };
                let tag = self.net_tag();
                c.arg("daemon").args(["--log-level", "debug"]);
                c.arg("--bridge").arg(if self.networked {
                    self.default_bridge()
                } else {
                    "none".into()
                });
                c.arg("--bridge-prefix").arg(format!("b{tag}-"));
                c.arg("--nft-table").arg(format!("berth_{tag}"));
                c.arg("--default-address-pool")
                    .arg(format!("base=10.{}.0.0/16,size=24", pool_octet(&tag)));
                c
            }
            Kind::Dockerd => {
                let mut c = Command::new("dockerd");
                if !self.networked {
                    c.args(["--bridge=none", "--iptables=false", "--ip6tables=false"]);
                }
                c
            }
        };
        let host = match self.activation {
            Some(_) => "fd://".to_string(),
            None => self.host(),
        };
        cmd.arg("-H")
            .arg(host)
            .arg("--data-root")
            .arg(t.join("root"))
            .arg("--exec-root")
            .arg(t.join("exec"))
            .arg("--pidfile")
            .arg(t.join("pid"))
            .arg("--cgroup-parent")
            .arg(self.cgroup_parent())
            .args(&self.extra_args);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(t.join("daemon.log"))
            .expect("open daemon log");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        // Opened here and kept until spawn returns: the child enters it
        // between fork and exec.
        let netns = self
            .netns
            .as_ref()
            .map(|p| fs::File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display())));
        if let Some(ns) = &netns {
            use std::os::unix::process::CommandExt;
            let ns = ns
                .try_clone()
                .unwrap_or_else(|e| panic!("dup the netns descriptor: {e}"));
            // SAFETY: only setns(2) between fork and exec: nix's wrapper is
            // the bare system call (async-signal-safe, no allocation), on a
            // descriptor the closure keeps open across the fork.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?} daemon: {e}", self.kind));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(resp) = http::request(&self.socket, "GET", "/_ping", None)
                && resp.status == 200
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{:?} daemon exited during start-up: {status}\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{:?} daemon did not answer /_ping within {START_TIMEOUT:?}\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
    }

    /// Writes a fresh copy of the busybox rootfs tar under the tmp dir.
    pub fn rootfs_tar(&self) -> PathBuf {
        let tar = self.tmp.join(format!("rootfs-{}.tar", unique_suffix()));
        rootfs::write_busybox_rootfs(&tar).expect("build busybox rootfs tar");
        tar
    }

    fn import_busybox(&self) {
        let tar = self.rootfs_tar();
        let tar = tar.to_str().expect("utf-8 tmp path");
        self.docker_ok(&["import", "--change", r#"CMD ["sh"]"#, tar, "busybox:latest"]);
        self.docker_ok(&["tag", "busybox:latest", "e2e-busybox:latest"]);
    }

    fn cleanup(&mut self) {
        // Containers first, while the daemon can still tear them down cleanly.
        let alive = self
            .child
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none());
        if alive {
            let ids = self.docker(&["ps", "-aq"]);
            let ids: Vec<String> = stdout(&ids).split_whitespace().map(String::from).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm".to_string(), "-f".to_string()];
                args.extend(ids);
                let _ = self.docker(&args);
            }
        }
        self.stop();
        match self.kind {
            Kind::Berth => cleanup_network(&self.net_tag()),
            Kind::Dockerd if self.networked => {
                let _ = Command::new("ip").args(["link", "del", "docker0"]).output();
            }
            Kind::Dockerd => {}
        }
        cleanup_paths(&self.tmp, &self.cgroup_parent());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Cleans up after test processes that died without running their guards
/// (SIGKILL, timeouts). Their dirs carry the dead pid: /tmp/be2e-<pid>-...
pub fn sweep_stale_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = fs::read_dir("/tmp") else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(unique) = name.strip_prefix("be2e-") else {
                continue;
            };
            let Some(pid) = unique.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                cleanup_paths(&e.path(), &format!("/berth-test-{unique}"));
                cleanup_network(&net_tag(unique));
            }
        }
        netns::sweep_stale();
    });
}

/// What dropping a [`Daemon`] removes, for a test that opened an engine
/// in-process on the roots of one: `/tmp/be2e-<unique>` (data root `root`,
/// exec root `exec`), cgroup parent `/berth-test-<unique>` and the network
/// names of [`net_tag`]`(unique)`.
pub fn cleanup_private_roots(unique: &str) {
    cleanup_paths(
        &PathBuf::from(format!("/tmp/be2e-{unique}")),
        &format!("/berth-test-{unique}"),
    );
    cleanup_network(&net_tag(unique));
}

/// Kills what survived the daemon, unmounts, removes cgroups and the tmp dir.
fn cleanup_paths(tmp: &Path, cgroup_parent: &str) {
    let tmp_str = tmp.to_string_lossy().into_owned();
    // berth's shims (and dockerd's containerd + its shims) outlive the daemon
    // by design; they all carry a path under tmp on their command line.
    for _ in 0..3 {
        let mut killed = false;
        for pid in pids_matching(|cmdline| cmdline.contains(&tmp_str)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            killed = true;
        }
        killed |= kill_cgroup_members(cgroup_parent);
        if !killed {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    unmount_below(tmp);
    remove_cgroups(cgroup_parent);
    if let Err(e) = fs::remove_dir_all(tmp) {
        eprintln!("e2e cleanup: remove {}: {e}", tmp.display());
    }
}

fn pids_matching(pred: impl Fn(&str) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| pred(&String::from_utf8_lossy(&raw).replace('\0', " ")))
                .unwrap_or(false)
        })
        .collect()
}

fn cgroup_dirs(cgroup_parent: &str) -> Vec<PathBuf> {
    let rel = cgroup_parent.trim_start_matches('/');
    let Ok(ctrls) = fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    ctrls
        .filter_map(|e| Some(e.ok()?.path().join(rel)))
        .filter(|p| p.is_dir())
        .collect()
}

/// Depth-first list of a cgroup tree, leaves first.
fn cgroup_tree_leaves_first(root: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(root) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                cgroup_tree_leaves_first(&e.path(), out);
            }
        }
    }
    out.push(root.to_path_buf());
}

fn kill_cgroup_members(cgroup_parent: &str) -> bool {
    let mut killed = false;
    for root in cgroup_dirs(cgroup_parent) {
        let mut dirs = Vec::new();
        cgroup_tree_leaves_first(&root, &mut dirs);
        for dir in dirs {
            // A frozen cgroup would keep SIGKILLed members alive.
            let _ = fs::write(dir.join("freezer.state"), "THAWED");
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                killed = true;
            }
        }
    }
    killed
}

fn remove_cgroups(cgroup_parent: &str) {
    for attempt in 0..20 {
        let mut left = false;
        for root in cgroup_dirs(cgroup_parent) {
            let mut dirs = Vec::new();
            cgroup_tree_leaves_first(&root, &mut dirs);
            for dir in dirs {
                if fs::remove_dir(&dir).is_err() && dir.exists() {
                    left = true;
                }
            }
        }
        if !left {
            return;
        }
        if attempt == 19 {
            eprintln!("e2e cleanup: cgroups under {cgroup_parent} could not be removed");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Lazily unmounts every mount point under `dir`, deepest first.
pub fn unmount_below(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    for _ in 0..3 {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape_mountinfo)
            .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
        points.dedup();
        for p in points {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&p)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn terminate(child: &mut Child, grace: Duration) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Unique per process and call; the pid keeps parallel test binaries apart.
pub fn net_tag(unique: &str) -> String {
    // FNV-1a: stable across runs, so a sweep finds a dead daemon's leftovers.
    let mut h: u32 = 0x811c_9dc5;
    for b in unique.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{:05x}", h & 0xf_ffff)
}

fn pool_octet(tag: &str) -> u32 {
    100 + u32::from_str_radix(tag, 16).unwrap_or(0) % 120
}

/// Removes a berth daemon's bridges (their veths go with them) and its
/// nftables table; berth keeps both across its own restarts by design.
fn cleanup_network(tag: &str) {
    let prefix = format!("b{tag}");
    if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(name) = line.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if name.starts_with(&prefix) {
                let _ = Command::new("ip").args(["link", "del", name]).output();
            }
        }
    }
    for family in ["ip", "ip6"] {
        let _ = Command::new("nft")
            .args(["delete", "table", family, &format!("berth_{tag}")])
            .output();
    }
}

pub fn unique_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{n}-{:x}", std::process::id(), nanos & 0xffff)
}

/// Runs `cmd`, feeding `input`, and kills it if it outlives `timeout`.
pub fn run_with_timeout(
    mut cmd: Command,
    input: Option<&[u8]>,
    timeout: Duration,
    what: &str,
) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn describe<S: AsRef<OsStr>>(args: &[S]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    format!("docker {}", parts.join(" "))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "`{what}` failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command failed; `what` names it in the message.
pub fn assert_failure(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "`{what}` should have failed\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command failed and its stderr contains `needle`.
pub fn assert_fails_with(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure containing {needle:?}, got success\nstdout: {}",
        stdout(out)
    );
    assert!(
        stderr(out).contains(needle),
        "expected stderr to contain {needle:?}\nstderr: {}",
        stderr(out)
    );
}

/// Seconds since the epoch with nanoseconds, as `docker --since` accepts.
pub fn unix_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// berth's own CLI (`berth scan`, `berth router`) against `d`.
pub fn berth(d: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("berth {args:?}: {e}"))
}

/// [`berth`] with `input` on its stdin.
#[allow(dead_code)]
pub fn berth_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("berth {args:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).unwrap();
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("berth {args:?}: {e}"))
}

/// [`berth`], which must succeed; its stdout.
pub fn berth_ok(d: &Daemon, args: &[&str]) -> String {
    let out = berth(d, args);
    assert!(
        out.status.success(),
        "berth {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A host directory private to one test, inside the daemon's temp dir (cleaned with it).
#[allow(dead_code)]
pub fn host_dir(d: &Daemon, prefix: &str) -> PathBuf {
    let dir = d.tmp().join(d.name(prefix));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A build context directory private to one test, holding `files` (parents created).
pub fn context_dir(d: &Daemon, files: &[(&str, &str)]) -> PathBuf {
    let dir = host_dir(d, "ctx");
    for (name, text) in files {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().expect("a file in the context")).expect("create dirs");
        fs::write(p, text).expect("write a context file");
    }
    dir
}
