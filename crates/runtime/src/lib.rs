//! Runtime layer of berth: turns a container description into an OCI bundle and
//! runs it inside a per-container shim process, with youki's libcontainer
//! (the built-in runtime) or an OCI runtime CLI such as runc or crun.
//!
//! - [`spec::generate`]: `ContainerConfig` -> OCI spec with Docker's defaults.
//! - [`exe::check_executable`]: args[0] lookup inside a rootfs, with runc's errors.
//! - [`shim`]: daemon side (`create`, `ShimClient`) and the `berth shim` process.
//! - [`exec`]: `berth shim-exec`, a process joining a running container.
//! - `pty`: the console socket and pty master behind `tty` containers and execs.

mod backend;
mod cgroup;
pub mod cgstats;
mod cli;
pub mod config;
pub mod error;
pub mod exe;
pub mod exec;
mod executor;
pub mod limits;
pub mod pages;
mod private;
mod pty;
pub mod seccomp_cache;
pub mod security;
pub mod shim;
pub mod spec;
pub mod userns;

pub use backend::RuntimeKind;
pub use config::{ContainerConfig, Mount, NamespaceMode, NetworkMode, User, Userns};
pub use error::RuntimeError;
pub use limits::{Limits, Stats, Ulimit};
pub use security::{Device, Seccomp, SecurityOptions};

/// Entry point for the internal subcommands the daemon spawns (`berth shim …`,
/// `berth shim-exec …`, and `berth runtime …` that shims spawn). Returns the process exit code when `args` names one of
/// them, `None` otherwise. Must run before any thread is started.
pub fn dispatch(args: &[String]) -> Option<i32> {
    match args.get(1).map(String::as_str) {
        Some("shim") => Some(shim::main(&args[2..])),
        Some("shim-exec") => Some(exec::main(&args[2..])),
        Some("runtime") => Some(cli::main(&args[2..])),
        _ => None,
    }
}

/// `berth-runtime …`: the built-in runtime's CLI (runc's command line, as
/// `berth runtime …`) as its own small binary, which the shim runs for each
/// operation without mapping and relocating the whole of berth.
pub fn runtime_main(args: &[String]) -> i32 {
    cli::main(args)
}

/// `berth-shim <state-dir>`: the shim as its own small binary, which maps
/// in none of berth but the shim (see [`shim`]). Must run before any thread
/// is started.
pub fn shim_main(args: &[String]) -> i32 {
    shim::main(args)
}
