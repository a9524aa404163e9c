//! Running an extra process in a running container (`docker exec`).
//!
//! The daemon spawns `berth shim-exec <json>` as an ordinary child with piped
//! stdio; that single-threaded process joins the container with libcontainer's
//! tenant builder, hands its stdio to the new process, waits for it and exits
//! with its exit code.
//!
//! With `tty`, the process gets a pty instead (libcontainer sends the master
//! to a console socket of the helper, see [`crate::pty`]) and the helper
//! relays: its stdin pipe -> terminal input, terminal output -> its stdout
//! pipe (stderr then only carries the helper's own errors). Resizes travel on
//! an extra pipe, the helper's fd 3: 4-byte messages, height then width as
//! big-endian u16, applied with TIOCSWINSZ on the master.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{BoxBuilder, Process, Spec, UserBuilder};
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::signal::unix::{SignalKind, signal};

use crate::backend::{Io, RuntimeKind};
use crate::config::User;
use crate::error::RuntimeError;
use crate::pty::{ConsoleSocket, Pty};

#[derive(Debug, Clone)]
pub struct ExecLaunch {
    /// The berth binary.
    pub exe: PathBuf,
    /// Arguments selecting the exec role, e.g. `["shim-exec"]`.
    pub args_prefix: Vec<String>,
    /// The container's directory under the exec root: its bundle and the
    /// shim's parameters, which name the runtime it runs on.
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecConfig {
    pub container_id: String,
    pub args: Vec<String>,
    /// Added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Defaults to the container's working directory.
    pub cwd: Option<String>,
    /// Defaults to the container's user.
    pub user: Option<User>,
    pub tty: bool,
    /// Give the process a stdin pipe (otherwise it reads /dev/null).
    pub open_stdin: bool,
}

/// What `spawn` hands back: the exec process's stdio and its exit code.
///
/// With `tty`, `stdin` is the terminal's input, `stdout` its output (one
/// stream, as Docker reports it) and `stderr` only carries the helper's own
/// error messages, e.g. an executable that was not found.
pub struct ExecProcess {
    /// Pid of the `shim-exec` helper that owns the exec'd process.
    pub pid: u32,
    pub stdin: Option<ChildStdin>,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// Kept apart from the pipes so callers can move those into their own tasks.
    pub waiter: ExecWaiter,
    /// Present for `tty` execs; clonable, so it can go to another task too.
    pub resizer: Option<ExecResizer>,
}

/// Resizes an exec's terminal.
#[derive(Debug, Clone)]
pub struct ExecResizer {
    pipe: Arc<std::fs::File>,
}

impl ExecResizer {
    /// Queues the new size for the helper, which applies it to the terminal
    /// as soon as it has one. Never blocks; fails once the exec has ended.
    pub fn resize(&self, height: u16, width: u16) -> Result<(), RuntimeError> {
        use std::io::Write;
        let mut msg = [0u8; RESIZE_MSG];
        msg[..2].copy_from_slice(&height.to_be_bytes());
        msg[2..].copy_from_slice(&width.to_be_bytes());
        // Writes of at most PIPE_BUF bytes are atomic: no message is ever split.
        match (&*self.pipe).write(&msg) {
            Ok(RESIZE_MSG) => Ok(()),
            Ok(_) => Err(RuntimeError::Protocol("short resize write".into())),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(RuntimeError::NotRunning),
            Err(e) => Err(RuntimeError::io("send resize", e)),
        }
    }
}

pub struct ExecWaiter {
    child: Child,
}

impl ExecProcess {
    pub async fn wait(&mut self) -> Result<i32, RuntimeError> {
        self.waiter.wait().await
    }

    /// Sets the window size of a `tty` exec's terminal.
    pub fn resize(&self, height: u16, width: u16) -> Result<(), RuntimeError> {
        match &self.resizer {
            Some(r) => r.resize(height, width),
            None => Err(RuntimeError::InvalidConfig(
                "the exec process has no terminal".into(),
            )),
        }
    }
}

impl ExecWaiter {
    /// The exit code of the exec'd process: 128 + signal if it was killed,
    /// 126/127 if it could not be started.
    pub async fn wait(&mut self) -> Result<i32, RuntimeError> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|e| RuntimeError::io("wait for shim-exec", e))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecRequest {
    state_dir: PathBuf,
    config: ExecConfig,
    /// Initial terminal size (height, width), set before the program runs.
    #[serde(default)]
    console_size: Option<(u16, u16)>,
}

/// The helper's fd carrying resize messages.
const RESIZE_FD: RawFd = 3;
const RESIZE_MSG: usize = 4;
/// The terminal is sent before libcontainer's builder returns; this only
/// bounds a libcontainer that never sends it.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the process exits, programs it left in the background may hold the
/// terminal; its output is not awaited longer than this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn spawn(launch: &ExecLaunch, cfg: &ExecConfig) -> Result<ExecProcess, RuntimeError> {
    spawn_with_console_size(launch, cfg, None).await
}

/// `spawn`, with the initial (height, width) of a `tty` exec's terminal:
/// applied before the program starts, unlike a resize right after `spawn`.
pub async fn spawn_with_console_size(
    launch: &ExecLaunch,
    cfg: &ExecConfig,
    console_size: Option<(u16, u16)>,
) -> Result<ExecProcess, RuntimeError> {
    if cfg.args.is_empty() {
        return Err(RuntimeError::InvalidConfig("no command specified".into()));
    }
    let state_dir =
        std::path::absolute(&launch.state_dir).map_err(|e| RuntimeError::io("state dir", e))?;
    let params = crate::shim::read_params(&state_dir).map_err(|_| RuntimeError::NotRunning)?;
    if params.runtime == RuntimeKind::Builtin {
        // Reading state only (no fork, no chdir): safe from the daemon.
        let container = Container::load(params.runtime_root.join(&params.id))
            .map_err(|_| RuntimeError::NotRunning)?;
        if !container.can_exec() {
            return Err(RuntimeError::NotRunning);
        }
    }
    let req = serde_json::to_string(&ExecRequest {
        state_dir,
        config: cfg.clone(),
        console_size: console_size.filter(|_| cfg.tty),
    })
    .map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(&launch.exe);
    let mut resize_pipe = None;
    if cfg.tty {
        let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| RuntimeError::io("resize pipe", e.into()))?;
        let raw = rd.as_raw_fd();
        // SAFETY: only dup2/fcntl between fork and exec: nix's wrappers are
        // the bare system calls (no allocation, no lock), async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if raw == RESIZE_FD {
                    fcntl(raw, FcntlArg::F_SETFD(FdFlag::empty()))?;
                } else {
                    nix::unistd::dup2(raw, RESIZE_FD)?;
                }
                Ok(())
            });
        }
        resize_pipe = Some((rd, wr));
    }
    let mut child = cmd
        .args(&launch.args_prefix)
        .arg(req)
        .stdin(if cfg.open_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(format!("spawn {}", launch.exe.display()), e))?;
    // Our copy of the read end goes: the helper's exit then breaks the pipe.
    let resizer = resize_pipe.map(|(_rd, wr)| ExecResizer {
        pipe: Arc::new(std::fs::File::from(wr)),
    });
    Ok(ExecProcess {
        pid: child.id().unwrap_or(0),
        stdin: child.stdin.take(),
        stdout: child.stdout.take().expect("stdout is piped"),
        stderr: child.stderr.take().expect("stderr is piped"),
        waiter: ExecWaiter { child },
        resizer,
    })
}

/// Exit code for failures of our own, as Docker reports an exec the runtime could not start.
const EXEC_FAILED: i32 = 126;

/// `berth shim-exec <json>`: runs in its own single-threaded process.
pub(crate) fn main(args: &[String]) -> i32 {
    let req: ExecRequest = match args.first().map(|a| serde_json::from_str(a)) {
        Some(Ok(r)) => r,
        _ => {
            eprintln!("usage: berth shim-exec <request-json>");
            return 2;
        }
    };
    // As the shim: Docker's umask for the exec'd process, explicit modes for ours.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    match join_and_wait(&req) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code().unwrap_or(EXEC_FAILED)
        }
    }
}

fn join_and_wait(req: &ExecRequest) -> Result<i32, RuntimeError> {
    let cfg = &req.config;
    // Taken first, so that the exec'd process cannot inherit it.
    let resize = if cfg.tty {
        Some(take_resize_fd()?)
    } else {
        None
    };
    let params = crate::shim::read_params(&req.state_dir)
        .map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    let bundle = req.state_dir.join(crate::shim::BUNDLE_DIR);
    let spec = Spec::load(bundle.join("config.json"))
        .map_err(|e| RuntimeError::Libcontainer(e.to_string()))?;
    let process = spec.process().clone().unwrap_or_default();
    let user = cfg.user.clone().unwrap_or_else(|| User {
        uid: process.user().uid(),
        gid: process.user().gid(),
        additional_gids: process.user().additional_gids().clone().unwrap_or_default(),
    });
    let cwd = cfg
        .cwd
        .clone()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| process.cwd().clone());
    // The container's process with the exec's args, env, cwd and user: its
    // capabilities and rlimits carry over (libcontainer's own tenant process
    // would fall back to oci-spec defaults such as NOFILE 1024).
    let mut exec_process = process.clone();
    exec_process
        .set_args(Some(cfg.args.clone()))
        .set_env(Some(merge_env(
            process.env().as_deref().unwrap_or_default(),
            &cfg.env,
        )))
        .set_cwd(cwd)
        .set_terminal(Some(cfg.tty))
        .set_console_size(console_box(req.console_size)?)
        .set_user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .umask(
                    process
                        .user()
                        .umask()
                        .unwrap_or(crate::spec::CONTAINER_UMASK),
                )
                .build()
                .map_err(|e| RuntimeError::InvalidConfig(e.to_string()))?,
        );
    let process_file = tempfile_in(&req.state_dir, &exec_process)?;

    let console = if cfg.tty {
        let name = format!("exec-{}.tty", std::process::id());
        Some(
            ConsoleSocket::bind(&req.state_dir, &name)
                .map_err(|e| RuntimeError::io("console socket", e))?,
        )
    } else {
        None
    };
    let stdio = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, RuntimeError> {
        fd.try_clone_to_owned()
            .map_err(|e| RuntimeError::io("dup stdio", e))
    };
    let io = match &console {
        Some(socket) => Io {
            console_socket: Some(socket.path().to_path_buf()),
            ..Io::default()
        },
        None => Io {
            stdin: Some(stdio(std::io::stdin().as_fd())?),
            stdout: Some(stdio(std::io::stdout().as_fd())?),
            stderr: Some(stdio(std::io::stderr().as_fd())?),
            console_socket: None,
        },
    };
    let mut backend = crate::backend::open(
        &params.runtime,
        &params.id,
        &params.runtime_root,
        &req.state_dir,
    );
    let pid = backend.exec(process_file.path(), io);
    drop(process_file);
    let pid = match pid {
        // A runtime CLI wrote its error on the stderr it shares with the
        // process, which is the exec's: saying it twice helps nobody.
        Err(RuntimeError::Oci(_)) if console.is_none() => return Ok(EXEC_FAILED),
        other => other?,
    };
    let Some(socket) = console else {
        return wait_for(pid);
    };
    let master = socket.receive_master(CONSOLE_TIMEOUT);
    drop(socket);
    match master {
        Ok(master) => relay(master, pid, resize, cfg.open_stdin),
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = wait_for(pid);
            Err(RuntimeError::io("receive terminal", e))
        }
    }
}

fn wait_for(pid: Pid) -> Result<i32, RuntimeError> {
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(RuntimeError::Libcontainer(format!("wait for exec: {e}")));
            }
        }
    }
}

/// Docker's convention: 128 + signal when killed. `None` for other states.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The daemon put the read end of the resize pipe on our fd 3.
fn take_resize_fd() -> Result<OwnedFd, RuntimeError> {
    // F_GETFD only checks that the fd exists.
    fcntl(RESIZE_FD, FcntlArg::F_GETFD)
        .map_err(|e| RuntimeError::io("resize pipe (fd 3)", e.into()))?;
    // SAFETY: fd 3 is open and nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(RESIZE_FD) };
    let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Ok(fd)
}

fn console_box(
    size: Option<(u16, u16)>,
) -> Result<Option<libcontainer::oci_spec::runtime::Box>, RuntimeError> {
    size.map(|(h, w)| {
        BoxBuilder::default()
            .height(u64::from(h))
            .width(u64::from(w))
            .build()
            .map_err(|e| RuntimeError::InvalidConfig(e.to_string()))
    })
    .transpose()
}

/// Serves the terminal until the exec'd process `pid` has exited and its
/// output is drained; returns its exit code. Runs after libcontainer's fork,
/// so a runtime (and its threads) is fine here.
fn relay(
    master: OwnedFd,
    pid: Pid,
    resize: Option<OwnedFd>,
    stdin: bool,
) -> Result<i32, RuntimeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RuntimeError::io("tokio runtime", e))?;
    let code = rt.block_on(async move {
        let mut sigchld =
            signal(SignalKind::child()).map_err(|e| RuntimeError::io("SIGCHLD handler", e))?;
        let pty = Pty::new(master).map_err(|e| RuntimeError::io("terminal", e))?;
        let out_fd = stdio_copy(1)?;
        let mut stdout = pipe::Sender::from_owned_fd(out_fd)
            .map_err(|e| RuntimeError::io("stdout must be a pipe", e))?;
        let mut reader = pty.reader();
        let output = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut reader, &mut stdout).await;
        });
        if stdin {
            let mut input = pipe::Receiver::from_owned_fd(stdio_copy(0)?)
                .map_err(|e| RuntimeError::io("stdin must be a pipe", e))?;
            let mut writer = pty.writer();
            // End of our stdin leaves the terminal open, as in Docker.
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut input, &mut writer).await;
            });
        }
        if let Some(fd) = resize {
            let mut messages = pipe::Receiver::from_owned_fd(fd)
                .map_err(|e| RuntimeError::io("resize pipe", e))?;
            let pty = pty.clone();
            tokio::spawn(async move {
                let mut msg = [0u8; RESIZE_MSG];
                while messages.read_exact(&mut msg).await.is_ok() {
                    let height = u16::from_be_bytes([msg[0], msg[1]]);
                    let width = u16::from_be_bytes([msg[2], msg[3]]);
                    if let Err(e) = pty.resize(height, width) {
                        eprintln!("resize terminal: {e}");
                    }
                }
            });
        }
        let code = loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    sigchld.recv().await;
                }
                Ok(status) => {
                    if let Some(code) = exit_code(status) {
                        break code;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(RuntimeError::Libcontainer(format!("wait for exec: {e}"))),
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, output).await;
        Ok(code)
    });
    // Pending reads of stdin or the resize pipe must not hold up our exit.
    rt.shutdown_background();
    code
}

fn stdio_copy(fd: RawFd) -> Result<OwnedFd, RuntimeError> {
    // SAFETY: fds 0 and 1 stay open for the life of the process.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    borrowed
        .try_clone_to_owned()
        .map_err(|e| RuntimeError::io("dup stdio", e))
}

/// The exec's variables override the container's of the same name.
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let overridden: std::collections::HashSet<String> = extra.iter().map(|e| key(e)).collect();
    base.iter()
        .filter(|e| !overridden.contains(&key(e)))
        .chain(extra.iter())
        .cloned()
        .collect()
}

/// A process.json for the tenant builder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_in(dir: &std::path::Path, process: &Process) -> Result<TempFile, RuntimeError> {
    let path = dir.join(format!("exec-{}.json", std::process::id()));
    let body = serde_json::to_vec(process).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    // 0600: the exec's environment.
    crate::private::write(&path, &body).map_err(|e| RuntimeError::io("write exec process", e))?;
    Ok(TempFile(path))
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    #[test]
    fn exec_env_overrides_container_env() {
        let base = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        let got = merge_env(&base, &["A=9".into(), "C=3".into()]);
        assert_eq!(got, vec!["PATH=/bin", "B=2", "A=9", "C=3"]);
    }
}
