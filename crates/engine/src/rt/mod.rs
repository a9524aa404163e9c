//! What the engine asks of the container runtime, behind object-safe traits:
//! [`ContainerRuntime`] creates containers, reconnects to them and runs execs,
//! a [`Task`] is one running container's shim. Production wraps
//! `runtime::shim` and `runtime::exec` ([`shim`]); the unit tests of the
//! lifecycle rules run on a recording fake instead, without root.

#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod shim;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use runtime::RuntimeError;
use runtime::config::ContainerConfig;
use runtime::exec::{ExecConfig, ExecLaunch};
use runtime::shim::{Attached, ExitStatus, ShimInfo, ShimLaunch};
use runtime::{Limits, Stats};
use tokio::io::{AsyncRead, AsyncWrite};

/// Boxed so the traits stay object-safe: the engine holds `Arc<dyn …>`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub(crate) type RtResult<T> = std::result::Result<T, RuntimeError>;

/// An exec's input; dropping it closes the process's stdin.
pub type ExecStdin = Box<dyn AsyncWrite + Send + Unpin>;
pub(crate) type ExecOutput = Box<dyn AsyncRead + Send + Unpin>;
/// Sets an exec's terminal size (height, width); clonable across tasks.
pub(crate) type Resizer = Arc<dyn Fn(u16, u16) -> RtResult<()> + Send + Sync>;

/// A started exec process: its stdio, its exit code to come, its terminal.
pub(crate) struct ExecProcess {
    pub pid: u32,
    pub stdin: Option<ExecStdin>,
    pub stdout: ExecOutput,
    pub stderr: ExecOutput,
    /// The exit code: 128 + signal when killed, 126/127 when it could not start.
    pub exit: BoxFuture<'static, RtResult<i32>>,
    pub resizer: Option<Resizer>,
}

pub(crate) trait ContainerRuntime: Send + Sync {
    /// Starts a shim that creates (but does not start) the container.
    fn create<'a>(
        &'a self,
        launch: &'a ShimLaunch,
        config: &'a ContainerConfig,
    ) -> BoxFuture<'a, RtResult<ShimInfo>>;

    /// The shim serving the container whose state lives in `state_dir`.
    fn connect<'a>(&'a self, state_dir: &'a Path) -> BoxFuture<'a, RtResult<Arc<dyn Task>>>;

    /// The exit record a shim left in `state_dir`, which outlives the shim.
    fn exit_record(&self, state_dir: &Path) -> Option<ExitStatus>;

    /// Runs a process in a running container.
    fn exec<'a>(
        &'a self,
        launch: &'a ExecLaunch,
        config: &'a ExecConfig,
        console_size: Option<(u16, u16)>,
    ) -> BoxFuture<'a, RtResult<ExecProcess>>;

    /// Signals an exec process by the pid [`ContainerRuntime::exec`] reported.
    fn signal_exec(&self, pid: u32, signal: i32);
}

/// One container's shim.
pub(crate) trait Task: Send + Sync {
    fn attach(&self, stdin: bool) -> BoxFuture<'_, RtResult<Attached>>;
    fn start(&self) -> BoxFuture<'_, RtResult<()>>;
    fn kill(&self, signal: i32) -> BoxFuture<'_, RtResult<()>>;
    /// Resolves once the container exited; a gone shim's exit record answers too.
    fn wait(&self) -> BoxFuture<'_, RtResult<ExitStatus>>;
    fn resize(&self, height: u16, width: u16) -> BoxFuture<'_, RtResult<()>>;
    fn pause(&self) -> BoxFuture<'_, RtResult<()>>;
    fn resume(&self) -> BoxFuture<'_, RtResult<()>>;
    fn update<'a>(&'a self, limits: &'a Limits) -> BoxFuture<'a, RtResult<()>>;
    fn stats(&self) -> BoxFuture<'_, RtResult<Stats>>;
    fn pids(&self) -> BoxFuture<'_, RtResult<Vec<u32>>>;
}
