//! The libcontainer workload executor we use for init and exec processes:
//! libcontainer's own exec, preceded by our args[0] check so that a missing
//! binary fails at create time with runc's message instead of libcontainer's.

use std::path::Path;

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

#[derive(Clone, Default)]
pub(crate) struct DockerExecutor {
    /// For exec processes: libcontainer 0.7's tenant builder drops the
    /// container's seccomp profile, so we load it ourselves just before execve.
    pub exec_seccomp: Option<LinuxSeccomp>,
}

impl Executor for DockerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(seccomp) = &self.exec_seccomp {
            // Capabilities are already dropped here, so the kernel only accepts
            // a filter from a no_new_privs process.
            nix::sys::prctl::set_no_new_privs()
                .map_err(|e| ExecutorError::Other(format!("set no_new_privs: {e}")))?;
            libcontainer::seccomp::initialize_seccomp(seccomp)
                .map_err(|e| ExecutorError::Other(format!("load seccomp profile: {e}")))?;
        }
        apply_console_size(spec).map_err(|e| ExecutorError::Other(format!("console size: {e}")))?;
        DefaultExecutor {}.exec(spec)
    }

    /// Runs inside the container, after pivot_root: "/" is the container's
    /// root with all its mounts, so volumes are seen as the process will see them.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| ExecutorValidationError::ArgValidationError("no process".into()))?;
        let args = process.args().as_deref().unwrap_or_default();
        let Some(args0) = args.first() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "no command specified".into(),
            ));
        };
        let env = process.env().as_deref().unwrap_or_default();
        crate::exe::check_executable(Path::new("/"), args0, env)
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))
    }
}

/// libcontainer 0.7 ignores process.consoleSize. An exec process runs as soon
/// as its terminal exists, before the runtime could resize it from outside,
/// so the size is set here, on the slave that is now our stdin.
fn apply_console_size(spec: &Spec) -> std::io::Result<()> {
    let Some(process) = spec.process() else {
        return Ok(());
    };
    if process.terminal() != Some(true) {
        return Ok(());
    }
    let Some(size) = process.console_size() else {
        return Ok(());
    };
    let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
    crate::pty::set_size(0, clamp(size.height()), clamp(size.width()))
}
