//! The two ways a container is run: youki's libcontainer inside our own
//! process (berth's built-in runtime) or an OCI runtime CLI with runc's
//! command line (runc, crun). The shim and the exec helper drive either one
//! through [`Backend`], so their own logic never asks which it is.
//!
//! Either way the process calling [`Backend::create`] or [`Backend::exec`]
//! ends up as the parent of the container's process: libcontainer forks it
//! directly; a runtime CLI exits after starting it, and the kernel re-parents
//! it to us because we are a child subreaper (PR_SET_CHILD_SUBREAPER), as
//! containerd-shim-runc-v2 is.

mod builtin;
mod oci;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// Which runtime runs a container; recorded in the shim's parameters, so a
/// restarted daemon (and every exec) uses the one the container started with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuntimeKind {
    /// libcontainer in the shim.
    #[default]
    Builtin,
    /// An OCI runtime binary following runc's command line.
    Oci { name: String, path: PathBuf },
}

/// The stdio of a new process. With a console socket the runtime creates a
/// pty, sends its master there (SCM_RIGHTS) and ignores the descriptors.
#[derive(Default)]
pub(crate) struct Io {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub console_socket: Option<PathBuf>,
}

pub(crate) trait Backend {
    /// Creates the container of `bundle`; its init waits for [`Backend::start`].
    /// Returns the init's pid, a child of the calling process.
    fn create(&mut self, bundle: &Path, io: Io) -> Result<Pid, RuntimeError>;
    fn start(&mut self) -> Result<(), RuntimeError>;
    /// Freezes every process of the container.
    fn pause(&mut self) -> Result<(), RuntimeError>;
    fn resume(&mut self) -> Result<(), RuntimeError>;
    fn paused(&self) -> bool;
    /// Applies the set fields of `resources` to the running container.
    fn update(&mut self, resources: &LinuxResources) -> Result<(), RuntimeError>;
    /// Host pids of the container's processes, ascending.
    fn pids(&self) -> Result<Vec<u32>, RuntimeError>;
    /// The container's cgroup, relative to each hierarchy's root.
    fn cgroup_path(&self) -> PathBuf;
    /// Removes the runtime's state and cgroup once init has exited.
    fn delete(&mut self) -> Result<(), RuntimeError>;
    /// [`Backend::delete`] of a container whose init the caller has reaped:
    /// nothing is left to kill, so a backend may clean up more cheaply.
    fn delete_exited(&mut self) -> Result<(), RuntimeError> {
        self.delete()
    }
    /// Starts the process described by the process.json `process` in the
    /// running container; returns its pid, a child of the calling process.
    fn exec(&mut self, process: &Path, io: Io) -> Result<Pid, RuntimeError>;
}

/// The backend a shim drives: always a runtime CLI, the built-in runtime
/// through `berth-runtime` or `berth runtime` (see [`crate::cli`]), so the
/// long-lived shim does not carry libcontainer's work in its own memory
/// (paid once per running container). Two exceptions, both for the
/// built-in runtime: its create runs in a forked child of the shim, whose
/// pages go when it exits, so no exec is paid; its start, a message and a
/// state write, the shim makes itself just before it gives back its
/// start-up pages. `dedicated`: `cli` is `berth-runtime`.
pub(crate) fn open_cli(
    kind: &RuntimeKind,
    cli: &Path,
    dedicated: bool,
    id: &str,
    root: &Path,
    state_dir: &Path,
) -> Box<dyn Backend> {
    match kind {
        RuntimeKind::Builtin => Box::new(oci::OciCli::builtin(cli, dedicated, id, root, state_dir)),
        RuntimeKind::Oci { name, path } => {
            Box::new(oci::OciCli::new(name, path, id, root, state_dir))
        }
    }
}

/// The backend for container `id`. `root` is the runtime's state root,
/// `state_dir` the container's directory under berth's exec root.
pub(crate) fn open(
    kind: &RuntimeKind,
    id: &str,
    root: &Path,
    state_dir: &Path,
) -> Box<dyn Backend> {
    match kind {
        RuntimeKind::Builtin => Box::new(builtin::Builtin::new(id, root, state_dir)),
        RuntimeKind::Oci { name, path } => {
            Box::new(oci::OciCli::new(name, path, id, root, state_dir))
        }
    }
}
