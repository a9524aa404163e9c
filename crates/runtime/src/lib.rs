//! Runtime layer of berth: turns a container description into an OCI bundle and
//! runs it with youki's libcontainer inside a per-container shim process.
//!
//! CONTRACT (used by `engine`; keep these names and shapes):
//!
//! ```ignore
//! // Spec generation with Docker's defaults:
//! runtime::spec::generate(&ContainerConfig) -> Result<oci_spec::runtime::Spec>
//!
//! // Shim, daemon side (async, tokio):
//! let shim = runtime::shim::create(&ShimLaunch { exe, args_prefix: vec!["shim"], ... }, &config).await?;
//!     // returns once the container is created (init waiting, not yet started)
//! let client = ShimClient::connect(&socket_path).await?;
//! client.attach(AttachOptions{stdin, stdout, stderr}).await? -> Attached { output: Stream<(StdStream, Bytes)>, stdin: writer }
//! client.start().await?; client.kill(signal).await?; client.wait().await? -> ExitStatus
//! runtime::shim::read_exit_status(state_dir) -> Option<ExitStatus>
//!
//! // Shim, process side: `berth shim <args>` calls runtime::shim::main(args) -> i32
//! // Exec: runtime::exec::spawn(&ExecLaunch, &ExecConfig).await? -> ExecProcess
//! ```

/// Entry point for the internal subcommands the daemon spawns (`berth shim …`,
/// `berth shim-exec …`). Returns the process exit code when `args` names one of
/// them, `None` otherwise.
pub fn dispatch(_args: &[String]) -> Option<i32> {
    None
}
