//! The exit record a shim leaves behind: it outlives the shim, so a daemon
//! that was down when the container exited still learns how it ended.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const EXIT_FILE: &str = "exit.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// 128 + signal number when the process was killed by a signal.
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    pub oom_killed: bool,
}

pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let data = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// temp + rename: readers see no file or the whole record. Nothing is
/// synced: the record is for a daemon that was down while the shim ran on,
/// and the exec root it lives in does not outlive the host's power (a tmpfs
/// on most hosts: /run, as dockerd's and containerd's state is).
pub fn write_exit_status(state_dir: &Path, status: &ExitStatus) -> std::io::Result<()> {
    let tmp = state_dir.join(format!(".{EXIT_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().write(true).create_new(true),
        0o600,
    )
    .open(&tmp)?;
    f.write_all(&serde_json::to_vec(status).map_err(std::io::Error::other)?)?;
    drop(f);
    std::fs::rename(&tmp, state_dir.join(EXIT_FILE))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
