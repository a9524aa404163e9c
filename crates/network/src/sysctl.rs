use std::path::PathBuf;

use crate::error::{Result, io_err};

/// Writes `value` to `/proc/sys/<key with dots as slashes>` unless it
/// already holds it; returns whether it changed. /proc/sys/net follows the
/// writing thread's network namespace.
pub(crate) fn ensure(key: &str, value: &str) -> Result<bool> {
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let current = std::fs::read_to_string(&path).map_err(io_err(format!("read {key}")))?;
    if current.trim() == value {
        return Ok(false);
    }
    std::fs::write(&path, value).map_err(io_err(format!("set {key}={value}")))?;
    Ok(true)
}
