//! One shim process per container: it creates the container with
//! libcontainer, owns the init process, its stdio (pipes, or the master of its
//! pty for tty containers) and its log, serves start/kill/wait/attach/resize
//! on `<state_dir>/shim.sock`, and records the exit
//! status before it exits. It is detached from the daemon (double fork +
//! setsid), so a daemon restart does not touch running containers.

mod client;
mod exit;
mod launch;
mod logdriver;
mod protocol;
mod server;
mod sockpath;

use std::path::PathBuf;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::RuntimeKind;

pub use client::{Attached, ShimClient};
pub use exit::{ExitStatus, read_exit_status};
pub use launch::create;
pub use logdriver::local as local_log;
pub use logdriver::{
    DeliveryMode, FileFormat, FileSpec, FluentdSpec, GelfCompression, GelfSpec, LogRotation,
    LogSpec, LogStats, RemoteSpec, SyslogFormat, SyslogSpec, SyslogTransport, TlsFiles,
    compressed_path, probe_syslog, read_log_stats, rotated_path,
};

pub(crate) use server::main;
pub(crate) use sockpath::{SocketPath, socket_path, socket_path_for_others};

pub const SOCKET_FILE: &str = "shim.sock";
/// The shim's own binary, installed beside `berth`.
pub const MONITOR_BINARY: &str = "berth-shim";
/// The built-in runtime's own binary, installed beside `berth`.
pub const RUNTIME_BINARY: &str = "berth-runtime";
pub const BUNDLE_DIR: &str = "bundle";
pub const SHIM_LOG: &str = "shim.log";
const PARAMS_FILE: &str = "shim.json";

/// How the daemon starts a shim.
#[derive(Debug, Clone)]
pub struct ShimLaunch {
    /// The berth binary: the shim's runtime CLI for the built-in runtime
    /// (`berth runtime …`), and the shim itself (`exe args_prefix`) when
    /// there is no `monitor`.
    pub exe: PathBuf,
    /// Arguments selecting the shim role, e.g. `["shim"]`.
    pub args_prefix: Vec<String>,
    /// `berth-shim`, the small binary that serves as the shim in production:
    /// the same code as `berth shim` without the rest of berth mapped in.
    pub monitor: Option<PathBuf>,
    /// `berth-runtime`, the built-in runtime's CLI without the rest of
    /// berth; `berth runtime` (of `exe`) without it.
    pub runtime_cli: Option<PathBuf>,
    /// `<exec-root>/containers/<id>`: bundle/, shim.sock, exit.json, shim.log.
    pub state_dir: PathBuf,
    /// The runtime's state root, e.g. `<exec-root>/runtime` for the built-in one.
    pub runtime_root: PathBuf,
    pub runtime: RuntimeKind,
    /// The container's json-file log (or the local copy beside a remote driver).
    pub log_path: PathBuf,
    /// The container's log drivers.
    pub log: LogSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShimInfo {
    pub shim_pid: u32,
    pub init_pid: u32,
    /// How long the runtime took to create the container, of the shim's
    /// whole start-up (for the daemon's timeline of a start).
    pub runtime_create: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    Stdout = 0,
    Stderr = 1,
}

impl StdStream {
    pub fn name(self) -> &'static str {
        match self {
            StdStream::Stdout => "stdout",
            StdStream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stream: StdStream,
    pub data: Bytes,
}

/// What the shim needs besides the bundle; written by the daemon next to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShimParams {
    pub(crate) id: String,
    pub(crate) runtime_root: PathBuf,
    log_path: PathBuf,
    /// Shims from before log drivers: json-file with this rotation.
    #[serde(default)]
    log_rotation: Option<LogRotation>,
    #[serde(default)]
    log: Option<LogSpec>,
    open_stdin: bool,
    /// Serve a pty instead of stdout/stderr pipes.
    #[serde(default)]
    tty: bool,
    /// Absent in the params of shims from before OCI runtimes: the built-in one.
    #[serde(default)]
    pub(crate) runtime: RuntimeKind,
    /// What runs the built-in runtime for the shim as runc runs for
    /// containerd's: `berth-runtime`, or the berth binary's `berth runtime`.
    #[serde(default)]
    pub(crate) runtime_cli: PathBuf,
    /// `runtime_cli` is `berth-runtime` (no `runtime` verb before runc's
    /// arguments). Absent in the params of shims from before it: false.
    #[serde(default)]
    pub(crate) runtime_cli_dedicated: bool,
}

/// Why the daemon's parameters for a shim cannot be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParamsError {
    #[error("read params: {0}")]
    Read(std::io::Error),
    #[error("parse params: {0}")]
    Parse(serde_json::Error),
}

/// The parameters the daemon wrote for the shim of `state_dir`.
pub(crate) fn read_params(state_dir: &std::path::Path) -> Result<ShimParams, ParamsError> {
    let data = std::fs::read(state_dir.join(PARAMS_FILE)).map_err(ParamsError::Read)?;
    serde_json::from_slice(&data).map_err(ParamsError::Parse)
}

/// The one line a shim writes to its stdout once the container exists (or could not be made).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReadyReport {
    Ready {
        shim_pid: u32,
        init_pid: u32,
        /// Microseconds the runtime's create took.
        #[serde(default)]
        runtime_create_us: u64,
    },
    Failed {
        message: String,
        /// The message is an OCI runtime CLI's failure (dockerd's wording).
        #[serde(default)]
        runtime: bool,
    },
}
