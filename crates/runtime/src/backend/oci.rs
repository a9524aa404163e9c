//! An OCI runtime CLI with runc's command line (runc, crun), run as
//! `<path> --root R --log L --log-format json <command> …`.
//!
//! Commands run to completion synchronously: the shim is single-threaded and
//! reaps its children with `waitpid(-1)`, which must never see a runtime
//! process before we have waited for it ourselves.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};

use super::{Backend, Io};
use crate::error::RuntimeError;

/// The runtime's JSON log, next to the bundle.
const LOG_FILE: &str = "runtime-log.json";

pub(crate) struct OciCli {
    name: String,
    path: PathBuf,
    /// Arguments before runc's own: `["runtime"]` for `berth runtime`,
    /// none for `berth-runtime`.
    prefix: Vec<String>,
    /// berth's own runtime: its failures are reported as the in-process
    /// runtime reported them (dockerd's words for libcontainer's errors),
    /// not as a foreign runtime CLI's.
    builtin: bool,
    id: String,
    root: PathBuf,
    state_dir: PathBuf,
    paused: bool,
    /// Read from the bundle's spec once: the shim asks at create and again
    /// at the exit.
    cgroup_path: std::cell::OnceCell<PathBuf>,
}

impl OciCli {
    pub fn new(name: &str, path: &Path, id: &str, root: &Path, state_dir: &Path) -> Self {
        Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            prefix: Vec::new(),
            builtin: false,
            id: id.to_string(),
            root: root.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            paused: false,
            cgroup_path: std::cell::OnceCell::new(),
        }
    }

    /// The built-in runtime as a CLI: `berth-runtime …` (`dedicated`), or
    /// `berth runtime …` of the berth binary.
    pub fn builtin(cli: &Path, dedicated: bool, id: &str, root: &Path, state_dir: &Path) -> Self {
        let prefix = if dedicated {
            Vec::new()
        } else {
            vec!["runtime".into()]
        };
        Self {
            prefix,
            builtin: true,
            ..Self::new("berth", cli, id, root, state_dir)
        }
    }

    fn command(&self, verb: &str) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(&self.prefix)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(self.state_dir.join(LOG_FILE))
            .arg("--log-format")
            .arg("json")
            .arg(verb)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `cmd` to completion; a failure carries the runtime's own error,
    /// worded as dockerd words it ("OCI runtime create failed: …: unknown").
    fn run(&self, verb: &str, mut cmd: Command) -> Result<Vec<u8>, RuntimeError> {
        let log = self.state_dir.join(LOG_FILE);
        // Several processes (the shim, exec helpers) share the log: only what
        // this command appends is its own.
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let out = cmd
            .output()
            .map_err(|e| RuntimeError::io(format!("run {} {verb}", self.path.display()), e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let detail = last_error(&log, offset)
            .or_else(|| {
                let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
                (!text.is_empty()).then_some(text)
            })
            .unwrap_or_else(|| format!("{} {verb}: {}", self.name, out.status));
        if self.builtin {
            return Err(RuntimeError::Libcontainer(detail));
        }
        Err(RuntimeError::Oci(format!(
            "OCI runtime {verb} failed: {detail}: unknown"
        )))
    }

    fn simple(&self, verb: &str) -> Result<(), RuntimeError> {
        let mut cmd = self.command(verb);
        cmd.arg(&self.id);
        self.run(verb, cmd).map(|_| ())
    }

    /// `--pid-file` target of one create or exec, unique per calling process.
    fn pid_file(&self, what: &str) -> PathBuf {
        self.state_dir
            .join(format!("{what}-{}.pid", std::process::id()))
    }

    /// Runs a create or exec whose process gets `io`, and returns that
    /// process's pid, which the runtime writes to `pid_file`.
    fn spawn(
        &self,
        verb: &str,
        mut cmd: Command,
        mut io: Io,
        pid_file: &Path,
    ) -> Result<Pid, RuntimeError> {
        // The process outlives the runtime, which exits once it started it:
        // the kernel then hands it to us, the nearest subreaper.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| RuntimeError::io("become a subreaper", e.into()))?;
        let _ = std::fs::remove_file(pid_file);
        cmd.arg("--pid-file").arg(pid_file);
        // Held until the runtime has exited: it may name the socket's directory.
        let _console_address = console_address(&mut io)?;
        match &io.console_socket {
            Some(address) => {
                cmd.arg("--console-socket").arg(address);
            }
            None => {
                // The runtime hands its own stdio to the container's process.
                if let Some(fd) = io.stdin {
                    cmd.stdin(Stdio::from(fd));
                }
                if let Some(fd) = io.stdout {
                    cmd.stdout(Stdio::from(fd));
                }
                if let Some(fd) = io.stderr {
                    cmd.stderr(Stdio::from(fd));
                }
            }
        }
        cmd.arg(&self.id);
        let pid = self.run(verb, cmd).and_then(|_| read_pid_file(pid_file));
        let _ = std::fs::remove_file(pid_file);
        pid
    }
}

/// Whether this process has one thread (`num_threads` of /proc/self/stat).
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/stat").is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(17))
            == Some("1")
    })
}

/// Replaces `io`'s console socket by an address another process can reach
/// whatever the length of its path; the returned guard keeps it valid.
fn console_address(io: &mut Io) -> Result<Option<crate::shim::SocketPath>, RuntimeError> {
    let Some(socket) = &io.console_socket else {
        return Ok(None);
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let name = socket
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let address = crate::shim::socket_path_for_others(dir, name)
        .map_err(|e| RuntimeError::io("console socket address", e))?;
    io.console_socket = Some(address.path.clone());
    Ok(Some(address))
}

impl Backend for OciCli {
    fn create(&mut self, bundle: &Path, io: Io) -> Result<Pid, RuntimeError> {
        crate::private::create_dir_all(&self.root)
            .map_err(|e| RuntimeError::io("create runtime root", e))?;
        // berth's own runtime is libcontainer, linked into the shim too: a
        // forked child runs it without an exec (see create_forked). Forking
        // is only sound while we are single-threaded, as the shim is until
        // its container exists; otherwise the CLI does it.
        if self.builtin && single_threaded() {
            let mut io = io;
            let _console_address = console_address(&mut io)?;
            return super::builtin::create_forked(&self.root, &self.id, bundle, io);
        }
        let mut cmd = self.command("create");
        cmd.arg("--bundle").arg(bundle);
        let pid_file = self.pid_file("init");
        self.spawn("create", cmd, io, &pid_file)
    }

    fn start(&mut self) -> Result<(), RuntimeError> {
        if self.builtin {
            // For berth's own runtime a start is one message to the waiting
            // init and one state write: done here, it spares each container
            // a runtime process (~4 ms of its start, a third of them CPU).
            return super::builtin::start(&self.root, &self.id);
        }
        self.simple("start")
    }

    fn pause(&mut self) -> Result<(), RuntimeError> {
        self.simple("pause")?;
        self.paused = true;
        Ok(())
    }

    fn resume(&mut self) -> Result<(), RuntimeError> {
        self.simple("resume")?;
        self.paused = false;
        Ok(())
    }

    fn paused(&self) -> bool {
        self.paused
    }

    fn update(&mut self, resources: &LinuxResources) -> Result<(), RuntimeError> {
        let file = self
            .state_dir
            .join(format!("update-{}.json", std::process::id()));
        let body =
            serde_json::to_vec(resources).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
        crate::private::write(&file, &body).map_err(|e| RuntimeError::io("write resources", e))?;
        let mut cmd = self.command("update");
        cmd.arg("--resources").arg(&file).arg(&self.id);
        let result = self.run("update", cmd);
        let _ = std::fs::remove_file(&file);
        result.map(|_| ())
    }

    fn pids(&self) -> Result<Vec<u32>, RuntimeError> {
        let mut cmd = self.command("ps");
        cmd.args(["--format", "json"])
            .arg(&self.id)
            .stdout(Stdio::piped());
        let out = self.run("ps", cmd)?;
        let mut pids: Vec<u32> = serde_json::from_slice(&out)
            .map_err(|e| RuntimeError::Protocol(format!("{} ps: {e}", self.name)))?;
        pids.sort_unstable();
        Ok(pids)
    }

    fn cgroup_path(&self) -> PathBuf {
        // With cgroupfs (no --systemd-cgroup) the runtime uses the spec's path as is.
        self.cgroup_path
            .get_or_init(|| {
                Spec::load(
                    self.state_dir
                        .join(crate::shim::BUNDLE_DIR)
                        .join("config.json"),
                )
                .ok()
                .and_then(|s| s.linux().clone())
                .and_then(|l| l.cgroups_path().clone())
                .unwrap_or_default()
            })
            .clone()
    }

    fn delete(&mut self) -> Result<(), RuntimeError> {
        let mut cmd = self.command("delete");
        cmd.arg("--force").arg(&self.id);
        self.run("delete", cmd).map(|_| ())
    }

    /// For berth's own runtime, what its `delete` does to a stopped
    /// container (berth's specs carry no hooks), without a process for it:
    /// the cgroup and libcontainer's state directory. It is on the way from
    /// an exit to `wait`'s answer.
    fn delete_exited(&mut self) -> Result<(), RuntimeError> {
        if !self.builtin {
            return self.delete();
        }
        crate::cgroup::remove(&self.cgroup_path())?;
        match std::fs::remove_dir_all(self.root.join(&self.id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RuntimeError::io("remove the runtime's state", e))
            }
            _ => Ok(()),
        }
    }

    fn exec(&mut self, process: &Path, io: Io) -> Result<Pid, RuntimeError> {
        let mut cmd = self.command("exec");
        cmd.arg("--process").arg(process).arg("--detach");
        let pid_file = self.pid_file("exec");
        self.spawn("exec", cmd, io, &pid_file)
    }
}

/// The last error the runtime logged after `offset`: runc and crun write
/// one JSON object per line, `{"level":"error","msg":"…"}`.
fn last_error(log: &Path, offset: u64) -> Option<String> {
    let mut file = std::fs::File::open(log).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["level"]
                .as_str()
                .is_some_and(|l| l == "error" || l == "fatal")
        })
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()
}

/// Reads a process's pid file (runc writes it before exiting).
fn read_pid_file(path: &Path) -> Result<Pid, RuntimeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuntimeError::io(format!("read {}", path.display()), e))?;
    text.trim()
        .parse::<i32>()
        .map(Pid::from_raw)
        .map_err(|_| RuntimeError::Protocol(format!("bad pid file {}: {text:?}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-thread case is the shim's, checked end to end (a shim test
    /// sees no runtime CLI run for a create).
    #[test]
    fn another_thread_is_seen() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        assert!(!single_threaded());
        drop(tx);
        let _ = other.join();
    }

    #[test]
    fn the_last_error_after_the_offset_is_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.json");
        let old = "{\"level\":\"error\",\"msg\":\"old failure\"}\n";
        std::fs::write(
            &log,
            format!(
                "{old}{}\n{}\n{}\n",
                r#"{"level":"warning","msg":"hmm","time":"t"}"#,
                r#"{"level":"error","msg":"runc create failed: unable to start container process: exec: \"x\": executable file not found in $PATH","time":"t"}"#,
                "not json"
            ),
        )
        .unwrap();
        assert_eq!(
            last_error(&log, old.len() as u64).unwrap(),
            "runc create failed: unable to start container process: exec: \"x\": executable file not found in $PATH"
        );
        assert_eq!(last_error(&log, 1 << 20), None);
    }
}
