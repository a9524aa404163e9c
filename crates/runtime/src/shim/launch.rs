//! Daemon side of shim creation.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use super::{
    BUNDLE_DIR, PARAMS_FILE, ReadyReport, SHIM_LOG, SOCKET_FILE, ShimInfo, ShimLaunch, ShimParams,
    exit::EXIT_FILE,
};
use crate::config::ContainerConfig;
use crate::error::RuntimeError;

/// Creation mounts the rootfs and runs hooks; a shim silent for this long is stuck.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes the bundle, starts a detached shim and returns once the container is
/// created (its init waits for `start`) or creation failed.
pub async fn create(launch: &ShimLaunch, cfg: &ContainerConfig) -> Result<ShimInfo, RuntimeError> {
    let spec = crate::spec::generate(cfg)?;
    let state_dir = absolute(&launch.state_dir)?;
    let bundle = state_dir.join(BUNDLE_DIR);
    // Everything here is root's alone: the bundle's config.json holds the
    // container's environment.
    crate::private::create_dir_all(&bundle)
        .map_err(|e| RuntimeError::io("create bundle dir", e))?;
    crate::private::create_dir_all(&launch.runtime_root)
        .map_err(|e| RuntimeError::io("create runtime root", e))?;
    for stale in [EXIT_FILE, SOCKET_FILE] {
        match std::fs::remove_file(state_dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::io(format!("remove stale {stale}"), e));
            }
            _ => {}
        }
    }
    let spec_json =
        serde_json::to_vec(&spec).map_err(|e| RuntimeError::InvalidConfig(e.to_string()))?;
    crate::private::write(&bundle.join("config.json"), &spec_json)
        .map_err(|e| RuntimeError::io("write bundle config", e))?;
    let params = ShimParams {
        id: cfg.id.clone(),
        runtime_root: absolute(&launch.runtime_root)?,
        log_path: absolute(&launch.log_path)?,
        log_rotation: launch.log.file.as_ref().and_then(|f| f.rotation),
        log: Some(launch.log.clone()),
        open_stdin: cfg.open_stdin,
        tty: cfg.tty,
        runtime: launch.runtime.clone(),
        runtime_cli: absolute(launch.runtime_cli.as_ref().unwrap_or(&launch.exe))?,
        runtime_cli_dedicated: launch.runtime_cli.is_some(),
    };
    crate::private::write(
        &state_dir.join(PARAMS_FILE),
        &serde_json::to_vec(&params).map_err(|e| RuntimeError::Protocol(e.to_string()))?,
    )
    .map_err(|e| RuntimeError::io("write shim params", e))?;

    let shim_log = crate::private::open_append(&state_dir.join(SHIM_LOG))
        .map_err(|e| RuntimeError::io("open shim log", e))?;
    let (program, prefix) = match &launch.monitor {
        Some(monitor) => (monitor, &[][..]),
        None => (&launch.exe, &launch.args_prefix[..]),
    };
    let mut child = tokio::process::Command::new(program)
        .args(prefix)
        .arg(&state_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(shim_log))
        .spawn()
        .map_err(|e| RuntimeError::io(format!("spawn shim {}", program.display()), e))?;
    let stdout = child.stdout.take().expect("stdout is piped");

    let mut line = String::new();
    let read = tokio::time::timeout(
        CREATE_TIMEOUT,
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await;
    // The direct child exits right after forking the real shim; reap it either way.
    if read.is_err() {
        let _ = child.start_kill();
    }
    let _ = child.wait().await;
    match read {
        Err(_) => {
            return Err(RuntimeError::Protocol(
                "shim did not report readiness".into(),
            ));
        }
        Ok(Err(e)) => return Err(RuntimeError::io("read shim readiness", e)),
        Ok(Ok(_)) => {}
    }
    if line.trim().is_empty() {
        let log = std::fs::read_to_string(state_dir.join(SHIM_LOG)).unwrap_or_default();
        return Err(RuntimeError::Protocol(format!(
            "shim exited without reporting: {}",
            log.lines().last().unwrap_or("")
        )));
    }
    match serde_json::from_str::<ReadyReport>(line.trim())
        .map_err(|e| RuntimeError::Protocol(format!("bad readiness line {line:?}: {e}")))?
    {
        ReadyReport::Ready {
            shim_pid,
            init_pid,
            runtime_create_us,
        } => Ok(ShimInfo {
            shim_pid,
            init_pid,
            runtime_create: Duration::from_micros(runtime_create_us),
        }),
        ReadyReport::Failed {
            message,
            runtime: true,
        } => Err(RuntimeError::Oci(format!(
            "failed to create shim task: {message}"
        ))),
        ReadyReport::Failed { message, .. } => {
            Err(crate::exe::classify(&message).unwrap_or(RuntimeError::Libcontainer(message)))
        }
    }
}

/// The shim and libcontainer change directories; every path they get is absolute.
fn absolute(p: &Path) -> Result<std::path::PathBuf, RuntimeError> {
    std::path::absolute(p).map_err(|e| RuntimeError::io(format!("absolute {}", p.display()), e))
}
