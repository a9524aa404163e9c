//! Running an extra process in a running container (`docker exec`).
//!
//! The daemon spawns `berth shim-exec <json>` as an ordinary child with piped
//! stdio; that single-threaded process joins the container with libcontainer's
//! tenant builder, hands its stdio to the new process, waits for it and exits
//! with its exit code.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{Process, Spec, UserBuilder};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{WaitStatus, waitpid};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use crate::config::User;
use crate::error::{RuntimeError, chain_text};
use crate::executor::DockerExecutor;

#[derive(Debug, Clone)]
pub struct ExecLaunch {
    /// The berth binary.
    pub exe: PathBuf,
    /// Arguments selecting the exec role, e.g. `["shim-exec"]`.
    pub args_prefix: Vec<String>,
    /// libcontainer's state root, `<exec-root>/runtime`.
    pub runtime_root: PathBuf,
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
pub struct ExecProcess {
    /// Pid of the `shim-exec` helper that owns the exec'd process.
    pub pid: u32,
    pub stdin: Option<ChildStdin>,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// Kept apart from the pipes so callers can move those into their own tasks.
    pub waiter: ExecWaiter,
}

pub struct ExecWaiter {
    child: Child,
}

impl ExecProcess {
    pub async fn wait(&mut self) -> Result<i32, RuntimeError> {
        self.waiter.wait().await
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
    runtime_root: PathBuf,
    config: ExecConfig,
}

pub async fn spawn(launch: &ExecLaunch, cfg: &ExecConfig) -> Result<ExecProcess, RuntimeError> {
    if cfg.tty {
        return Err(RuntimeError::NotImplemented("tty"));
    }
    if cfg.args.is_empty() {
        return Err(RuntimeError::InvalidConfig("no command specified".into()));
    }
    let runtime_root = std::path::absolute(&launch.runtime_root)
        .map_err(|e| RuntimeError::io("runtime root", e))?;
    // Reading state only (no fork, no chdir): safe from the daemon.
    let container = Container::load(runtime_root.join(&cfg.container_id))
        .map_err(|_| RuntimeError::NotRunning)?;
    if !container.can_exec() {
        return Err(RuntimeError::NotRunning);
    }
    let req = serde_json::to_string(&ExecRequest {
        runtime_root,
        config: cfg.clone(),
    })
    .map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    let mut child = tokio::process::Command::new(&launch.exe)
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
    Ok(ExecProcess {
        pid: child.id().unwrap_or(0),
        stdin: child.stdin.take(),
        stdout: child.stdout.take().expect("stdout is piped"),
        stderr: child.stderr.take().expect("stderr is piped"),
        waiter: ExecWaiter { child },
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
    if cfg.tty {
        return Err(RuntimeError::NotImplemented("tty"));
    }
    let container_root = req.runtime_root.join(&cfg.container_id);
    let container =
        Container::load(container_root.clone()).map_err(|_| RuntimeError::NotRunning)?;
    let spec = Spec::load(container.bundle().join("config.json"))
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
        .set_terminal(Some(false))
        .set_user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()
                .map_err(|e| RuntimeError::InvalidConfig(e.to_string()))?,
        );
    let process_file = tempfile_in(&container_root, &exec_process)?;

    let stdio = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, RuntimeError> {
        fd.try_clone_to_owned()
            .map_err(|e| RuntimeError::io("dup stdio", e))
    };
    let pid = ContainerBuilder::new(cfg.container_id.clone(), SyscallType::default())
        .with_executor(DockerExecutor {
            exec_seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        })
        .with_root_path(&req.runtime_root)
        .map_err(lc_err)?
        .with_stdin(stdio(std::io::stdin().as_fd())?)
        .with_stdout(stdio(std::io::stdout().as_fd())?)
        .with_stderr(stdio(std::io::stderr().as_fd())?)
        .as_tenant()
        .with_process(Some(process_file.path()))
        .with_detach(true)
        .build()
        .map_err(lc_err)?;
    drop(process_file);
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(RuntimeError::Libcontainer(format!("wait for exec: {e}")));
            }
        }
    }
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
    std::fs::write(&path, body).map_err(|e| RuntimeError::io("write exec process", e))?;
    Ok(TempFile(path))
}

fn lc_err(e: libcontainer::error::LibcontainerError) -> RuntimeError {
    let text = chain_text(&e);
    crate::exe::classify(&text).unwrap_or(RuntimeError::Libcontainer(text))
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
