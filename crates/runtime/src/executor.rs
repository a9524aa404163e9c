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
        reset_signals().map_err(|e| ExecutorError::Other(format!("reset signals: {e}")))?;
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

/// execve keeps ignored dispositions and the blocked mask. The shim (a Rust
/// program: SIGPIPE ignored by std) and whatever started it must not leak
/// theirs into the container, or `yes | head -n 1` never ends there.
fn reset_signals() -> nix::Result<()> {
    // The raw system call: glibc's sigaction refuses the two real-time
    // signals it keeps for itself (32, 33), which a parent may have ignored.
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask.
    let default = [0u64; 4];
    for signo in 1..=64 {
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installs SIG_DFL (no handler code runs) from a valid buffer
        // of the kernel's layout; this process is single-threaded here, just
        // before execve.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
        if rc != 0 {
            return Err(nix::errno::Errno::last());
        }
    }
    let empty = 0u64;
    // SAFETY: sets the mask from a valid 8-byte set; old mask not returned.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if rc != 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
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
